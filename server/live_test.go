package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/readmodel"
	"github.com/catqms/catqms/queue/redisline"
)

// wsClient is a browser stand-in.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

// serve starts a real HTTP server on e's handler.
func (e *testEnv) serve() *httptest.Server {
	ts := httptest.NewServer(e.srv.Handler())
	e.t.Cleanup(ts.Close)
	return ts
}

// dial opens a WebSocket, or returns the refusing response.
func dial(t *testing.T, ts *httptest.Server) (*wsClient, *http.Response, error) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/ws"
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &wsClient{t: t, conn: conn}, resp, nil
}

func mustDial(t *testing.T, ts *httptest.Server) *wsClient {
	t.Helper()
	c, resp, err := dial(t, ts)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	return c
}

// next reads one message, which must be exactly one JSON object.
func (c *wsClient) next(timeout time.Duration) map[string]any {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	kind, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if kind != websocket.TextMessage {
		c.t.Fatalf("message kind %d", kind)
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&m); err != nil || dec.More() {
		c.t.Fatalf("message %q is not one JSON object (%v)", data, err)
	}
	if err := contract.CheckServerMessage(data); err != nil {
		c.t.Errorf("the message breaks api/openapi.json: %v", err)
	}
	return m
}

// until reads messages until one satisfies ok, within timeout.
func (c *wsClient) until(timeout time.Duration, what string, ok func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Fatalf("no %s within %v", what, timeout)
		}
		if m := c.next(left); ok(m) {
			return m
		}
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func ofType(typ string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ }
}

func TestWebSocketSnapshots(t *testing.T) {
	e := newTestServer(t, testOptions{})
	ts := e.serve()
	c := mustDial(t, ts)

	first := c.next(2 * time.Second)
	if first["type"] != "snapshot" {
		t.Fatalf("first message = %v, want a snapshot", first)
	}
	for _, k := range []string{"version", "now", "length", "counters", "serving", "called", "waiting", "eta_seconds_per_ticket"} {
		if _, ok := first[k]; !ok {
			t.Fatalf("snapshot lacks %s: %v", k, first)
		}
	}
	v0 := first["version"].(float64)

	e.take()
	m := c.until(2*time.Second, "a newer snapshot", func(m map[string]any) bool {
		return m["type"] == "snapshot" && m["version"].(float64) > v0
	})
	if m["length"] != float64(1) || len(m["called"].([]any)) != 1 {
		t.Fatalf("snapshot after one ticket = %v", m)
	}

	// A browser that connects now gets the current line at once.
	late := mustDial(t, ts)
	if got := late.next(2 * time.Second); got["type"] != "snapshot" || got["version"] != m["version"] || got["length"] != float64(1) {
		t.Fatalf("late joiner's first message = %v, want %v", got, m)
	}
}

// TestWebSocketCoalesces takes many tickets at once and checks that the
// versions only grow and the last snapshot is the current line.
func TestWebSocketCoalesces(t *testing.T) {
	e := newTestServer(t, testOptions{})
	c := mustDial(t, e.serve())
	last := c.next(2 * time.Second)["version"].(float64)

	const n = 30
	for i := range n {
		e.take(from("198.51.100." + string(rune('0'+i%10)) + string(rune('0'+i/10))))
	}
	snapshots := 0
	c.until(3*time.Second, "a snapshot of the whole burst", func(m map[string]any) bool {
		if m["type"] != "snapshot" {
			return false
		}
		snapshots++
		v := m["version"].(float64)
		if v <= last {
			t.Fatalf("version %v after %v", v, last)
		}
		last = v
		return m["length"] == float64(n)
	})
	if snapshots >= n {
		t.Fatalf("%d snapshots for %d changes: nothing was coalesced", snapshots, n)
	}
	// Nothing newer follows: the last snapshot was the current line.
	_ = c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, data, err := c.conn.ReadMessage(); err == nil {
		t.Fatalf("another message after the final snapshot: %s", data)
	}
}

