package hub_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/catqms/catqms/hub"
)

// seqMessage is a broadcast whose order the tests can check. Pad makes some
// messages larger than the 1024-byte write buffer and the 125- and
// 65535-byte frame length boundaries.
type seqMessage struct {
	Type string `json:"type"`
	Seq  int    `json:"seq"`
	Pad  string `json:"pad,omitempty"`
}

func encode(t testing.TB, seq, pad int) []byte {
	t.Helper()
	data, err := json.Marshal(seqMessage{Type: "snapshot", Seq: seq, Pad: strings.Repeat("x", pad)})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decodeSeq(msg string) (int, error) {
	var m seqMessage
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		return 0, fmt.Errorf("decode %.40q: %w", msg, err)
	}
	return m.Seq, nil
}

// TestBroadcastReachesEveryClientOneFramePerMessage sends each broadcast once
// every client has read the one before, so none is superseded: every client
// gets each, whole, in one frame.
func TestBroadcastReachesEveryClientOneFramePerMessage(t *testing.T) {
	const clients = 50
	ts := newTestServer(t, hub.Config{}, nil)
	raws := make([]*rawClient, clients)
	for i := range raws {
		raws[i] = dialRaw(t, ts.url, nil)
	}
	ts.waitServed(t, clients)
	if got := ts.hub.Clients(); got != clients {
		t.Fatalf("Clients() = %d, want %d", got, clients)
	}

	// Sizes cross the 7-bit, 16-bit and 64-bit frame length encodings and
	// the write buffer size.
	pads := []int{0, 100, 2000, 70000, 10, 0, 5000, 1}
	for i, pad := range pads {
		data := encode(t, i+1, pad)
		want := string(data)
		ts.hub.Broadcast(data)
		data[0] = '!' // the hub must have taken a copy

		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for c, rc := range raws {
			wg.Go(func() {
				got, err := rc.readMessageFrame()
				if err != nil {
					errs <- fmt.Errorf("client %d message %d: %w", c, i, err)
				} else if got != want {
					errs <- fmt.Errorf("client %d message %d: got %.60q…, want %.60q…", c, i, got, want)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

// TestBehindClientGetsNewestBroadcastNext: broadcasts made faster than a
// client reads are states, not a backlog: the client reads an increasing
// subsequence that ends on the last one, and never more than were made.
func TestBehindClientGetsNewestBroadcastNext(t *testing.T) {
	ts := newTestServer(t, hub.Config{SendQueue: 2}, nil)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	const last = 5000
	for seq := 1; seq <= last; seq++ {
		ts.hub.Broadcast(encode(t, seq, 1000))
	}
	prev, reads := 0, 0
	for prev != last {
		seq, err := decodeSeq(mustReadText(t, conn))
		if err != nil {
			t.Fatal(err)
		}
		if seq <= prev {
			t.Fatalf("got seq %d after %d", seq, prev)
		}
		prev = seq
		reads++
	}
	t.Logf("read %d of %d broadcasts, ending on the last", reads, last)
	if got := ts.hub.Clients(); got != 1 {
		t.Fatalf("Clients() = %d: the client fell behind and was dropped", got)
	}
}

func TestNewClientGetsLatestBroadcastFirst(t *testing.T) {
	ts := newTestServer(t, hub.Config{}, nil)
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	ts.hub.Broadcast([]byte(`{"seq":2}`))

	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	if got := mustReadText(t, conn); got != `{"seq":2}` {
		t.Fatalf("first message = %s, want the latest broadcast {\"seq\":2}", got)
	}
	ts.hub.Broadcast([]byte(`{"seq":3}`))
	if got := mustReadText(t, conn); got != `{"seq":3}` {
		t.Fatalf("second message = %s, want {\"seq\":3}", got)
	}
}

func TestNoClientGetsNothingBeforeFirstBroadcast(t *testing.T) {
	ts := newTestServer(t, hub.Config{}, nil)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	if got := mustReadText(t, conn); got != `{"seq":1}` {
		t.Fatalf("first message = %s, want {\"seq\":1}", got)
	}
}

// TestOrderingWhileClientsConnect hammers Broadcast while clients connect and
// leave: each client's first message must be at least as new as the last
// broadcast made before it dialled, and after that every message must be
// newer than the one before (broadcasts are states: a client may skip
// superseded ones, never repeat one or go back). A client that stays to the
// end must end on the last broadcast.
func TestOrderingWhileClientsConnect(t *testing.T) {
	const (
		dialers      = 20
		dialsEach    = 4
		readsPerDial = 25
		lastSeq      = 1 << 14
	)
	ts := newTestServer(t, hub.Config{}, nil)
	stayer := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	stayed := make(chan error, 1)
	go func() {
		prev := 0
		for prev != lastSeq {
			msg, err := readText(stayer)
			if err != nil {
				stayed <- err
				return
			}
			seq, err := decodeSeq(msg)
			if err == nil && seq <= prev {
				err = fmt.Errorf("got seq %d after %d", seq, prev)
			}
			if err != nil {
				stayed <- err
				return
			}
			prev = seq
		}
		stayed <- nil
	}()

	var sent atomic.Int64
	broadcasterDone := make(chan struct{})
	go func() {
		defer close(broadcasterDone)
		for seq := 1; seq <= lastSeq; seq++ {
			ts.hub.Broadcast(fmt.Appendf(nil, `{"seq":%d}`, seq))
			sent.Store(int64(seq))
			if seq%4 == 0 {
				time.Sleep(50 * time.Microsecond) // pacing only, so clients connect mid-stream
			}
		}
	}()

	errs := make(chan error, dialers*dialsEach)
	var midStream atomic.Int32
	var wg sync.WaitGroup
	for d := range dialers {
		wg.Go(func() {
			for range dialsEach {
				n, err := checkOrderedStream(ts.url, &sent, readsPerDial, lastSeq)
				if err != nil {
					errs <- fmt.Errorf("dialer %d: %w", d, err)
					return
				}
				if n == readsPerDial {
					midStream.Add(1)
				}
			}
		})
	}
	wg.Wait()
	<-broadcasterDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case err := <-stayed:
		if err != nil {
			t.Fatalf("client that stayed to the end: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("client that stayed to the end never got the last broadcast")
	}
	t.Logf("%d broadcasts, %d of %d connections joined mid-stream", sent.Load(), midStream.Load(), dialers*dialsEach)
	if midStream.Load() == 0 {
		t.Fatal("no connection joined while broadcasts were flowing; the test exercised nothing")
	}
}

// checkOrderedStream dials, reads up to reads messages (fewer if lastSeq
// arrives) and checks their order. It returns how many it read.
func checkOrderedStream(url string, sent *atomic.Int64, reads, lastSeq int) (int, error) {
	before := int(sent.Load())
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	prev := -1
	for i := range reads {
		msg, err := readText(conn)
		if err != nil {
			return i, fmt.Errorf("read %d: %w", i, err)
		}
		seq, err := decodeSeq(msg)
		if err != nil {
			return i, err
		}
		switch {
		case i == 0 && seq < before:
			return i, fmt.Errorf("first message seq %d is older than broadcast %d made before dialling", seq, before)
		case i > 0 && seq <= prev:
			return i, fmt.Errorf("got seq %d after %d", seq, prev)
		}
		if seq == lastSeq {
			return i + 1, nil
		}
		prev = seq
	}
	return reads, nil
}

// TestSlowClientIsDropped: a client that never reads fills its TCP buffers;
// its write then times out and it is dropped, while clients that read get
// every message, before and after the drop.
func TestSlowClientIsDropped(t *testing.T) {
	const fastClients = 3
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{SendQueue: 2, WriteWait: 300 * time.Millisecond}, rec)

	fast := make([]*websocket.Conn, fastClients)
	for i := range fast {
		fast[i] = dial(t, ts.url, nil)
	}
	slow := dialRaw(t, ts.url, http.Header{"X-Test-Client": {"slow"}})
	ts.waitServed(t, fastClients+1)

	// The fast clients acknowledge each message before the next is sent, so
	// their queues never hold more than one message: only the slow client
	// can overflow.
	type ack struct {
		seq int
		err error
	}
	acks := make(chan ack, fastClients)
	var readers sync.WaitGroup
	for _, conn := range fast {
		readers.Go(func() {
			for {
				msg, err := readText(conn)
				if err != nil {
					var ce *websocket.CloseError
					if !errors.As(err, &ce) { // a close at cleanup is the end of the test
						acks <- ack{err: err}
					}
					return
				}
				seq, err := decodeSeq(msg)
				acks <- ack{seq, err}
			}
		})
	}
	broadcastAndAck := func(seq int) {
		t.Helper()
		ts.hub.Broadcast(encode(t, seq, 256<<10)) // 256 KiB fills socket buffers fast
		for range fastClients {
			select {
			case a := <-acks:
				if a.err != nil {
					t.Fatalf("fast client: %v", a.err)
				}
				if a.seq != seq {
					t.Fatalf("fast client got seq %d, want %d", a.seq, seq)
				}
			case <-time.After(wait):
				t.Fatalf("fast client did not receive seq %d", seq)
			}
		}
	}

	seq := 0
	var dropped *hub.Client
	for dropped == nil {
		seq++
		if seq > 2000 { // 500 MiB: far beyond any socket buffer
			t.Fatal("slow client was never dropped")
		}
		broadcastAndAck(seq)
		select {
		case c := <-rec.closed:
			dropped = c
		default:
		}
	}
	if got, want := dropped.RemoteAddr(), slow.conn.LocalAddr().String(); got != want {
		t.Fatalf("dropped client %s, want the slow one (%s)", got, want)
	}
	if got := ts.hub.Clients(); got != fastClients {
		t.Fatalf("Clients() = %d after drop, want %d", got, fastClients)
	}
	if dropped.Send([]byte(`{}`)) {
		t.Fatal("Send to a dropped client returned true")
	}
	for range 5 {
		seq++
		broadcastAndAck(seq)
	}

	// The slow client's stream ends (what was already in flight, then EOF)
	// instead of hanging: the hub closed its connection.
	_ = slow.conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, slow.br); err != nil {
		t.Fatalf("slow client connection did not end cleanly: %v", err)
	}

	for _, conn := range fast {
		conn.Close()
	}
	readers.Wait()
}

func TestClientSendReachesOnlyThatClient(t *testing.T) {
	rec := newRecorder()
	rec.onMessage = func(c *hub.Client, data []byte) {
		c.SetValue(string(data))
		if !c.Send(append([]byte("echo:"), data...)) {
			panic("Send to a live client returned false")
		}
	}
	ts := newTestServer(t, hub.Config{}, rec)
	a := dial(t, ts.url, http.Header{"X-Test-Client": {"a"}})
	b := dial(t, ts.url, http.Header{"X-Test-Client": {"b"}})
	ts.waitServed(t, 2)

	if err := a.WriteMessage(websocket.TextMessage, []byte(`{"type":"watch","token":"t1"}`)); err != nil {
		t.Fatal(err)
	}
	in := rec.nextMessage(t)
	if in.data != `{"type":"watch","token":"t1"}` {
		t.Fatalf("OnMessage data = %q", in.data)
	}
	if got, want := in.client.RemoteAddr(), a.LocalAddr().String(); got != want {
		t.Fatalf("OnMessage client = %s, want a (%s)", got, want)
	}
	if got := in.client.Value(); got != `{"type":"watch","token":"t1"}` {
		t.Fatalf("Value() = %v", got)
	}
	if got := mustReadText(t, a); got != `echo:{"type":"watch","token":"t1"}` {
		t.Fatalf("a got %q", got)
	}
	// Had the echo reached b as well, it would be queued before this
	// broadcast, so b's next message tells.
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	if got := mustReadText(t, b); got != `{"seq":1}` {
		t.Fatalf("b got %q, want only the broadcast", got)
	}
	if got := mustReadText(t, a); got != `{"seq":1}` {
		t.Fatalf("a got %q, want the broadcast", got)
	}

	// Once a leaves, OnClose runs once, its context ends and Send fails.
	clientA := in.client
	a.Close()
	if got := rec.nextClose(t); got != clientA {
		t.Fatal("OnClose for the wrong client")
	}
	select {
	case <-clientA.Context().Done():
	default:
		t.Fatal("Context not cancelled after OnClose")
	}
	if clientA.Send([]byte(`{}`)) {
		t.Fatal("Send to a gone client returned true")
	}
	if err := ts.hub.Close(); err != nil {
		t.Fatal(err)
	}
	rec.nextClose(t) // b, closed by the hub
	if n := rec.closeCount(clientA); n != 1 {
		t.Fatalf("OnClose ran %d times for a, want 1", n)
	}
}

func TestBinaryInboundIsIgnored(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{}, rec)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte("bin")); err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("text")); err != nil {
		t.Fatal(err)
	}
	if got := rec.nextMessage(t).data; got != "text" {
		t.Fatalf("OnMessage got %q, want only the text message", got)
	}
}

func TestOversizedInboundMessageClosesConnection(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{MaxMessageSize: 64}, rec)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)

	small := strings.Repeat("s", 64)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(small)); err != nil {
		t.Fatal(err)
	}
	if got := rec.nextMessage(t).data; got != small {
		t.Fatalf("OnMessage got %q", got)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("b", 65))); err != nil {
		t.Fatal(err)
	}
	_, err := readText(conn)
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("read after oversized message: %v, want close 1009", err)
	}
	c := rec.nextClose(t)
	select {
	case m := <-rec.messages:
		t.Fatalf("OnMessage got the oversized message %q", m.data)
	default:
	}
	if got := ts.hub.Clients(); got != 0 {
		t.Fatalf("Clients() = %d, want 0", got)
	}
	if n := rec.closeCount(c); n != 1 {
		t.Fatalf("OnClose ran %d times, want 1", n)
	}
}

