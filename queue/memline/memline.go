// Package memline is the ticket line in memory: the rules of the line
// written once more, plainly, in Go. It is the executable statement of
// what the store's scripts (queue/redisline/lua) must do — the
// differential tests drive both with the same operations and require the
// same answers — and a fake line for tests that need no store.
//
// One process only: it has no replicas, no store to lose and no records to
// purge (finished tickets are kept for the life of the Line).
package memline

import (
	"context"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/catqms/catqms/queue"
)

// Line is a ticket line in memory, safe for concurrent use.
type Line struct {
	set    queue.Settings
	clock  queue.Clock
	signer *queue.Signer

	mu       sync.Mutex
	now      int64 // the operation's time, Unix ms (as NOW in the scripts)
	dirty    bool  // the operation changed the line
	version  int64 // 0 until the first operation
	lastSeq  uint64
	tickets  map[uint64]*ticket
	line     []uint64         // called and waiting tickets, in order; the called ones first
	called   map[uint64]int64 // seq → deadline, ms
	serving  map[uint64]int64 // seq → until, ms
	counters int              // service slots, as an operator set them
	paused   bool
	bans     map[string]int64 // client → ban end, ms
	live     map[string]map[uint64]bool
	takes    map[string]uint64 // nonce → seq: a resent take answers its ticket
	stats    totals
	changes  chan struct{}
	events   []queue.Event  // what the operation did, for its log entry
	why      string         // the operator's reason for the operation (queue.WithReason), for its log entry
	log      []queue.Change // the change log, oldest first (changelog.go)
	logWake  chan struct{}  // closed when an entry is appended
}

type ticket struct {
	seq      uint64
	state    queue.State
	client   string
	nonce    string // hex
	taken    int64  // ms
	calledAt int64  // ms; 0 = never called
	deadline int64  // ms, set when called
	until    int64  // ms, set when redeemed
}

type totals struct {
	issued, served, expired, left, bans int64
	waitSum, waitN                      int64 // ms from take to call
	heldSum, heldN                      int64 // ms a counter was held for one ticket
	heldEWMA                            int64 // moving average of held; 0 = none yet
	hasEWMA                             bool
}

// New returns an empty line with set's rules (defaults filled in), its
// tokens signed with secret, its time told by clock.
func New(set queue.Settings, secret []byte, clock queue.Clock) (*Line, error) {
	set = set.WithDefaults()
	if err := set.Validate(); err != nil {
		return nil, err
	}
	signer, err := queue.NewSigner(secret, set.Name)
	if err != nil {
		return nil, err
	}
	return &Line{
		set: set, clock: clock, signer: signer,
		tickets: map[uint64]*ticket{}, called: map[uint64]int64{}, serving: map[uint64]int64{},
		counters: set.Counters, bans: map[string]int64{}, live: map[string]map[uint64]bool{},
		takes: map[string]uint64{}, changes: make(chan struct{}, 1), logWake: make(chan struct{}),
	}, nil
}

// Settings returns the line's settings.
func (l *Line) Settings() queue.Settings { return l.set }

// Signer returns the line's token signer.
func (l *Line) Signer() *queue.Signer { return l.signer }

// Changes signals after every change.
func (l *Line) Changes() <-chan struct{} { return l.changes }

// Ping always answers: there is no store to lose.
func (l *Line) Ping(context.Context) error { return nil }

// begin starts an operation at the clock's time; end finishes it,
// announcing a change. Every exported method runs between the two, under
// the lock: one operation at a time, like the scripts.
func (l *Line) begin() {
	l.mu.Lock()
	l.now = l.clock.Now().UnixMilli()
	l.dirty = false
	l.events = l.events[:0]
	l.why = ""
}