func TestWebSocketWatch(t *testing.T) {
	e := newTestServer(t, testOptions{line: redisline.Options{HeadWindow: 40 * time.Second}})
	first, _ := e.take()
	second, _ := e.take()
	c := mustDial(t, e.serve())
	c.next(2 * time.Second) // the snapshot

	c.send(map[string]string{"type": "watch", "token": second})
	m := c.until(2*time.Second, "a ticket message", ofType("ticket"))
	if m["ticket"] != "A001" || m["state"] != "waiting" || m["position"] != float64(2) {
		t.Fatalf("ticket message = %v", m)
	}
	if _, has := m["eta_seconds"]; !has {
		t.Fatalf("waiting ticket without eta_seconds: %v", m)
	}

	// The first holder leaves: the watched ticket is called.
	if w := e.do(http.MethodDelete, "/api/v1/ticket", nil, bearer(first)); w.Code != http.StatusNoContent {
		t.Fatalf("leave = %d", w.Code)
	}
	m = c.until(2*time.Second, "the called update", ofType("ticket"))
	if m["state"] != "called" || m["position"] != float64(1) {
		t.Fatalf("update = %v", m)
	}
	if m["deadline"] != e.clock.Now().Add(40*time.Second).Format(timeLayout) {
		t.Fatalf("deadline = %v", m["deadline"])
	}

	// Redeemed: the update carries the session.
	redeemed := decode(t, e.redeem(second))
	m = c.until(2*time.Second, "the serving update", ofType("ticket"))
	if m["state"] != "serving" || m["image_url"] != redeemed["image_url"] || m["until"] != redeemed["until"] {
		t.Fatalf("update = %v, redeemed %v", m, redeemed)
	}
}

func TestWebSocketBadMessages(t *testing.T) {
	e := newTestServer(t, testOptions{})
	c := mustDial(t, e.serve())
	c.next(2 * time.Second)

	tests := []struct {
		name string
		send string
		code string
	}{
		{"garbage", "not json at all", "bad_request"},
		{"unknown type", `{"type":"dance"}`, "bad_request"},
		{"watch without token", `{"type":"watch"}`, "bad_request"},
		{"token not a string", `{"type":"watch","token":7}`, "bad_request"},
		{"forged token", `{"type":"watch","token":"forged"}`, "forbidden"},
		{"after forging, banned", `{"type":"watch","token":"forged"}`, "banned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.conn.WriteMessage(websocket.TextMessage, []byte(tt.send)); err != nil {
				t.Fatal(err)
			}
			m := c.until(2*time.Second, "an error", ofType("error"))
			if m["error"] != tt.code || m["message"] == "" {
				t.Fatalf("error = %v, want %s", m, tt.code)
			}
		})
	}
	// The connection survived all that: the line still arrives.
	e.take(from("198.51.100.1"))
	c.until(2*time.Second, "a snapshot", ofType("snapshot"))
}

func TestWebSocketConnectionCap(t *testing.T) {
	e := newTestServer(t, testOptions{cfg: Config{MaxWSPerClient: 2}})
	ts := e.serve()
	a := mustDial(t, ts)
	mustDial(t, ts)

	_, resp, err := dial(t, ts)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: err %v, resp %v", err, resp)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body["error"] != "too_many_connections" {
		t.Fatalf("refusal body %v (%v)", body, err)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("refusal without Retry-After")
	}
	_ = resp.Body.Close()

	// Closing one frees its slot.
	_ = a.conn.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, resp, err := dial(t, ts)
		if err == nil {
			_ = c.conn.Close()
			break
		}
		if resp != nil {
			_ = resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebSocketStale(t *testing.T) {
	e := newTestServer(t, testOptions{resync: 100 * time.Millisecond})
	c := mustDial(t, e.serve())
	v := c.next(2 * time.Second)["version"]

	e.mr.Close()
	m := c.until(3*time.Second, "a stale notice", ofType("stale"))
	if m["message"] == "" {
		t.Fatalf("stale notice = %v", m)
	}
	// A few failed resyncs later the store comes back. The next message
	// is the line again, not a second stale notice.
	time.Sleep(400 * time.Millisecond)
	if err := e.mr.Restart(); err != nil {
		t.Fatal(err)
	}
	m = c.next(5 * time.Second)
	if m["type"] != "snapshot" || m["version"] != v {
		t.Fatalf("after recovery: %v, want the snapshot of version %v", m, v)
	}
}

// countingLine is a queue.Line that counts the ticket reads made through it.
type countingLine struct {
	Line
	mu        sync.Mutex
	status    int   // Status calls
	statuses  []int // the length of each Statuses call
	snapshots int   // Snapshot calls
}

func (l *countingLine) Snapshot(ctx context.Context) (queue.Snapshot, error) {
	l.mu.Lock()
	l.snapshots++
	l.mu.Unlock()
	return l.Line.Snapshot(ctx)
}

func (l *countingLine) Status(ctx context.Context, client, token string) (queue.Ticket, error) {
	l.mu.Lock()
	l.status++
	l.mu.Unlock()
	return l.Line.Status(ctx, client, token)
}

func (l *countingLine) Statuses(ctx context.Context, reqs []queue.StatusRequest) ([]queue.StatusReply, error) {
	l.mu.Lock()
	l.statuses = append(l.statuses, len(reqs))
	l.mu.Unlock()
	return l.Line.Statuses(ctx, reqs)
}

// reset forgets the calls so far.
func (l *countingLine) reset() {
	l.mu.Lock()
	l.status, l.statuses, l.snapshots = 0, nil, 0
	l.mu.Unlock()
}

func (l *countingLine) calls() (status int, statuses []int, snapshots int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status, append([]int(nil), l.statuses...), l.snapshots
}

// countingServer serves a second Server on e's line, through a countingLine.
func countingServer(t *testing.T, e *testEnv, cfg Config) (*httptest.Server, *countingLine) {
	t.Helper()
	line := &countingLine{Line: e.line}
	h := hub.New(hub.Config{}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = h.Close() })
	srv, err := newServer(cfg, Deps{Line: line, Images: kitty.Builtin(), Hub: h}, feedResync)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, line
}

