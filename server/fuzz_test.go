package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/frontend"
	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue/redisline"
)

// fuzzEnv is the whole HTTP stack for FuzzAPI: the real redisline on
// miniredis with a fake clock, the real hub and the real pages. It is
// built once per fuzz run: the line's state carries over from one input to
// the next, which is what a running service sees too.
type fuzzEnv struct {
	srv    *Server
	clock  *fakeClock
	logs   *syncBuffer
	tokens []string // issued at the start; inputs name them as $TOKEN
	image  string   // a session's image id; inputs name it as $IMAGE
}

// fuzzProxy is the trusted proxy of fuzzEnv: inputs from it have their
// X-Forwarded-For believed.
const fuzzProxy = "10.0.0.1"

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(mr.Close)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	tb.Cleanup(func() { _ = rdb.Close() })
	clock := newFakeClock()
	line, err := redisline.New(context.Background(), rdb, redisline.Options{
		Clock: clock, Tick: -1, Secret: []byte("fuzz-secret-0123456789abcdef"), Counters: 2,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = line.Close() })
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := hub.New(hub.Config{}, logger)
	tb.Cleanup(func() { _ = h.Close() })
	srv, err := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, Deps{
		Line: line, Images: kitty.Builtin(), Hub: h, Pages: frontend.Handler(), Logger: logger,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	srv.now = clock.Now

	e := &fuzzEnv{srv: srv, clock: clock, logs: logs}
	ctx := context.Background()
	for i := range 8 {
		issued, err := line.Take(ctx, fmt.Sprintf("192.0.2.%d", i))
		if err != nil {
			tb.Fatal(err)
		}
		e.tokens = append(e.tokens, issued.Token)
	}
	session, err := line.Redeem(ctx, "192.0.2.0", e.tokens[0])
	if err != nil {
		tb.Fatal(err)
	}
	e.image = session.ImageID
	return e
}

// takeLogs returns what was logged since the last call, and forgets it.
func (e *fuzzEnv) takeLogs() string {
	e.logs.mu.Lock()
	defer e.logs.mu.Unlock()
	s := e.logs.buf.String()
	e.logs.buf.Reset()
	return s
}

// peerOf picks the TCP peer of an input: the trusted proxy (so that the
// input's own X-Forwarded-For counts), an IPv4 or an IPv6 client.
func peerOf(n uint8) string {
	switch n % 4 {
	case 0:
		return fuzzProxy
	case 1, 2:
		return fmt.Sprintf("198.18.%d.%d", n%8, n)
	default:
		return fmt.Sprintf("2001:db8:%x::%x", n%8, n)
	}
}

// fuzzRequest turns fuzzer input into the request net/http's server would
// hand the engine, or nil where net/http itself refuses the bytes (it
// answers those with its own 400 before any handler runs). $TOKEN and
// $IMAGE in the input stand for real credentials, so that the fuzzer also
// reaches the paths behind a valid token.
func (e *fuzzEnv) fuzzRequest(method, target, headers string, body []byte, peer uint8) *http.Request {
	sub := strings.NewReplacer("$TOKEN", e.tokens[int(peer)%len(e.tokens)], "$IMAGE", e.image)
	method, target, headers = sub.Replace(method), sub.Replace(target), sub.Replace(headers)
	body = []byte(sub.Replace(string(body)))

	var raw strings.Builder
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: catqms.test\r\n", method, target)
	framed := false
	for line := range strings.SplitSeq(headers, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "host":
			continue // net/http refuses a second Host
		case "content-length", "transfer-encoding":
			framed = true
		}
		raw.WriteString(line + "\r\n")
	}
	if !framed {
		fmt.Fprintf(&raw, "Content-Length: %d\r\n", len(body))
	}
	raw.WriteString("\r\n")
	raw.Write(body)

	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))
	if err != nil || !validForServer(r) {
		return nil
	}
	r.RemoteAddr = net.JoinHostPort(peerOf(peer), "40000")
	return r
}

