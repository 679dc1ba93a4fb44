// Package redisline keeps a ticket line in Redis. Every change is one atomic
// Lua script (lua/*.lua, embedded), safe to run from many replicas at once;
// deadlines are data that the scripts themselves enforce, so no correctness
// rests on Redis key expiry or keyspace notifications.
package redisline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
)

// Options configure a Line. Zero fields take the defaults in DefaultOptions.
type Options struct {
	Name                string        // line name; keys are "catqms:{Name}:…"
	HeadWindow          time.Duration // time a called ticket has to redeem
	ViewWindow          time.Duration // time a viewing session lasts
	Counters            int           // service slots
	BanDuration         time.Duration // how long a cheater is banned
	MaxTicketsPerClient int           // live tickets one client may hold
	MaxQueue            int64         // longest line
	Keep                time.Duration // how long a finished ticket's record is kept
	Secret              []byte        // token key; empty = one shared key kept in the store
	PreviousSecrets     [][]byte      // retired token keys that still verify, newest first (keys.go)
	Clock               queue.Clock   // the time; nil = the system clock
	Logger              *slog.Logger  // nil = discard
	// Tick is how often the line is advanced when no deadline is known, a
	// safety net for lost pub/sub messages. Negative disables the background
	// scheduler entirely (tests with a fake clock advance by hand).
	Tick time.Duration
}

// DefaultOptions are the defaults of SPEC.md.
var DefaultOptions = Options{
	Name:                "kitties",
	HeadWindow:          60 * time.Second,
	ViewWindow:          60 * time.Second,
	Counters:            1,
	BanDuration:         time.Hour,
	MaxTicketsPerClient: 10,
	MaxQueue:            1_000_000,
	Keep:                24 * time.Hour,
	Tick:                time.Second,
}

var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

const (
	unavailableRetry = 2 * time.Second  // Retry-After when the store is down
	pausedRetry      = 30 * time.Second // Retry-After while taking is paused
	secretBytes      = 32
)