// TestWebSocketWatchersCostNoStoreReads watches one ticket from more
// connections than one store batch holds: after a change every watcher
// hears of it from the replica's view, with no store read at all. Only
// when the ticket finishes (the view knows it no more) does the feed ask
// the store, one Statuses call per batch.
func TestWebSocketWatchersCostNoStoreReads(t *testing.T) {
	e := newTestServer(t, testOptions{})
	n := watchBatch + 40
	ts, line := countingServer(t, e, Config{MaxWSPerClient: n})
	first, _ := e.take()
	second, _ := e.take()

	conns := make([]*wsClient, n)
	for i := range conns {
		c := mustDial(t, ts)
		c.next(2 * time.Second) // the snapshot
		c.send(map[string]string{"type": "watch", "token": second})
		conns[i] = c
	}
	for _, c := range conns {
		if m := c.until(5*time.Second, "a ticket message", ofType("ticket")); m["position"] != float64(2) {
			t.Fatalf("ticket message = %v", m)
		}
	}
	line.reset()

	if w := e.do(http.MethodDelete, "/api/v1/ticket", nil, bearer(first)); w.Code != http.StatusNoContent {
		t.Fatalf("leave = %d", w.Code)
	}
	for _, c := range conns {
		m := c.until(5*time.Second, "the called update", ofType("ticket"))
		if m["state"] != "called" || m["position"] != float64(1) {
			t.Fatalf("update = %v", m)
		}
	}
	if status, statuses, snapshots := line.calls(); status != 0 || len(statuses) != 0 || snapshots != 0 {
		t.Fatalf("the feed read the store for a change: %d Status, Statuses %v, %d Snapshot calls; want none", status, statuses, snapshots)
	}

	// The watched ticket leaves: the view knows it no more, so the feed
	// asks the store how it ended, in batches.
	if w := e.do(http.MethodDelete, "/api/v1/ticket", nil, bearer(second)); w.Code != http.StatusNoContent {
		t.Fatalf("leave = %d", w.Code)
	}
	for _, c := range conns {
		if m := c.until(5*time.Second, "the end", ofType("ticket")); m["state"] != "left" {
			t.Fatalf("update = %v", m)
		}
	}
	status, statuses, _ := line.calls()
	if status != 0 {
		t.Errorf("the feed made %d Status calls", status)
	}
	if len(statuses) < 2 {
		t.Fatalf("Statuses calls %v: want the %d watchers in at least two batches", statuses, n)
	}
	sum := 0
	for _, k := range statuses {
		if k > queue.StatusBatch {
			t.Errorf("a batch of %d, more than %d", k, queue.StatusBatch)
		}
		sum += k
	}
	if sum != n {
		t.Errorf("Statuses calls %v do not cover the %d watchers once", statuses, n)
	}
}

