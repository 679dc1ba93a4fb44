package server

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

// badBodies are requests to POST /api/v1/kitty that carry no usable token.
func badBodies() []struct {
	name string
	body io.Reader
	opts []reqOption
} {
	ct := func(v string) reqOption { return header("Content-Type", v) }
	big := `{"token":"` + strings.Repeat("A", maxBodyBytes) + `"}`
	return []struct {
		name string
		body io.Reader
		opts []reqOption
	}{
		{"no token at all", nil, nil},
		{"empty JSON object", strings.NewReader(`{}`), []reqOption{ct("application/json")}},
		{"empty JSON token", strings.NewReader(`{"token":""}`), []reqOption{ct("application/json")}},
		{"blank JSON token", strings.NewReader(`{"token":"  "}`), []reqOption{ct("application/json")}},
		{"blank form token", strings.NewReader("token=%20"), []reqOption{ct("application/x-www-form-urlencoded")}},
		{"empty bearer", nil, []reqOption{header("Authorization", "Bearer ")}},
		{"other auth scheme", nil, []reqOption{header("Authorization", "Basic dXNlcjpwdw==")}},
		{"empty form token", strings.NewReader("token="), []reqOption{ct("application/x-www-form-urlencoded")}},
		{"bad JSON", strings.NewReader(`{"token":`), []reqOption{ct("application/json")}},
		{"JSON token not a string", strings.NewReader(`{"token":42}`), []reqOption{ct("application/json")}},
		{"JSON with trailing data", strings.NewReader(`{"token":"a"} {"token":"b"}`), []reqOption{ct("application/json")}},
		{"JSON array", strings.NewReader(`["token"]`), []reqOption{ct("application/json")}},
		{"bad form", strings.NewReader("token=%zz"), []reqOption{ct("application/x-www-form-urlencoded")}},
		{"bad multipart", strings.NewReader("--x\r\nnonsense"), []reqOption{ct("multipart/form-data; boundary=x")}},
		{"body over 4 KiB", strings.NewReader(big), []reqOption{ct("application/json")}},
		{"body over 4 KiB with a bearer", strings.NewReader(big), []reqOption{ct("application/json"), bearer("x")}},
		{"body of another type", strings.NewReader("token=abc"), []reqOption{ct("text/plain")}},
	}
}