// Line is a ticket line kept in Redis. It implements queue.Line.
type Line struct {
	rdb     redis.UniversalClient
	opts    Options
	prefix  string // "catqms:{name}:"
	verKey  string
	channel string
	s       *scripts
	signer  *queue.Signer
	keys    keyState // where the signing key comes from (keys.go)
	// settings go with every script call (see lua/lib.lua), so a store that
	// lost its data still runs the line as configured.
	settings []any
	clock    queue.Clock
	log      *slog.Logger

	version atomic.Int64 // highest version seen, local or published
	changes chan struct{}
	wake    chan int64 // deadline hints for the scheduler, Unix ms
	pubsub  *redis.PubSub

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ queue.Line = (*Line)(nil)

// New returns a Line on rdb. Replicas sharing a line must share its
// settings (each sends its own with every operation). It loads the scripts, and unless opts.Tick < 0 starts the goroutines that
// enforce deadlines and listen for other replicas' changes. Close stops
// them; the caller closes rdb.
func New(ctx context.Context, rdb redis.UniversalClient, opts Options) (*Line, error) {
	opts = withDefaults(opts)
	if !nameRE.MatchString(opts.Name) {
		return nil, fmt.Errorf("line name %q: want 1 to 32 of a-z, 0-9 and -", opts.Name)
	}
	if opts.HeadWindow < time.Millisecond || opts.ViewWindow < time.Millisecond {
		return nil, errors.New("head and view windows must be at least 1ms")
	}
	if opts.Counters < 1 || opts.MaxTicketsPerClient < 1 || opts.MaxQueue < 1 {
		return nil, errors.New("counters, max tickets per client and max queue must be at least 1")
	}
	s, err := loadScripts()
	if err != nil {
		return nil, err
	}
	l := &Line{
		rdb:     rdb,
		opts:    opts,
		prefix:  "catqms:{" + opts.Name + "}:",
		s:       s,
		clock:   opts.Clock,
		log:     opts.Logger,
		changes: make(chan struct{}, 1),
		wake:    make(chan int64, 64),
		stop:    make(chan struct{}),
	}
	l.verKey = l.prefix + "ver"
	l.channel = l.prefix + "changes"

	secret := opts.Secret
	if len(secret) == 0 {
		if secret, err = l.sharedSecret(ctx); err != nil {
			return nil, fmt.Errorf("token secret: %w", err)
		}
		l.keys.fromStore, l.keys.secret = true, secret
	}
	if l.signer, err = queue.NewSigner(secret, opts.Name, opts.PreviousSecrets...); err != nil {
		return nil, err
	}
	l.settings = []any{
		opts.Counters,
		opts.HeadWindow.Milliseconds(),
		opts.ViewWindow.Milliseconds(),
		opts.Keep.Milliseconds(),
		opts.BanDuration.Milliseconds(),
		opts.MaxQueue,
		opts.MaxTicketsPerClient,
	}
	for _, sc := range s.all() {
		if err := sc.Load(ctx, rdb).Err(); err != nil {
			return nil, fmt.Errorf("load scripts: %w", err)
		}
	}
	if opts.Tick >= 0 {
		// Subscribe before the first advance so that no change published
		// from now on is missed.
		l.pubsub = rdb.Subscribe(ctx, l.channel)
		if _, err := l.pubsub.Receive(ctx); err != nil {
			_ = l.pubsub.Close()
			return nil, fmt.Errorf("subscribe to %s: %w", l.channel, err)
		}
		l.wg.Add(2)
		go l.listen()
		go l.schedule()
		if l.keys.fromStore {
			l.wg.Add(1)
			go l.syncKey() // keys.go
		}
	}
	return l, nil
}

func withDefaults(o Options) Options {
	d := DefaultOptions
	if o.Name == "" {
		o.Name = d.Name
	}
	if o.HeadWindow == 0 {
		o.HeadWindow = d.HeadWindow
	}
	if o.ViewWindow == 0 {
		o.ViewWindow = d.ViewWindow
	}
	if o.Counters == 0 {
		o.Counters = d.Counters
	}
	if o.BanDuration == 0 {
		o.BanDuration = d.BanDuration
	}
	if o.MaxTicketsPerClient == 0 {
		o.MaxTicketsPerClient = d.MaxTicketsPerClient
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = d.MaxQueue
	}
	if o.Keep == 0 {
		o.Keep = d.Keep
	}
	if o.Tick == 0 {
		o.Tick = d.Tick
	}
	if o.Clock == nil {
		o.Clock = queue.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// sharedSecret returns the line's token key from the store, creating it
// once, so every replica signs and checks tokens alike.
func (l *Line) sharedSecret(ctx context.Context) ([]byte, error) {
	key := l.prefix + "secret"
	fresh := make([]byte, secretBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if err := l.rdb.SetNX(ctx, key, hex.EncodeToString(fresh), 0).Err(); err != nil {
		return nil, err
	}
	stored, err := l.rdb.Get(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(stored)
}

// Close stops the line's goroutines; Changes sends nothing more. It is
// safe to call more than once. The Changes channel is not closed: a request
// still running after a timed-out shutdown may finish a script and signal.
func (l *Line) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		if l.pubsub != nil {
			_ = l.pubsub.Close()
		}
		l.wg.Wait()
	})
	return nil
}

// Changes implements queue.Line.
func (l *Line) Changes() <-chan struct{} { return l.changes }

// Signer returns the line's token signer (for tests and tools).
func (l *Line) Signer() *queue.Signer { return l.signer }

// Ping implements queue.Line.
func (l *Line) Ping(ctx context.Context) error {
	if err := l.rdb.Ping(ctx).Err(); err != nil {
		return l.storeErr(err)
	}
	return nil
}

// result is one script's answer; see reply() in lua/lib.lua.
type result struct {
	code      string
	version   int64
	next      int64 // earliest deadline in the line, Unix ms; 0 = none
	seq       uint64
	state     queue.State
	position  int64
	deadline  int64 // Unix ms
	until     int64 // Unix ms
	called    int64
	perTicket int64 // ms
	extra     int64
}

func (l *Line) run(ctx context.Context, sc *redis.Script, args ...any) (any, error) {
	argv := make([]any, 0, 3+len(l.settings)+len(args))
	argv = append(argv, l.prefix, l.clock.Now().UnixMilli())
	argv = append(argv, l.settings...)
	argv = append(argv, l.version.Load()) // the floor: versions never go back
	argv = append(argv, args...)
	v, err := sc.Run(ctx, l.rdb, []string{l.verKey}, argv...).Result()
	if err != nil {
		return nil, l.storeErr(err)
	}
	return v, nil
}

func (l *Line) op(ctx context.Context, sc *redis.Script, args ...any) (result, error) {
	v, err := l.run(ctx, sc, args...)
	if err != nil {
		return result{}, err
	}
	return l.decodeResult(v)
}

// decodeResult reads reply()'s shape (see lua/lib.lua) and notes the
// version and next deadline it carries.
func (l *Line) decodeResult(v any) (result, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 11 {
		return result{}, fmt.Errorf("script answered %T %v", v, v)
	}
	r := result{
		code:      str(a[0]),
		version:   num(a[1]),
		next:      num(a[2]),
		seq:       uint64(num(a[3])),
		state:     queue.State(str(a[4])),
		position:  num(a[5]),
		deadline:  num(a[6]),
		until:     num(a[7]),
		called:    num(a[8]),
		perTicket: num(a[9]),
		extra:     num(a[10]),
	}
	l.saw(r.version, r.next)
	return r, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	case float64:
		return int64(n)
	}
	return 0
}

// saw notes a version and the next deadline, from a script or from another
// replica's publication: a newer version signals Changes, and the deadline
// goes to the scheduler.
func (l *Line) saw(version, next int64) {
	for {
		cur := l.version.Load()
		if version <= cur {
			break
		}
		if l.version.CompareAndSwap(cur, version) {
			l.signal()
			break
		}
	}
	if next > 0 {
		select {
		case l.wake <- next:
		default: // the scheduler is behind; its tick catches up
		}
	}
}

// signal tells the consumer of Changes to look at the line again.
func (l *Line) signal() {
	select {
	case <-l.stop:
		return // closed: nobody listens any more
	default:
	}
	select {
	case l.changes <- struct{}{}:
	default: // a signal is pending already: it stands for this one too
	}
}

// storeErr turns a store failure into CodeUnavailable. Context errors from
// the caller's own deadline are store slowness to the client, too.
func (l *Line) storeErr(err error) error {
	if qe := queue.AsError(err); qe != nil {
		return qe
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up (a client hung up): not the store's failure,
		// and nothing anyone can make the log shout about at will.
		l.log.Debug("queue store call cancelled", "err", err)
	} else {
		l.log.Warn("queue store failed", "err", err)
	}
	return &queue.Error{
		Code:       queue.CodeUnavailable,
		Message:    "the queue store is not answering; try again shortly",
		RetryAfter: unavailableRetry,
	}
}

func ms(t int64) time.Time { return time.UnixMilli(t).UTC() }

// ticket builds the holder's view of a ticket from a script result.
func (l *Line) ticket(r result) queue.Ticket {
	t := queue.Ticket{Seq: r.seq, Label: queue.Label(r.seq), State: r.state}
	switch r.state {
	case queue.StateWaiting:
		t.Position = r.position
		t.ETA = time.Duration(max(r.position-r.called, 1)*r.perTicket) * time.Millisecond
	case queue.StateCalled:
		t.Position = r.position
		t.Deadline = ms(r.deadline)
	case queue.StateServing:
		t.Until = ms(r.until)
		t.ImageID = l.signer.ImageID(r.seq)
	}
	return t
}

// failure turns a script's refusal into a domain error.
func (l *Line) failure(r result) error {
	switch r.code {
	case "banned":
		return queue.ErrBanned(time.Duration(r.extra) * time.Millisecond)
	case "forbidden":
		return &queue.Error{Code: queue.CodeForbidden, RetryAfter: time.Duration(r.extra) * time.Millisecond,
			Message: fmt.Sprintf("this token was not issued by this service; this address is banned for %s", roundUp(l.opts.BanDuration))}
	case "unknown":
		return &queue.Error{Code: queue.CodeGone, State: queue.StateExpired,
			Message: "this ticket is no longer in the line; take a new ticket"}
	case "not_your_turn":
		t := l.ticket(r)
		return &queue.Error{Code: queue.CodeNotYourTurn, Position: t.Position, ETA: t.ETA,
			RetryAfter: l.retryAfter(t.ETA),
			Message:    fmt.Sprintf("ticket %s is number %d in line; it is not your turn yet", t.Label, t.Position)}
	case "not_serving":
		return &queue.Error{Code: queue.CodeNotServing,
			Message: fmt.Sprintf("ticket %s is %s: there is no viewing session to end", queue.Label(r.seq), r.state)}
	case "gone":
		return &queue.Error{Code: queue.CodeGone, State: r.state,
			Message: fmt.Sprintf("ticket %s is %s; take a new ticket", queue.Label(r.seq), r.state)}
	case "too_many":
		return &queue.Error{Code: queue.CodeTooManyTickets, RetryAfter: l.perTicketRetry(r),
			Message: fmt.Sprintf("this address already holds %d live tickets; use one or leave the line first", l.opts.MaxTicketsPerClient)}
	case "full":
		return &queue.Error{Code: queue.CodeLineFull, RetryAfter: l.perTicketRetry(r),
			Message: "the line is full; try again when it has moved on"}
	case "paused":
		return &queue.Error{Code: queue.CodePaused, RetryAfter: pausedRetry,
			Message: "taking tickets is paused for now; try again later"}
	}
	return fmt.Errorf("script answered unknown code %q", r.code)
}

// retryAfter tells a waiting holder when to ask again: after about their
// wait, but never later than half the head window, so a client that polls
// as told cannot miss its call.
func (l *Line) retryAfter(eta time.Duration) time.Duration {
	return min(max(eta, time.Second), max(l.opts.HeadWindow/2, time.Second))
}

func (l *Line) perTicketRetry(r result) time.Duration {
	return max(time.Duration(r.perTicket)*time.Millisecond, time.Second)
}

func roundUp(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(d.Seconds())) * time.Second
}

