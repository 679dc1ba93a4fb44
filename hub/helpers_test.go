package hub_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/catqms/catqms/hub"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every blocking step of a test, so a broken hub fails the test
// instead of hanging it.
const wait = 5 * time.Second

// testServer is a Hub behind a real HTTP server.
type testServer struct {
	hub *hub.Hub
	srv *httptest.Server
	url string // ws://host/ws
	// served receives what each Serve call returned; Serve returns once the
	// client is registered, so a receive here means "registered".
	served chan error
}

func newTestServer(t testing.TB, cfg hub.Config, handler hub.Handler) *testServer {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("HUB_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ts := &testServer{hub: hub.New(cfg, logger), served: make(chan error, 4096)}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.served <- ts.hub.Serve(w, r, handler)
	}))
	ts.url = "ws" + strings.TrimPrefix(ts.srv.URL, "http") + "/ws"
	// Close the hub first: it ends the hijacked connections, which
	// httptest.Server.Close does not track.
	t.Cleanup(func() {
		if err := ts.hub.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		ts.srv.Close()
	})
	return ts
}

// waitServed waits for n successful Serve calls.
func (ts *testServer) waitServed(t testing.TB, n int) {
	t.Helper()
	timeout := time.After(wait)
	for range n {
		select {
		case err := <-ts.served:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %d clients to register", n)
		}
	}
}

// dial opens a gorilla client connection and closes it at cleanup.
func dial(t testing.TB, url string, header http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readText reads one message and checks it is text.
func readText(conn *websocket.Conn) (string, error) {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	kind, data, err := conn.ReadMessage()
	if err != nil {
		return "", err
	}
	if kind != websocket.TextMessage {
		return "", fmt.Errorf("message type %d, want text", kind)
	}
	return string(data), nil
}

func mustReadText(t testing.TB, conn *websocket.Conn) string {
	t.Helper()
	msg, err := readText(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return msg
}

// rawClient speaks just enough WebSocket to see individual frames, which a
// WebSocket library would hide by reassembling messages. It never answers
// pings and never reads unless asked, which also makes it a slow client.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t testing.TB, wsURL string, header http.Header) *rawClient {
	t.Helper()
	host, path, _ := strings.Cut(strings.TrimPrefix(wsURL, "ws://"), "/")
	conn, err := net.DialTimeout("tcp", host, wait)
	if err != nil {
		t.Fatalf("dial raw: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, host)
	b.WriteString("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("raw handshake: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("raw handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw handshake: status %d", resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Time{})
	return &rawClient{conn: conn, br: br}
}

// frame is one WebSocket frame as it came off the wire.
type frame struct {
	fin     bool
	opcode  byte
	payload []byte
}

func (c *rawClient) readFrame() (frame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return frame{}, err
	}
	if hdr[1]&0x80 != 0 {
		return frame{}, errors.New("server frame is masked")
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return frame{}, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return frame{}, err
	}
	return frame{fin: hdr[0]&0x80 != 0, opcode: hdr[0] & 0x0f, payload: payload}, nil
}

// readMessageFrame reads the next data frame, skipping pings, and checks it
// is a whole text message in one frame.
func (c *rawClient) readMessageFrame() (string, error) {
	for {
		f, err := c.readFrame()
		if err != nil {
			return "", err
		}
		if f.opcode == 0x9 { // ping
			continue
		}
		if !f.fin || f.opcode != 0x1 {
			return "", fmt.Errorf("frame fin=%v opcode=%#x, want one final text frame", f.fin, f.opcode)
		}
		return string(f.payload), nil
	}
}

// recorder is a Handler that records what the hub reports.
type recorder struct {
	messages chan inbound
	closed   chan *hub.Client
	mu       sync.Mutex
	closes   map[*hub.Client]int
	// onMessage, if set, runs for each inbound message.
	onMessage func(c *hub.Client, data []byte)
}

type inbound struct {
	client *hub.Client
	data   string
}

func newRecorder() *recorder {
	return &recorder{
		messages: make(chan inbound, 1024),
		closed:   make(chan *hub.Client, 1024),
		closes:   make(map[*hub.Client]int),
	}
}

func (r *recorder) OnMessage(c *hub.Client, data []byte) {
	if r.onMessage != nil {
		r.onMessage(c, data)
	}
	r.messages <- inbound{c, string(data)}
}

func (r *recorder) OnClose(c *hub.Client) {
	r.mu.Lock()
	r.closes[c]++
	r.mu.Unlock()
	r.closed <- c
}

func (r *recorder) closeCount(c *hub.Client) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closes[c]
}

func (r *recorder) nextMessage(t testing.TB) inbound {
	t.Helper()
	select {
	case m := <-r.messages:
		return m
	case <-time.After(wait):
		t.Fatal("timed out waiting for OnMessage")
		return inbound{}
	}
}

// hello has conn say hello and returns the hub's client of it, as the
// recorder saw the message.
func (r *recorder) hello(t testing.TB, conn *websocket.Conn) *hub.Client {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	return r.nextMessage(t).client
}

func (r *recorder) nextClose(t testing.TB) *hub.Client {
	t.Helper()
	select {
	case c := <-r.closed:
		return c
	case <-time.After(wait):
		t.Fatal("timed out waiting for OnClose")
		return nil
	}
}
