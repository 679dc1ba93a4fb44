package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
	"github.com/gorilla/websocket"
)

var labelRE = regexp.MustCompile(`^[A-Z]+[0-9]{3}$`)

// storeArgs returns the store flags for each kind of store the black-box
// tests run on; the redis-server one comes with its process.
func storeArgs(t *testing.T, kind string) ([]string, *testenv.Redis) {
	if kind == "embedded" {
		return nil, nil
	}
	r := testenv.RedisServer(t)
	return []string{"--redis-url", r.URL()}, r
}

var storeKinds = []string{"embedded", "redis-server"}

// walkArgs: short windows so a whole visit takes seconds; 127.0.0.1 trusted
// as a proxy so each test client has its own forwarded address.
var walkArgs = []string{
	"--head-window", "2s", "--view-window", "2s", "--trusted-proxies", "127.0.0.1/32",
	"--max-tickets-per-ip", "3", "--ban-duration", "1h",
}

func wantStatus(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: got %v, want %d", what, r, status)
	}
	if code != "" {
		if r.str("error") != code || r.str("message") == "" {
			t.Fatalf("%s: body %s, want error %q with a message", what, r.Body, code)
		}
	}
}

func wantRetryAfter(t *testing.T, what string, r reply, min, max int) int {
	t.Helper()
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < min || ra > max {
		t.Fatalf("%s: Retry-After %q, want whole seconds in [%d, %d]", what, r.Header.Get("Retry-After"), min, max)
	}
	return ra
}

func wantTime(t *testing.T, what, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Fatalf("%s: %q is not an RFC 3339 time in UTC", what, s)
	}
	return tm
}

// TestAPIWalkthrough walks through every row of docs/api.md's API tables against
// the real binary, on the embedded store and on a real redis-server.
func TestAPIWalkthrough(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			store, _ := storeArgs(t, kind)
			svc := startService(t, append(append([]string{}, walkArgs...), store...)...)
			walk(t, svc)
		})
	}
}

