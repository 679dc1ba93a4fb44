package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

// The waiting room of the read-model fault tests: a line of holders, each
// with its own address and ticket; WebSockets on every replica, some
// watching only the line, some each watching its own ticket; a mover that
// keeps the head of the line moving; and the store's truth to compare
// what the sockets show with.

// Sizes and pace of the room. The head window and view window are long so
// that nothing in the line changes by itself: once the mover stops, the
// truth stands still and every socket must reach it.
const (
	roomHolders         = 60                     // tickets taken, each watched by its holder
	roomLineWatchers    = 8                      // sockets per replica that watch only the line
	roomMoveEvery       = 100 * time.Millisecond // between two changes of the head
	roomRetryEvery      = 50 * time.Millisecond  // between two tries while the store is away
	roomWindowDuration  = 60 * time.Second       // --head-window and --view-window
	roomConnectTimeout  = 10 * time.Second       // for every socket's first snapshot and ticket
	roomMoverFinishWait = 20 * time.Second       // for the moves after a fault
	roomTruthTimeout    = 10 * time.Second       // for the store to answer the truth's reads
)

// convergeWithin is how soon after the fault ends every socket of every
// replica must show the store's truth: the board of its latest snapshot
// and, for a holder, its own ticket. The fault ends when the store is whole
// again and the line has stopped moving (see room.run).
const convergeWithin = 2 * time.Second

// convergeReport is how long a test keeps watching past convergeWithin, to
// say how late the sockets that missed it were (or that they never came).
const convergeReport = 8 * time.Second

// roomArgs are the catqms arguments of every replica of a room.
var roomArgs = []string{"--head-window", roomWindowDuration.String(), "--view-window", roomWindowDuration.String()}

// startRoomReplicas starts n replicas of a room on storeURL. When the test
// ends it stops them all at once, each with SIGTERM, and checks each
// stopped cleanly: one after another, a slow stop (a blocking read of the
// store that shutdown waits for) would add up.
func startRoomReplicas(t *testing.T, n int, storeURL string) []*service {
	t.Helper()
	svcs := startReplicas(t, n, storeURL, roomArgs...)
	t.Cleanup(func() {
		httpClient.CloseIdleConnections() // see startReplicas
		errs := make([]error, len(svcs))
		var wg sync.WaitGroup
		for i, svc := range svcs {
			wg.Go(func() { errs[i] = svc.stop(syscall.SIGTERM) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d did not shut down cleanly: %v\n%s", i+1, err, svcs[i].Log())
			}
		}
	})
	return svcs
}

// ticketMsg is a ticket as the WebSocket's "ticket" message and
// GET /api/v1/ticket show it; an "error" message fills Error.
type ticketMsg struct {
	Type     string `json:"type"`
	Ticket   string `json:"ticket"`
	State    string `json:"state"`
	Position *int64 `json:"position"`
	Deadline string `json:"deadline"`
	Until    string `json:"until"`
	Error    string `json:"error"`
	Message  string `json:"message"`
}

// String is what a check compares: the fields that are the same whoever
// reads the ticket (not eta_seconds, an estimate).
func (m ticketMsg) String() string {
	pos := "-"
	if m.Position != nil {
		pos = fmt.Sprint(*m.Position)
	}
	return fmt.Sprintf("%s %s pos %s deadline %q until %q", m.Ticket, m.State, pos, m.Deadline, m.Until)
}

// stateRank orders a ticket's states: a watcher must never see one go back.
var stateRank = map[string]int{"waiting": 0, "called": 1, "serving": 2, "served": 3, "expired": 3, "left": 3}

// boardString is what a check compares of a snapshot: its version, length
// and lists with their deadlines (not now, nor the estimates).
func boardString(m feedMsg) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d length %d serving [", m.Version, m.Length)
	for _, s := range m.Serving {
		fmt.Fprintf(&b, " %s until %s", s.Ticket, s.Until)
	}
	b.WriteString(" ] called [")
	for _, s := range m.Called {
		fmt.Fprintf(&b, " %s deadline %s", s.Ticket, s.Deadline)
	}
	fmt.Fprintf(&b, " ] waiting %v", labels(m.Waiting))
	return b.String()
}

// roomSocket is one WebSocket of the room. It keeps the latest snapshot
// and ticket it got, and every message that came out of order.
type roomSocket struct {
	name    string
	replica int     // 0-based index of the replica it is connected to
	holder  *holder // nil: it watches only the line
	conn    *websocket.Conn
	done    chan struct{}

	mu       sync.Mutex
	board    *feedMsg   // the latest snapshot
	ticket   *ticketMsg // the latest ticket message
	changed  time.Time  // when what it shows last changed
	problems []string   // what came out of order, in arrival order
	err      error      // why reading stopped
}

// dialRoomSocket connects one socket to svc as ip and, for a holder, asks
// to watch its ticket. It is closed when the test ends.
func dialRoomSocket(t *testing.T, svc *service, replica int, ip string, h *holder) *roomSocket {
	t.Helper()
	hdr := http.Header{}
	hdr.Set("X-Forwarded-For", ip)
	url := strings.Replace(svc.URL, "http", "ws", 1) + "/api/v1/ws"
	conn, _, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	s := &roomSocket{replica: replica, holder: h, conn: conn, done: make(chan struct{})}
	s.name = fmt.Sprintf("replica %d line watcher %s", replica+1, ip)
	if h != nil {
		s.name = fmt.Sprintf("replica %d holder of %s", replica+1, h.label)
		msg, _ := json.Marshal(map[string]string{"type": "watch", "token": h.token})
		if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatalf("%s: watch: %v", s.name, err)
		}
	}
	go s.read()
	t.Cleanup(func() { conn.Close(); <-s.done })
	return s
}