func TestOriginCheck(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		origin  string // "" = no Origin header; "self" = the server's own origin
		want    int
	}{
		{"no origin header", nil, "", http.StatusSwitchingProtocols},
		{"same origin", nil, "self", http.StatusSwitchingProtocols},
		{"foreign origin", nil, "https://evil.example", http.StatusForbidden},
		{"null origin", nil, "null", http.StatusForbidden},
		{"allow-listed", []string{"https://Good.example/"}, "https://good.example", http.StatusSwitchingProtocols},
		{"allow-list keeps same origin", []string{"https://good.example"}, "self", http.StatusSwitchingProtocols},
		{"allow-list other host", []string{"https://good.example"}, "https://evil.example", http.StatusForbidden},
		{"allow-list other scheme", []string{"https://good.example"}, "http://good.example", http.StatusForbidden},
		{"allow-list other port", []string{"https://good.example"}, "https://good.example:8443", http.StatusForbidden},
		{"wildcard", []string{"*"}, "https://anyone.example", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, hub.Config{AllowedOrigins: tt.allowed}, nil)
			header := http.Header{}
			switch tt.origin {
			case "":
			case "self":
				header.Set("Origin", ts.srv.URL)
			default:
				header.Set("Origin", tt.origin)
			}
			conn, resp, err := websocket.DefaultDialer.Dial(ts.url, header)
			if conn != nil {
				defer conn.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d (err %v)", resp.StatusCode, tt.want, err)
			}
			serveErr := <-ts.served
			if (serveErr == nil) != (tt.want == http.StatusSwitchingProtocols) {
				t.Fatalf("Serve returned %v", serveErr)
			}
			if tt.want == http.StatusForbidden {
				var body struct{ Error, Message string }
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatalf("error body: %v", err)
				}
				if body.Error != "forbidden" || body.Message == "" {
					t.Fatalf("error body = %+v", body)
				}
			}
		})
	}
}

