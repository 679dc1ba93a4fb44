package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// s7Result: the waiting room. N WebSocket watchers, each holding a ticket
// of its own, while the head of the line moves at a fixed pace; the same N
// connections also watch only the line, which is the ceiling: what the feed
// costs when nobody's ticket has to be shown. The two modes are measured in
// pairs of windows back to back (s7Plan), so that the ratio of a pair is
// taken under the same conditions of the shared box. One catqms replica,
// then three sharing the Redis.
type s7Result struct {
	Counts   []int     `json:"watchers"`
	Rates    []float64 `json:"rates"`
	Windows  []string  `json:"windows"`
	Replicas int       `json:"replicas"`             // of the multi-replica run
	PerRep   int       `json:"watchers_per_replica"` // of the multi-replica run
	RepRates []float64 `json:"replica_rates"`
	Grace    string    `json:"grace"`
	Pairs    int       `json:"pairs_at_target_pace"` // pairs per run at s7P99AtRate; one at the others
	Flags    []string  `json:"catqms_flags"`         // beyond startCatqms's common ones
	Skipped  string    `json:"skipped,omitempty"`
	Runs     []s7Run   `json:"runs"` // every repetition; the report takes medians
	Memory   *s7Memory `json:"read_model,omitempty"`
}

// s7Run is one set of fresh catqms processes with N watchers: line-only
// and own-ticket windows in pairs, in s7Plan's order, on the same
// connections.
type s7Run struct {
	Rep         int      `json:"rep"`
	Replicas    int      `json:"replicas"`
	Watchers    int      `json:"watchers"`              // in all, spread over the replicas
	TicketFirst bool     `json:"ticket_first"`          // the run's first window is an own-ticket one
	Tickets     int64    `json:"tickets"`               // taken before the first move
	Fill        string   `json:"fill_time"`             // taking them over HTTP
	Connect     string   `json:"connect_time"`          // opening the WebSockets
	Watch       string   `json:"watch_time"`            // the first switch to own tickets: from the first watch message to the last one's answer
	Unwatch     string   `json:"unwatch_time"`          // the first switch back to the line only, the same way
	Switches    int      `json:"switches"`              // switches of mode in all (the first watch included)
	LineKB      float64  `json:"line_kb_per_watcher"`   // catqms RSS growth per connection, watching the line
	TicketKB    float64  `json:"ticket_kb_per_watcher"` // the same once every connection watches a ticket
	Cells       []s7Cell `json:"cells"`                 // in the order measured
}

// s7Cell is one window: watchers in one mode, the head moving at one rate.
type s7Cell struct {
	Mode       string  `json:"mode"` // "line" (the ceiling) or "ticket"
	Rate       float64 `json:"rate"` // moves per second asked for
	Pair       int     `json:"pair"` // the run's line and ticket windows at this rate with this number were measured back to back
	Moves      int64   `json:"moves"`
	Achieved   float64 `json:"achieved_rate"` // moves per second the bench managed to make
	Seconds    float64 `json:"seconds"`       // first move to the last delivery (or the grace's end)
	P50ms      float64 `json:"p50_ms"`        // move's trigger → the first message showing it
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	Deliveries int64   `json:"deliveries"`
	Messages   int64   `json:"messages"`            // WebSocket messages the watchers received
	Drops      int     `json:"drops"`               // watchers behind at the end, or disconnected
	Lost       int     `json:"lost"`                // of which disconnected
	Backwards  int     `json:"out_of_order"`        // messages that showed an older line than one before
	RedisMs    float64 `json:"redis_ms_per_move"`   // INFO cpu (user + sys) delta / moves
	RedisBusy  float64 `json:"redis_busy"`          // the same delta / Seconds: share of one core
	ServiceMs  float64 `json:"service_ms_per_move"` // /proc utime+stime of every catqms / moves
	ServiceBsy float64 `json:"service_busy"`        // the same / Seconds: share of one core

	start time.Time // the first move's time, for the log
}

// s7LeadIn is how long each window's unmeasured lead-in at its pace
// lasts.
const s7LeadIn = time.Second

// s7LeadMoves is how many unmeasured moves open a window at rate: a
// second's worth, at least two.
func s7LeadMoves(rate float64) int64 {
	return max(int64(rate*s7LeadIn.Seconds()), 2)
}

