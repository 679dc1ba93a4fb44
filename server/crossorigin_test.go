package server

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// TestCrossSiteRequestsActForNobody: every state-changing route refuses a
// request another site caused, before the store sees it: no ticket, no
// ban, no count against the take limit. Reads, and requests without the
// browser headers (curl), are served as before.
func TestCrossSiteRequestsActForNobody(t *testing.T) {
	e := newTestServer(t, testOptions{cfg: Config{TakeBurst: 2, AllowedOrigins: []string{"https://kiosk.example"}}})
	token, _ := e.take()
	form := func() (*strings.Reader, reqOption) {
		return strings.NewReader(url.Values{"token": {"forged"}}.Encode()), header("Content-Type", "application/x-www-form-urlencoded")
	}
	foreign := []struct {
		name    string
		headers []reqOption
	}{
		{"cross-site", []reqOption{header("Sec-Fetch-Site", "cross-site"), header("Origin", "https://evil.example")}},
		{"cross-site img (no Origin)", []reqOption{header("Sec-Fetch-Site", "cross-site")}},
		{"same-site", []reqOption{header("Sec-Fetch-Site", "same-site"), header("Origin", "http://example.com:8081")}},
		{"foreign Origin, no Sec-Fetch-Site", []reqOption{header("Origin", "https://evil.example")}},
		{"other scheme", []reqOption{header("Origin", "https://example.com")}},
		{"other port", []reqOption{header("Origin", "http://example.com:8080")}},
		{"null Origin", []reqOption{header("Origin", "null")}},
		{"unknown Sec-Fetch-Site", []reqOption{header("Sec-Fetch-Site", "elsewhere")}},
		{"two Origins", []reqOption{header("Origin", "http://example.com"), header("Origin", "https://evil.example")}},
	}
	routes := []struct {
		method, path string
		body         bool
	}{
		{http.MethodGet, "/api/v1/token", false},
		{http.MethodPost, "/api/v1/kitty", true},
		{http.MethodDelete, "/api/v1/kitty", true},
		{http.MethodDelete, "/api/v1/ticket", true},
	}
	for _, f := range foreign {
		for _, rt := range routes {
			t.Run(f.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				opts := append([]reqOption{}, f.headers...)
				if rt.body {
					body, ct := form()
					rec := e.do(rt.method, "http://example.com"+rt.path, body, append(opts, ct)...)
					checkCrossOrigin(t, rec.Code, decode(t, rec))
				} else {
					rec := e.do(rt.method, "http://example.com"+rt.path, nil, opts...)
					checkCrossOrigin(t, rec.Code, decode(t, rec))
				}
			})
		}
	}
	// Nobody was banned and no ticket was taken: the visitor takes its
	// second ticket (burst 2) and its first is still in line.
	e.take()
	if w := e.do(http.MethodGet, "/api/v1/ticket", nil, bearer(token)); w.Code != http.StatusOK {
		t.Fatalf("the visitor's ticket after the cross-site requests: %d %s", w.Code, w.Body)
	}
	if snap := decode(t, e.do(http.MethodGet, "/api/v1/queue", nil)); snap["length"] != float64(2) {
		t.Fatalf("the line holds %v tickets; want the visitor's 2", snap["length"])
	}
	if strings.Contains(e.logs.String(), "forged token") {
		t.Fatal("a cross-site request banned someone")
	}

	// The same requests from this service's own pages, from an allowed
	// origin, or without browser headers go through.
	own := [][]reqOption{
		{header("Sec-Fetch-Site", "same-origin"), header("Origin", "http://example.com")},
		{header("Sec-Fetch-Site", "none")},
		{header("Origin", "http://example.com")},
		{header("Origin", "http://EXAMPLE.com:80")},
		{header("Sec-Fetch-Site", "cross-site"), header("Origin", "https://kiosk.example")},
		{},
	}
	for i, opts := range own {
		w := e.do(http.MethodDelete, "http://example.com/api/v1/ticket", nil, append(opts, bearer(token))...)
		if w.Code != http.StatusNoContent {
			t.Fatalf("own request %d: %d %s", i, w.Code, w.Body)
		}
	}
	// Reads stay open to any page: a board on another site may show the line.
	if w := e.do(http.MethodGet, "http://example.com/api/v1/queue", nil, header("Sec-Fetch-Site", "cross-site")); w.Code != http.StatusOK {
		t.Fatalf("cross-site read of the queue: %d", w.Code)
	}
}

func checkCrossOrigin(t *testing.T, code int, body map[string]any) {
	t.Helper()
	if code != http.StatusForbidden || body["error"] != "cross_origin" || body["message"] == "" {
		t.Fatalf("got %d %v; want 403 cross_origin", code, body)
	}
}

// TestOwnOriginBehindAProxy: the scheme comes from TLS or from a trusted
// proxy's X-Forwarded-Proto, never from anyone else's.
func TestOwnOriginBehindAProxy(t *testing.T) {
	e := newTestServer(t, testOptions{cfg: Config{TrustedProxies: mustPrefixes("10.0.0.1/32")}})
	cases := []struct {
		peer, proto, origin string
		want                int
	}{
		{"10.0.0.1", "https", "https://example.com", http.StatusNoContent},
		{"10.0.0.1", "https", "http://example.com", http.StatusForbidden},
		{"10.0.0.1", "", "http://example.com", http.StatusNoContent},
		{"198.51.100.1", "https", "https://example.com", http.StatusForbidden}, // not a trusted proxy
		{"198.51.100.1", "https", "http://example.com", http.StatusNoContent},
	}
	for _, c := range cases {
		token, _ := e.take(from(c.peer))
		opts := []reqOption{from(c.peer), bearer(token), header("Origin", c.origin)}
		if c.proto != "" {
			opts = append(opts, header("X-Forwarded-Proto", c.proto))
		}
		if w := e.do(http.MethodDelete, "http://example.com/api/v1/ticket", nil, opts...); w.Code != c.want {
			t.Errorf("peer %s proto %q origin %s: %d %s; want %d", c.peer, c.proto, c.origin, w.Code, w.Body, c.want)
		}
	}
}

// TestWebSocketOriginComparedInFull: https://host may not open the feed of
// http://host, nor host:other-port.
func TestWebSocketOriginComparedInFull(t *testing.T) {
	e := newTestServer(t, testOptions{})
	for _, origin := range []string{"https://example.com", "http://example.com:8081", "http://evil.example"} {
		w := e.do(http.MethodGet, "http://example.com/api/v1/ws", nil,
			header("Origin", origin), header("Connection", "Upgrade"), header("Upgrade", "websocket"),
			header("Sec-WebSocket-Version", "13"), header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))
		if w.Code != http.StatusForbidden || decode(t, w)["error"] != "cross_origin" {
			t.Errorf("WebSocket from %s: %d %s; want 403 cross_origin", origin, w.Code, w.Body)
		}
	}
}

func TestNormalOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://Example.COM":       "http://example.com",
		"http://example.com:80":    "http://example.com",
		"https://example.com:443":  "https://example.com",
		"https://example.com:8443": "https://example.com:8443",
		"http://[::1]:80":          "http://[::1]",
		"http://[::1]:8080":        "http://[::1]:8080",
		"http://example.com/":      "http://example.com",
		"null":                     "",
		"file://":                  "",
		"http://example.com/path":  "",
		"ftp://example.com":        "",
		"http://user@example.com":  "",
	} {
		if got := normalOrigin(in); got != want {
			t.Errorf("normalOrigin(%q) = %q; want %q", in, got, want)
		}
	}
}

func mustPrefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}