func TestCloseSendsGoingAwayAndStopsServing(t *testing.T) {
	const clients = 3
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{}, rec)
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, ts.url, nil)
	}
	ts.waitServed(t, clients)

	closed := make(chan error, 1)
	go func() { closed <- ts.hub.Close() }()
	for i, conn := range conns {
		_, err := readText(conn) // reading also answers the close frame
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "server shutting down" {
			t.Errorf("client %d: %v, want close 1001 \"server shutting down\"", i, err)
		}
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not return")
	}
	for range clients {
		rec.nextClose(t) // Close waited for them: they are already queued
	}
	if err := ts.hub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := ts.hub.Clients(); got != 0 {
		t.Fatalf("Clients() = %d after Close", got)
	}
	ts.hub.Broadcast([]byte(`{}`)) // must not panic or block

	_, resp, err := websocket.DefaultDialer.Dial(ts.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: resp %v, err %v; want 503", resp, err)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if err := <-ts.served; !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Serve after Close = %v, want ErrClosed", err)
	}
}

func TestCloseWithoutClients(t *testing.T) {
	h := hub.New(hub.Config{}, nil)
	h.Broadcast([]byte(`{}`))
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t) // the owner goroutine is gone
}

func TestConcurrentClose(t *testing.T) {
	ts := newTestServer(t, hub.Config{}, nil)
	dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _ = ts.hub.Close() })
	}
	wg.Wait()
}

