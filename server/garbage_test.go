package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/frontend"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

// apiRoutes are every API route with the methods it answers.
var apiRoutes = []struct {
	path    string
	methods []string
}{
	{"/api/v1/token", []string{http.MethodGet}},
	{"/api/v1/kitty", []string{http.MethodPost, http.MethodDelete}},
	{"/api/v1/ticket", []string{http.MethodGet, http.MethodDelete}},
	{"/api/v1/queue", []string{http.MethodGet}},
	{"/api/v1/images/x", []string{http.MethodGet}},
	{"/api/v1/ws", []string{http.MethodGet}},
	{"/healthz", []string{http.MethodGet}},
	{"/readyz", []string{http.MethodGet}},
	{"/metrics", []string{http.MethodGet}},
}

// garbage is a body and the Content-Type it is sent with.
type garbage struct {
	name, contentType string
	body              []byte
}

func garbageBodies() []garbage {
	return []garbage{
		{"binary as JSON", "application/json", []byte{0, 1, 2, 0xff, 0xfe, '{'}},
		{"invalid UTF-8 JSON token", "application/json", []byte("{\"token\":\"\xc3\x28\xa0\xa1\"}")},
		{"invalid UTF-8 form token", "application/x-www-form-urlencoded", []byte("token=%C3%28%FF")},
		{"invalid UTF-8 content type", "application/json; charset=\xff\xfe", []byte(`{"token":"x"}`)},
		{"deeply nested JSON", "application/json", []byte(strings.Repeat("[", 4000) + strings.Repeat("]", 4000))},
		{"JSON bomb keys", "application/json", []byte(`{"token":"a","token":"b","` + strings.Repeat("k", 3000) + `":1}`)},
		{"JSON number token", "application/json", []byte(`{"token":1e999}`)},
		{"JSON null", "application/json", []byte(`null`)},
		{"XML", "application/xml", []byte(`<token>x</token>`)},
		{"form as JSON", "application/json", []byte(`token=abc`)},
		{"JSON as form", "application/x-www-form-urlencoded", []byte(`{"token":"abc"}`)},
		{"multipart without boundary", "multipart/form-data", []byte("--x\r\n")},
		{"multipart huge part header", "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"token\"; " + strings.Repeat("a", 3000) + "\r\n\r\nv\r\n--x--\r\n")},
		{"unparseable content type", "appli;cation/json;;==", []byte(`{"token":"x"}`)},
		{"no content type", "", []byte(`{"token":"x"}`)},
		{"over 4 KiB", "application/json", bytes.Repeat([]byte{'a'}, maxBodyBytes+1)},
		{"1 MiB", "application/octet-stream", bytes.Repeat([]byte{0xff}, 1<<20)},
	}
}