// parse checks a token. A forged one bans the client.
func (l *Line) parse(ctx context.Context, client, token string) (uint64, string, error) {
	if strings.TrimSpace(token) == "" {
		return 0, "", queue.Errorf(queue.CodeBadRequest, "a token is required")
	}
	seq, nonce, err := l.signer.Parse(token)
	if errors.Is(err, queue.ErrUnknownKey) {
		seq, nonce, err = l.unknownKey(ctx, token) // keys.go: no ban
	}
	if err == nil {
		return seq, hex.EncodeToString(nonce[:]), nil
	}
	if qe := queue.AsError(err); qe != nil {
		return 0, "", qe
	}
	r, err := l.op(ctx, l.s.ban, client)
	if err != nil {
		return 0, "", err
	}
	if r.code == "forbidden" { // a new ban; repeats from a banned client are not news
		l.log.Warn("forged token: client banned", "client", client, "ban", l.opts.BanDuration)
	}
	return 0, "", l.failure(r)
}

// Take implements queue.Line.
func (l *Line) Take(ctx context.Context, client string) (queue.Issued, error) {
	nonce := queue.NewNonce()
	r, err := l.op(ctx, l.s.take, client, hex.EncodeToString(nonce[:]))
	if err != nil {
		return queue.Issued{}, err
	}
	if r.code != "ok" {
		return queue.Issued{}, l.failure(r)
	}
	return queue.Issued{Token: l.signer.Token(r.seq, nonce), Ticket: l.ticket(r)}, nil
}