// TestNoGoroutinesLeftAfterDisconnect: clients that leave take both their
// pumps with them, without waiting for Close.
func TestNoGoroutinesLeftAfterDisconnect(t *testing.T) {
	const clients = 10
	before := goleak.IgnoreCurrent()
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{}, rec)
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, ts.url, nil)
	}
	ts.waitServed(t, clients)
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	for i, conn := range conns {
		if got := mustReadText(t, conn); got != `{"seq":1}` {
			t.Fatalf("client %d got %q", i, got)
		}
	}

	// Half leave politely, half just drop the TCP connection.
	for i, conn := range conns {
		if i%2 == 0 {
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(wait))
		}
		conn.Close()
	}
	for range clients {
		rec.nextClose(t)
	}
	if got := ts.hub.Clients(); got != 0 {
		t.Fatalf("Clients() = %d after all left", got)
	}
	goleak.VerifyNone(t, before,
		// Still running by design until cleanup: the hub's owner and the
		// test HTTP server's accept loop.
		goleak.IgnoreAnyFunction("github.com/catqms/catqms/hub.(*Hub).run"),
		goleak.IgnoreAnyFunction("net/http/httptest.(*Server).goServe.func1"),
	)
}

func TestPingKeepsQuietClientAlive(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{PongWait: 300 * time.Millisecond}, rec)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	pings := make(chan struct{}, 16)
	conn.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(wait))
	})
	// The client only reads (which answers pings) for several PongWaits;
	// without pings and pongs the server's read deadline would close it.
	done := make(chan error, 1)
	go func() {
		_, _, err := conn.ReadMessage()
		done <- err
	}()
	deadline := time.After(wait)
	for n := range 4 {
		select {
		case <-pings:
		case err := <-done:
			t.Fatalf("connection ended after %d pings: %v", n, err)
		case <-deadline:
			t.Fatalf("only %d pings", n)
		}
	}
	ts.hub.Broadcast([]byte(`{"alive":true}`))
	if err := <-done; err != nil {
		t.Fatalf("read: %v", err)
	}
}

