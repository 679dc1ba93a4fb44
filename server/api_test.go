package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/frontend"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

func TestTakeTicket(t *testing.T) {
	e := newTestServer(t, testOptions{line: redisline.Options{HeadWindow: 45 * time.Second}})
	w := e.do(http.MethodGet, "/api/v1/token", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/token = %d %s", w.Code, w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", cc)
	}
	first := decode(t, w)
	if first["token"] == "" || first["ticket"] != "A000" || first["state"] != "called" || first["position"] != float64(1) || first["eta_seconds"] != float64(0) {
		t.Fatalf("first ticket = %v", first)
	}
	if first["deadline"] != e.clock.Now().Add(45*time.Second).Format(timeLayout) {
		t.Fatalf("deadline = %v, want now+45s", first["deadline"])
	}

	_, second := e.take()
	if second["ticket"] != "A001" || second["state"] != "waiting" || second["position"] != float64(2) {
		t.Fatalf("second ticket = %v", second)
	}
	if _, has := second["deadline"]; has {
		t.Fatalf("waiting ticket has a deadline: %v", second)
	}
	if eta, _ := second["eta_seconds"].(float64); eta < 1 {
		t.Fatalf("waiting ticket eta_seconds = %v", second["eta_seconds"])
	}
}

func TestTakeTicketLimits(t *testing.T) {
	t.Run("too many tickets", func(t *testing.T) {
		e := newTestServer(t, testOptions{line: redisline.Options{MaxTicketsPerClient: 2}})
		e.take()
		e.take()
		wantError(t, e.do(http.MethodGet, "/api/v1/token", nil), http.StatusTooManyRequests, queue.CodeTooManyTickets, true)
		e.take(from("198.51.100.1")) // another client is not limited
	})
	t.Run("line full", func(t *testing.T) {
		e := newTestServer(t, testOptions{line: redisline.Options{MaxQueue: 2}})
		e.take(from("198.51.100.1"))
		e.take(from("198.51.100.2"))
		wantError(t, e.do(http.MethodGet, "/api/v1/token", nil, from("198.51.100.3")), http.StatusServiceUnavailable, queue.CodeLineFull, true)
	})
}

func TestTicketStatus(t *testing.T) {
	e := newTestServer(t, testOptions{line: redisline.Options{ViewWindow: 20 * time.Second, HeadWindow: 30 * time.Second}})
	first, _ := e.take()
	second, _ := e.take()

	status := func(token string) map[string]any {
		t.Helper()
		w := e.do(http.MethodGet, "/api/v1/ticket", nil, bearer(token))
		if w.Code != http.StatusOK {
			t.Fatalf("GET /api/v1/ticket = %d %s", w.Code, w.Body)
		}
		return decode(t, w)
	}
	wantFields := func(m map[string]any, want ...string) {
		t.Helper()
		if len(m) != len(want) {
			t.Fatalf("fields of %v, want exactly %v", m, want)
		}
		for _, k := range want {
			if _, ok := m[k]; !ok {
				t.Fatalf("field %s missing from %v", k, m)
			}
		}
	}

	m := status(second)
	wantFields(m, "ticket", "state", "position", "eta_seconds", "eta_low_seconds", "eta_high_seconds")
	if m["state"] != "waiting" || m["position"] != float64(2) {
		t.Fatalf("second = %v", m)
	}
	m = status(first)
	wantFields(m, "ticket", "state", "position", "eta_seconds", "eta_low_seconds", "eta_high_seconds", "deadline")
	if m["state"] != "called" || m["position"] != float64(1) {
		t.Fatalf("first = %v", m)
	}

	redeemed := decode(t, e.redeem(first))
	m = status(first)
	wantFields(m, "ticket", "state", "until", "image_url")
	if m["state"] != "serving" || m["image_url"] != redeemed["image_url"] || m["until"] != redeemed["until"] {
		t.Fatalf("serving = %v, redeemed %v", m, redeemed)
	}
	if m = status(second); m["position"] != float64(1) {
		t.Fatalf("second after the first was served = %v", m)
	}

	if w := e.do(http.MethodDelete, "/api/v1/ticket", nil, bearer(second)); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("DELETE /api/v1/ticket = %d %q", w.Code, w.Body)
	}
	m = status(second)
	wantFields(m, "ticket", "state")
	if m["state"] != "left" {
		t.Fatalf("after leaving = %v", m)
	}

	t.Run("bearer only", func(t *testing.T) {
		body, ct := jsonBody(map[string]string{"token": first})
		wantError(t, e.do(http.MethodGet, "/api/v1/ticket", body, ct), http.StatusBadRequest, queue.CodeBadRequest, false)
	})
}