func (l *Line) end() {
	if l.dirty {
		l.version++
		l.appendLog()
		select {
		case l.changes <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
}

// ---- the rules (lua/lib.lua) ----

// logged notes an event of this operation for the change log.
func (l *Line) logged(kind queue.EventKind, seq uint64, at int64) {
	l.events = append(l.events, queue.Event{Kind: kind, Seq: seq, At: at})
}

// finished are the log's events of finish by default (lib.lua's FINISHED).
var finished = map[queue.State]queue.EventKind{
	queue.StateServed: queue.EventEnded, queue.StateExpired: queue.EventExpired, queue.StateLeft: queue.EventLeft,
}

// finish records that ticket seq finished in state; kind is its event in
// the change log (0: finished's).
func (l *Line) finish(seq uint64, state queue.State, kind ...queue.EventKind) {
	if len(kind) > 0 {
		l.logged(kind[0], seq, 0)
	} else {
		l.logged(finished[state], seq, 0)
	}
	t := l.tickets[seq]
	t.state = state
	delete(l.live[t.client], seq)
	switch state {
	case queue.StateServed:
		l.stats.served++
	case queue.StateExpired:
		l.stats.expired++
	case queue.StateLeft:
		l.stats.left++
	}
	l.dirty = true
}

// freed learns how long a counter was held for ticket seq.
func (l *Line) freed(seq uint64) {
	t := l.tickets[seq]
	if t.calledAt == 0 {
		return
	}
	held := l.now - t.calledAt
	if l.stats.hasEWMA {
		l.stats.heldEWMA = int64(math.Floor(float64(l.stats.heldEWMA)*0.8 + float64(held)*0.2))
	} else {
		l.stats.heldEWMA, l.stats.hasEWMA = held, true
	}
	l.stats.heldSum += held
	l.stats.heldN++
}

func (l *Line) endSession(seq uint64, kind ...queue.EventKind) {
	delete(l.serving, seq)
	l.freed(seq)
	l.finish(seq, queue.StateServed, kind...)
}

// callNext calls the first waiting tickets while counters are free.
func (l *Line) callNext() {
	for free := l.counters - len(l.serving) - len(l.called); free > 0; free-- {
		if len(l.line) <= len(l.called) {
			return
		}
		seq := l.line[len(l.called)]
		t := l.tickets[seq]
		l.called[seq] = l.now + l.set.HeadWindow.Milliseconds()
		t.state, t.calledAt, t.deadline = queue.StateCalled, l.now, l.now+l.set.HeadWindow.Milliseconds()
		l.logged(queue.EventCalled, seq, t.deadline)
		l.stats.waitSum += l.now - t.taken
		l.stats.waitN++
		l.dirty = true
	}
}

// advance ends the sessions whose time is up, expires the calls whose
// holders did not come, and calls the next tickets.
func (l *Line) advance() {
	if l.version == 0 {
		// Versions start at the time in microseconds, and the first is a
		// change with no previous version (lib.lua), made by the first
		// step of the line: every step (a script) begins by advancing.
		l.version = l.now * 1000
		l.logged(queue.EventLost, 0, 0)
		l.dirty = true
	}
	for _, seq := range due(l.serving, l.now) {
		l.endSession(seq, queue.EventTimeUp)
	}
	for _, seq := range due(l.called, l.now) {
		delete(l.called, seq)
		l.removeFromLine(seq)
		l.freed(seq)
		l.finish(seq, queue.StateExpired)
	}
	l.callNext()
}

// removeFromLine takes a waiting or called ticket out of the line.
func (l *Line) removeFromLine(seq uint64) {
	if i := slices.Index(l.line, seq); i >= 0 {
		l.line = slices.Delete(l.line, i, i+1)
	}
	if _, ok := l.called[seq]; ok {
		delete(l.called, seq)
		l.freed(seq)
	}
}

// share is the line's estimate of one ticket's share of the wait, in ms.
func (l *Line) share() int64 {
	held := l.set.ViewWindow.Milliseconds()
	if l.stats.hasEWMA {
		held = l.stats.heldEWMA
	}
	return int64(math.Ceil(float64(held) / float64(l.counters)))
}

// banned returns client's remaining ban in ms, 0 when none.
func (l *Line) banned(client string) int64 {
	if end := l.bans[client]; end > l.now {
		return end - l.now
	}
	return 0
}

// holder is the first steps of a holder's operation: bring the line up to
// now, refuse a banned client, find the ticket.
func (l *Line) holder(client string, seq uint64, nonce string) (*ticket, error) {
	l.advance()
	if ban := l.banned(client); ban > 0 {
		return nil, queue.ErrBanned(ms(ban))
	}
	t := l.tickets[seq]
	if t == nil || t.nonce != nonce {
		return nil, &queue.Error{Code: queue.CodeGone, State: queue.StateExpired}
	}
	return t, nil
}

// view is what a holder may know of ticket t.
func (l *Line) view(t *ticket) queue.Ticket {
	out := queue.Ticket{Seq: t.seq, Label: queue.Label(t.seq), State: t.state, Version: l.versionAfter()}
	switch t.state {
	case queue.StateWaiting:
		out.Position = l.position(t.seq)
		out.ETA = queue.WaitETA(out.Position, int64(len(l.called)), ms(l.share()))
	case queue.StateCalled:
		out.Position = l.position(t.seq)
		out.Deadline = time.UnixMilli(t.deadline).UTC()
	case queue.StateServing:
		out.Until = time.UnixMilli(t.until).UTC()
		out.ImageID = l.signer.ImageID(t.seq)
	}
	return out
}

func (l *Line) position(seq uint64) int64 { return int64(slices.Index(l.line, seq)) + 1 }

// ---- a holder's operations ----

// parse checks a token; a forged one bans its client (ban.lua).
func (l *Line) parse(client, token string) (uint64, string, error) {
	if strings.TrimSpace(token) == "" {
		return 0, "", queue.Errorf(queue.CodeBadRequest, "a token is required")
	}
	seq, nonce, err := l.signer.Parse(token)
	if err == nil {
		return seq, hex.EncodeToString(nonce[:]), nil
	}
	if errors.Is(err, queue.ErrUnknownKey) {
		return 0, "", queue.ErrLineReset() // a key this line does not hold: no ban (issue 13)
	}
	l.advance()
	if ban := l.banned(client); ban > 0 {
		return 0, "", queue.ErrBanned(ms(ban))
	}
	l.bans[client] = l.now + l.set.BanDuration.Milliseconds()
	l.stats.bans++
	l.logged(queue.EventBan, 0, 0)
	for _, seq := range sortedSeqs(l.live[client]) {
		if t := l.tickets[seq]; t.state.InLine() {
			kind := queue.EventBannedOut
			if t.state == queue.StateCalled {
				kind = queue.EventBannedCalled
			}
			l.removeFromLine(seq)
			l.finish(seq, queue.StateLeft, kind)
		}
	}
	l.callNext()
	l.dirty = true
	return 0, "", &queue.Error{Code: queue.CodeForbidden, BanLeft: l.set.BanDuration}
}

// Take issues a new ticket at the end of the line.
func (l *Line) Take(ctx context.Context, client string) (queue.Issued, error) {
	return l.TakeNonce(ctx, client, queue.NewNonce())
}

// TakeNonce is Take with the token's nonce given: a take resent with the
// same nonce answers the ticket the first one issued (take.lua).
func (l *Line) TakeNonce(_ context.Context, client string, nonce [16]byte) (queue.Issued, error) {
	l.begin()
	defer l.end()
	key := hex.EncodeToString(nonce[:])
	l.advance()
	if seq, ok := l.takes[key]; ok {
		return queue.Issued{Token: l.signer.Token(seq, nonce), Ticket: l.view(l.tickets[seq])}, nil
	}
	if ban := l.banned(client); ban > 0 {
		return queue.Issued{}, queue.ErrBanned(ms(ban))
	}
	if l.paused {
		return queue.Issued{}, &queue.Error{Code: queue.CodePaused}
	}
	if len(l.live[client]) >= l.set.MaxTicketsPerClient {
		return queue.Issued{}, &queue.Error{Code: queue.CodeTooManyTickets, Limit: int64(l.set.MaxTicketsPerClient), Share: ms(l.share())}
	}
	if int64(len(l.line)) >= l.set.MaxQueue {
		return queue.Issued{}, &queue.Error{Code: queue.CodeLineFull, Limit: l.set.MaxQueue, Share: ms(l.share())}
	}
	l.lastSeq++
	t := &ticket{seq: l.lastSeq, state: queue.StateWaiting, client: client, nonce: key, taken: l.now}
	l.tickets[t.seq] = t
	l.line = append(l.line, t.seq)
	if l.live[client] == nil {
		l.live[client] = map[uint64]bool{}
	}
	l.live[client][t.seq] = true
	l.takes[key] = t.seq
	l.stats.issued++
	l.logged(queue.EventTaken, t.seq, 0)
	l.dirty = true
	l.callNext()
	return queue.Issued{Token: l.signer.Token(t.seq, nonce), Ticket: l.view(t)}, nil
}

// Redeem turns a called ticket into a viewing session; a serving one
// answers its session again.
func (l *Line) Redeem(_ context.Context, client, token string) (queue.Session, error) {
	l.begin()
	defer l.end()
	t, err := l.holderOf(client, token)
	if err != nil {
		return queue.Session{}, err
	}
	switch t.state {
	case queue.StateCalled:
		delete(l.called, t.seq)
		l.removeFromLineKeepCall(t.seq)
		t.state, t.until = queue.StateServing, l.now+l.set.ViewWindow.Milliseconds()
		l.serving[t.seq] = t.until
		l.logged(queue.EventRedeemed, t.seq, t.until)
		l.dirty = true
		return l.session(t), nil
	case queue.StateServing:
		return l.session(t), nil
	case queue.StateWaiting:
		v := l.view(t)
		return queue.Session{}, &queue.Error{Code: queue.CodeNotYourTurn, Ticket: v.Label, State: t.state, Position: v.Position, ETA: v.ETA}
	}
	return queue.Session{}, gone(t)
}

// removeFromLineKeepCall takes a called ticket out of the line as it is
// redeemed: its counter is not freed, it goes on to serve.
func (l *Line) removeFromLineKeepCall(seq uint64) {
	if i := slices.Index(l.line, seq); i >= 0 {
		l.line = slices.Delete(l.line, i, i+1)
	}
}

// EndViewing ends a serving ticket's session; ending an ended one is fine.
func (l *Line) EndViewing(_ context.Context, client, token string) error {
	l.begin()
	defer l.end()
	t, err := l.holderOf(client, token)
	if err != nil {
		return err
	}
	switch t.state {
	case queue.StateServing:
		l.endSession(t.seq)
		l.callNext()
		return nil
	case queue.StateServed:
		return nil
	case queue.StateWaiting, queue.StateCalled:
		return &queue.Error{Code: queue.CodeNotServing, Ticket: queue.Label(t.seq), State: t.state}
	}
	return gone(t)
}

// Leave takes a ticket out of the line, or ends its session; leaving twice
// is fine.
func (l *Line) Leave(_ context.Context, client, token string) error {
	l.begin()
	defer l.end()
	t, err := l.holderOf(client, token)
	if err != nil {
		return err
	}
	switch t.state {
	case queue.StateWaiting, queue.StateCalled:
		kind := queue.EventLeft
		if t.state == queue.StateCalled {
			kind = queue.EventLeftCalled
		}
		l.removeFromLine(t.seq)
		l.finish(t.seq, queue.StateLeft, kind)
		l.callNext()
		return nil
	case queue.StateServing:
		l.endSession(t.seq)
		l.callNext()
		return nil
	case queue.StateLeft:
		return nil
	}
	return gone(t)
}

// Status reports a ticket.
func (l *Line) Status(_ context.Context, client, token string) (queue.Ticket, error) {
	l.begin()
	defer l.end()
	seq, nonce, err := l.parse(client, token)
	if err != nil {
		return queue.Ticket{}, err
	}
	l.advance()
	return l.status(client, seq, nonce)
}

func (l *Line) status(client string, seq uint64, nonce string) (queue.Ticket, error) {
	if ban := l.banned(client); ban > 0 {
		return queue.Ticket{}, queue.ErrBanned(ms(ban))
	}
	t := l.tickets[seq]
	if t == nil || t.nonce != nonce {
		return queue.Ticket{}, &queue.Error{Code: queue.CodeGone, State: queue.StateExpired}
	}
	return l.view(t), nil
}

// Statuses is Status for many tickets: forged tokens are checked (and
// banned) first, then the line is brought up to now once.
func (l *Line) Statuses(_ context.Context, reqs []queue.StatusRequest) ([]queue.StatusReply, error) {
	out := make([]queue.StatusReply, len(reqs))
	type parsed struct {
		seq   uint64
		nonce string
	}
	ok := make([]*parsed, len(reqs))
	for i, rq := range reqs {
		l.begin()
		seq, nonce, err := l.parse(rq.Client, rq.Token)
		l.end()
		if err != nil {
			out[i].Err = err
			continue
		}
		ok[i] = &parsed{seq, nonce}
	}
	var valid []int
	for i, p := range ok {
		if p != nil {
			valid = append(valid, i)
		}
	}
	for len(valid) > 0 {
		// One step per queue.StatusBatch valid tokens, as the store reads them.
		chunk := valid[:min(len(valid), queue.StatusBatch)]
		valid = valid[len(chunk):]
		l.begin()
		l.advance()
		for _, i := range chunk {
			out[i].Ticket, out[i].Err = l.status(reqs[i].Client, ok[i].seq, ok[i].nonce)
		}
		l.end()
	}
	return out, nil
}

// holderOf checks the token and runs holder's first steps.
func (l *Line) holderOf(client, token string) (*ticket, error) {
	seq, nonce, err := l.parse(client, token)
	if err != nil {
		return nil, err
	}
	return l.holder(client, seq, nonce)
}

func gone(t *ticket) error {
	return &queue.Error{Code: queue.CodeGone, Ticket: queue.Label(t.seq), State: t.state}
}

func (l *Line) session(t *ticket) queue.Session {
	return queue.Session{Seq: t.seq, Label: queue.Label(t.seq), ImageID: l.signer.ImageID(t.seq), Until: time.UnixMilli(t.until).UTC()}
}

// Viewing returns the live session behind an image id.
func (l *Line) Viewing(_ context.Context, imageID string) (queue.Session, error) {
	seq, err := l.signer.ParseImageID(imageID)
	if err != nil {
		return queue.Session{}, queue.Errorf(queue.CodeNotFound, "no such picture")
	}
	l.begin()
	defer l.end()
	l.advance()
	t := l.tickets[seq]
	if t == nil {
		return queue.Session{}, &queue.Error{Code: queue.CodeGone, Ticket: queue.Label(seq), State: queue.StateExpired}
	}
	if t.state != queue.StateServing {
		return queue.Session{}, &queue.Error{Code: queue.CodeGone, Ticket: queue.Label(seq), State: t.state}
	}
	return l.session(t), nil
}

// BanRemaining returns how long client stays banned; 0 when not banned.
func (l *Line) BanRemaining(_ context.Context, client string) (time.Duration, error) {
	l.begin()
	defer l.end()
	l.advance()
	return ms(l.banned(client)), nil
}

// Advance brings the line up to now.
func (l *Line) Advance(context.Context) error {
	l.begin()
	defer l.end()
	l.advance()
	return nil
}

// Snapshot returns the visible line.
func (l *Line) Snapshot(context.Context) (queue.Snapshot, error) {
	l.begin()
	defer l.end()
	l.advance()
	snap := queue.Snapshot{
		Version:         l.versionAfter(),
		Now:             time.UnixMilli(l.now).UTC(),
		Length:          int64(len(l.line)),
		Counters:        l.counters,
		Paused:          l.paused,
		ETAPerTicketSec: int64(math.Ceil(float64(l.share()) / 1000)),
		Serving:         []queue.Slot{},
		Called:          []queue.Slot{},
		Waiting:         []queue.Waiter{},
	}
	for _, seq := range queue.ByTime(l.serving) {
		at := time.UnixMilli(l.serving[seq]).UTC()
		snap.Serving = append(snap.Serving, queue.Slot{Ticket: queue.Label(seq), Until: &at})
	}
	for _, seq := range queue.ByTime(l.called) {
		at := time.UnixMilli(l.called[seq]).UTC()
		snap.Called = append(snap.Called, queue.Slot{Ticket: queue.Label(seq), Deadline: &at})
	}
	waiting := l.line[len(l.called):]
	for _, seq := range waiting[:min(len(waiting), queue.SnapshotWaiting)] {
		snap.Waiting = append(snap.Waiting, queue.Waiter{Ticket: queue.Label(seq)})
	}
	return snap, nil
}

// versionAfter is the version this operation ends at.
func (l *Line) versionAfter() int64 {
	if l.dirty {
		return l.version + 1
	}
	return l.version
}

// Stats returns the running totals.
func (l *Line) Stats(ctx context.Context) (queue.Stats, error) {
	st, err := l.AdminStats(ctx)
	return st.Stats, err
}

// ---- helpers ----

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// due are the tickets of m whose time is at or before now, in order.
func due(m map[uint64]int64, now int64) []uint64 {
	var out []uint64
	for _, seq := range queue.ByTime(m) {
		if m[seq] <= now {
			out = append(out, seq)
		}
	}
	return out
}

func sortedSeqs(set map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(set))
	for seq := range set {
		out = append(out, seq)
	}
	slices.Sort(out)
	return out
}