func TestSilentClientIsDisconnected(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{PongWait: 200 * time.Millisecond}, rec)
	raw := dialRaw(t, ts.url, nil) // never answers pings
	ts.waitServed(t, 1)
	rec.nextClose(t)
	_ = raw.conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, raw.br); err != nil {
		t.Fatalf("connection did not end: %v", err)
	}
}

// greeter greets each new client with its own message; during, if set, runs
// while the greeting is made (a broadcast made meanwhile).
type greeter struct {
	*recorder
	greeting []byte
	during   func()
}

func (g *greeter) Greeting() []byte {
	if g.during != nil {
		g.during()
	}
	return g.greeting
}

// TestGreeterGetsItsGreetingInsteadOfTheLatest: a client whose handler has
// a greeting starts with it, not with the (older) latest broadcast, and
// then gets every later broadcast.
func TestGreeterGetsItsGreetingInsteadOfTheLatest(t *testing.T) {
	g := &greeter{recorder: newRecorder(), greeting: []byte(`{"greeting":true}`)}
	ts := newTestServer(t, hub.Config{}, g)
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	ts.hub.Broadcast([]byte(`{"seq":2}`))

	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	if got := mustReadText(t, conn); got != `{"greeting":true}` {
		t.Fatalf("first message = %s, want the greeting", got)
	}
	ts.hub.Broadcast([]byte(`{"seq":3}`))
	if got := mustReadText(t, conn); got != `{"seq":3}` {
		t.Fatalf("second message = %s, want {\"seq\":3}, the broadcast after the greeting", got)
	}
}

// TestBroadcastDuringGreetingReplacesIt: a broadcast made while the greeting
// was being made may be newer than it, so the client gets that broadcast
// (the newest state) rather than the greeting; a nil greeting leaves the
// latest broadcast.
func TestBroadcastDuringGreetingReplacesIt(t *testing.T) {
	g := &greeter{recorder: newRecorder(), greeting: []byte(`{"greeting":true}`)}
	ts := newTestServer(t, hub.Config{}, g)
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	g.during = func() { ts.hub.Broadcast([]byte(`{"seq":2}`)) }

	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	if got := mustReadText(t, conn); got != `{"seq":2}` {
		t.Fatalf("first message = %s, want {\"seq\":2}, the broadcast made during the greeting", got)
	}

	g.during, g.greeting = nil, nil
	conn2 := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	if got := mustReadText(t, conn2); got != `{"seq":2}` {
		t.Fatalf("without a greeting the first message = %s, want the latest broadcast {\"seq\":2}", got)
	}
}

