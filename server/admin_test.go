package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

const testAdminToken = "admin-token-0123456789"

// newAdminServer is newTestServer with the admin API on: the server the
// helper built is replaced by one with the admin token and the line as its
// Admin, on the same line, store, clock and logs.
func newAdminServer(t *testing.T, lineOpts redisline.Options) *testEnv {
	t.Helper()
	e := newTestServer(t, testOptions{line: lineOpts})
	_ = e.srv.Close()
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := hub.New(hub.Config{}, logger)
	t.Cleanup(func() { _ = h.Close() })
	srv, err := New(Config{AdminToken: testAdminToken}, Deps{
		Line: e.line, Admin: e.line, Images: e.srv.images, Hub: h, Logger: logger, Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.srv, e.hub = srv, h
	return e
}

// admin sends an admin request with the right token.
func (e *testEnv) admin(method, path, body string, opts ...reqOption) *httptest.ResponseRecorder {
	e.t.Helper()
	opts = append([]reqOption{bearer(testAdminToken)}, opts...)
	if body != "" {
		opts = append(opts, header("Content-Type", "application/json"))
		return e.do(method, "/api/v1/admin"+path, strings.NewReader(body), opts...)
	}
	return e.do(method, "/api/v1/admin"+path, nil, opts...)
}

// wantOutcome checks a 200 admin answer and returns it.
func wantOutcome(t *testing.T, w *httptest.ResponseRecorder, action, ticket string, called ...string) map[string]any {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("%s: status %d, want 200; body %s", action, w.Code, w.Body)
	}
	m := decode(t, w)
	got, _ := m["called"].([]any)
	var names []string
	for _, c := range got {
		names = append(names, c.(string))
	}
	if m["action"] != action || (m["ticket"] != nil || ticket != "") && m["ticket"] != ticket ||
		strings.Join(names, ",") != strings.Join(called, ",") || m["called"] == nil || m["version"] == nil {
		t.Fatalf("%s: body %s, want ticket %q, called %v", action, w.Body, ticket, called)
	}
	return m
}

// adminRoutesForTest are every admin route with a harmless valid request.
var adminRoutesForTest = []struct{ method, path, body string }{
	{http.MethodPost, "/pause", ""},
	{http.MethodPost, "/resume", ""},
	{http.MethodPost, "/call-next", ""},
	{http.MethodPost, "/skip", ""},
	{http.MethodPut, "/counters", `{"counters": 2}`},
	{http.MethodGet, "/bans", ""},
	{http.MethodDelete, "/bans/198.51.100.1", ""},
	{http.MethodDelete, "/sessions/A000", ""},
	{http.MethodGet, "/stats", ""},
}

func TestAdminOffAnswersNotFound(t *testing.T) {
	e := newTestServer(t, testOptions{}) // no admin token
	for _, r := range adminRoutesForTest {
		for _, opts := range [][]reqOption{nil, {bearer(testAdminToken)}, {bearer("")}} {
			w := e.do(r.method, "/api/v1/admin"+r.path, strings.NewReader(r.body), opts...)
			wantError(t, w, http.StatusNotFound, queue.CodeNotFound, false)
		}
	}
	if strings.Contains(e.logs.String(), "admin") {
		t.Fatalf("the admin API answered while off:\n%s", e.logs)
	}
}

func TestAdminNeedsAnAdmin(t *testing.T) {
	e := newTestServer(t, testOptions{})
	_, err := New(Config{AdminToken: testAdminToken}, Deps{Line: e.line, Images: e.srv.images, Hub: e.hub})
	if err == nil || !strings.Contains(err.Error(), "Deps.Admin") {
		t.Fatalf("New with a token and no Admin: %v", err)
	}
}

func TestAdminAuth(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	for _, r := range adminRoutesForTest {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			for name, opts := range map[string][]reqOption{
				"no header":      nil,
				"basic":          {header("Authorization", "Basic YWRtaW46YWRtaW4=")},
				"empty bearer":   {header("Authorization", "Bearer ")},
				"two headers":    {bearer(testAdminToken), header("Authorization", "Bearer "+testAdminToken)},
				"bare token":     {header("Authorization", testAdminToken)},
				"token in query": nil,
			} {
				target := "/api/v1/admin" + r.path
				if name == "token in query" {
					target += "?token=" + testAdminToken
				}
				w := e.do(r.method, target, strings.NewReader(r.body), opts...)
				wantError(t, w, http.StatusUnauthorized, queue.CodeUnauthorized, false)
				if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Fatalf("%s: WWW-Authenticate = %q, want a Bearer challenge", name, got)
				}
			}
			w := e.do(r.method, "/api/v1/admin"+r.path, strings.NewReader(r.body), bearer("wrong"), from("198.51.100.77"))
			wantError(t, w, http.StatusForbidden, queue.CodeForbidden, false)
		})
	}
	for _, wrong := range []string{testAdminToken + "x", testAdminToken[:len(testAdminToken)-1], strings.ToUpper(testAdminToken)} {
		start := time.Now()
		w := e.do(http.MethodPost, "/api/v1/admin/pause", nil, bearer(wrong), from("198.51.100.77"))
		wantError(t, w, http.StatusForbidden, queue.CodeForbidden, false)
		if took := time.Since(start); took < adminFailureDelay {
			t.Fatalf("a wrong token was answered in %v, want at least %v", took, adminFailureDelay)
		}
	}
	if snap := decode(t, e.do(http.MethodGet, "/api/v1/queue", nil)); snap["paused"] != false {
		t.Fatal("a wrong token paused the line")
	}
	// Admin failures never ban: the address that guessed still takes tickets.
	e.take(from("198.51.100.77"))
	if left, err := e.line.BanRemaining(context.Background(), "198.51.100.77"); err != nil || left != 0 {
		t.Fatalf("admin failures banned the client: %v, %v", left, err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `msg="admin: wrong token" client=198.51.100.77`) ||
		!strings.Contains(logs, `msg="admin: no credentials" client=203.0.113.7`) {
		t.Fatalf("admin failures not logged at warn with the client:\n%s", logs)
	}
	if !strings.Contains(logs, "level=WARN msg=\"admin: wrong token\"") {
		t.Fatalf("wrong tokens are not logged at warn:\n%s", logs)
	}
	if strings.Contains(logs, testAdminToken) || strings.Contains(logs, "YWRtaW46YWRtaW4=") {
		t.Fatalf("a credential was logged:\n%s", logs)
	}
	// The right token passes.
	if w := e.admin(http.MethodGet, "/stats", ""); w.Code != http.StatusOK {
		t.Fatalf("GET /stats with the token = %d %s", w.Code, w.Body)
	}
	// Lower-case scheme is still Bearer (RFC 7235: schemes are case-insensitive).
	if w := e.do(http.MethodGet, "/api/v1/admin/stats", nil, header("Authorization", "bearer "+testAdminToken)); w.Code != http.StatusOK {
		t.Fatalf("lower-case bearer = %d %s", w.Code, w.Body)
	}
}