func TestEndViewing(t *testing.T) {
	e := newTestServer(t, testOptions{})
	first, _ := e.take()
	second, _ := e.take()
	form := func(token string) (io.Reader, reqOption) {
		return strings.NewReader("token=" + token), header("Content-Type", "application/x-www-form-urlencoded")
	}

	body, ct := form(second)
	wantError(t, e.do(http.MethodDelete, "/api/v1/kitty", body, ct), http.StatusConflict, queue.CodeNotServing, false)

	if w := e.redeem(first); w.Code != http.StatusOK {
		t.Fatalf("redeem = %d", w.Code)
	}
	body, ct = form(first)
	if w := e.do(http.MethodDelete, "/api/v1/kitty", body, ct); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE /api/v1/kitty = %d %s", w.Code, w.Body)
	}
	// The counter is free: the next ticket is called.
	w := e.do(http.MethodGet, "/api/v1/ticket", nil, bearer(second))
	if m := decode(t, w); m["state"] != "called" {
		t.Fatalf("second after the first ended = %v", m)
	}
	wantError(t, e.do(http.MethodDelete, "/api/v1/kitty", nil), http.StatusBadRequest, queue.CodeBadRequest, false)
	wantError(t, e.do(http.MethodDelete, "/api/v1/ticket", nil), http.StatusBadRequest, queue.CodeBadRequest, false)
}

func TestQueueSnapshot(t *testing.T) {
	e := newTestServer(t, testOptions{line: redisline.Options{Counters: 2}})
	first, _ := e.take()
	e.take()
	e.take()
	e.take()
	e.redeem(first)

	w := e.do(http.MethodGet, "/api/v1/queue", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/queue = %d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	if _, has := m["type"]; has {
		t.Fatalf("REST snapshot has a type: %v", m)
	}
	if m["length"] != float64(3) || m["counters"] != float64(2) || m["version"].(float64) < 1 {
		t.Fatalf("snapshot = %v", m)
	}
	serving, called, waiting := m["serving"].([]any), m["called"].([]any), m["waiting"].([]any)
	if len(serving) != 1 || len(called) != 1 || len(waiting) != 2 {
		t.Fatalf("serving %v, called %v, waiting %v", serving, called, waiting)
	}
	if w := waiting[0].(map[string]any); w["ticket"] != "A002" {
		t.Fatalf("waiting[0] = %v", w)
	}
	now, err := time.Parse(time.RFC3339, m["now"].(string))
	if err != nil || !now.Equal(e.clock.Now()) || !strings.HasSuffix(m["now"].(string), "Z") {
		t.Fatalf("now = %v (%v)", m["now"], err)
	}
	if _, ok := m["eta_seconds_per_ticket"].(float64); !ok {
		t.Fatalf("eta_seconds_per_ticket missing: %v", m)
	}
}

func TestImage(t *testing.T) {
	e := newTestServer(t, testOptions{line: redisline.Options{ViewWindow: 30 * time.Second}})
	token, _ := e.take()
	imageURL := decode(t, e.redeem(token))["image_url"].(string)

	w := e.do(http.MethodGet, imageURL, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET image = %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "image/") {
		t.Fatalf("Content-Type = %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "private, no-store" {
		t.Fatalf("Cache-Control = %q", cc)
	}
	if !bytes.HasPrefix(w.Body.Bytes(), []byte("\x89PNG")) {
		t.Fatal("image body is not a PNG")
	}

	tests := []struct {
		name   string
		path   string
		status int
		code   queue.Code
	}{
		{"forged id", "/api/v1/images/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", http.StatusNotFound, queue.CodeNotFound},
		{"a token is not an image id", "/api/v1/images/" + token, http.StatusNotFound, queue.CodeNotFound},
		{"garbage", "/api/v1/images/%00%ff", http.StatusNotFound, queue.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.do(http.MethodGet, tt.path, nil), tt.status, tt.code, false)
		})
	}
	e.take() // wrong image ids ban nobody

	e.clock.Advance(31 * time.Second)
	wantError(t, e.do(http.MethodGet, imageURL, nil), http.StatusGone, queue.CodeGone, false)
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	e := newTestServer(t, testOptions{})
	tests := []struct {
		method, path string
		status       int
		code         queue.Code
		allow        string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, queue.CodeNotFound, ""},
		{http.MethodGet, "/api/v1/queue/", http.StatusNotFound, queue.CodeNotFound, ""},
		{http.MethodGet, "/api/v2/token", http.StatusNotFound, queue.CodeNotFound, ""},
		{http.MethodPost, "/api/v1/token", http.StatusMethodNotAllowed, queue.CodeMethodNotAllowed, "GET"},
		{http.MethodPut, "/api/v1/kitty", http.StatusMethodNotAllowed, queue.CodeMethodNotAllowed, "POST, DELETE"},
		{http.MethodPost, "/api/v1/queue", http.StatusMethodNotAllowed, queue.CodeMethodNotAllowed, "GET"},
		{"BREW", "/healthz", http.StatusMethodNotAllowed, queue.CodeMethodNotAllowed, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := e.do(tt.method, tt.path, nil)
			wantError(t, w, tt.status, tt.code, false)
			if got := w.Header().Get("Allow"); !sameMethods(got, tt.allow) {
				t.Fatalf("Allow = %q, want %q", got, tt.allow)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Fatal("security headers missing on an error")
			}
		})
	}
}