func (s *roomSocket) read() {
	defer close(s.done)
	for {
		_, data, err := s.conn.ReadMessage()
		if err == nil {
			err = contract.CheckServerMessage(data)
		}
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		var kind struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(data, &kind) // the contract check parsed it
		s.mu.Lock()
		switch kind.Type {
		case "snapshot":
			var m feedMsg
			_ = json.Unmarshal(data, &m)
			s.showBoard(m)
		case "ticket", "error":
			var m ticketMsg
			_ = json.Unmarshal(data, &m)
			s.showTicket(m)
		}
		s.mu.Unlock()
	}
}

// showBoard keeps snapshot m, noting it if it goes back: a lower version,
// or another board under the same version. s.mu is held.
func (s *roomSocket) showBoard(m feedMsg) {
	if prev := s.board; prev != nil {
		switch {
		case m.Version < prev.Version:
			s.problems = append(s.problems, fmt.Sprintf("snapshot version went back from %d to %d", prev.Version, m.Version))
		case m.Version == prev.Version && boardString(m) != boardString(*prev):
			s.problems = append(s.problems, fmt.Sprintf("two boards at one version: %s, then %s", clip(boardString(*prev)), clip(boardString(m))))
		}
	}
	if s.board == nil || boardString(m) != boardString(*s.board) {
		s.changed = time.Now()
	}
	s.board = &m
}

// showTicket keeps ticket message m, noting it if it goes back: a state
// before the one shown, a position behind the one shown, anything after a
// final state, another ticket, or an error (every watch here is of a
// ticket the holder still holds). s.mu is held.
func (s *roomSocket) showTicket(m ticketMsg) {
	prev := s.ticket
	switch {
	case m.Type == "error":
		s.problems = append(s.problems, fmt.Sprintf("error message %s: %s", m.Error, m.Message))
		return
	case s.holder == nil:
		s.problems = append(s.problems, "a ticket message on a socket that watches no ticket: "+m.String())
	case m.Ticket != s.holder.label:
		s.problems = append(s.problems, "a ticket message about another ticket: "+m.String())
	case prev == nil:
	case stateRank[prev.State] == 3:
		s.problems = append(s.problems, fmt.Sprintf("%s after the final %s", m, prev))
	case stateRank[m.State] < stateRank[prev.State]:
		s.problems = append(s.problems, fmt.Sprintf("state went back: %s, then %s", prev, m))
	case m.Position != nil && prev.Position != nil && *m.Position > *prev.Position:
		s.problems = append(s.problems, fmt.Sprintf("position went back: %s, then %s", prev, m))
	}
	if prev == nil || prev.String() != m.String() {
		s.changed = time.Now()
	}
	s.ticket = &m
}