// Redeem implements queue.Line.
func (l *Line) Redeem(ctx context.Context, client, token string) (queue.Session, error) {
	seq, nonce, err := l.parse(ctx, client, token)
	if err != nil {
		return queue.Session{}, err
	}
	r, err := l.op(ctx, l.s.redeem, client, seq, nonce)
	if err != nil {
		return queue.Session{}, err
	}
	if r.code != "ok" {
		return queue.Session{}, l.failure(r)
	}
	return l.session(r), nil
}

func (l *Line) session(r result) queue.Session {
	return queue.Session{Seq: r.seq, Label: queue.Label(r.seq), ImageID: l.signer.ImageID(r.seq), Until: ms(r.until)}
}

// EndViewing implements queue.Line.
func (l *Line) EndViewing(ctx context.Context, client, token string) error {
	return l.tokenOp(ctx, l.s.end, client, token)
}

// Leave implements queue.Line.
func (l *Line) Leave(ctx context.Context, client, token string) error {
	return l.tokenOp(ctx, l.s.leave, client, token)
}

func (l *Line) tokenOp(ctx context.Context, sc *redis.Script, client, token string) error {
	seq, nonce, err := l.parse(ctx, client, token)
	if err != nil {
		return err
	}
	r, err := l.op(ctx, sc, client, seq, nonce)
	if err != nil {
		return err
	}
	if r.code != "ok" {
		return l.failure(r)
	}
	return nil
}