// sameMethods compares Allow lists regardless of order.
func sameMethods(a, b string) bool {
	set := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				m[v] = true
			}
		}
		return m
	}
	x, y := set(a), set(b)
	if len(x) != len(y) {
		return false
	}
	for k := range x {
		if !y[k] {
			return false
		}
	}
	return true
}

func TestSecurityHeadersAndPages(t *testing.T) {
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "page "+r.URL.Path)
	})
	e := newTestServer(t, testOptions{pages: pages})
	for _, path := range []string{"/", "/board", "/assets/app.js"} {
		t.Run(path, func(t *testing.T) {
			w := e.do(http.MethodGet, path, nil)
			if w.Code != http.StatusOK || w.Body.String() != "page "+path {
				t.Fatalf("GET %s = %d %q", path, w.Code, w.Body)
			}
			h := w.Header()
			if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("X-Frame-Options") != "DENY" ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("page headers = %v", h)
			}
		})
	}
	w := e.do(http.MethodGet, "/api/v1/queue", nil)
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("API headers = %v", w.Header())
	}

	t.Run("no pages", func(t *testing.T) {
		e := newTestServer(t, testOptions{})
		wantError(t, e.do(http.MethodGet, "/", nil), http.StatusNotFound, queue.CodeNotFound, false)
	})
}

func TestHealth(t *testing.T) {
	e := newTestServer(t, testOptions{cfg: Config{Version: "v1.2.3"}})
	for _, path := range []string{"/healthz", "/readyz"} {
		w := e.do(http.MethodGet, path, nil)
		if m := decode(t, w); w.Code != http.StatusOK || m["status"] != "ok" || m["version"] != "v1.2.3" {
			t.Fatalf("GET %s = %d %v", path, w.Code, m)
		}
	}
	e.mr.Close()
	start := time.Now()
	wantError(t, e.do(http.MethodGet, "/readyz", nil), http.StatusServiceUnavailable, queue.CodeUnavailable, true)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("readyz took %v with the store down", d)
	}
	if w := e.do(http.MethodGet, "/healthz", nil); w.Code != http.StatusOK {
		t.Fatalf("healthz with the store down = %d", w.Code)
	}
}