// view returns what the socket shows now.
func (s *roomSocket) view() (board *feedMsg, ticket *ticketMsg, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.board, s.ticket, s.err
}

// shownAt returns when what the socket shows last changed.
func (s *roomSocket) shownAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// outOfOrder returns what came out of order so far.
func (s *roomSocket) outOfOrder() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.problems)
}

// truth is the line as the store has it: the snapshot route and every
// holder's ticket route, which ask the store on every call.
type truth struct {
	board   feedMsg
	tickets map[string]ticketMsg // by label
}

// room is a line on several replicas of one store, watched by many sockets.
type room struct {
	t        *testing.T
	storeURL string // the replicas' --redis-url
	svcs     []*service
	holders  []*holder
	sockets  []*roomSocket
}

// openRoom takes roomHolders tickets round-robin over svcs, each from an
// address of its own, and connects roomLineWatchers line watchers to every
// replica and every holder's watcher to replica i%len(svcs); it returns
// once every socket has its first snapshot, and every holder's its ticket.
func openRoom(t *testing.T, storeURL string, svcs []*service) *room {
	t.Helper()
	rm := &room{t: t, storeURL: storeURL, svcs: svcs}
	for i := range roomHolders {
		ip := fmt.Sprintf("10.77.%d.%d", i/200, i%200+1)
		r := svcs[i%len(svcs)].client(ip).take()
		rm.holders = append(rm.holders, &holder{ip: ip, token: r.str("token"), label: r.str("ticket")})
	}
	for ri, svc := range svcs {
		for i := range roomLineWatchers {
			rm.sockets = append(rm.sockets, dialRoomSocket(t, svc, ri, fmt.Sprintf("10.78.%d.%d", ri, i+1), nil))
		}
	}
	for i, h := range rm.holders {
		rm.sockets = append(rm.sockets, dialRoomSocket(t, svcs[i%len(svcs)], i%len(svcs), h.ip, h))
	}
	deadline := time.Now().Add(roomConnectTimeout)
	for _, s := range rm.sockets {
		for {
			board, ticket, err := s.view()
			if err != nil {
				t.Fatalf("%s: the WebSocket ended before the test began: %v", s.name, err)
			}
			if board != nil && (s.holder == nil || ticket != nil) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no first snapshot and ticket within %v", s.name, roomConnectTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("the room: %d holders, %d sockets on %d replicas (%d watching only the line, %d their own ticket)",
		len(rm.holders), len(rm.sockets), len(svcs), roomLineWatchers*len(svcs), len(rm.holders))
	return rm
}

// readTruth reads the line from the store through svc's REST routes,
// waiting while the store does not answer yet (503).
func (rm *room) readTruth(svc *service) truth {
	rm.t.Helper()
	deadline := time.Now().Add(roomTruthTimeout)
	get := func(what, path, ip, token string) reply {
		for {
			r, err := fetch(svc.URL, "GET", path, ip, token)
			if err == nil && r.Status == http.StatusOK {
				return r
			}
			if (err != nil || r.Status != http.StatusServiceUnavailable) || time.Now().After(deadline) {
				rm.t.Fatalf("reading the truth (%s) from the store: %v %v", what, r, err)
			}
			time.Sleep(roomRetryEvery)
		}
	}
	var tr truth
	if err := json.Unmarshal(get("the line", "/api/v1/queue", "10.79.0.1", "").Body, &tr.board); err != nil {
		rm.t.Fatal(err)
	}
	// The snapshot route must show the store itself, not a replica's view
	// of it: the line stands still, so a snapshot read here, straight from
	// the store, is the same.
	if own := rm.storeBoard(deadline); boardString(own) != boardString(tr.board) {
		rm.t.Fatalf("GET /api/v1/queue shows %s; the store has %s", clip(boardString(tr.board)), clip(boardString(own)))
	}
	tr.tickets = map[string]ticketMsg{}
	for _, h := range rm.holders {
		var m ticketMsg
		if err := json.Unmarshal(get(h.label, "/api/v1/ticket", h.ip, h.token).Body, &m); err != nil {
			rm.t.Fatal(err)
		}
		tr.tickets[h.label] = m
	}
	return tr
}

// apiTimeLayout is how the API writes a time (docs/api.md): RFC 3339 in
// UTC with exactly three decimals.
const apiTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// storeBoard reads the line's snapshot straight from the store, in this
// process (redisline, no scheduler), and shows it as the API would.
func (rm *room) storeBoard(deadline time.Time) feedMsg {
	rm.t.Helper()
	for {
		snap, err := rm.readStore()
		if err == nil {
			m := feedMsg{Type: "snapshot", Version: snap.Version, Length: int(snap.Length)}
			at := func(t *time.Time) string {
				if t == nil {
					return ""
				}
				return t.UTC().Format(apiTimeLayout)
			}
			for _, s := range snap.Serving {
				m.Serving = append(m.Serving, slot{Ticket: s.Ticket, Until: at(s.Until)})
			}
			for _, s := range snap.Called {
				m.Called = append(m.Called, slot{Ticket: s.Ticket, Deadline: at(s.Deadline)})
			}
			for _, w := range snap.Waiting {
				m.Waiting = append(m.Waiting, slot{Ticket: w.Ticket})
			}
			return m
		}
		if time.Now().After(deadline) {
			rm.t.Fatalf("reading the line straight from the store: %v", err)
		}
		time.Sleep(roomRetryEvery)
	}
}

// readStore reads one snapshot with a Line of its own on rm.storeURL.
func (rm *room) readStore() (queue.Snapshot, error) {
	rdb, err := redisline.Dial(rm.storeURL)
	if err != nil {
		rm.t.Fatalf("dial %s: %v", rm.storeURL, err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	line, err := redisline.New(ctx, rdb, redisline.Options{
		HeadWindow: roomWindowDuration, ViewWindow: roomWindowDuration,
		Secret: []byte(replicaSecret), Tick: -1, // no scheduler: only this read
	})
	if err != nil {
		return queue.Snapshot{}, err
	}
	defer line.Close()
	return line.Snapshot(ctx)
}

// differsFrom reports why s does not show tr, or "" when it does.
func (s *roomSocket) differsFrom(tr truth) string {
	board, ticket, err := s.view()
	switch {
	case err != nil:
		return fmt.Sprintf("the WebSocket ended: %v", err)
	case board == nil || boardString(*board) != boardString(tr.board):
		shown := "nothing"
		if board != nil {
			shown = boardString(*board)
		}
		return fmt.Sprintf("board %s; the store has %s", clip(shown), clip(boardString(tr.board)))
	case s.holder == nil:
		return ""
	case ticket == nil || ticket.String() != tr.tickets[s.holder.label].String():
		shown := "nothing"
		if ticket != nil {
			shown = ticket.String()
		}
		return fmt.Sprintf("ticket %s; the store has %s", shown, tr.tickets[s.holder.label])
	}
	return ""
}

// fault is one fault of a test: it starts the fault and returns once it
// is over and the store is whole again. The mover keeps moving meanwhile.
type fault func(mv *mover)

// run keeps the head moving through movers, lets it move a while, runs
// the fault, and after it lets the mover make movesAfterFault more changes
// (the first the store takes, while the replicas are still catching up)
// before it stops. The fault ends then: the store is whole and the line
// stands still. Within convergeWithin of that moment every socket must show
// the store's truth, read through truthVia; and no socket may have shown
// anything out of order, before, during or after the fault.
func (rm *room) run(movers []*service, truthVia *service, warmup time.Duration, movesAfterFault int, f fault) {
	t := rm.t
	t.Helper()
	mv := startMover(t, movers, rm.holders)
	time.Sleep(warmup)
	began := time.Now()
	startMoves := mv.moves()
	f(mv)
	faultOver := time.Now()
	end := mv.finish(movesAfterFault)
	end = later(end, faultOver)
	t.Logf("the fault lasted %v; the head moved %d times during it and %d after it; the line stood still %v after the fault was over",
		faultOver.Sub(began).Round(time.Millisecond), mv.movesUntil(faultOver)-startMoves, mv.moves()-mv.movesUntil(faultOver), end.Sub(faultOver).Round(time.Millisecond))

	tr := rm.readTruth(truthVia)
	// Wait until every socket shows the truth, or convergeReport passed;
	// then judge each by when the messages it shows arrived.
	var off []string
	for stopAt := end.Add(convergeReport); ; time.Sleep(10 * time.Millisecond) {
		off = off[:0]
		for _, s := range rm.sockets {
			if why := s.differsFrom(tr); why != "" {
				off = append(off, s.name+": "+why)
			}
		}
		if len(off) == 0 || time.Now().After(stopAt) {
			break
		}
	}
	var late []string // sockets that showed the truth, but after convergeWithin
	var slowest time.Duration
	for _, s := range rm.sockets {
		if s.differsFrom(tr) != "" {
			continue
		}
		took := max(s.shownAt().Sub(end), 0)
		slowest = max(slowest, took)
		if took > convergeWithin {
			late = append(late, fmt.Sprintf("%s: %v", s.name, took.Round(time.Millisecond)))
		}
	}
	t.Logf("%d of %d sockets showed the store's truth (%s), the last %v after the fault ended (%v after the store was whole)",
		len(rm.sockets)-len(off), len(rm.sockets), clip(boardString(tr.board)), slowest.Round(time.Millisecond),
		(end.Sub(faultOver) + slowest).Round(time.Millisecond))
	if len(late) > 0 {
		t.Errorf("%d of %d sockets showed the store's truth later than %v after the fault ended:\n  %s",
			len(late), len(rm.sockets), convergeWithin, strings.Join(firstFew(late), "\n  "))
	}
	if len(off) > 0 {
		t.Errorf("%d of %d sockets still did not show the store's truth %v after the fault ended:\n  %s",
			len(off), len(rm.sockets), convergeReport, strings.Join(firstFew(off), "\n  "))
	}
	// A page that connects now is greeted with the line as it is.
	for ri, svc := range rm.svcs {
		s := dialRoomSocket(t, svc, ri, fmt.Sprintf("10.78.%d.200", ri), nil)
		waitFor(t, roomConnectTimeout, fmt.Sprintf("a newcomer's first snapshot on replica %d", ri+1), func() bool {
			board, _, err := s.view()
			return board != nil || err != nil
		})
		if why := s.differsFrom(tr); why != "" {
			t.Errorf("a newcomer on replica %d: %s", ri+1, why)
		}
	}
	if again := rm.readTruth(truthVia); boardString(again.board) != boardString(tr.board) {
		t.Fatalf("the line moved by itself after the mover stopped: %s, then %s", clip(boardString(tr.board)), clip(boardString(again.board)))
	}
	rm.logViewLoads()
	for _, s := range rm.sockets {
		if p := s.outOfOrder(); len(p) > 0 {
			t.Errorf("%s showed the line out of order:\n  %s", s.name, strings.Join(firstFew(p), "\n  "))
		}
	}
	if p := mv.problems(); len(p) > 0 {
		t.Errorf("the mover: %s", strings.Join(firstFew(p), "; "))
	}
}

// viewLoadsMetric counts, by reason, a replica's whole loads of the line
// into its read model: which way it came back from a fault.
const viewLoadsMetric = "catqms_view_loads_total"

// logViewLoads logs each replica's viewLoadsMetric, where it has one.
func (rm *room) logViewLoads() {
	for ri, svc := range rm.svcs {
		r, err := fetch(svc.URL, "GET", "/metrics", "", "")
		if err != nil || r.Status != http.StatusOK {
			rm.t.Errorf("replica %d /metrics: %v %v", ri+1, r, err)
			continue
		}
		var loads []string
		for line := range strings.Lines(string(r.Body)) {
			if strings.HasPrefix(line, viewLoadsMetric) {
				loads = append(loads, strings.TrimSpace(strings.TrimPrefix(line, viewLoadsMetric)))
			}
		}
		if len(loads) > 0 {
			rm.t.Logf("replica %d loaded its view of the line: %s", ri+1, strings.Join(loads, ", "))
		}
	}
}

// firstFew returns the first ten lines of list, and how many more there were.
func firstFew(list []string) []string {
	const few = 10
	if len(list) <= few {
		return list
	}
	return append(slices.Clone(list[:few]), fmt.Sprintf("… and %d more", len(list)-few))
}

// clip shortens a board for a message: its start tells it apart.
func clip(board string) string {
	const most = 160
	if len(board) <= most {
		return board
	}
	return board[:most] + "…"
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// mover keeps the head of the line moving: the called holder redeems, then
// ends viewing, and the next one is called; a change every roomMoveEvery.
// It asks the store for the head's state before each change, so that a
// change whose answer was lost (the store went away) is not made twice.
type mover struct {
	t       *testing.T
	via     []*service
	holders []*holder

	step sync.Mutex // held across each change; hold pauses the mover

	mu       sync.Mutex
	acks     []time.Time // when each change was acknowledged
	lastDone time.Time   // when the mover's last request returned
	target   int         // stop after this many changes; 0: go on
	issues   []string
	stopped  chan struct{}
	quit     chan struct{}
	quitOnce sync.Once
}

// startMover starts moving the head through via, from the first holder on.
// It is stopped when the test ends, if finish did not stop it before.
func startMover(t *testing.T, via []*service, holders []*holder) *mover {
	mv := &mover{t: t, via: via, holders: holders, stopped: make(chan struct{}), quit: make(chan struct{})}
	go mv.loop()
	t.Cleanup(func() { mv.quitOnce.Do(func() { close(mv.quit) }); <-mv.stopped })
	return mv
}

// hold pauses the mover after its change in flight; release resumes it.
func (mv *mover) hold()    { mv.step.Lock() }
func (mv *mover) release() { mv.step.Unlock() }

func (mv *mover) loop() {
	defer close(mv.stopped)
	head, n := 0, 0
	for head < len(mv.holders) {
		select {
		case <-mv.quit:
			return
		default:
		}
		mv.step.Lock()
		changed, next, err := mv.change(mv.via[n%len(mv.via)], mv.holders[head])
		mv.step.Unlock()
		n++
		mv.mu.Lock()
		mv.lastDone = time.Now()
		if err != nil {
			mv.issues = append(mv.issues, err.Error())
		}
		if changed {
			mv.acks = append(mv.acks, mv.lastDone)
		}
		done := mv.target > 0 && len(mv.acks) >= mv.target
		mv.mu.Unlock()
		if done || err != nil {
			return
		}
		if next {
			head++
			continue
		}
		pause := roomMoveEvery
		if !changed {
			pause = roomRetryEvery
		}
		select {
		case <-mv.quit:
			return
		case <-time.After(pause):
		}
	}
	mv.mu.Lock()
	mv.issues = append(mv.issues, fmt.Sprintf("ran out of the %d holders: make roomHolders larger", len(mv.holders)))
	mv.mu.Unlock()
}

// change makes the next change of h's ticket through svc: redeem it when
// called, end it when serving. next is true when h is done and the head is
// the next holder. A store that does not answer (503, or no connection)
// is no error: the mover tries again.
func (mv *mover) change(svc *service, h *holder) (changed, next bool, err error) {
	r, ferr := fetch(svc.URL, "GET", "/api/v1/ticket", h.ip, h.token)
	if ferr != nil || r.Status == http.StatusServiceUnavailable {
		return false, false, nil
	}
	if r.Status != http.StatusOK {
		return false, false, fmt.Errorf("status of %s: %v", h.label, r)
	}
	var method string
	want := http.StatusOK
	switch state := r.str("state"); state {
	case "called":
		method = "POST"
	case "serving":
		method, want = "DELETE", http.StatusNoContent
	case "served":
		return false, true, nil
	case "waiting":
		return false, false, nil // the call is on its way (a replica's tick)
	default:
		return false, false, fmt.Errorf("the head %s is %s: nobody here leaves or misses a call", h.label, state)
	}
	r, ferr = fetch(svc.URL, method, "/api/v1/kitty", h.ip, h.token)
	switch {
	case ferr != nil || r.Status == http.StatusServiceUnavailable:
		return false, false, nil // made or not: the next status says
	case r.Status != want:
		return false, false, fmt.Errorf("%s /api/v1/kitty for %s: %v", method, h.label, r)
	}
	return true, false, nil
}

// moves returns how many changes were acknowledged so far.
func (mv *mover) moves() int {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return len(mv.acks)
}

// movesUntil returns how many changes were acknowledged before at.
func (mv *mover) movesUntil(at time.Time) int {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	n := 0
	for _, a := range mv.acks {
		if a.Before(at) {
			n++
		}
	}
	return n
}

// problems returns what went wrong with the moves.
func (mv *mover) problems() []string {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return slices.Clone(mv.issues)
}

// finish lets the mover make n more changes, stops it, and returns when
// its last request returned: from then on the line stands still.
func (mv *mover) finish(n int) time.Time {
	mv.t.Helper()
	mv.mu.Lock()
	mv.target = len(mv.acks) + n
	mv.mu.Unlock()
	select {
	case <-mv.stopped:
	case <-time.After(roomMoverFinishWait):
		mv.quitOnce.Do(func() { close(mv.quit) })
		<-mv.stopped
		mv.t.Fatalf("the mover made %d of %d changes in %v after the fault", mv.moves()-(mv.target-n), n, roomMoverFinishWait)
	}
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if len(mv.acks) < mv.target {
		mv.t.Fatalf("the mover stopped early: %v", mv.issues)
	}
	return mv.lastDone
}

// TestRoomSocketNoticesDisorder: the order checks of a room's socket catch
// every kind of going back, and let the line's ordinary progress pass.
func TestRoomSocketNoticesDisorder(t *testing.T) {
	pos := func(n int64) *int64 { return &n }
	board := func(v int64, waiting ...string) feedMsg {
		m := feedMsg{Type: "snapshot", Version: v, Length: len(waiting)}
		for _, l := range waiting {
			m.Waiting = append(m.Waiting, slot{Ticket: l})
		}
		return m
	}
	ticket := func(state string, p *int64) ticketMsg {
		return ticketMsg{Type: "ticket", Ticket: "A005", State: state, Position: p}
	}
	for _, tc := range []struct {
		name    string
		boards  []feedMsg
		tickets []ticketMsg
		want    int // problems
	}{
		{"boards in order", []feedMsg{board(1, "A005", "A006"), board(2, "A006"), board(2, "A006"), board(5)}, nil, 0},
		{"a version goes back", []feedMsg{board(2, "A006"), board(1, "A005", "A006")}, nil, 1},
		{"two boards at one version", []feedMsg{board(2, "A006"), board(2, "A006", "A007")}, nil, 1},
		{"a ticket moves forward", nil, []ticketMsg{
			ticket("waiting", pos(3)), ticket("waiting", pos(2)), ticket("waiting", pos(2)), ticket("called", pos(1)),
			ticket("serving", nil), ticket("served", nil),
		}, 0},
		{"a position goes back", nil, []ticketMsg{ticket("waiting", pos(2)), ticket("waiting", pos(3))}, 1},
		{"a state goes back", nil, []ticketMsg{ticket("called", pos(1)), ticket("waiting", pos(1))}, 1},
		{"news after a final state", nil, []ticketMsg{ticket("served", nil), ticket("served", nil)}, 1},
		{"another ticket", nil, []ticketMsg{{Type: "ticket", Ticket: "A006", State: "waiting", Position: pos(1)}}, 1},
		{"an error", nil, []ticketMsg{ticket("waiting", pos(2)), {Type: "error", Error: "gone", Message: "…"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &roomSocket{holder: &holder{label: "A005"}}
			for _, b := range tc.boards {
				s.showBoard(b)
			}
			for _, m := range tc.tickets {
				s.showTicket(m)
			}
			if got := s.outOfOrder(); len(got) != tc.want {
				t.Errorf("%d problems, want %d: %q", len(got), tc.want, got)
			}
		})
	}
}