// Status implements queue.Line.
func (l *Line) Status(ctx context.Context, client, token string) (queue.Ticket, error) {
	seq, nonce, err := l.parse(ctx, client, token)
	if err != nil {
		return queue.Ticket{}, err
	}
	r, err := l.op(ctx, l.s.status, client, seq, nonce)
	if err != nil {
		return queue.Ticket{}, err
	}
	if r.code != "ok" {
		return queue.Ticket{}, l.failure(r)
	}
	return l.ticket(r), nil
}

// statusFields is how many fields statuses.lua answers per ticket, after
// the reply() header.
const statusFields = 6

// Statuses implements queue.Line. Tokens are checked first: a forged one
// bans its client, as Status does, before any ticket is read. The others
// are read queue.StatusBatch at a time, one script each, which advances
// the line once and then reads every ticket as status.lua would.
func (l *Line) Statuses(ctx context.Context, reqs []queue.StatusRequest) ([]queue.StatusReply, error) {
	replies := make([]queue.StatusReply, len(reqs))
	type parsed struct {
		i     int
		seq   uint64
		nonce string
	}
	valid := make([]parsed, 0, len(reqs))
	for i, rq := range reqs {
		seq, nonce, err := l.parse(ctx, rq.Client, rq.Token)
		if err != nil {
			replies[i].Err = err
			continue
		}
		valid = append(valid, parsed{i, seq, nonce})
	}
	for len(valid) > 0 {
		chunk := valid[:min(len(valid), queue.StatusBatch)]
		valid = valid[len(chunk):]
		args := make([]any, 0, 3*len(chunk))
		for _, p := range chunk {
			args = append(args, reqs[p.i].Client, p.seq, p.nonce)
		}
		v, err := l.run(ctx, l.s.statuses, args...)
		if err != nil {
			return nil, err
		}
		a, ok := v.([]any)
		if !ok || len(a) != 11+statusFields*len(chunk) {
			return nil, fmt.Errorf("statuses script answered %T of %d for %d tickets", v, len(a), len(chunk))
		}
		head, err := l.decodeResult(a[:11])
		if err != nil {
			return nil, err
		}
		for k, p := range chunk {
			f := a[11+statusFields*k:]
			r := result{
				code:      str(f[0]),
				seq:       p.seq,
				state:     queue.State(str(f[1])),
				position:  num(f[2]),
				deadline:  num(f[3]),
				until:     num(f[4]),
				extra:     num(f[5]),
				called:    head.called,
				perTicket: head.perTicket,
			}
			if r.code == "ok" {
				replies[p.i].Ticket = l.ticket(r)
			} else {
				replies[p.i].Err = l.failure(r)
			}
		}
	}
	return replies, nil
}

