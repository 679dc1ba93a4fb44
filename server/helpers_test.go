package server

import (
	"context"
	"encoding/json"
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

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/internal/apitest"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/readmodel"
	"github.com/catqms/catqms/queue/redisline"
)

// contract is the OpenAPI document: every answer do receives is checked
// against it, so the document cannot drift from the server.
var contract *apitest.Checker

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	var err error
	if contract, err = apitest.Load(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// fakeClock is a queue.Clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	// Near the real time: the store's own key expiry runs on real time.
	return &fakeClock{now: time.Now().UTC().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testOptions tune newTestServer; zero values take the defaults.
type testOptions struct {
	cfg       Config
	line      redisline.Options // Clock, Logger and Tick are set by the helper
	images    ImageSource       // default kitty.Builtin()
	pages     http.Handler
	resync    time.Duration // live feed resync; default 5s
	storeAddr func(real string) string
	storeHook redis.Hook // added to the store client, e.g. to corrupt answers

	history History      // the public record; nil: none
	recent  RecentReader // the stats page's charts; nil: none
}

// testEnv is a Server on a real redisline over miniredis, with a fake clock.
type testEnv struct {
	t     *testing.T
	srv   *Server
	line  *redisline.Line
	clock *fakeClock
	mr    *miniredis.Miniredis
	hub   *hub.Hub
	reg   *prometheus.Registry
	logs  *syncBuffer
}

// newTestServer builds the whole HTTP stack on an embedded store. The
// line's background scheduler is off: the fake clock only moves by hand,
// and the line's operations bring it up to date themselves.
func newTestServer(t *testing.T, opts testOptions) *testEnv {
	t.Helper()
	mr := miniredis.RunT(t)
	addr := mr.Addr()
	if opts.storeAddr != nil {
		addr = opts.storeAddr(addr)
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:                  addr,
		DialTimeout:           500 * time.Millisecond,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = rdb.Close() })

	clock := newFakeClock()
	lineOpts := opts.line
	lineOpts.Clock = clock
	lineOpts.Tick = -1
	if lineOpts.Secret == nil {
		lineOpts.Secret = []byte("test-secret-0123456789abcdef")
	}
	line, err := redisline.New(context.Background(), rdb, lineOpts)
	if err != nil {
		t.Fatalf("redisline.New: %v", err)
	}
	t.Cleanup(func() { _ = line.Close() })
	if opts.storeHook != nil {
		// After the line started on a sound store, before the server (and
		// its read model) asks anything of it.
		rdb.AddHook(opts.storeHook)
	}

	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := hub.New(hub.Config{}, logger)
	t.Cleanup(func() { _ = h.Close() })

	images := opts.images
	if images == nil {
		images = kitty.Builtin()
	}
	resync := opts.resync
	if resync == 0 {
		resync = feedResync
	}
	reg := prometheus.NewRegistry()
	srv, err := newServer(opts.cfg, Deps{
		Line: line, Images: images, Hub: h, Pages: opts.pages, Logger: logger, Registry: reg, Devices: line.Signer(),
		History: opts.history, Recent: opts.recent,
	}, resync)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Cleanups run last-in first-out: the server stops before the hub,
	// the line and the store.
	t.Cleanup(func() { _ = srv.Close() })
	return &testEnv{t: t, srv: srv, line: line, clock: clock, mr: mr, hub: h, reg: reg, logs: logs}
}

// reqOption changes a test request.
type reqOption func(*http.Request)

// from sets the TCP peer.
func from(ip string) reqOption {
	return func(r *http.Request) { r.RemoteAddr = net.JoinHostPort(ip, "40000") }
}

func bearer(token string) reqOption {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func header(k, v string) reqOption {
	return func(r *http.Request) { r.Header.Add(k, v) }
}

// jsonBody sends v as JSON.
func jsonBody(v any) (io.Reader, reqOption) {
	b, _ := json.Marshal(v)
	return strings.NewReader(string(b)), header("Content-Type", "application/json")
}

const defaultPeer = "203.0.113.7"

// do sends one request through the engine.
func (e *testEnv) do(method, target string, body io.Reader, opts ...reqOption) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = net.JoinHostPort(defaultPeer, "40000")
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, r)
	if err := contract.Check(r, w.Code, w.Result().Header, w.Body.Bytes()); err != nil {
		e.t.Errorf("the answer breaks api/openapi.json: %v", err)
	}
	return w
}

// take takes a ticket and returns its token and body.
func (e *testEnv) take(opts ...reqOption) (string, map[string]any) {
	e.t.Helper()
	w := e.do(http.MethodGet, "/api/v1/token", nil, opts...)
	if w.Code != http.StatusOK {
		e.t.Fatalf("GET /api/v1/token = %d %s", w.Code, w.Body)
	}
	m := decode(e.t, w)
	return m["token"].(string), m
}

// redeem posts the token as JSON.
func (e *testEnv) redeem(token string, opts ...reqOption) *httptest.ResponseRecorder {
	e.t.Helper()
	body, ct := jsonBody(map[string]string{"token": token})
	return e.do(http.MethodPost, "/api/v1/kitty", body, append([]reqOption{ct}, opts...)...)
}

// decode reads a JSON object body.
func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", w.Body.String(), err)
	}
	return m
}

// wantError checks an error answer: status, code, a message and, when
// retry is set, a Retry-After of whole seconds ≥ 1.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code queue.Code, retry bool) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	m := decode(t, w)
	if m["error"] != string(code) {
		t.Fatalf("error = %v, want %s; body %s", m["error"], code, w.Body)
	}
	if msg, _ := m["message"].(string); msg == "" {
		t.Fatalf("error without a message: %s", w.Body)
	}
	ra := w.Header().Get("Retry-After")
	if retry {
		if n, err := parseSeconds(ra); err != nil || n < 1 {
			t.Fatalf("Retry-After = %q, want whole seconds ≥ 1", ra)
		}
	}
	return m
}

func parseSeconds(s string) (int, error) {
	var n int
	err := json.Unmarshal([]byte(s), &n)
	if err == nil && (s == "" || strings.ContainsAny(s, ".e+-")) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stallProxy forwards TCP to a store until Stall, after which it accepts and
// holds connections and data without ever answering: a store that hangs.
type stallProxy struct {
	t       *testing.T
	ln      net.Listener
	backend string

	mu      sync.Mutex
	stalled bool
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T, backend string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{t: t, ln: ln, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) Addr() string { return p.ln.Addr().String() }

func (p *stallProxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

func (p *stallProxy) isStalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

func (p *stallProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *stallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.track(b)
		p.wg.Add(2)
		go p.pipe(b, c)
		go p.pipe(c, b)
	}
}

// pipe copies src to dst, dropping everything once stalled.
func (p *stallProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if p.isStalled() {
			continue // swallow: the client waits forever
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *stallProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// syncView waits until the server's view of the line has caught up with
// the store: the view follows the change log on its own goroutine.
func (e *testEnv) syncView() {
	e.t.Helper()
	snap, err := e.line.Snapshot(context.Background())
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.view.(*readmodel.Replica).Version() < snap.Version {
		if time.Now().After(deadline) {
			e.t.Fatalf("the view did not reach version %d in 5s", snap.Version)
		}
		time.Sleep(time.Millisecond)
	}
}