// s7Grace is how long after a window's last move the watchers get to show
// it before the ones still behind count as drops.
const s7Grace = 5 * time.Second

func runS7(ctx context.Context, e *env) (*s7Result, error) {
	counts := []int{1000, 5000, 10000, 15000}
	rates := []float64{2, 5, 20}
	// 8, 15 and 40 moves: three runs of every count fit in about 8 minutes.
	windows := []time.Duration{4 * time.Second, 3 * time.Second, 2 * time.Second}
	replicas, perReplica, repRates := 3, 5000, []float64{5}
	grace := s7Grace
	if e.quick {
		counts = []int{1000, 5000}
		windows = []time.Duration{2 * time.Second, 2 * time.Second, time.Second}
		perReplica = 1000
		grace = 3 * time.Second
	}
	if len(e.s7Watchers) > 0 {
		counts = e.s7Watchers
	}
	if len(e.s7Rates) > 0 {
		// Each pace keeps its own window, so that one cell measures as it
		// does in the full run.
		var rs []float64
		var ws []time.Duration
		for _, r := range e.s7Rates {
			i := slices.Index(rates, r)
			if i < 0 {
				return nil, fmt.Errorf("--s7-rates: %g is not one of %v", r, rates)
			}
			rs, ws = append(rs, r), append(ws, windows[i])
		}
		rates, windows = rs, ws
	}
	if e.s7Pairs < 1 {
		return nil, fmt.Errorf("--s7-pairs: %d, at least 1", e.s7Pairs)
	}
	pairsAt := func(rate float64) int {
		if rate == s7P99AtRate {
			return e.s7Pairs
		}
		return 1
	}
	res := &s7Result{Rates: rates, Replicas: replicas, PerRep: perReplica, RepRates: repRates, Grace: grace.String(), Pairs: e.s7Pairs, Flags: s7Flags(e, "N+1000")}
	for _, w := range windows {
		res.Windows = append(res.Windows, w.String())
	}
	for _, n := range counts {
		if n <= 0 { // --s7-watchers 0: only the multi-replica run
			continue
		}
		if n > e.maxWatch {
			res.Skipped += fmt.Sprintf("%d watchers skipped: the open-file limit is %d per process. ", n, e.maxWatch+200)
			continue
		}
		res.Counts = append(res.Counts, n)
	}
	multi := replicas*perReplica <= e.maxWatch && e.s7Multi
	if !e.s7Multi {
		res.Skipped += "The multi-replica run was not asked for. "
	} else if !multi {
		res.Skipped += fmt.Sprintf("%d replicas × %d watchers skipped: the open-file limit is %d per process. ", replicas, perReplica, e.maxWatch+200)
	}
	repWindows := make([]time.Duration, len(repRates))
	for i, r := range repRates {
		repWindows[i] = windows[len(windows)-1]
		for j, rr := range rates {
			if r == rr {
				repWindows[i] = windows[j]
			}
		}
	}
	// Repetitions go round every count in turn, so that a busy spell of
	// the shared box falls on different cells each time; every other one
	// starts with the own-ticket mode, so that each order of a pair comes
	// about as often.
	for rep := 1; rep <= e.reps; rep++ {
		ticketFirst := rep%2 == 0
		for _, n := range res.Counts {
			run, err := s7Once(ctx, e, 1, n, s7Plan(rates, windows, pairsAt, ticketFirst), grace)
			if err != nil {
				return nil, fmt.Errorf("%d watchers: %w", n, err)
			}
			run.Rep = rep
			res.Runs = append(res.Runs, run)
		}
		if !multi {
			continue
		}
		run, err := s7Once(ctx, e, replicas, replicas*perReplica, s7Plan(repRates, repWindows, pairsAt, ticketFirst), grace)
		if err != nil {
			return nil, fmt.Errorf("%d replicas × %d watchers: %w", replicas, perReplica, err)
		}
		run.Rep = rep
		res.Runs = append(res.Runs, run)
	}
	// What the read model costs each replica with a long line.
	waiting := int64(1_000_000)
	if e.quick {
		waiting = 100_000
	}
	if e.s7Waiting > 0 {
		waiting = e.s7Waiting
	}
	if e.s7Waiting < 0 {
		return res, nil
	}
	mem, err := runS7Memory(ctx, e, waiting)
	if err != nil {
		return nil, fmt.Errorf("read model memory: %w", err)
	}
	res.Memory = mem
	return res, nil
}