// TestRedeemTable walks docs/api.md's POST /api/v1/kitty table in order.
func TestRedeemTable(t *testing.T) {
	t.Run("another site caused it: 403 cross_origin first, even for a banned client; no ban, no Retry-After", func(t *testing.T) {
		e := newTestServer(t, testOptions{})
		token, _ := e.take()
		foreign := header("Sec-Fetch-Site", "cross-site")
		wantError(t, e.redeem("forged-token", foreign), http.StatusForbidden, codeCrossOrigin, false)
		if left, _ := e.line.BanRemaining(t.Context(), defaultPeer); left != 0 {
			t.Fatalf("a cross-site forgery banned the client for %v", left)
		}
		wantError(t, e.redeem("forged-token"), http.StatusForbidden, queue.CodeForbidden, false)
		w := e.redeem(token, foreign)
		wantError(t, w, http.StatusForbidden, codeCrossOrigin, false)
		if ra := w.Header().Get("Retry-After"); ra != "" {
			t.Fatalf("cross_origin with Retry-After %q", ra)
		}
	})

	t.Run("a token of a key the service no longer holds: 410 gone, state left, the line was reset; no ban", func(t *testing.T) {
		e := newTestServer(t, testOptions{})
		e.take()
		retired, err := queue.NewSigner([]byte("a key this service never held"), queue.DefaultSettings().Name)
		if err != nil {
			t.Fatal(err)
		}
		m := wantError(t, e.redeem(retired.Token(1, queue.Nonce{})), http.StatusGone, queue.CodeGone, false)
		if msg, _ := m["message"].(string); m["state"] != "left" || !strings.Contains(msg, "line was reset") {
			t.Fatalf("the reset answer %v; want state left and the words the line was reset", m)
		}
		if left, _ := e.line.BanRemaining(t.Context(), defaultPeer); left != 0 {
			t.Fatalf("a token of a retired key banned the client for %v", left)
		}
		e.take() // still allowed
	})

	t.Run("banned client gets 403 banned first, even with a bad body", func(t *testing.T) {
		e := newTestServer(t, testOptions{})
		wantError(t, e.redeem("forged-token"), http.StatusForbidden, queue.CodeForbidden, false)
		for _, tt := range badBodies() {
			t.Run(tt.name, func(t *testing.T) {
				w := e.do(http.MethodPost, "/api/v1/kitty", tt.body, tt.opts...)
				wantError(t, w, http.StatusForbidden, queue.CodeBanned, true)
			})
		}
	})

	t.Run("no token, empty token, unparseable or big body: 400 and no ban", func(t *testing.T) {
		e := newTestServer(t, testOptions{})
		for _, tt := range badBodies() {
			t.Run(tt.name, func(t *testing.T) {
				w := e.do(http.MethodPost, "/api/v1/kitty", tt.body, tt.opts...)
				wantError(t, w, http.StatusBadRequest, queue.CodeBadRequest, false)
			})
		}
		if left, _ := e.line.BanRemaining(t.Context(), defaultPeer); left != 0 {
			t.Fatalf("a bad request banned the client for %v", left)
		}
		e.take() // still allowed
	})

	t.Run("forged token: 403 forbidden, then 403 banned with Retry-After", func(t *testing.T) {
		e := newTestServer(t, testOptions{line: redisline.Options{BanDuration: 90 * time.Second}})
		token, _ := e.take()
		forgeries := []struct{ name, token, from string }{
			{"garbage", "not a token", "198.51.100.1"},
			{"label", "A000", "198.51.100.2"},
			{"flipped", token[:len(token)-2] + flipChar(token[len(token)-2]) + token[len(token)-1:], "198.51.100.3"},
		}
		for _, f := range forgeries {
			t.Run(f.name, func(t *testing.T) {
				wantError(t, e.redeem(f.token, from(f.from)), http.StatusForbidden, queue.CodeForbidden, false)
				wantError(t, e.redeem(f.token, from(f.from)), http.StatusForbidden, queue.CodeBanned, true)
			})
		}
		wantError(t, e.redeem("forged"), http.StatusForbidden, queue.CodeForbidden, false)
		// Now even the good token is refused: the client is banned.
		w := e.redeem(token)
		wantError(t, w, http.StatusForbidden, queue.CodeBanned, true)
		if ra := w.Header().Get("Retry-After"); ra != "90" {
			t.Fatalf("Retry-After = %q, want the ban's 90 seconds", ra)
		}
		// The ban closes the ticket routes but not the line's view.
		wantError(t, e.do(http.MethodGet, "/api/v1/token", nil), http.StatusForbidden, queue.CodeBanned, true)
		wantError(t, e.do(http.MethodGet, "/api/v1/ticket", nil, bearer(token)), http.StatusForbidden, queue.CodeBanned, true)
		if w := e.do(http.MethodGet, "/api/v1/queue", nil); w.Code != http.StatusOK {
			t.Fatalf("GET /api/v1/queue while banned = %d", w.Code)
		}
	})

	t.Run("called ticket: 200 serving with image_url and until", func(t *testing.T) {
		e := newTestServer(t, testOptions{line: redisline.Options{ViewWindow: 30 * time.Second}})
		token, taken := e.take()
		if taken["state"] != "called" {
			t.Fatalf("first ticket in an empty line is %v, want called", taken["state"])
		}
		w := e.redeem(token)
		if w.Code != http.StatusOK {
			t.Fatalf("redeem = %d %s", w.Code, w.Body)
		}
		m := decode(t, w)
		if m["state"] != "serving" || m["ticket"] != taken["ticket"] {
			t.Fatalf("redeem body %v", m)
		}
		imageURL, _ := m["image_url"].(string)
		if !strings.HasPrefix(imageURL, "/api/v1/images/") || len(imageURL) <= len("/api/v1/images/") {
			t.Fatalf("image_url = %q", imageURL)
		}
		until, err := time.Parse(time.RFC3339, m["until"].(string))
		if err != nil || !until.Equal(e.clock.Now().Add(30*time.Second)) || !strings.HasSuffix(m["until"].(string), "Z") {
			t.Fatalf("until = %v (%v), want now+30s in UTC", m["until"], err)
		}

		// Retry while serving: the same session again.
		w = e.redeem(token)
		if w.Code != http.StatusOK {
			t.Fatalf("second redeem = %d %s", w.Code, w.Body)
		}
		if again := decode(t, w); again["image_url"] != imageURL || again["until"] != m["until"] {
			t.Fatalf("retry gave another session: %v vs %v", again, m)
		}
	})

	t.Run("waiting ticket: 409 not_your_turn with position, eta and Retry-After", func(t *testing.T) {
		e := newTestServer(t, testOptions{})
		e.take()
		token, _ := e.take()
		w := e.redeem(token)
		m := wantError(t, w, http.StatusConflict, queue.CodeNotYourTurn, true)
		if m["position"] != float64(2) {
			t.Fatalf("position = %v, want 2", m["position"])
		}
		if eta, ok := m["eta_seconds"].(float64); !ok || eta < 1 || eta != float64(int64(eta)) {
			t.Fatalf("eta_seconds = %v, want whole seconds ≥ 1", m["eta_seconds"])
		}
	})

	for _, final := range []queue.State{queue.StateExpired, queue.StateServed, queue.StateLeft} {
		t.Run("ticket "+string(final)+": 410 gone with state, no ban", func(t *testing.T) {
			e := newTestServer(t, testOptions{line: redisline.Options{HeadWindow: 10 * time.Second}})
			token, _ := e.take()
			switch final {
			case queue.StateExpired:
				e.clock.Advance(11 * time.Second)
			case queue.StateServed:
				if w := e.redeem(token); w.Code != http.StatusOK {
					t.Fatalf("redeem = %d", w.Code)
				}
				if w := e.do(http.MethodDelete, "/api/v1/kitty", nil, bearer(token)); w.Code != http.StatusNoContent {
					t.Fatalf("DELETE /api/v1/kitty = %d %s", w.Code, w.Body)
				}
			case queue.StateLeft:
				if w := e.do(http.MethodDelete, "/api/v1/ticket", nil, bearer(token)); w.Code != http.StatusNoContent {
					t.Fatalf("DELETE /api/v1/ticket = %d %s", w.Code, w.Body)
				}
			}
			m := wantError(t, e.redeem(token), http.StatusGone, queue.CodeGone, false)
			if m["state"] != string(final) {
				t.Fatalf("state = %v, want %s", m["state"], final)
			}
			e.take() // a late user is not banned
		})
	}
}

func flipChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestRedeemTokenSources redeems with the token in each accepted place.
func TestRedeemTokenSources(t *testing.T) {
	multipartBody := func(token string) (io.Reader, reqOption) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("token", token)
		_ = mw.Close()
		return &buf, header("Content-Type", mw.FormDataContentType())
	}
	tests := []struct {
		name string
		send func(e *testEnv, token string) *httptest.ResponseRecorder
	}{
		{"bearer", func(e *testEnv, token string) *httptest.ResponseRecorder {
			return e.do(http.MethodPost, "/api/v1/kitty", nil, bearer(token))
		}},
		{"bearer, scheme in lower case", func(e *testEnv, token string) *httptest.ResponseRecorder {
			return e.do(http.MethodPost, "/api/v1/kitty", nil, header("Authorization", "bearer "+token))
		}},
		{"JSON", func(e *testEnv, token string) *httptest.ResponseRecorder { return e.redeem(token) }},
		{"JSON with charset", func(e *testEnv, token string) *httptest.ResponseRecorder {
			return e.do(http.MethodPost, "/api/v1/kitty", strings.NewReader(`{"token":"`+token+`"}`),
				header("Content-Type", "application/json; charset=utf-8"))
		}},
		{"urlencoded form", func(e *testEnv, token string) *httptest.ResponseRecorder {
			return e.do(http.MethodPost, "/api/v1/kitty", strings.NewReader(url.Values{"token": {token}}.Encode()),
				header("Content-Type", "application/x-www-form-urlencoded"))
		}},
		{"multipart form", func(e *testEnv, token string) *httptest.ResponseRecorder {
			body, ct := multipartBody(token)
			return e.do(http.MethodPost, "/api/v1/kitty", body, ct)
		}},
		{"bearer and the same token in JSON", func(e *testEnv, token string) *httptest.ResponseRecorder {
			body, ct := jsonBody(map[string]string{"token": token})
			return e.do(http.MethodPost, "/api/v1/kitty", body, ct, bearer(token))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestServer(t, testOptions{})
			token, _ := e.take()
			if w := tt.send(e, token); w.Code != http.StatusOK {
				t.Fatalf("redeem = %d %s", w.Code, w.Body)
			}
		})
	}

	t.Run("bearer and another token in the body", func(t *testing.T) {
		e := newTestServer(t, testOptions{})
		token, _ := e.take()
		body, ct := jsonBody(map[string]string{"token": token + "x"})
		wantError(t, e.do(http.MethodPost, "/api/v1/kitty", body, ct, bearer(token)), http.StatusBadRequest, queue.CodeBadRequest, false)
	})
}

// TestRedeemAcceptImage checks that a client asking for a picture gets it.
func TestRedeemAcceptImage(t *testing.T) {
	tests := []struct {
		accept    string
		wantImage bool
	}{
		{"image/*", true},
		{"image/png", true},
		{"image/avif,image/webp,*/*;q=0.8", true},
		{"image/*, application/json", false},
		{"application/json, image/*;q=0.5", false},
		{"application/problem+json, image/png", false},
		{"image/*;q=0", false},
		{"*/*", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			e := newTestServer(t, testOptions{})
			token, _ := e.take()
			var opts []reqOption
			if tt.accept != "" {
				opts = append(opts, header("Accept", tt.accept))
			}
			w := e.redeem(token, opts...)
			if w.Code != http.StatusOK {
				t.Fatalf("redeem = %d %s", w.Code, w.Body)
			}
			ct := w.Header().Get("Content-Type")
			if got := strings.HasPrefix(ct, "image/"); got != tt.wantImage {
				t.Fatalf("Content-Type = %q, want image %v", ct, tt.wantImage)
			}
			if tt.wantImage {
				if !bytes.HasPrefix(w.Body.Bytes(), []byte("\x89PNG")) {
					t.Fatalf("body is not a PNG: % x", w.Body.Bytes()[:min(8, w.Body.Len())])
				}
				if cc := w.Header().Get("Cache-Control"); cc != "private, no-store" {
					t.Fatalf("Cache-Control = %q", cc)
				}
			}
		})
	}
}