func TestSameSecret(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"secret-secret-16", "secret-secret-16", true},
		{"secret-secret-16", "secret-secret-17", false},
		{"secret-secret-16", "secret-secret-1", false},
		{"", "secret-secret-16", false},
		{"", "", true},
	} {
		if got := sameSecret(tt.a, tt.b); got != tt.want {
			t.Errorf("sameSecret(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestAdminPauseAndResume(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	e.take(from("198.51.100.1"))
	m := wantOutcome(t, e.admin(http.MethodPost, "/pause", ""), "pause", "")
	if m["paused"] != true || m["counters"] != float64(1) {
		t.Fatalf("pause: %v", m)
	}
	w := e.do(http.MethodGet, "/api/v1/token", nil, from("198.51.100.2"))
	wantError(t, w, http.StatusServiceUnavailable, queue.CodePaused, true)
	if snap := decode(t, e.do(http.MethodGet, "/api/v1/queue", nil)); snap["paused"] != true {
		t.Fatalf("snapshot while paused: %v", snap)
	}
	if st := decode(t, e.admin(http.MethodGet, "/stats", "")); st["paused"] != true {
		t.Fatalf("stats while paused: %v", st)
	}
	m = wantOutcome(t, e.admin(http.MethodPost, "/resume", ""), "resume", "")
	if m["paused"] != false {
		t.Fatalf("resume: %v", m)
	}
	e.take(from("198.51.100.2"))

	logs := e.logs.String()
	for _, want := range []string{
		`msg="admin action" action=pause client=203.0.113.7 result=ok`,
		`msg="admin action" action=resume client=203.0.113.7 result=ok`,
	} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
}

// The service log's line of an admin action carries the operator's
// reason, as the public record does; a reason refused is not logged as
// one, and an action without one has none.
func TestAdminLogCarriesTheReason(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	wantOutcome(t, e.admin(http.MethodPost, "/pause", `{"reason": "fire drill, back at 3"}`), "pause", "")
	wantError(t, e.admin(http.MethodPost, "/resume", `{"reason": "two\nlines"}`), http.StatusBadRequest, queue.CodeBadRequest, false)
	wantOutcome(t, e.admin(http.MethodPost, "/resume", ""), "resume", "")
	wantOutcome(t, e.admin(http.MethodPut, "/counters", `{"counters": 2, "reason": "second desk open"}`), "set_counters", "")
	logs := e.logs.String()
	for _, want := range []string{
		`msg="admin action" action=pause client=203.0.113.7 reason="fire drill, back at 3" result=ok`,
		`msg="admin action" action=resume client=203.0.113.7 result=bad_request`,
		`msg="admin action" action=resume client=203.0.113.7 result=ok`,
		`msg="admin action" action=set_counters client=203.0.113.7 reason="second desk open" result=ok`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestAdminWatchersSeeTheChangeAtOnce(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	ws := mustDial(t, e.serve())
	ws.until(2*time.Second, "the first snapshot", ofType("snapshot"))
	wantOutcome(t, e.admin(http.MethodPost, "/pause", ""), "pause", "")
	// Well inside the 5s resync: the change signal brought it.
	ws.until(2*time.Second, "a paused snapshot", func(m map[string]any) bool {
		return m["type"] == "snapshot" && m["paused"] == true
	})
	wantOutcome(t, e.admin(http.MethodPut, "/counters", `{"counters": 4}`), "set_counters", "")
	ws.until(2*time.Second, "a snapshot with 4 counters", func(m map[string]any) bool {
		return m["type"] == "snapshot" && m["counters"] == float64(4)
	})
}

func TestAdminCallNextSkipAndSessions(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	wantError(t, e.admin(http.MethodPost, "/call-next", ""), http.StatusConflict, queue.CodeNobodyWaiting, false)
	wantError(t, e.admin(http.MethodPost, "/skip", ""), http.StatusConflict, queue.CodeNotCalled, false)
	a, _ := e.take(from("198.51.100.1"))
	e.take(from("198.51.100.2"))
	e.take(from("198.51.100.3"))
	e.take(from("198.51.100.4"))
	// The one counter holds A000's call: nothing can be freed but by a skip.
	wantError(t, e.admin(http.MethodPost, "/call-next", ""), http.StatusConflict, queue.CodeCountersBusy, false)
	wantError(t, e.admin(http.MethodDelete, "/sessions/A000", ""), http.StatusConflict, queue.CodeNotServing, false)

	if w := e.redeem(a, from("198.51.100.1")); w.Code != http.StatusOK {
		t.Fatalf("redeem: %d %s", w.Code, w.Body)
	}
	wantOutcome(t, e.admin(http.MethodPost, "/call-next", ""), "call_next", "A000", "A001")
	wantOutcome(t, e.admin(http.MethodPost, "/skip", ""), "skip", "A001", "A002")
	wantOutcome(t, e.admin(http.MethodPost, "/skip", `{"ticket": "A002"}`), "skip", "A002", "A003")
	wantError(t, e.admin(http.MethodPost, "/skip", `{"ticket": "A001"}`), http.StatusConflict, queue.CodeNotCalled, false)
	wantError(t, e.admin(http.MethodPost, "/skip", `{"ticket": "Q123"}`), http.StatusNotFound, queue.CodeNotFound, false)
	wantError(t, e.admin(http.MethodDelete, "/sessions/A000", ""), http.StatusConflict, queue.CodeNotServing, false)
	wantError(t, e.admin(http.MethodDelete, "/sessions/B000", ""), http.StatusNotFound, queue.CodeNotFound, false)

	st := decode(t, e.admin(http.MethodGet, "/stats", ""))
	for k, want := range map[string]float64{
		"issued": 4, "served": 1, "expired": 2, "left": 0, "bans": 0,
		"length": 1, "counters": 1, "serving": 0, "called": 1,
	} {
		if st[k] != want {
			t.Errorf("stats %s = %v, want %v", k, st[k], want)
		}
	}
	for _, k := range []string{"mean_wait_seconds", "mean_service_seconds", "eta_seconds_per_ticket", "paused"} {
		if _, ok := st[k]; !ok {
			t.Errorf("stats lacks %s: %v", k, st)
		}
	}
	if !strings.Contains(e.logs.String(), `msg="admin action" action=call_next client=203.0.113.7 result=counters_busy`) {
		t.Fatalf("a refused action is not logged with its result:\n%s", e.logs)
	}
}

func TestAdminEndSession(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	a, _ := e.take(from("198.51.100.1"))
	e.take(from("198.51.100.2"))
	e.redeem(a, from("198.51.100.1"))
	wantOutcome(t, e.admin(http.MethodDelete, "/sessions/A000", ""), "end_session", "A000", "A001")
	w := e.do(http.MethodGet, "/api/v1/ticket", nil, bearer(a), from("198.51.100.1"))
	if m := decode(t, w); m["state"] != "served" {
		t.Fatalf("ticket after its session was ended: %v", m)
	}
}

func TestAdminCounters(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	for i := range 4 {
		e.take(from("198.51.100." + string(rune('1'+i))))
	}
	m := wantOutcome(t, e.admin(http.MethodPut, "/counters", `{"counters": 3}`), "set_counters", "", "A001", "A002")
	if m["counters"] != float64(3) {
		t.Fatalf("counters: %v", m)
	}
	snap := decode(t, e.do(http.MethodGet, "/api/v1/queue", nil))
	if snap["counters"] != float64(3) || len(snap["called"].([]any)) != 3 {
		t.Fatalf("snapshot after 3 counters: %v", snap)
	}
	wantOutcome(t, e.admin(http.MethodPut, "/counters", `{"counters": 1}`), "set_counters", "")
	if snap := decode(t, e.do(http.MethodGet, "/api/v1/queue", nil)); len(snap["called"].([]any)) != 3 {
		t.Fatalf("shrinking withdrew calls: %v", snap)
	}
}

func TestAdminBans(t *testing.T) {
	e := newAdminServer(t, redisline.Options{BanDuration: time.Hour})
	forge := func(peer string) {
		w := e.redeem("A000", from(peer))
		wantError(t, w, http.StatusForbidden, queue.CodeForbidden, false)
	}
	forge("198.51.100.9")
	e.clock.Advance(time.Second)
	forge("2001:db8:1:2::7")

	m := decode(t, e.admin(http.MethodGet, "/bans", ""))
	bans, _ := m["bans"].([]any)
	if m["total"] != float64(2) || len(bans) != 2 {
		t.Fatalf("bans: %v", m)
	}
	first := bans[0].(map[string]any)
	if first["client"] != "2001:db8:1:2::/64" || first["ends_at"] != e.clock.Now().Add(time.Hour).Format(timeLayout) {
		t.Fatalf("latest ban: %v", first)
	}
	if m := decode(t, e.admin(http.MethodGet, "/bans?limit=1", "")); len(m["bans"].([]any)) != 1 || m["total"] != float64(2) {
		t.Fatalf("bans?limit=1: %v", m)
	}

	wantOutcome(t, e.admin(http.MethodDelete, "/bans/198.51.100.9", ""), "unban", "")
	wantError(t, e.admin(http.MethodDelete, "/bans/198.51.100.9", ""), http.StatusNotFound, queue.CodeNotFound, false)
	e.take(from("198.51.100.9"))
	// The prefix's slash, escaped, in upper case: the same client.
	wantOutcome(t, e.admin(http.MethodDelete, "/bans/2001:DB8:1:2::%2F64", ""), "unban", "")
	e.take(from("2001:db8:1:2::7"))
	if m := decode(t, e.admin(http.MethodGet, "/bans", "")); m["total"] != float64(0) || len(m["bans"].([]any)) != 0 {
		t.Fatalf("bans after unbanning both: %v", m)
	}
	if !strings.Contains(e.logs.String(), `action=unban client=203.0.113.7 result=not_found`) {
		t.Fatalf("unban of an unbanned client not logged:\n%s", e.logs)
	}
}

func TestAdminBadInput(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     queue.Code
	}{
		{"counters: no body", http.MethodPut, "/counters", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: empty object", http.MethodPut, "/counters", `{}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: zero", http.MethodPut, "/counters", `{"counters": 0}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: negative", http.MethodPut, "/counters", `{"counters": -3}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: too many", http.MethodPut, "/counters", `{"counters": 1001}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: huge", http.MethodPut, "/counters", `{"counters": 1e30}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: fraction", http.MethodPut, "/counters", `{"counters": 2.5}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: string", http.MethodPut, "/counters", `{"counters": "3"}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: null", http.MethodPut, "/counters", `{"counters": null}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: unknown field", http.MethodPut, "/counters", `{"counters": 3, "x": 1}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: two objects", http.MethodPut, "/counters", `{"counters": 3} {}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: array", http.MethodPut, "/counters", `[3]`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: not JSON", http.MethodPut, "/counters", `counters=3`, http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: invalid UTF-8", http.MethodPut, "/counters", "{\"counters\": 3, \"\xff\": 1}", http.StatusBadRequest, queue.CodeBadRequest},
		{"counters: too big", http.MethodPut, "/counters", `{"counters": 3` + strings.Repeat(" ", 5000) + `}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"skip: empty label", http.MethodPost, "/skip", `{"ticket": ""}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"skip: lower case", http.MethodPost, "/skip", `{"ticket": "a000"}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"skip: garbage", http.MethodPost, "/skip", `{"ticket": "<script>"}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"skip: number", http.MethodPost, "/skip", `{"ticket": 1}`, http.StatusBadRequest, queue.CodeBadRequest},
		{"skip: not JSON", http.MethodPost, "/skip", `{`, http.StatusBadRequest, queue.CodeBadRequest},
		{"session: not a label", http.MethodDelete, "/sessions/hello", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"session: too long", http.MethodDelete, "/sessions/" + strings.Repeat("A", 40) + "000", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"unban: not an address", http.MethodDelete, "/bans/somebody", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"unban: nobody", http.MethodDelete, "/bans/", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"unban: zone", http.MethodDelete, "/bans/fe80::1%25eth0", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"unban: too long", http.MethodDelete, "/bans/" + strings.Repeat("1", 100), "", http.StatusBadRequest, queue.CodeBadRequest},
		{"bans: limit 0", http.MethodGet, "/bans?limit=0", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"bans: limit too big", http.MethodGet, "/bans?limit=1001", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"bans: limit not a number", http.MethodGet, "/bans?limit=ten", "", http.StatusBadRequest, queue.CodeBadRequest},
		{"wrong method: GET pause", http.MethodGet, "/pause", "", http.StatusMethodNotAllowed, queue.CodeMethodNotAllowed},
		{"wrong method: POST counters", http.MethodPost, "/counters", `{"counters": 2}`, http.StatusMethodNotAllowed, queue.CodeMethodNotAllowed},
		{"wrong method: POST stats", http.MethodPost, "/stats", "", http.StatusMethodNotAllowed, queue.CodeMethodNotAllowed},
		{"unknown admin route", http.MethodPost, "/reboot", "", http.StatusNotFound, queue.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.admin(tt.method, tt.path, tt.body), tt.status, tt.code, false)
		})
	}
	// Nothing above changed the line.
	if snap := decode(t, e.do(http.MethodGet, "/api/v1/queue", nil)); snap["counters"] != float64(1) || snap["paused"] != false {
		t.Fatalf("bad input changed the line: %v", snap)
	}
}

func TestAdminStoreDown(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	e.mr.Close()
	for _, r := range adminRoutesForTest {
		w := e.admin(r.method, r.path, r.body)
		wantError(t, w, http.StatusServiceUnavailable, queue.CodeUnavailable, true)
	}
}

func TestParseClientKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"198.51.100.9", "198.51.100.9"},
		{"::ffff:198.51.100.9", "198.51.100.9"},
		{"2001:DB8::/64", "2001:db8::/64"},
		{"2001:db8::1/64", "2001:db8::/64"},
		{"2001:db8::1", "2001:db8::1"},
		{"unknown", "unknown"},
		{"", ""},
		{"198.51.100.9:80", ""},
		{"example.com", ""},
		{"fe80::1%eth0", ""},
	} {
		got, err := parseClientKey(tt.in)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("parseClientKey(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
