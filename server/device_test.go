package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/catqms/catqms/queue/redisline"
)

// TestSharedNetworkDevices: on a shared network each browser is its own
// client: one device's forged token bans that device alone, and the
// per-client ticket limit counts per device. A client without a cookie is
// keyed by the address, apart from the devices. Elsewhere nothing changes.
func TestSharedNetworkDevices(t *testing.T) {
	e := newTestServer(t, testOptions{
		cfg:  Config{SharedNetworks: mustPrefixes("198.51.100.0/24")},
		line: redisline.Options{MaxTicketsPerClient: 1},
	})
	venue := from("198.51.100.7")
	cookieOf := func() reqOption {
		w := e.do(http.MethodGet, "/api/v1/queue", nil, venue)
		for _, c := range w.Result().Cookies() {
			if c.Name == deviceCookie {
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
					t.Fatalf("device cookie %+v: want HttpOnly, SameSite=Lax", c)
				}
				return header("Cookie", c.Name+"="+c.Value)
			}
		}
		t.Fatal("no device cookie for a client of a shared network")
		return nil
	}
	alice, bob := cookieOf(), cookieOf()

	// One live ticket per client: per device here.
	e.take(venue, alice)
	e.take(venue, bob)
	e.take(venue) // the cookie-less client of the venue
	if w := e.do(http.MethodGet, "/api/v1/token", nil, venue, alice); w.Code != http.StatusTooManyRequests {
		t.Fatalf("alice's second ticket: %d %s", w.Code, w.Body)
	}

	// Bob cheats: bob is banned, alice and the rest of the venue are not.
	if w := e.do(http.MethodDelete, "/api/v1/ticket", nil, venue, bob, bearer("A000")); w.Code != http.StatusForbidden {
		t.Fatalf("bob's forged token: %d %s", w.Code, w.Body)
	}
	if w := e.do(http.MethodGet, "/api/v1/token", nil, venue, bob); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "banned") {
		t.Fatalf("bob after cheating: %d %s", w.Code, w.Body)
	}
	if w := e.do(http.MethodGet, "/api/v1/token", nil, venue, cookieOf()); w.Code != http.StatusOK {
		t.Fatalf("a new visitor at the venue after bob's ban: %d %s", w.Code, w.Body)
	}
	if w := e.do(http.MethodGet, "/api/v1/ticket", nil, venue, alice, bearer("not-even-close")); w.Code != http.StatusForbidden {
		t.Fatalf("alice forging too: %d", w.Code)
	}

	// A made-up or tampered cookie is no device: that client is keyed by
	// the address (and is given a real cookie).
	w := e.do(http.MethodGet, "/api/v1/token", nil, venue, header("Cookie", deviceCookie+"=made-up"))
	if w.Code != http.StatusTooManyRequests { // the cookie-less client's ticket is live
		t.Fatalf("a made-up device cookie: %d %s", w.Code, w.Body)
	}
	if len(w.Result().Cookies()) == 0 {
		t.Fatal("a made-up cookie was not replaced")
	}

	// Outside the shared networks: no cookie, keyed by address.
	if w := e.do(http.MethodGet, "/api/v1/queue", nil, from("203.0.113.9")); len(w.Result().Cookies()) != 0 {
		t.Fatal("a device cookie outside the shared networks")
	}
}

func TestParseDeviceClientKey(t *testing.T) {
	dev := strings.Repeat("ab", 16)
	for in, want := range map[string]string{
		"198.51.100.7~" + dev:     "198.51.100.7~" + dev,
		"2001:DB8::/64~" + dev:    "2001:db8::/64~" + dev,
		"198.51.100.7~xyz":        "",
		"198.51.100.7~" + dev[1:]: "",
		"nonsense~" + dev:         "",
	} {
		got, err := parseClientKey(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("parseClientKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