// validForServer applies the checks net/http's server makes after parsing
// and before calling a handler.
func validForServer(r *http.Request) bool {
	if r.URL.Path == "" && r.Method != http.MethodConnect && r.Method != http.MethodOptions {
		return false
	}
	for name, values := range r.Header {
		if name == "" || strings.ContainsAny(name, " \t:\x00\r\n") {
			return false
		}
		for _, v := range values {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
					return false
				}
			}
		}
	}
	return r.ProtoMajor == 1
}

// hijackable lets the WebSocket route upgrade under httptest: the other
// end of the connection is already gone, as if the browser went away.
type hijackable struct{ *httptest.ResponseRecorder }

func (h hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	server, client := net.Pipe()
	_ = client.Close()
	return server, bufio.NewReadWriter(bufio.NewReader(server), bufio.NewWriter(server)), nil
}

// isPage reports whether a path is served by the web client, whose files
// are answered by http.ServeContent: its Range and conditional answers
// (206, 304, 412, 416) are net/http's own, not the API's JSON.
func isPage(path string) bool {
	return path == "/" || path == "/board" || path == "/qr.svg" || strings.HasPrefix(path, "/assets/")
}

// check fails t unless w is an acceptable answer to r: no 5xx (the store
// is up), and every error of the API a JSON {"error", "message"}.
func (e *fuzzEnv) check(t *testing.T, r *http.Request, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("%s %q = %d %s", r.Method, r.URL, w.Code, w.Body)
	}
	logs := e.takeLogs()
	if strings.Contains(logs, "msg=panic") {
		t.Fatalf("%s %q: a panic was logged:\n%s", r.Method, r.URL, logs)
	}
	for _, token := range e.tokens {
		if strings.Contains(logs, token) {
			t.Fatalf("%s %q: a token reached the log:\n%s", r.Method, r.URL, logs)
		}
	}
	// Every answer is one the OpenAPI document describes. An upgraded
	// WebSocket wrote its 101 on the hijacked connection, which the
	// recorder never sees (it keeps its default 200).
	upgraded := w.Code == http.StatusOK && r.URL.Path == "/api/v1/ws"
	if !upgraded {
		if err := contract.Check(r, w.Code, w.Result().Header, w.Body.Bytes()); err != nil {
			t.Fatalf("the answer breaks api/openapi.json: %v", err)
		}
	}
	if w.Code < 300 || w.Code == http.StatusNotModified || (isPage(r.URL.Path) && w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed) {
		return
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %q = %d with Content-Type %q: %s", r.Method, r.URL, w.Code, ct, w.Body)
	}
	var body struct{ Error, Message string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.Message == "" {
		t.Fatalf("%s %q = %d, not a JSON error with a code and a message: %s", r.Method, r.URL, w.Code, w.Body)
	}
	if ra := w.Header().Get("Retry-After"); ra != "" {
		if n, err := parseSeconds(ra); err != nil || n < 1 {
			t.Fatalf("%s %q: Retry-After %q is not whole seconds ≥ 1", r.Method, r.URL, ra)
		}
	}
}

// FuzzAPI sends the engine whatever the fuzzer makes of a method, a target,
// headers ("Name: value" lines) and a body, from one of several peers
// (peer % 4 == 0 is the trusted proxy), with the clock moved on by up to
// 18h between inputs. No input may panic, get a 5xx, get an error that is
// not JSON, get an answer api/openapi.json does not describe, or put a
// token in the log.
func FuzzAPI(f *testing.F) {
	// The seed corpus is testdata/fuzz/FuzzAPI: every route, each way of
	// sending a token, and the malformed requests worth starting from.
	f.Add("GET", "/api/v1/token", "", []byte(nil), uint8(1), uint16(0))
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte, peer uint8, advance uint16) {
		e.clock.Advance(time.Duration(advance) * time.Second)
		r := e.fuzzRequest(method, target, headers, body, peer)
		if r == nil {
			return
		}
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(hijackable{w}, r)
		e.check(t, r, w)
	})
}