// TestWebSocketWatchSendsOnlyChanges: a change elsewhere in the line brings
// a snapshot but no repeat of an unchanged ticket.
func TestWebSocketWatchSendsOnlyChanges(t *testing.T) {
	e := newTestServer(t, testOptions{})
	token, _ := e.take()
	c := mustDial(t, e.serve())
	v := c.next(2 * time.Second)["version"].(float64)
	c.send(map[string]string{"type": "watch", "token": token})
	if m := c.until(2*time.Second, "a ticket message", ofType("ticket")); m["state"] != "called" {
		t.Fatalf("ticket message = %v", m)
	}

	e.take(from("198.51.100.7")) // behind the watched ticket: it does not change
	c.until(2*time.Second, "a newer snapshot", func(m map[string]any) bool {
		if m["type"] == "ticket" {
			t.Fatalf("an unchanged ticket was sent again: %v", m)
		}
		return m["type"] == "snapshot" && m["version"].(float64) > v
	})
	_ = c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, data, err := c.conn.ReadMessage(); err == nil {
		t.Fatalf("a message after the snapshot: %s", data)
	}
}

// TestWebSocketWatchEndsWhenTheWatcherIsBanned: a watcher whose client is
// banned later hears "banned" from the feed once, and the watch ends.
func TestWebSocketWatchEndsWhenTheWatcherIsBanned(t *testing.T) {
	e := newTestServer(t, testOptions{})
	first, _ := e.take()
	second, _ := e.take()
	ts := e.serve()
	watcher, cheat := mustDial(t, ts), mustDial(t, ts) // both from 127.0.0.1
	watcher.next(2 * time.Second)
	cheat.next(2 * time.Second)
	watcher.send(map[string]string{"type": "watch", "token": second})
	if m := watcher.until(2*time.Second, "a ticket message", ofType("ticket")); m["state"] != "waiting" {
		t.Fatalf("ticket message = %v", m)
	}

	cheat.send(map[string]string{"type": "watch", "token": "forged"})
	if m := cheat.until(2*time.Second, "an error", ofType("error")); m["error"] != "forbidden" {
		t.Fatalf("forged watch = %v", m)
	}
	m := watcher.until(2*time.Second, "an error", func(m map[string]any) bool {
		if m["type"] == "ticket" {
			t.Fatalf("a banned watcher got its ticket: %v", m)
		}
		return m["type"] == "error"
	})
	if m["error"] != "banned" || m["message"] == "" {
		t.Fatalf("feed error = %v", m)
	}

	// The watch has ended: a change to the ticket sends nothing more.
	if w := e.do(http.MethodDelete, "/api/v1/ticket", nil, bearer(first)); w.Code != http.StatusNoContent {
		t.Fatalf("leave = %d", w.Code)
	}
	watcher.until(2*time.Second, "the snapshot of the leave", func(m map[string]any) bool {
		if m["type"] != "snapshot" {
			t.Fatalf("after the ban: %v", m)
		}
		return m["length"] == float64(1)
	})
	_ = watcher.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, data, err := watcher.conn.ReadMessage(); err == nil {
		t.Fatalf("a message after the watch ended: %s", data)
	}
}

// TestNewcomerSnapshotIsMadeForIt: a page that connects long after the
// last change gets a snapshot made when it connected, so the clock it sets
// from "now" is right; the broadcast of the last change would be as old as
// the change.
func TestNewcomerSnapshotIsMadeForIt(t *testing.T) {
	e := newTestServer(t, testOptions{})
	ts := e.serve()
	early := mustDial(t, ts)
	early.next(2 * time.Second)
	e.take()
	broadcast := early.until(2*time.Second, "the take's snapshot", func(m map[string]any) bool {
		return m["type"] == "snapshot" && m["length"] == float64(1)
	})

	const quiet = 1500 * time.Millisecond
	time.Sleep(quiet) // no change meanwhile
	late := mustDial(t, ts)
	greeting := late.next(2 * time.Second)
	if greeting["type"] != "snapshot" || greeting["version"] != broadcast["version"] {
		t.Fatalf("newcomer's first message = %v, want a snapshot of version %v", greeting, broadcast["version"])
	}
	then, err1 := time.Parse(timeLayout, broadcast["now"].(string))
	now, err2 := time.Parse(timeLayout, greeting["now"].(string))
	if err1 != nil || err2 != nil {
		t.Fatalf("times: %v %v", err1, err2)
	}
	if gap := now.Sub(then); gap < quiet-100*time.Millisecond {
		t.Fatalf("the newcomer's snapshot says now = %s, %s after the broadcast's: want about %s (a snapshot made for it)", now, gap, quiet)
	}
	// It is not sent again: the next message is the next change.
	_ = late.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, data, err := late.conn.ReadMessage(); err == nil {
		t.Fatalf("a message after the greeting with no change: %s", data)
	}
}

// firstLoadView is a view whose first load ends when the test says so
// (done); until then it answers what a readmodel.Replica answers meanwhile.
type firstLoadView struct {
	loaded  atomic.Bool
	changes chan struct{}
}