// Viewing implements queue.Line.
func (l *Line) Viewing(ctx context.Context, imageID string) (queue.Session, error) {
	seq, err := l.signer.ParseImageID(imageID)
	if err != nil {
		return queue.Session{}, queue.Errorf(queue.CodeNotFound, "no such picture")
	}
	r, err := l.op(ctx, l.s.view, seq)
	if err != nil {
		return queue.Session{}, err
	}
	if r.state != queue.StateServing {
		state := r.state
		if state == "" {
			state = queue.StateExpired
		}
		return queue.Session{}, &queue.Error{Code: queue.CodeGone, State: state,
			Message: "this viewing session has ended"}
	}
	return l.session(r), nil
}

// BanRemaining implements queue.Line.
func (l *Line) BanRemaining(ctx context.Context, client string) (time.Duration, error) {
	v, err := l.rdb.Get(ctx, l.prefix+"b:"+client).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, l.storeErr(err)
	}
	left := time.Duration(v-l.clock.Now().UnixMilli()) * time.Millisecond
	return max(left, 0), nil
}

// Advance brings the line up to now: expires no-shows and finished
// sessions and calls the next tickets. The scheduler runs it at every
// deadline; tests with a fake clock call it by hand.
func (l *Line) Advance(ctx context.Context) error {
	_, err := l.op(ctx, l.s.advance)
	return err
}

// Snapshot implements queue.Line.
func (l *Line) Snapshot(ctx context.Context) (queue.Snapshot, error) {
	now := l.clock.Now()
	v, err := l.run(ctx, l.s.snapshot, queue.SnapshotWaiting)
	if err != nil {
		return queue.Snapshot{}, err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 8 {
		return queue.Snapshot{}, fmt.Errorf("snapshot script answered %T", v)
	}
	snap := queue.Snapshot{
		Version:         num(a[0]),
		Now:             now.UTC().Truncate(time.Millisecond),
		Length:          num(a[1]),
		Counters:        int(num(a[2])),
		Paused:          num(a[3]) == 1,
		ETAPerTicketSec: int64(math.Ceil(float64(num(a[4])) / 1000)),
		Serving:         []queue.Slot{},
		Called:          []queue.Slot{},
		Waiting:         []queue.Waiter{},
	}
	l.saw(snap.Version, 0)
	pairs := func(v any, f func(label string, at time.Time)) {
		list, _ := v.([]any)
		for i := 0; i+1 < len(list); i += 2 {
			seq := uint64(num(list[i]))
			f(queue.Label(seq), ms(num(list[i+1])))
		}
	}
	pairs(a[5], func(label string, at time.Time) {
		snap.Serving = append(snap.Serving, queue.Slot{Ticket: label, Until: &at})
	})
	pairs(a[6], func(label string, at time.Time) {
		snap.Called = append(snap.Called, queue.Slot{Ticket: label, Deadline: &at})
	})
	waiting, _ := a[7].([]any)
	for _, s := range waiting {
		snap.Waiting = append(snap.Waiting, queue.Waiter{Ticket: queue.Label(uint64(num(s)))})
	}
	return snap, nil
}

// Stats implements queue.Line.
func (l *Line) Stats(ctx context.Context) (queue.Stats, error) {
	v, err := l.run(ctx, l.s.stats)
	if err != nil {
		return queue.Stats{}, err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 6 {
		return queue.Stats{}, fmt.Errorf("stats script answered %T", v)
	}
	h := map[string]int64{}
	kv, _ := a[0].([]any)
	for i := 0; i+1 < len(kv); i += 2 {
		h[str(kv[i])] = num(kv[i+1])
	}
	mean := func(sum, n string) time.Duration {
		if h[n] == 0 {
			return 0
		}
		return time.Duration(h[sum]/h[n]) * time.Millisecond
	}
	return queue.Stats{
		Issued:       h["issued"],
		Served:       h["served"],
		Expired:      h["expired"],
		Left:         h["left"],
		Bans:         h["bans"],
		Length:       num(a[1]),
		Serving:      num(a[2]),
		Called:       num(a[3]),
		Counters:     int(num(a[4])),
		MeanWait:     mean("wait_sum", "wait_n"),
		MeanService:  mean("held_sum", "held_n"),
		ETAPerTicket: time.Duration(num(a[5])) * time.Millisecond,
	}, nil
}