// wantJSONError checks that w is an error answer of the API: a status below
// 500 and a JSON body with a code and a message.
func wantJSONError(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if w.Code < 400 {
		return
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d with Content-Type %q", w.Code, ct)
	}
	var body struct{ Error, Message string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.Message == "" {
		t.Fatalf("status %d, not a JSON error: %s", w.Code, w.Body)
	}
}

// TestGarbageToEveryRoute sends every route garbage bodies, wrong methods,
// wrong content types, invalid UTF-8 and oversized headers. Nothing may
// answer 5xx or an error that is not JSON; malformed bodies are 400 and
// ban no one; tokens that are garbage are 403 forbidden.
func TestGarbageToEveryRoute(t *testing.T) {
	e := newTestServer(t, testOptions{pages: frontend.Handler()})
	peer := 0
	next := func() reqOption { // a fresh client per request, so bans do not mask answers
		peer++
		return from(fmt.Sprintf("198.18.%d.%d", peer/250, peer%250+1))
	}

	t.Run("garbage bodies", func(t *testing.T) {
		for _, route := range apiRoutes {
			for _, method := range route.methods {
				for _, g := range garbageBodies() {
					t.Run(method+" "+route.path+" "+g.name, func(t *testing.T) {
						opts := []reqOption{next()}
						if g.contentType != "" {
							opts = append(opts, header("Content-Type", g.contentType))
						}
						w := e.do(method, route.path, bytes.NewReader(g.body), opts...)
						wantJSONError(t, w)
						// A token route answers a body without a usable token 400
						// or, when the body names garbage as a token, 403.
						if route.path == "/api/v1/kitty" || (route.path == "/api/v1/ticket" && method == http.MethodDelete) {
							if w.Code != http.StatusBadRequest && w.Code != http.StatusForbidden {
								t.Fatalf("= %d %s, want 400 or 403", w.Code, w.Body)
							}
						}
					})
				}
			}
		}
	})

	t.Run("wrong methods", func(t *testing.T) {
		all := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
			http.MethodDelete, http.MethodOptions, http.MethodTrace, "BREW", "get", "M-SEARCH"}
		for _, route := range apiRoutes {
			for _, method := range all {
				if contains(route.methods, method) {
					continue
				}
				t.Run(method+" "+route.path, func(t *testing.T) {
					w := e.do(method, route.path, nil, next())
					wantError(t, w, http.StatusMethodNotAllowed, queue.CodeMethodNotAllowed, false)
					if !sameMethods(w.Header().Get("Allow"), strings.Join(route.methods, ", ")) {
						t.Fatalf("Allow = %q, want %v", w.Header().Get("Allow"), route.methods)
					}
				})
			}
		}
	})

	t.Run("garbage paths and queries", func(t *testing.T) {
		for _, target := range []string{
			"/api/v1/token/", "/api/v1//token", "/API/V1/TOKEN", "/api/v1/token%00", "/api/v1/images/",
			"/api/v1/images/" + strings.Repeat("A", 8000), "/api/v1/images/%ff%fe", "/api/v1/queue?%zz=%zz&&&=",
			"/api/v1/ticket?token=" + strings.Repeat("x", 8000), "/assets/../../etc/passwd", "/assets/%2e%2e/x",
			"/" + strings.Repeat("a/", 2000),
		} {
			t.Run(truncate(target, 40), func(t *testing.T) {
				w := e.do(http.MethodGet, target, nil, next())
				wantJSONError(t, w)
				if w.Code == http.StatusOK && !strings.HasPrefix(target, "/api/v1/queue") {
					t.Fatalf("= 200 for %s", target)
				}
			})
		}
	})

	t.Run("oversized and invalid headers", func(t *testing.T) {
		big := strings.Repeat("A", 64<<10)
		tests := []struct {
			name string
			opts []reqOption
		}{
			{"huge bearer", []reqOption{bearer(big)}},
			{"bearer of invalid UTF-8", []reqOption{bearer("\xc3\x28\xff")}},
			{"many Authorization headers", []reqOption{bearer("a"), bearer("b"), bearer("c")}},
			{"huge X-Forwarded-For", []reqOption{header("X-Forwarded-For", strings.Repeat("1.2.3.4, ", 8000))}},
			{"huge Accept", []reqOption{header("Accept", strings.Repeat("image/png;q=0.5, ", 4000))}},
			{"Accept of invalid UTF-8", []reqOption{header("Accept", "image/\xff; q=\xfe")}},
			{"huge Content-Type", []reqOption{header("Content-Type", "application/json; "+strings.Repeat("a=b; ", 8000))}},
			{"huge cookie", []reqOption{header("Cookie", big)}},
		}
		for _, route := range apiRoutes {
			for _, method := range route.methods {
				for _, tt := range tests {
					t.Run(method+" "+route.path+" "+tt.name, func(t *testing.T) {
						w := e.do(method, route.path, strings.NewReader(`{"token":"x"}`), append([]reqOption{next()}, tt.opts...)...)
						wantJSONError(t, w)
					})
				}
			}
		}
	})

	// None of that was cheating except the bodies that named a forged
	// token: the first client, who only sent a body over 4 KiB to GET
	// /api/v1/token, is not banned.
	if left, err := e.line.BanRemaining(t.Context(), "198.18.0.2"); err != nil || left != 0 {
		t.Fatalf("a client sending only garbage was banned: %v %v", left, err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestSpoofedForwardedFor checks that an X-Forwarded-For the service does
// not trust changes nothing: a cheater cannot dodge a ban by claiming
// another address, nor get someone else banned by claiming theirs.
func TestSpoofedForwardedFor(t *testing.T) {
	const (
		proxy    = "10.0.0.1"
		cheater  = "203.0.113.66"
		victim   = "198.51.100.77"
		neighbor = "198.51.100.78"
	)
	e := newTestServer(t, testOptions{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
	victimToken, _ := e.take(from(victim))

	// The cheater, connecting directly, forges a token while claiming to be
	// the victim, and a trusted proxy, and garbage.
	for _, xff := range []string{victim, proxy + ", " + victim, victim + ", " + proxy, "garbage"} {
		w := e.redeem("forged", from(cheater), header("X-Forwarded-For", xff))
		if w.Code != http.StatusForbidden {
			t.Fatalf("forging with X-Forwarded-For %q = %d %s", xff, w.Code, w.Body)
		}
	}
	// The ban fell on the cheater's own address...
	if left, _ := e.line.BanRemaining(t.Context(), cheater); left <= 0 {
		t.Fatal("the cheater is not banned")
	}
	// ...which no X-Forwarded-For of theirs talks away.
	for _, xff := range []string{"", neighbor, proxy, "10.0.0.2, " + neighbor, "::1"} {
		opts := []reqOption{from(cheater)}
		if xff != "" {
			opts = append(opts, header("X-Forwarded-For", xff))
		}
		wantError(t, e.do(http.MethodGet, "/api/v1/token", nil, opts...), http.StatusForbidden, queue.CodeBanned, true)
	}
	// The victim, directly or behind the proxy, is untouched, and so is
	// its ticket.
	for _, opts := range [][]reqOption{
		{from(victim)},
		{from(proxy), header("X-Forwarded-For", victim)},
	} {
		w := e.do(http.MethodGet, "/api/v1/ticket", nil, append(opts, bearer(victimToken))...)
		if w.Code != http.StatusOK {
			t.Fatalf("the victim's ticket = %d %s", w.Code, w.Body)
		}
	}
	for _, key := range []string{victim, proxy, neighbor} {
		if left, _ := e.line.BanRemaining(t.Context(), key); left != 0 {
			t.Fatalf("%s was banned for the cheater's forgery", key)
		}
	}

	// Behind the trusted proxy, the cheater prepends the victim's address;
	// the proxy appends the real one, and that is who is banned.
	const cheater2 = "203.0.113.99"
	w := e.redeem("forged", from(proxy), header("X-Forwarded-For", victim+", "+cheater2))
	wantError(t, w, http.StatusForbidden, queue.CodeForbidden, false)
	if left, _ := e.line.BanRemaining(t.Context(), cheater2); left <= 0 {
		t.Fatal("the cheater behind the proxy is not banned")
	}
	if left, _ := e.line.BanRemaining(t.Context(), victim); left != 0 {
		t.Fatal("the victim was banned by a forged X-Forwarded-For entry")
	}
}

// TestNoTokenInAnyLog captures every log line, at debug level, of the
// server and of the line through a whole visit and its errors, and checks
// that no token, nor any piece of one, appears.
func TestNoTokenInAnyLog(t *testing.T) {
	lineLogs := &syncBuffer{}
	e := newTestServer(t, testOptions{
		line: redisline.Options{
			HeadWindow: 30 * time.Second,
			Logger:     slog.New(slog.NewJSONHandler(lineLogs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		},
		pages: frontend.Handler(),
	})
	ts := e.serve()
	var tokens []string
	take := func(opts ...reqOption) string {
		token, _ := e.take(opts...)
		tokens = append(tokens, token)
		return token
	}

	first, second, third := take(), take(), take()
	ws := mustDial(t, ts)
	ws.next(2 * time.Second)
	ws.send(map[string]string{"type": "watch", "token": second})
	ws.until(2*time.Second, "a ticket message", ofType("ticket"))
	ws.send(map[string]string{"type": "watch", "token": second + "x"})

	e.do(http.MethodGet, "/api/v1/ticket", nil, bearer(second))
	e.do(http.MethodGet, "/api/v1/ticket?token="+second, nil)                                                                               // 400: header only
	e.do(http.MethodPost, "/api/v1/kitty", strings.NewReader("token="+second), header("Content-Type", "application/x-www-form-urlencoded")) // 409
	e.do(http.MethodPost, "/api/v1/kitty", nil, bearer(first), header("Accept", "image/png"))                                               // the picture
	session := decode(t, e.redeem(first))                                                                                                   // safe retry
	e.do(http.MethodGet, session["image_url"].(string), nil)
	e.do(http.MethodDelete, "/api/v1/kitty", nil, bearer(first))
	e.redeem(first)                                              // 410 gone
	e.do(http.MethodDelete, "/api/v1/kitty", nil, bearer(third)) // 409 not serving
	e.do(http.MethodDelete, "/api/v1/ticket", nil, bearer(third))
	e.do(http.MethodGet, "/api/v1/nothing/"+second, nil)                                                  // 404
	e.do(http.MethodPut, "/api/v1/kitty", strings.NewReader(second))                                      // 405
	e.do(http.MethodPost, "/api/v1/kitty", nil, bearer(second), header("Authorization", "Bearer "+first)) // 400
	e.clock.Advance(40 * time.Second)
	e.redeem(second)                                   // called, missed: 410 expired
	e.redeem(first[:len(first)-2], from("192.0.2.99")) // forged: 403 and a ban
	e.do(http.MethodGet, "/api/v1/token", nil, from("192.0.2.99"))
	e.mr.Close() // the store goes: store errors are logged
	e.redeem(second)
	e.do(http.MethodGet, "/api/v1/ticket", nil, bearer(second))
	ws.send(map[string]string{"type": "watch", "token": second})
	// The live feed's warning comes once it notices the store is gone,
	// which takes longer on a loaded machine than a fixed pause allowed.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(e.logs.String(), "level=WARN") {
			break
		}
	}

	logs := e.logs.String() + lineLogs.String()
	for _, want := range []string{"route=/api/v1/kitty", "status=403", "status=503", "level=WARN"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the log lacks %q, so it does not cover the visit:\n%s", want, logs)
		}
	}
	for _, token := range tokens {
		// Any 16 characters of a token would be a leak of it.
		for i := 0; i+16 <= len(token); i += 8 {
			if piece := token[i : i+16]; strings.Contains(logs, piece) {
				t.Fatalf("a piece of a token (%s) is in the log:\n%s", piece, logs)
			}
		}
	}
	if re := regexp.MustCompile(`[A-Za-z0-9_-]{40,}`); re.MatchString(logs) {
		t.Fatalf("the log holds something token-shaped: %q", re.FindString(logs))
	}
}