func walk(t *testing.T, svc *service) {
	alice, bob := svc.client("198.51.100.1"), svc.client("198.51.100.2")

	// Take: the first ticket is called at once, the second waits.
	a := alice.take()
	if a.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("take: Cache-Control %q, want no-store", a.Header.Get("Cache-Control"))
	}
	if !labelRE.MatchString(a.str("ticket")) || a.str("state") != "called" || a.num("position") != 1 {
		t.Fatalf("first ticket: %s", a.Body)
	}
	b := bob.take()
	if b.str("state") != "waiting" || b.num("position") != 2 || b.num("eta_seconds") < 1 {
		t.Fatalf("second ticket: %s", b.Body)
	}

	// Not your turn.
	r := bob.redeem(b.str("token"))
	wantStatus(t, "redeem while waiting", r, http.StatusConflict, "not_your_turn")
	if r.num("position") != 2 || r.num("eta_seconds") < 1 {
		t.Fatalf("not your turn body: %s", r.Body)
	}
	wantRetryAfter(t, "not your turn", r, 1, 60)

	// Redeem with the form field; retry with the bearer header: one session.
	r = alice.do("POST", "/api/v1/kitty", url.Values{"token": {a.str("token")}})
	wantStatus(t, "redeem called ticket", r, http.StatusOK, "")
	if r.str("state") != "serving" || r.str("ticket") != a.str("ticket") || r.str("image_url") == "" {
		t.Fatalf("redeem: %s", r.Body)
	}
	until := wantTime(t, "until", r.str("until"))
	if d := time.Until(until); d < time.Second || d > 3*time.Second {
		t.Fatalf("until is %v away, want about the 2s view window", d)
	}
	imageURL := r.str("image_url")
	again := alice.do("POST", "/api/v1/kitty", nil, bearer(a.str("token"))...)
	if again.Status != http.StatusOK || again.str("until") != r.str("until") || again.str("image_url") != imageURL {
		t.Fatalf("retry while serving: %v, want the same session as %s", again, r.Body)
	}
	img := alice.do("POST", "/api/v1/kitty", nil, append(bearer(a.str("token")), "Accept", "image/*")...)
	if img.Status != http.StatusOK || !strings.HasPrefix(img.Header.Get("Content-Type"), "image/") || len(img.Body) < 100 {
		t.Fatalf("redeem with Accept image/*: %d %s, %d bytes", img.Status, img.Header.Get("Content-Type"), len(img.Body))
	}
	pic := alice.do("GET", imageURL, nil)
	if pic.Status != http.StatusOK || !strings.HasPrefix(pic.Header.Get("Content-Type"), "image/") || !bytesEqual(pic.Body, img.Body) {
		t.Fatalf("image_url: %d %s", pic.Status, pic.Header.Get("Content-Type"))
	}

	// While alice views, bob is first in line (alice is no longer in it).
	r = bob.do("GET", "/api/v1/ticket", nil, bearer(b.str("token"))...)
	if r.Status != http.StatusOK || r.str("state") != "waiting" || r.num("position") != 1 {
		t.Fatalf("bob while alice views: %v", r)
	}

	// Alice ends viewing early; the picture is gone; bob is called.
	r = alice.do("DELETE", "/api/v1/kitty", nil, bearer(a.str("token"))...)
	wantStatus(t, "end viewing", r, http.StatusNoContent, "")
	wantStatus(t, "image after the session", alice.do("GET", imageURL, nil), http.StatusGone, "gone")
	r = bob.do("GET", "/api/v1/ticket", nil, bearer(b.str("token"))...)
	if r.str("state") != "called" || r.num("position") != 1 {
		t.Fatalf("bob after alice: %v", r)
	}
	wantTime(t, "deadline", r.str("deadline"))

	// Bob does not show up: with nobody touching the API, a WebSocket watcher
	// sees his call expire. Only a snapshot newer than the one that shows
	// him called counts (the feed may still hold an older one).
	calledAt := alice.do("GET", "/api/v1/queue", nil)
	if len(calledAt.JSON["called"].([]any)) != 1 {
		t.Fatalf("queue while bob is called: %s", calledAt.Body)
	}
	calledVersion := int64(calledAt.num("version"))
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(svc.URL, "http", "ws", 1)+"/api/v1/ws", nil)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(8 * time.Second))
	for {
		var msg struct {
			Type    string `json:"type"`
			Version int64  `json:"version"`
			Length  int    `json:"length"`
			Called  []any  `json:"called"`
			Serving []any  `json:"serving"`
		}
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no snapshot without bob's call within 8s: %v", err)
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			t.Fatalf("websocket message is not one JSON object: %q", data)
		}
		if err := contract.CheckServerMessage(data); err != nil {
			t.Errorf("the message breaks api/openapi.json: %v", err)
		}
		// Alice is done and Bob was the only one left: an empty line newer
		// than his call means it expired.
		if msg.Type == "snapshot" && msg.Version > calledVersion && msg.Length == 0 && len(msg.Called) == 0 && len(msg.Serving) == 0 {
			break
		}
	}
	r = bob.redeem(b.str("token"))
	wantStatus(t, "redeem after the deadline", r, http.StatusGone, "gone")
	if r.str("state") != "expired" {
		t.Fatalf("expired body: %s", r.Body)
	}
	bob.take() // a late user is not a cheater: no ban

	// Bad requests: 400, no ban.
	carol := svc.client("198.51.100.3")
	for name, body := range map[string]any{
		"no token":    "{}",
		"empty token": `{"token": ""}`,
		"bad JSON":    "{",
		"empty form":  url.Values{"token": {""}},
		"no body":     nil,
		"too big":     `{"token": "` + strings.Repeat("x", 5000) + `"}`,
	} {
		wantStatus(t, "POST kitty, "+name, carol.do("POST", "/api/v1/kitty", body), http.StatusBadRequest, "bad_request")
	}
	c1 := carol.take()

	// Leave the line.
	wantStatus(t, "leave", carol.do("DELETE", "/api/v1/ticket", url.Values{"token": {c1.str("token")}}), http.StatusNoContent, "")
	r = carol.do("GET", "/api/v1/ticket", nil, bearer(c1.str("token"))...)
	if r.Status != http.StatusOK || r.str("state") != "left" {
		t.Fatalf("ticket after leaving: %v", r)
	}
	if _, has := r.JSON["position"]; has {
		t.Fatalf("a ticket that left has a position: %s", r.Body)
	}
	r = carol.redeem(c1.str("token"))
	wantStatus(t, "redeem after leaving", r, http.StatusGone, "gone")
	if r.str("state") != "left" {
		t.Fatalf("left body: %s", r.Body)
	}

	// Too many live tickets.
	dave := svc.client("198.51.100.4")
	var daves []reply
	for range 3 {
		daves = append(daves, dave.take())
	}
	r = dave.do("GET", "/api/v1/token", nil)
	wantStatus(t, "fourth ticket", r, http.StatusTooManyRequests, "too_many_tickets")
	wantRetryAfter(t, "too many tickets", r, 1, 3600)

	// A cheater: a label is not a token. 403 forbidden, then banned.
	eve := svc.client("198.51.100.5")
	e1 := eve.take()
	r = eve.redeem(a.str("ticket"))
	wantStatus(t, "forged token", r, http.StatusForbidden, "forbidden")
	for what, r := range map[string]reply{
		"take":     eve.do("GET", "/api/v1/token", nil),
		"redeem":   eve.redeem(e1.str("token")),
		"bad body": eve.do("POST", "/api/v1/kitty", "{"),
		"ticket":   eve.do("GET", "/api/v1/ticket", nil, bearer(e1.str("token"))...),
		"leave":    eve.do("DELETE", "/api/v1/ticket", nil, bearer(e1.str("token"))...),
	} {
		wantStatus(t, "banned "+what, r, http.StatusForbidden, "banned")
		wantRetryAfter(t, "banned "+what, r, 3500, 3600)
	}
	if r := eve.do("GET", "/api/v1/queue", nil); r.Status != http.StatusOK {
		t.Fatalf("a banned client cannot watch the line: %v", r)
	}
	// The cheater's ticket left the line; the others' did not.
	r = alice.do("GET", "/api/v1/ticket", nil, bearer(e1.str("token"))...)
	if r.str("state") != "left" {
		t.Fatalf("cheater's ticket: %v", r)
	}
	snap := alice.do("GET", "/api/v1/queue", nil)
	if strings.Contains(string(snap.Body), `"`+e1.str("ticket")+`"`) {
		t.Fatalf("the cheater's ticket %s is still on the board: %s", e1.str("ticket"), snap.Body)
	}
	for _, d := range daves {
		if !strings.Contains(string(snap.Body), `"`+d.str("ticket")+`"`) {
			t.Fatalf("an honest client's ticket %s left the board with the cheater's: %s", d.str("ticket"), snap.Body)
		}
	}

	// Unknown routes and wrong methods: JSON errors.
	wantStatus(t, "unknown route", alice.do("GET", "/api/v1/nope", nil), http.StatusNotFound, "not_found")
	wantStatus(t, "wrong method", alice.do("PUT", "/api/v1/kitty", nil), http.StatusMethodNotAllowed, "method_not_allowed")
	wantStatus(t, "ticket without bearer", alice.do("GET", "/api/v1/ticket", nil), http.StatusBadRequest, "bad_request")

	// The snapshot.
	r = alice.do("GET", "/api/v1/queue", nil)
	if r.Status != http.StatusOK || r.num("version") < 1 || r.num("counters") != 1 || r.JSON["waiting"] == nil {
		t.Fatalf("queue: %v", r)
	}
	if _, has := r.JSON["type"]; has {
		t.Fatalf("GET /api/v1/queue has a type field: %s", r.Body)
	}
	wantTime(t, "now", r.str("now"))

	// Health, readiness, metrics, the page.
	wantStatus(t, "healthz", alice.do("GET", "/healthz", nil), http.StatusOK, "")
	wantStatus(t, "readyz", alice.do("GET", "/readyz", nil), http.StatusOK, "")
	m := alice.do("GET", "/metrics", nil)
	for _, name := range []string{"catqms_tickets_issued_total", "catqms_line_length", "catqms_http_request_duration_seconds"} {
		if !strings.Contains(string(m.Body), name) {
			t.Fatalf("/metrics lacks %s", name)
		}
	}
	page := alice.do("GET", "/", nil)
	if page.Status != http.StatusOK || !strings.Contains(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", page.Status, page.Header.Get("Content-Type"))
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestLineFull: --max-queue turns away the next ticket with 503 line_full.
// On the embedded store, which holds a shorter line, the answer says how to
// get a longer one (--redis-url); on Redis it does not.
func TestLineFull(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			store, _ := storeArgs(t, kind)
			svc := startService(t, append(store, "--max-queue", "2", "--trusted-proxies", "127.0.0.1/32")...)
			svc.client("192.0.2.1").take()
			svc.client("192.0.2.2").take()
			r := svc.client("192.0.2.3").do("GET", "/api/v1/token", nil)
			wantStatus(t, "third ticket in a line of 2", r, http.StatusServiceUnavailable, "line_full")
			wantRetryAfter(t, "line full", r, 1, 3600)
			msg := r.str("message")
			if says := strings.Contains(msg, "--redis-url") && strings.Contains(msg, "2 tickets"); says != (kind == "embedded") {
				t.Fatalf("%s store: line_full message %q; want the limit and --redis-url named only on the embedded store", kind, msg)
			}
			// The start-up log names the store and its limit.
			if log := svc.Log(); !strings.Contains(log, "max_queue=2") {
				t.Fatalf("start-up log does not name the limit:\n%s", log)
			}
		})
	}
}