func newFirstLoadView() *firstLoadView { return &firstLoadView{changes: make(chan struct{}, 1)} }

// done ends the load: the view holds an empty line at version 7.
func (v *firstLoadView) done() {
	v.loaded.Store(true)
	v.changes <- struct{}{}
}

func (v *firstLoadView) Snapshot(int) (queue.Snapshot, error) {
	if !v.loaded.Load() {
		return queue.Snapshot{}, &readmodel.StaleError{}
	}
	return queue.Snapshot{Version: 7, Now: time.Now(), Counters: 1,
		Serving: []queue.Slot{}, Called: []queue.Slot{}, Waiting: []queue.Waiter{}}, nil
}

func (v *firstLoadView) Ticket(uint64) (queue.Ticket, bool, error) {
	if !v.loaded.Load() {
		return queue.Ticket{}, false, &readmodel.StaleError{}
	}
	return queue.Ticket{}, false, nil // the line it holds has no tickets
}

func (v *firstLoadView) Estimate(int64) (flow.Range, error) {
	return flow.Range{}, &readmodel.StaleError{} // the store's estimate is shown
}

func (v *firstLoadView) Changes() <-chan struct{} { return v.changes }
func (v *firstLoadView) Bans() int64              { return 0 }

// viewServer serves a second Server on e's line, through a countingLine,
// with view as its view.
func viewServer(t *testing.T, e *testEnv, cfg Config, view View) (*httptest.Server, *countingLine, *hub.Hub) {
	t.Helper()
	line := &countingLine{Line: e.line}
	h := hub.New(hub.Config{}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = h.Close() })
	srv, err := newServer(cfg, Deps{Line: line, View: view, Images: kitty.Builtin(), Hub: h}, feedResync)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, line, h
}

// TestGreetingWaitsForTheFirstLoad: a connection opened while the view's
// first load is under way (a replica that just started) has no view
// snapshot and no broadcast to start with. It is greeted once the load
// ends, with the view's snapshot, and a watch's answer, which the store
// gives, comes after it, never before (docs/api.md: a snapshot at once on
// connecting); the store's snapshot is not asked for.
func TestGreetingWaitsForTheFirstLoad(t *testing.T) {
	e := newTestServer(t, testOptions{})
	e.take()
	second, _ := e.take()
	view := newFirstLoadView()
	ts, line, h := viewServer(t, e, Config{}, view)

	c := mustDial(t, ts)
	c.send(map[string]string{"type": "watch", "token": second})
	time.Sleep(100 * time.Millisecond)
	if n := h.Clients(); n != 0 {
		t.Fatalf("%d client registered before the view could greet it: its watch is answered before any snapshot", n)
	}
	view.done()
	if m := c.next(2 * time.Second); m["type"] != "snapshot" || m["version"] != float64(7) {
		t.Fatalf("first message = %v, want the view's snapshot, version 7", m)
	}
	if m := c.next(2 * time.Second); m["type"] != "ticket" || m["state"] != "waiting" || m["position"] != float64(2) {
		t.Fatalf("second message = %v, want the watched ticket, waiting second", m)
	}
	if _, _, snapshots := line.calls(); snapshots != 0 {
		t.Fatalf("%d store snapshots for a greeting the view could give", snapshots)
	}
}

// TestGreetingFromTheStoreWhenTheLoadIsLong: a first load that outlasts
// the request timeout (a very long line) leaves the greeting to the store.
func TestGreetingFromTheStoreWhenTheLoadIsLong(t *testing.T) {
	e := newTestServer(t, testOptions{})
	e.take()
	second, _ := e.take()
	ts, line, _ := viewServer(t, e, Config{RequestTimeout: 300 * time.Millisecond}, newFirstLoadView())

	c := mustDial(t, ts)
	c.send(map[string]string{"type": "watch", "token": second})
	if m := c.next(2 * time.Second); m["type"] != "snapshot" || m["length"] != float64(2) {
		t.Fatalf("first message = %v, want the store's snapshot of the line of 2", m)
	}
	if m := c.next(2 * time.Second); m["type"] != "ticket" || m["state"] != "waiting" || m["position"] != float64(2) {
		t.Fatalf("second message = %v, want the watched ticket, waiting second", m)
	}
	if _, _, snapshots := line.calls(); snapshots != 1 {
		t.Fatalf("%d store snapshots, want the greeting's one", snapshots)
	}
}