// TestStoreDown checks every API route answers 503 unavailable with
// Retry-After when the store is gone: never a 500, never a hang.
func TestStoreDown(t *testing.T) {
	e := newTestServer(t, testOptions{})
	token, _ := e.take()
	imageURL := decode(t, e.redeem(token))["image_url"].(string)
	e.mr.Close()

	tests := []struct {
		method, path string
		opts         []reqOption
	}{
		{http.MethodGet, "/api/v1/token", nil},
		{http.MethodPost, "/api/v1/kitty", []reqOption{bearer(token)}},
		{http.MethodPost, "/api/v1/kitty", nil}, // no token: the ban check needs the store
		{http.MethodDelete, "/api/v1/kitty", []reqOption{bearer(token)}},
		{http.MethodGet, "/api/v1/ticket", []reqOption{bearer(token)}},
		{http.MethodDelete, "/api/v1/ticket", []reqOption{bearer(token)}},
		{http.MethodGet, "/api/v1/queue", nil},
		{http.MethodGet, imageURL, nil},
		{http.MethodGet, "/readyz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			start := time.Now()
			w := e.do(tt.method, tt.path, nil, tt.opts...)
			wantError(t, w, http.StatusServiceUnavailable, queue.CodeUnavailable, true)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestStoreHangs checks that a store that accepts but never answers turns
// into 503 within the request timeout.
func TestStoreHangs(t *testing.T) {
	var proxy *stallProxy
	e := newTestServer(t, testOptions{
		cfg: Config{RequestTimeout: 300 * time.Millisecond},
		storeAddr: func(real string) string {
			proxy = newStallProxy(t, real)
			return proxy.Addr()
		},
	})
	token, _ := e.take()
	proxy.Stall()
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/token"},
		{http.MethodGet, "/api/v1/ticket"},
		{http.MethodGet, "/api/v1/queue"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			start := time.Now()
			w := e.do(tt.method, tt.path, nil, bearer(token))
			wantError(t, w, http.StatusServiceUnavailable, queue.CodeUnavailable, true)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v with a 300ms request timeout", d)
			}
		})
	}
}

// panicImages is a picture source that fails in the worst way.
type panicImages struct{}

func (panicImages) Image(uint64) (kitty.Image, error) { panic("boom") }

// errorImages is a picture source that fails politely.
type errorImages struct{}

func (errorImages) Image(uint64) (kitty.Image, error) { return kitty.Image{}, errors.New("disk gone") }

func TestInternalErrors(t *testing.T) {
	for name, images := range map[string]ImageSource{"panic": panicImages{}, "error": errorImages{}} {
		t.Run(name, func(t *testing.T) {
			e := newTestServer(t, testOptions{images: images})
			token, _ := e.take()
			w := e.redeem(token, header("Accept", "image/*"))
			m := wantError(t, w, http.StatusInternalServerError, queue.CodeInternal, false)
			if m["message"] != "internal error" {
				t.Fatalf("message = %v", m["message"])
			}
			if strings.Contains(e.logs.String(), token) {
				t.Fatal("the token was logged")
			}
			if !strings.Contains(e.logs.String(), "level=ERROR") {
				t.Fatal("the internal error was not logged")
			}
		})
	}
}

// TestLogsCarryNoSecrets sends tokens every way and checks the log.
func TestLogsCarryNoSecrets(t *testing.T) {
	e := newTestServer(t, testOptions{})
	token, _ := e.take()
	e.do(http.MethodGet, "/api/v1/ticket?token="+token, nil, bearer(token))
	e.redeem(token)
	e.do(http.MethodGet, "/api/v1/nothing/"+token, nil)
	logs := e.logs.String()
	if !strings.Contains(logs, "route=/api/v1/kitty") {
		t.Fatalf("requests were not logged:\n%s", logs)
	}
	if strings.Contains(logs, token) {
		t.Fatalf("a token was logged:\n%s", logs)
	}
}

// TestRealFrontend serves the committed web client through the engine.
func TestRealFrontend(t *testing.T) {
	e := newTestServer(t, testOptions{pages: frontend.Handler()})
	tests := []struct {
		method, path string
		status       int
		contentType  string
	}{
		{http.MethodGet, "/", http.StatusOK, "text/html"},
		{http.MethodHead, "/", http.StatusOK, "text/html"},
		{http.MethodGet, "/board", http.StatusOK, "text/html"},
		{http.MethodGet, "/assets/app.js", http.StatusOK, "text/javascript"},
		{http.MethodGet, "/assets/nope.js", http.StatusNotFound, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := e.do(tt.method, tt.path, nil)
			if w.Code != tt.status || !strings.HasPrefix(w.Header().Get("Content-Type"), tt.contentType) {
				t.Fatalf("= %d %q", w.Code, w.Header().Get("Content-Type"))
			}
			if w.Header().Get("Content-Security-Policy") != contentSecurityPolicy || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Fatalf("page headers = %v", w.Header())
			}
		})
	}
}