// s7Flags are the flags S7 gives catqms beyond the common ones, so the
// bench's load is allowed: maxConns connections per replica (its watchers
// and some room), all from loopback (a trusted proxy: exempt from the
// per-address cap, counted in --max-conns), every ticket from one of a few
// thousand addresses.
func s7Flags(e *env, maxConns string) []string {
	var f []string
	if e.catqmsHas("max-conns") {
		f = append(f, "--max-conns", maxConns)
	}
	if e.catqmsHas("max-conns-per-ip") {
		f = append(f, "--max-conns-per-ip", "1000000")
	}
	return f
}

// s7Take is the part of a take's answer S7 reads.
type s7Take struct {
	Token    string `json:"token"`
	Ticket   string `json:"ticket"`
	State    string `json:"state"`
	Position *int64 `json:"position"`
}

func s7TakeTicket(ctx context.Context, c *http.Client, base, xff string) (s7Take, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/token", nil)
	req.Header.Set("X-Forwarded-For", xff)
	body, err := must200(c.Do(req))
	if err != nil {
		return s7Take{}, err
	}
	var t s7Take
	if err := json.Unmarshal(body, &t); err != nil {
		return t, err
	}
	if t.Position == nil {
		return t, fmt.Errorf("ticket %s (%s) has no position", t.Ticket, t.State)
	}
	return t, nil
}

// s7Room is one S7 run's shared state: the moves made so far and when each
// was triggered, and the tickets in line before the first.
type s7Room struct {
	tickets int64          // called + waiting before the first move
	moves   atomic.Int64   // moves triggered so far
	at      []atomic.Int64 // UnixNano of move k's trigger, k from 1
}

// s7Watcher is one WebSocket connection holding one ticket. It counts the
// moves each message shows: a snapshot of length L shows tickets − L moves
// (a move's redeem takes the called ticket out of the length); a message
// about its own ticket at position P shows pos0 − P (a redeem moves
// everyone behind up one). Latency of move k is the arrival of the first
// message of the window's mode showing it, minus move k's trigger. A
// ticket message about another ticket is the answer to a switch back to
// the line only (s7Once's unwatch): it counts no move.
type s7Watcher struct {
	conn  *websocket.Conn
	xff   string
	token string
	own   []byte // `"ticket":"<its label>"`, as its ticket messages carry it
	pos0  int64  // position when taken, before any move

	mu        sync.Mutex
	lineSeen  int64  // moves shown by snapshots
	tickSeen  int64  // moves shown by its own ticket messages
	tickGot   bool   // a message about its own ticket has come (since the last switch)
	released  bool   // a message about another, finished ticket has come (since the last switch)
	foreign   string // the first message about another ticket that is still live
	samples   []s7Sample
	msgs      int64
	backwards int
	dead      bool
	errMsg    string // the first "error" message
}

type s7Sample struct {
	ticket bool // shown by a ticket message, not a snapshot
	move   int64
	ms     float64
}

var (
	typeSnapshot = []byte(`"type":"snapshot"`)
	typeTicket   = []byte(`"type":"ticket"`)
	// catqms writes a message's type first: the type is read from the
	// start, and only a message that starts otherwise is searched whole.
	snapshotStart = []byte(`{"type":"snapshot"`)
	ticketStart   = []byte(`{"type":"ticket"`)
	typeError     = []byte(`"type":"error"`)
	positionKey   = []byte(`"position":`)
	// The final states: a watch of a ticket in one of them ends.
	finalStates = [][]byte{[]byte(`"state":"served"`), []byte(`"state":"expired"`), []byte(`"state":"left"`)}
)

// ownKey is how a ticket message names the ticket labelled label.
func ownKey(label string) []byte {
	return fmt.Appendf(nil, `"ticket":%q`, label)
}

