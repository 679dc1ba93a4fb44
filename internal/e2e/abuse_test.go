package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// abuseRequests is how many fuzzed requests TestAbuseFuzzedRequests sends.
const abuseRequests = 10_000

// TestAbuseFuzzedRequests: ten thousand fuzzed requests against a running
// service produce no 5xx and no panic, and the service answers a normal
// visit right after. The requests come from a seeded generator, so a
// failure can be replayed: most go through net/http's client (every route,
// method, token source, body and content type, from many forwarded
// addresses), one in ten is raw bytes on a TCP connection, which net/http's
// client would never send.
func TestAbuseFuzzedRequests(t *testing.T) {
	t.Parallel()
	svc := startService(t, "--trusted-proxies", "127.0.0.1/32", "--counters", "3",
		"--head-window", "2s", "--view-window", "1s")
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	g := &generator{tokens: []string{"A000"}}
	var (
		sent     atomic.Int64
		statuses sync.Map // int → *atomic.Int64
		failures = make(chan string, 16)
	)
	count := func(status int) {
		v, _ := statuses.LoadOrStore(status, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	fail := func(format string, args ...any) {
		select {
		case failures <- fmt.Sprintf(format, args...):
		default:
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for {
				i := sent.Add(1)
				if i > abuseRequests || len(failures) > 0 {
					return
				}
				rng := rand.New(rand.NewPCG(uint64(i), 0xca7)) // request i is the same every run
				if rng.IntN(10) == 0 {
					raw := g.raw(rng)
					status, err := sendRaw(svc.Addr, raw)
					if err != nil {
						fail("worker %d, raw request %d %q: %v", w, i, truncate(raw, 200), err)
						return
					}
					count(status)
					// 505 is net/http's own answer to "HTTP/9.9", and right.
					if status >= 500 && status != http.StatusHTTPVersionNotSupported {
						fail("raw request %d %q = %d", i, truncate(raw, 200), status)
					}
					continue
				}
				req := g.request(rng, svc.URL)
				status, err := sendHTTP(httpClient, req, g)
				if err != nil {
					fail("request %d %s %s: %v", i, req.Method, truncate(req.URL.String(), 200), err)
					return
				}
				count(status)
			}
		})
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	summary := map[int]int64{}
	statuses.Range(func(k, v any) bool { summary[k.(int)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("%d requests in %v; answers by status: %v", abuseRequests, time.Since(start).Round(time.Millisecond), summary)
	if t.Failed() {
		return
	}
	for status := range summary {
		if status >= 500 && status != http.StatusHTTPVersionNotSupported {
			t.Fatalf("answers by status: %v", summary)
		}
	}
	if strings.Contains(svc.Log(), "panic") {
		t.Fatalf("the service logged a panic:\n%s", svc.Log())
	}

	// A normal visit, right after.
	visitor := svc.client("192.0.2.200")
	ticket := visitor.take()
	token := ticket.str("token")
	wantStatus(t, "status after the flood", visitor.do("GET", "/api/v1/ticket", nil, bearer(token)...), http.StatusOK, "")
	wantStatus(t, "the line after the flood", visitor.do("GET", "/api/v1/queue", nil), http.StatusOK, "")
	switch r := visitor.redeem(token); r.Status {
	case http.StatusOK: // the line was empty: a kitty
	case http.StatusConflict:
		wantStatus(t, "not yet our turn", r, http.StatusConflict, "not_your_turn")
		wantRetryAfter(t, "not our turn", r, 1, 3600)
	default:
		t.Fatalf("redeem after the flood: %v", r)
	}
	wantStatus(t, "leave after the flood", visitor.do("DELETE", "/api/v1/ticket", nil, bearer(token)...), http.StatusNoContent, "")
	wantStatus(t, "healthz", visitor.do("GET", "/healthz", nil), http.StatusOK, "")
}

// generator makes fuzzed requests. It learns real tokens from the tickets
// its requests take, so that later requests also reach the paths behind a
// valid token.
type generator struct {
	mu     sync.Mutex
	tokens []string
	images []string
}

func (g *generator) learn(body []byte) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if tok, _ := m["token"].(string); tok != "" && len(g.tokens) < 500 {
		g.tokens = append(g.tokens, tok)
	}
	if img, _ := m["image_url"].(string); img != "" && len(g.images) < 100 {
		g.images = append(g.images, img)
	}
}

func (g *generator) token(rng *rand.Rand) string {
	g.mu.Lock()
	tok := g.tokens[rng.IntN(len(g.tokens))]
	g.mu.Unlock()
	switch rng.IntN(8) {
	case 0: // forged: one character changed
		b := []byte(tok)
		b[rng.IntN(len(b))] = "ABCxyz019-_"[rng.IntN(11)]
		return string(b)
	case 1:
		return tok[:rng.IntN(len(tok)+1)]
	case 2:
		return pick(rng, "A000", "B123", "", " ", "null", "\xff\xfe", strings.Repeat("A", 55), strings.Repeat("x", 5000))
	}
	return tok
}

func (g *generator) path(rng *rand.Rand) string {
	p := pick(rng, "/api/v1/token", "/api/v1/kitty", "/api/v1/ticket", "/api/v1/queue", "/api/v1/ws",
		"/api/v1/images/x", "/", "/board", "/assets/app.js", "/healthz", "/readyz", "/metrics",
		"/api/v1/token", "/api/v1/kitty", "/api/v1/ticket")
	g.mu.Lock()
	if len(g.images) > 0 && rng.IntN(10) == 0 {
		p = g.images[rng.IntN(len(g.images))]
	}
	g.mu.Unlock()
	switch rng.IntN(12) {
	case 0:
		p += "/" + url.PathEscape(randomString(rng, 20))
	case 1:
		p += "?token=" + url.QueryEscape(g.token(rng)) + "&" + randomString(rng, 5)
	case 2:
		p = strings.ToUpper(p)
	case 3:
		p = "/api/v1/" + strings.Repeat("../", rng.IntN(5)) + "token"
	case 4:
		p += "%" + pick(rng, "zz", "00", "ff", "2e%2e")
	}
	return p
}

func (g *generator) request(rng *rand.Rand, base string) *http.Request {
	method := pick(rng, "GET", "GET", "GET", "POST", "POST", "DELETE", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH", "BREW")
	var body []byte
	contentType := ""
	switch rng.IntN(9) {
	case 0:
		body, contentType = fmt.Appendf(nil, `{"token":%q}`, g.token(rng)), "application/json"
	case 1:
		body, contentType = []byte("token="+url.QueryEscape(g.token(rng))), "application/x-www-form-urlencoded"
	case 2:
		body = fmt.Appendf(nil, "--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n%s\r\n--b--\r\n", g.token(rng))
		contentType = "multipart/form-data; boundary=b"
	case 3:
		body = make([]byte, rng.IntN(6000))
		for i := range body {
			body[i] = byte(rng.IntN(256))
		}
		contentType = pick(rng, "application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", "", "application/json; charset=\xff")
	case 4:
		body, contentType = []byte(pick(rng, `{"token":`, `[]`, `{"token":1}`, `{"token":"a"}{}`, "\xc3\x28", `{"token":"`+strings.Repeat("\\u0000", 700)+`"}`)), "application/json"
	}
	req, err := http.NewRequest(method, base+g.path(rng), bytes.NewReader(body))
	if err != nil {
		req, _ = http.NewRequest("GET", base+"/api/v1/queue", nil)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if rng.IntN(3) == 0 {
		req.Header.Set("Authorization", pick(rng, "Bearer ", "bearer ", "Basic ", "", "Bearer  ")+g.token(rng))
	}
	if rng.IntN(4) == 0 {
		req.Header.Set("Accept", pick(rng, "image/*", "image/png, application/json", "*/*", "image/*;q=0", "text/html"))
	}
	// Many clients, so that bans and limits spread: the service trusts
	// 127.0.0.1, and the right-most entry is the client.
	xff := fmt.Sprintf("198.18.%d.%d", rng.IntN(4), rng.IntN(250)+1)
	switch rng.IntN(10) {
	case 0:
		xff = "garbage, " + xff
	case 1:
		xff = fmt.Sprintf("2001:db8:%x::%x", rng.IntN(8), rng.IntN(1000))
	case 2:
		xff = xff + ", not-an-ip"
	}
	req.Header.Set("X-Forwarded-For", xff)
	if req.URL.Path == "/api/v1/ws" && rng.IntN(2) == 0 {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	return req
}

// sendHTTP sends req and checks the answer: no 5xx, and every API error a
// JSON object with a code and a message.
// apiBodyLimit is the service's limit on API request bodies (server's
// maxBodyBytes).
const apiBodyLimit = 4 << 10

func sendHTTP(c *http.Client, req *http.Request, g *generator) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		// A WebSocket handshake with a body is not one: the upgrader
		// hangs up on it without an answer, which is fair.
		if req.Header.Get("Upgrade") != "" && req.ContentLength > 0 {
			return 0, nil
		}
		// A body over the 4 KiB limit is refused without being read, and
		// the connection closed after the answer: a client still sending
		// it may see the close before the answer. That is fair too.
		if req.ContentLength > apiBodyLimit && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			return 0, nil
		}
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, nil // a live WebSocket: hang up
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		// net/http hangs up right after its own 400 or 431 to a request
		// it could not parse, which may reset the unread rest.
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
			return resp.StatusCode, nil
		}
		return 0, fmt.Errorf("reading the %d answer's body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode >= 500 {
		return resp.StatusCode, fmt.Errorf("answered %d %s", resp.StatusCode, body)
	}
	if resp.StatusCode == http.StatusOK {
		g.learn(body)
	}
	page := req.URL.Path == "/" || req.URL.Path == "/board" || strings.HasPrefix(req.URL.Path, "/assets/")
	// net/http answers a request line it cannot parse itself, in plain
	// text, before any handler runs (a space in a query does it).
	netHTTP := bytes.HasPrefix(body, fmt.Appendf(nil, "%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	if resp.StatusCode >= 400 && req.Method != http.MethodHead && !page && !netHTTP {
		var e struct{ Error, Message string }
		if json.Unmarshal(body, &e) != nil || e.Error == "" || e.Message == "" {
			return resp.StatusCode, fmt.Errorf("answered %d without a JSON error: %q", resp.StatusCode, body)
		}
	}
	return resp.StatusCode, nil
}

// raw makes a request net/http's client would not send. Each is whole: a
// client that hangs up before its answer is a client gone, which the
// service answers to no one.
func (g *generator) raw(rng *rand.Rand) string {
	junk := randomString(rng, rng.IntN(200))
	switch rng.IntN(11) {
	case 0:
		return junk + "\r\n\r\n"
	case 1:
		return "GET / HTTP/9.9\r\nHost: x\r\n\r\n"
	case 2:
		return "GET /api/v1/token HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.18.9.9\r\nNo colon here\r\n\r\n"
	case 3:
		return "GET /api/v1/" + strings.Repeat("a", 32<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	case 4:
		return "GET /api/v1/queue HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 32<<10) + "\r\n\r\n"
	case 5:
		return "POST /api/v1/kitty HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
	case 6:
		return "POST /api/v1/kitty HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{\"a\"}"
	case 7:
		return "POST /api/v1/kitty HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"
	case 8:
		return "GET /api/v1/token HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"
	case 9:
		return "GET http://evil.example/api/v1/queue HTTP/1.1\r\nHost: x\r\n\r\n"
	case 10:
		return "DELETE /api/v1/ticket HTTP/1.0\r\nAuthorization: Bearer " + g.token(rng) + "\r\nX-Forwarded-For: 198.18.8.8\r\n\r\n"
	default:
		return "GET /api/v1/" + junk + " HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + junk + "\r\n\r\n"
	}
}

// sendRaw writes raw on a new connection and returns the status of the
// first answer, or 0 when the service closed the connection without one
// (net/http does that for some garbage).
func sendRaw(addr, raw string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return 0, nil // the service hung up on the garbage mid-way: fine
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		if line == "" && !isTimeout(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("reading the answer: %v (got %q)", err, line)
	}
	var proto string
	var status int
	if _, err := fmt.Sscanf(line, "%s %d", &proto, &status); err != nil {
		return 0, fmt.Errorf("status line %q", line)
	}
	return status, nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func pick(rng *rand.Rand, options ...string) string { return options[rng.IntN(len(options))] }

func randomString(rng *rand.Rand, n int) string {
	const alphabet = "abcXYZ019-_.~%/?#&=:;,@!$'()*+ \t\"<>\\^`{|}\x00\x7f\xff\xc3"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TestAbuseCheaterBannedNeighborUntouched: a cheater from one address is
// banned and its tickets are gone, while a user behind the same trusted
// proxy with another forwarded address is untouched.
func TestAbuseCheaterBannedNeighborUntouched(t *testing.T) {
	t.Parallel()
	svc := startService(t, "--trusted-proxies", "127.0.0.1/32", "--ban-duration", "1h")
	honest := svc.client("198.51.100.10")
	cheater := svc.client("198.51.100.66")

	first := honest.take()
	c1, c2 := cheater.take(), cheater.take()
	second := honest.take()
	inLine := func() []string {
		r := honest.do("GET", "/api/v1/queue", nil)
		var snap struct{ Called, Waiting []struct{ Ticket string } }
		if err := json.Unmarshal(r.Body, &snap); err != nil {
			t.Fatalf("queue: %v", r)
		}
		var labels []string
		for _, s := range append(snap.Called, snap.Waiting...) {
			labels = append(labels, s.Ticket)
		}
		return labels
	}
	if got := strings.Join(inLine(), " "); got != "A000 A001 A002 A003" {
		t.Fatalf("the line before: %s", got)
	}

	// The cheater redeems a label, while claiming in X-Forwarded-For to be
	// the honest user: the proxy (127.0.0.1) appended the real address
	// last, and that is whom the service bans.
	r := cheater.do("POST", "/api/v1/kitty", `{"token":"A000"}`,
		"X-Forwarded-For", honest.IP+", "+cheater.IP)
	wantStatus(t, "forged token", r, http.StatusForbidden, "forbidden")

	// The cheater is banned and its tickets are gone from the line.
	wantStatus(t, "cheater takes", cheater.do("GET", "/api/v1/token", nil), http.StatusForbidden, "banned")
	wantRetryAfter(t, "cheater's ban", cheater.do("GET", "/api/v1/token", nil), 3500, 3600)
	wantStatus(t, "cheater redeems its own ticket", cheater.redeem(c1.str("token")), http.StatusForbidden, "banned")
	if got := strings.Join(inLine(), " "); got != "A000 A003" {
		t.Fatalf("the line after the ban: %s, want the honest user's A000 A003 only", got)
	}
	_ = c2

	// The honest user, behind the same proxy, is untouched: both tickets
	// keep their places and it can take, check and redeem.
	for i, tk := range []reply{first, second} {
		r := honest.do("GET", "/api/v1/ticket", nil, bearer(tk.str("token"))...)
		wantStatus(t, "honest ticket", r, http.StatusOK, "")
		if r.num("position") != float64(i+1) {
			t.Fatalf("honest ticket %s at position %v, want %d", tk.str("ticket"), r.num("position"), i+1)
		}
	}
	wantStatus(t, "honest user redeems", honest.redeem(first.str("token")), http.StatusOK, "")
	honest.take()
	// And so is the proxy itself, and anyone else it forwards.
	wantStatus(t, "another user via the proxy", svc.client("198.51.100.11").do("GET", "/api/v1/token", nil), http.StatusOK, "")
	wantStatus(t, "the proxy's own address", svc.client("").do("GET", "/api/v1/token", nil), http.StatusOK, "")
}

// TestAbuseLimitsFromFlags checks that the abuse flags reach the running
// service: the take rate, the WebSocket cap and the IPv6 ban prefix.
func TestAbuseLimitsFromFlags(t *testing.T) {
	t.Parallel()
	svc := startService(t, "--trusted-proxies", "127.0.0.1/32", "--take-rate", "1/m", "--take-burst", "2",
		"--max-ws-per-ip", "2", "--ipv6-ban-prefix", "48")

	t.Run("take rate", func(t *testing.T) {
		c := svc.client("198.51.100.20")
		c.take()
		c.take()
		r := c.do("GET", "/api/v1/token", nil)
		wantStatus(t, "third take in a minute", r, http.StatusTooManyRequests, "rate_limited")
		wantRetryAfter(t, "rate limited", r, 1, 60)
		svc.client("198.51.100.21").take() // someone else is not limited
	})

	t.Run("WebSockets per client", func(t *testing.T) {
		u := "ws" + strings.TrimPrefix(svc.URL, "http") + "/api/v1/ws"
		dial := func(ip string) (*websocket.Conn, *http.Response, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return websocket.DefaultDialer.DialContext(ctx, u, http.Header{"X-Forwarded-For": {ip}})
		}
		for range 2 {
			conn, _, err := dial("198.51.100.30")
			if err != nil {
				t.Fatalf("WebSocket within the cap: %v", err)
			}
			defer conn.Close()
		}
		_, resp, err := dial("198.51.100.30")
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("third WebSocket: %v %v, want 429", resp, err)
		}
		conn, _, err := dial("198.51.100.31")
		if err != nil {
			t.Fatalf("another client's WebSocket: %v", err)
		}
		conn.Close()
	})

	t.Run("IPv6 ban prefix", func(t *testing.T) {
		cheater := svc.client("2001:db8:1:2::1")
		wantStatus(t, "forged", cheater.redeem("A000"), http.StatusForbidden, "forbidden")
		for ip, status := range map[string]int{
			"2001:db8:1:2::1":    http.StatusForbidden,
			"2001:db8:1:ffff::9": http.StatusForbidden, // same /48
			"2001:db8:2::1":      http.StatusOK,        // another /48
		} {
			if r := svc.client(ip).do("GET", "/api/v1/token", nil); r.Status != status {
				t.Errorf("%s takes: %v, want %d", ip, r, status)
			}
		}
	})
}

// TestAbuseSlowAndOversizedRequests checks the HTTP server's own limits on
// the real binary: a client that sends its headers slowly is cut off at
// the read-header timeout (5s), and an oversized request line or header
// block is refused with 431, while a long but sane URL still reaches the
// API. It also checks the security headers on the page.
func TestAbuseSlowAndOversizedRequests(t *testing.T) {
	t.Parallel()
	svc := startService(t)

	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", svc.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, "GET /api/v1/queue HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		// One header line a second, never the blank line that ends them.
		closed := make(chan error, 1)
		go func() {
			_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
			_, err := io.Copy(io.Discard, conn)
			closed <- err
		}()
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case err := <-closed:
				took := time.Since(start)
				if isTimeout(err) {
					t.Fatalf("the slow client was still connected after %v", took)
				}
				if took < 4*time.Second || took > 9*time.Second {
					t.Fatalf("the slow client was cut off after %v, want about 5s", took)
				}
				return
			case <-ticker.C:
				_, _ = io.WriteString(conn, "X-Slow: drip\r\n")
			}
		}
	})

	t.Run("sizes", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			raw    string
			status int
		}{
			{"long URL within the limit", "GET /api/v1/" + strings.Repeat("a", 8<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusNotFound},
			{"request line over the limit", "GET /api/v1/" + strings.Repeat("a", 64<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
			{"one header over the limit", "GET /api/v1/queue HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 64<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
			{"many headers over the limit", "GET /api/v1/queue HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: ccccccccccccccccccccccccccccccc\r\n", 1000) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
		}
		for _, tt := range tests {
			status, err := sendRaw(svc.Addr, tt.raw)
			if err != nil || status != tt.status {
				t.Errorf("%s: %d %v, want %d", tt.name, status, err, tt.status)
			}
		}
		c := svc.client("")
		r := c.do("POST", "/api/v1/kitty", `{"token":"`+strings.Repeat("A", 5000)+`"}`)
		wantStatus(t, "body over 4 KiB", r, http.StatusBadRequest, "bad_request")
	})

	t.Run("page security headers", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/", "/board"} {
			r := svc.client("").do("GET", path, nil)
			h := r.Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: CSP %q lacks %q", path, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("%s: CSP %q allows inline script", path, csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: headers %v", path, h)
			}
			if bytes.Contains(bytes.ToLower(r.Body), []byte("<script>")) || bytes.Contains(r.Body, []byte(" onclick=")) {
				t.Errorf("%s has an inline script the CSP would block", path)
			}
		}
		r := svc.client("").do("GET", "/api/v1/queue", nil)
		if !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("API CSP = %q", r.Header.Get("Content-Security-Policy"))
		}
	})
}