// TestMessagesOfEveryLengthArriveWhole: the hub frames messages itself, so
// each length class of a frame's header (7-bit, 16-bit, 64-bit) is checked
// through a real client.
func TestMessagesOfEveryLengthArriveWhole(t *testing.T) {
	ts := newTestServer(t, hub.Config{SendQueue: 8}, nil)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 200_000} {
		msg := strings.Repeat("x", n)
		ts.hub.Broadcast([]byte(msg))
		if got := mustReadText(t, conn); got != msg {
			t.Fatalf("a broadcast of %d bytes arrived as %d bytes", n, len(got))
		}
	}
}

// TestStagedMessageGoesOutWithTheNextBroadcast: a staged message waits for
// the next message the client is handed, then both arrive, staged first.
func TestStagedMessageGoesOutWithTheNextBroadcast(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{}, rec)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	rec.hello(t, conn).Stage([]byte(`{"own":1}`))
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, data, err := conn.ReadMessage(); err == nil {
		t.Fatalf("a staged message went out alone: %s", data)
	}
	// gorilla's connection is unusable after a read timeout: dial again.
	conn2 := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	rec.hello(t, conn2).Stage([]byte(`{"own":2}`))
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	if got := mustReadText(t, conn2); got != `{"own":2}` {
		t.Fatalf("first = %s, want the staged message", got)
	}
	if got := mustReadText(t, conn2); got != `{"seq":1}` {
		t.Fatalf("second = %s, want the broadcast", got)
	}
}

// TestCompanionMessageGoesOutWithEachBroadcast: a client's companion is
// called as each broadcast is about to be written to it, and what it
// stages arrives just before the broadcast; without one (nil) the
// broadcast arrives alone.
func TestCompanionMessageGoesOutWithEachBroadcast(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{}, rec)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	client := rec.hello(t, conn)
	var calls atomic.Int64
	client.Accompany(func(c *hub.Client, _ bool) bool {
		if c != client {
			t.Errorf("companion called with another client")
		}
		c.Stage(fmt.Appendf(nil, `{"own":%d}`, calls.Add(1)))
		return true
	})
	for seq := 1; seq <= 2; seq++ {
		ts.hub.Broadcast(fmt.Appendf(nil, `{"seq":%d}`, seq))
		if got, want := mustReadText(t, conn), fmt.Sprintf(`{"own":%d}`, seq); got != want {
			t.Fatalf("broadcast %d: first = %s, want the companion's %s", seq, got, want)
		}
		if got, want := mustReadText(t, conn), fmt.Sprintf(`{"seq":%d}`, seq); got != want {
			t.Fatalf("second = %s, want the broadcast %s", got, want)
		}
	}
	// A Send is not a broadcast: no companion.
	client.Send([]byte(`{"sent":1}`))
	if got := mustReadText(t, conn); got != `{"sent":1}` {
		t.Fatalf("after a Send got %s, want it alone", got)
	}
	client.Accompany(nil)
	ts.hub.Broadcast([]byte(`{"seq":3}`))
	if got := mustReadText(t, conn); got != `{"seq":3}` {
		t.Fatalf("without a companion got %s, want the broadcast alone", got)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("companion called %d times, want 2 (once per broadcast written)", n)
	}
}

// TestCompanionThatMustWaitIsCalledByTheWriter: the hub's owner calls a
// companion without letting it wait; one that cannot stage without
// waiting says so and is called again by the client's writer, allowed to
// wait, and what it stages then still arrives just before the broadcast.
func TestCompanionThatMustWaitIsCalledByTheWriter(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{}, rec)
	conn := dial(t, ts.url, nil)
	ts.waitServed(t, 1)
	client := rec.hello(t, conn)
	var mu sync.Mutex
	var calls []bool // the wait of each call
	client.Accompany(func(c *hub.Client, wait bool) bool {
		mu.Lock()
		calls = append(calls, wait)
		mu.Unlock()
		if !wait {
			return false // as if the client's state were locked elsewhere
		}
		c.Stage([]byte(`{"own":1}`))
		return true
	})
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	if got := mustReadText(t, conn); got != `{"own":1}` {
		t.Fatalf("first = %s, want the companion's message", got)
	}
	if got := mustReadText(t, conn); got != `{"seq":1}` {
		t.Fatalf("second = %s, want the broadcast", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] || !calls[1] {
		t.Errorf("companion calls (wait of each) = %v, want [false true]: the owner's, then the writer's", calls)
	}
}