// intField reads the integer after key in msg, or -1.
func intField(msg, key []byte) int64 {
	i := bytes.Index(msg, key)
	if i < 0 {
		return -1
	}
	rest := msg[i+len(key):]
	j := bytes.IndexAny(rest, ",}")
	if j <= 0 {
		return -1
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

func (w *s7Watcher) read(room *s7Room, down *atomic.Int64) {
	for {
		_, r, err := w.conn.NextReader()
		if err != nil {
			w.mu.Lock()
			w.dead = true
			w.mu.Unlock()
			down.Add(1)
			return
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = io.Copy(buf, r)
		arrived := time.Now()
		if err == nil {
			w.handle(room, buf.Bytes(), arrived)
		}
		bufPool.Put(buf)
	}
}

func (w *s7Watcher) handle(room *s7Room, msg []byte, arrived time.Time) {
	var shown int64 = -1
	ticket := false
	// With own tickets every watcher reads two messages per move on the
	// core Redis runs on: a ticket message searched whole for the
	// snapshot's type cost this reader as much as the service's own work
	// for it.
	isSnapshot := bytes.HasPrefix(msg, snapshotStart)
	isTicket := !isSnapshot && bytes.HasPrefix(msg, ticketStart)
	if !isSnapshot && !isTicket {
		isSnapshot = bytes.Contains(msg, typeSnapshot)
		isTicket = !isSnapshot && bytes.Contains(msg, typeTicket)
	}
	switch {
	case isSnapshot:
		if l := intField(msg, lengthKey); l >= 0 {
			shown = room.tickets - l
		}
	case isTicket && !bytes.Contains(msg, w.own):
		// The answer to the watch of a finished ticket, which ends the
		// session's watch (s7Once's unwatch).
		final := slices.ContainsFunc(finalStates, func(st []byte) bool { return bytes.Contains(msg, st) })
		w.mu.Lock()
		w.msgs++
		if final {
			w.released = true
		} else if w.foreign == "" {
			w.foreign = string(msg)
		}
		w.mu.Unlock()
		return
	case isTicket:
		ticket = true
		if p := intField(msg, positionKey); p >= 0 {
			shown = w.pos0 - p
		}
	case bytes.Contains(msg, typeError):
		w.mu.Lock()
		if w.errMsg == "" {
			w.errMsg = string(msg)
		}
		w.mu.Unlock()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs++
	if shown < 0 {
		return
	}
	seen := &w.lineSeen
	if ticket {
		seen = &w.tickSeen
		w.tickGot = true
	}
	if shown < *seen {
		w.backwards++
		return
	}
	for k := *seen + 1; k <= shown && k < int64(len(room.at)); k++ {
		if t := room.at[k].Load(); t > 0 {
			w.samples = append(w.samples, s7Sample{ticket, k, ms(arrived.Sub(time.Unix(0, t)))})
		}
	}
	*seen = shown
}

// seenIn is how many moves w has seen in the mode's messages.
func (w *s7Watcher) seenIn(ticket bool) (int64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ticket {
		return w.tickSeen, w.dead
	}
	return w.lineSeen, w.dead
}

// s7Step is one window of a run: a mode at a pace, and which of the
// pace's pairs it belongs to.
type s7Step struct {
	Ticket bool // own tickets; else the line only
	Rate   float64
	Window time.Duration
	Pair   int // from 1, at this rate
}

// s7Plan orders a run's windows: for each pace in turn, pairs(rate) pairs
// of a line-only and an own-ticket window, the two of a pair back to back.
// Each pair starts in the mode the window before it ended in, so the
// watchers switch mode once per pair (L T, T L, L T …); a pace with two
// pairs is measured ABBA, which cancels a drift of the box's load that is
// linear in time. ticketFirst is the mode of the run's first window.
func s7Plan(rates []float64, windows []time.Duration, pairs func(rate float64) int, ticketFirst bool) []s7Step {
	var steps []s7Step
	mode := ticketFirst
	for i, r := range rates {
		for p := 1; p <= pairs(r); p++ {
			steps = append(steps, s7Step{mode, r, windows[i], p}, s7Step{!mode, r, windows[i], p})
			mode = !mode
		}
	}
	return steps
}

// s7Once starts replicas fresh catqms processes, fills the line with the
// head's tickets (the ones the moves call, redeem and end) and one ticket
// per watcher, connects the watchers (spread over the replicas) and runs
// the windows of steps, switching every watcher's mode where it changes.
func s7Once(ctx context.Context, e *env, replicas, n int, steps []s7Step, grace time.Duration) (s7Run, error) {
	run := s7Run{Replicas: replicas, Watchers: n, TicketFirst: len(steps) > 0 && steps[0].Ticket}
	if err := e.flush(ctx); err != nil {
		return run, err
	}
	perReplica := (n + replicas - 1) / replicas
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range replicas {
		p, err := e.startCatqms(ctx, fmt.Sprintf("s7-catqms-%dx%d-%d", replicas, n, i),
			catqmsOpts{counters: 1, headWindow: "24h", viewWindow: "24h", extra: s7Flags(e, strconv.Itoa(perReplica+1000))})
		if err != nil {
			return run, err
		}
		procs = append(procs, p)
	}
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.pid()
	}
	base := "http://" + procs[0].addr

	// The head: every move calls, redeems and ends one of these, in order,
	// so the watchers' tickets stay waiting behind them.
	heads := int64(5)
	for _, st := range steps {
		heads += max(int64(st.Rate*st.Window.Seconds()), 3) + s7LeadMoves(st.Rate)
	}
	client := httpClient(16)
	t0 := time.Now()
	headTokens := make([]string, heads+1)
	for k := int64(1); k <= heads; k++ {
		t, err := s7TakeTicket(ctx, client, base, "10.70.0.1")
		if err != nil {
			return run, fmt.Errorf("take head ticket %d: %w", k, err)
		}
		if *t.Position != k {
			return run, fmt.Errorf("head ticket %d is at position %d", k, *t.Position)
		}
		headTokens[k] = t.Token
	}
	ws := make([]*s7Watcher, n)
	if err := parallel(ctx, n, 16, func(i int) error {
		xff := fmt.Sprintf("10.%d.%d.%d", 100+i/65536, (i/256)%256, i%256)
		t, err := s7TakeTicket(ctx, client, base, xff)
		if err != nil {
			return err
		}
		ws[i] = &s7Watcher{xff: xff, token: t.Token, own: ownKey(t.Ticket), pos0: *t.Position}
		return nil
	}); err != nil {
		return run, fmt.Errorf("take watcher tickets: %w", err)
	}
	run.Tickets = heads + int64(n)
	run.Fill = time.Since(t0).Round(time.Millisecond).String()
	room := &s7Room{tickets: run.Tickets, at: make([]atomic.Int64, heads+1)}

	time.Sleep(500 * time.Millisecond) // the feeds' snapshots of the fill
	rss0 := sumRSS(pids)
	var down atomic.Int64
	var readers sync.WaitGroup
	defer func() {
		for _, w := range ws {
			if w != nil && w.conn != nil {
				_ = w.conn.Close()
			}
		}
		readers.Wait()
	}()
	t0 = time.Now()
	if err := parallel(ctx, n, 32, func(i int) error {
		url := "ws://" + procs[i%replicas].addr + "/api/v1/ws"
		conn, err := dialWS(ctx, url, i, ws[i].xff)
		if err != nil {
			return err
		}
		ws[i].conn = conn
		readers.Go(func() { ws[i].read(room, &down) })
		return nil
	}); err != nil {
		return run, fmt.Errorf("connect watchers: %w", err)
	}
	run.Connect = time.Since(t0).Round(time.Millisecond).String()
	// Each has its first snapshot (nothing has moved yet) before we start.
	if behind := waitSeen(ws, false, 0, 30*time.Second); behind > 0 {
		return run, fmt.Errorf("%d watchers got no snapshot in 30s", behind)
	}
	time.Sleep(time.Second)
	run.LineKB = float64(sumRSS(pids)-rss0) / float64(n)

	r := e.rdb(2)
	defer r.Close()
	mover := httpClient(2)
	move := func() error {
		k := room.moves.Load() + 1
		if k >= int64(len(headTokens)) {
			return fmt.Errorf("out of head tickets at move %d", k)
		}
		room.at[k].Store(time.Now().UnixNano())
		room.moves.Store(k)
		if code, body, err := kitty(ctx, mover, http.MethodPost, base, headTokens[k], "10.70.0.1"); err != nil || code != http.StatusOK {
			return fmt.Errorf("redeem head ticket %d: %d %s %v", k, code, body, err)
		}
		if code, body, err := kitty(ctx, mover, http.MethodDelete, base, headTokens[k], "10.70.0.1"); err != nil || code != http.StatusNoContent {
			return fmt.Errorf("end head ticket %d: %d %s %v", k, code, body, err)
		}
		return nil
	}

	// switchTo puts every watcher in the mode: each sends
	// {"type":"watch","token":…} with its own ticket's token, or, back to
	// the line only, with the token of the head ticket the last move
	// ended. The service answers that one with its final state and ends
	// the session's watch (server/live.go: a ticket in a final state ends
	// the watch), which leaves the session as one that never watched.
	// It returns once every watcher has its answer, and its messages of
	// the mode show every move made.
	watching := false
	switchTo := func(ticket bool) (time.Duration, error) {
		token := func(w *s7Watcher) string { return w.token }
		if !ticket {
			k := room.moves.Load()
			if k < 1 {
				return 0, fmt.Errorf("no head ticket has ended yet to switch back with")
			}
			token = func(*s7Watcher) string { return headTokens[k] }
		}
		for _, w := range ws {
			w.mu.Lock()
			w.tickGot, w.released = false, false
			w.mu.Unlock()
		}
		t0 := time.Now()
		if err := parallel(ctx, n, 32, func(i int) error {
			msg := fmt.Sprintf(`{"type":"watch","token":%q}`, token(ws[i]))
			_ = ws[i].conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			return ws[i].conn.WriteMessage(websocket.TextMessage, []byte(msg))
		}); err != nil {
			return 0, fmt.Errorf("send watch: %w", err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for _, w := range ws {
			for {
				w.mu.Lock()
				got, errMsg, foreign, dead := w.tickGot, w.errMsg, w.foreign, w.dead
				if !ticket {
					got = w.released
				}
				w.mu.Unlock()
				if errMsg != "" {
					return 0, fmt.Errorf("watch answered %s", errMsg)
				}
				if foreign != "" {
					return 0, fmt.Errorf("watch of an ended ticket answered %s", foreign)
				}
				if got {
					break
				}
				if dead || time.Now().After(deadline) {
					return 0, fmt.Errorf("a watcher got no answer to its watch (own ticket: %v) in 60s (dead: %v)", ticket, dead)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		took := time.Since(t0).Round(time.Millisecond)
		if behind := waitSeen(ws, ticket, room.moves.Load(), grace); behind > 0 {
			return 0, fmt.Errorf("after the switch (own ticket: %v), %d watchers do not show the moves made", ticket, behind)
		}
		watching = ticket
		run.Switches++
		return took, nil
	}

	for i, st := range steps {
		mode := map[bool]string{false: "line", true: "ticket"}[st.Ticket]
		if st.Ticket != watching {
			took, err := switchTo(st.Ticket)
			if err != nil {
				return run, err
			}
			switch {
			case st.Ticket && run.Watch == "":
				run.Watch = took.String()
				time.Sleep(time.Second)
				run.TicketKB = float64(sumRSS(pids)-rss0) / float64(n)
			case !st.Ticket && run.Unwatch == "":
				run.Unwatch = took.String()
			}
		}
		// Every window opens with a second of unmeasured moves at its
		// pace: the first moves after a quiet spell are not the pace's, and
		// a switch is a burst of N store calls and their garbage, which
		// the window after it may pay for (with two moves and a 1 s rest
		// instead, the window right after a switch was the slower of its
		// pair in 8 of 12 pairs, 5 of 6 at 10,000 watchers).
		lead := s7LeadMoves(st.Rate)
		interval := time.Duration(float64(time.Second) / st.Rate)
		for k := range lead {
			if k > 0 {
				time.Sleep(interval)
			}
			if err := move(); err != nil {
				return run, err
			}
		}
		waitSeen(ws, st.Ticket, room.moves.Load(), grace)
		c, err := s7Window(ctx, e, r, ws, room, pids, mode, st.Rate, st.Window, grace, move, &down)
		if err != nil {
			return run, err
		}
		c.Pair = st.Pair
		run.Cells = append(run.Cells, c)
		// The window's clock times, to cut a system-wide profile to it.
		e.log("s7 %d replica(s), %d watchers, window %d/%d: %s, %g moves/s, pair %d (made %.1f/s): p50 %.1fms p99 %.1fms; Redis %.2f ms/move (%.0f%% busy); catqms %.1f ms/move (%.0f%% of a core); drops %d (lost %d), out of order %d; window %.3f–%.3f s (Unix)",
			replicas, n, i+1, len(steps), mode, st.Rate, st.Pair, c.Achieved, c.P50ms, c.P99ms, c.RedisMs, 100*c.RedisBusy, c.ServiceMs, 100*c.ServiceBsy, c.Drops, c.Lost, c.Backwards,
			float64(c.start.UnixNano())/1e9, float64(c.start.UnixNano())/1e9+c.Seconds)
		if ctx.Err() != nil {
			return run, ctx.Err()
		}
	}
	return run, nil
}

// s7Window makes moves at rate for dur, waits until every watcher shows
// the last one (or grace ends) and measures what it cost.
func s7Window(ctx context.Context, e *env, r *redis.Client, ws []*s7Watcher, room *s7Room, pids []int,
	mode string, rate float64, dur, grace time.Duration, move func() error, down *atomic.Int64) (s7Cell, error) {
	ticket := mode == "ticket"
	c := s7Cell{Mode: mode, Rate: rate}
	count := max(int64(rate*dur.Seconds()), 3)
	interval := time.Duration(float64(time.Second) / rate)
	first := room.moves.Load() + 1
	for _, w := range ws { // forget what came before the window
		w.mu.Lock()
		w.samples, w.msgs, w.backwards = w.samples[:0], 0, 0
		w.mu.Unlock()
	}
	down0 := down.Load()
	redis0, err := redisCPU(ctx, r)
	if err != nil {
		return c, err
	}
	cpu0 := sumOf(cpuSeconds(pids))
	start := time.Now()
	c.start = start
	for k := range count {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			time.Sleep(d)
		}
		if k >= 3 && time.Since(start) > 2*dur {
			// The service cannot keep the pace: the moves made so far are
			// the window (the made rate says so), and the run's time stays
			// bounded.
			break
		}
		if err := move(); err != nil {
			return c, err
		}
	}
	made := time.Since(start)
	last := room.moves.Load()
	c.Moves = last - first + 1
	// On pace, the window lasts count intervals (the last move's
	// included); a slower service stretches it.
	c.Achieved = float64(c.Moves) / max(made.Seconds(), float64(c.Moves)/rate)
	waitSeen(ws, ticket, last, grace)
	c.Seconds = time.Since(start).Seconds()
	redis1, err := redisCPU(ctx, r)
	if err != nil {
		return c, err
	}
	cpu1 := sumOf(cpuSeconds(pids))
	c.RedisMs = 1000 * (redis1 - redis0) / float64(c.Moves)
	c.RedisBusy = (redis1 - redis0) / c.Seconds
	c.ServiceMs = 1000 * (cpu1 - cpu0) / float64(c.Moves)
	c.ServiceBsy = (cpu1 - cpu0) / c.Seconds
	var lat []float64
	for _, w := range ws {
		w.mu.Lock()
		for _, s := range w.samples {
			if s.ticket == ticket && s.move >= first && s.move <= last {
				lat = append(lat, s.ms)
			}
		}
		c.Messages += w.msgs
		c.Backwards += w.backwards
		seen := w.lineSeen
		if ticket {
			seen = w.tickSeen
		}
		if w.dead || seen < last {
			c.Drops++
		}
		w.mu.Unlock()
	}
	c.Lost = int(down.Load() - down0)
	c.Deliveries = int64(len(lat))
	c.P50ms, c.P99ms, c.MaxMs = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	return c, ctx.Err()
}

// waitSeen waits until every live watcher's messages of the mode show
// move last, or timeout passes; it returns how many are still behind.
func waitSeen(ws []*s7Watcher, ticket bool, last int64, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		behind := 0
		for _, w := range ws {
			if seen, dead := w.seenIn(ticket); dead || seen < last {
				behind++
			}
		}
		if behind == 0 || time.Now().After(deadline) {
			return behind
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parallel runs f(0…n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%d: %w", i, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		return ctx.Err()
	}
	return first
}

// redisCPU is Redis's own CPU time so far in seconds (INFO cpu:
// used_cpu_user + used_cpu_sys).
func redisCPU(ctx context.Context, r *redis.Client) (float64, error) {
	info, err := r.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var sum float64
	found := 0
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO cpu %s: %w", k, err)
			}
			sum += x
			found++
		}
	}
	if found != 2 {
		return 0, fmt.Errorf("INFO cpu has no used_cpu_user and used_cpu_sys")
	}
	return sum, nil
}

func sumOf(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

// sumRSS is the VmRSS of every pid, in kB (0 for one that is gone).
func sumRSS(pids []int) int64 {
	var s int64
	for _, pid := range pids {
		kb, _ := rssKB(pid)
		s += kb
	}
	return s
}