// TestStoreDownAndBack: with redis-server killed every API route answers 503
// unavailable with Retry-After, quickly; when it is back the service
// recovers by itself.
func TestStoreDownAndBack(t *testing.T) {
	store, redis := storeArgs(t, "redis-server")
	svc := startService(t, store...)
	c := svc.client("")
	tk := c.take()
	redis.Kill(t)
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/token"}, {"POST", "/api/v1/kitty"}, {"DELETE", "/api/v1/kitty"},
		{"GET", "/api/v1/ticket"}, {"DELETE", "/api/v1/ticket"}, {"GET", "/api/v1/queue"},
	}
	for _, rt := range routes {
		start := time.Now()
		r := c.do(rt.method, rt.path, nil, bearer(tk.str("token"))...)
		wantStatus(t, rt.method+" "+rt.path+" with the store down", r, http.StatusServiceUnavailable, "unavailable")
		wantRetryAfter(t, rt.path, r, 1, 60)
		if d := time.Since(start); d > 6*time.Second {
			t.Fatalf("%s %s took %v with the store down", rt.method, rt.path, d)
		}
	}
	wantStatus(t, "readyz with the store down", c.do("GET", "/readyz", nil), http.StatusServiceUnavailable, "")
	wantStatus(t, "healthz with the store down", c.do("GET", "/healthz", nil), http.StatusOK, "")
	redis.Restart(t)
	waitFor(t, 15*time.Second, "readyz after the store came back", func() bool {
		return c.do("GET", "/readyz", nil).Status == http.StatusOK
	})
	waitFor(t, 15*time.Second, "a ticket after the store came back", func() bool {
		return c.do("GET", "/api/v1/token", nil).Status == http.StatusOK
	})
}
