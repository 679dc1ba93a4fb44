package server

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"peer only", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer's XFF ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted peer without XFF", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"trusted peer, one hop", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entries are skipped", "10.1.2.3:5000", []string{"1.2.3.4, 5.6.7.8, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops walked from the right", "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.1, 10.9.9.9, 10.8.8.8"}, "198.51.100.1"},
		{"several XFF headers are one list", "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.1", "10.9.9.9"}, "198.51.100.1"},
		{"all trusted: left-most", "10.1.2.3:5000", []string{"10.7.7.7, 10.9.9.9"}, "10.7.7.7"},
		{"garbage stops at the last valid hop", "10.1.2.3:5000", []string{"198.51.100.1, garbage, 10.9.9.9"}, "10.9.9.9"},
		{"garbage right away keeps the peer", "10.1.2.3:5000", []string{"1.2.3.4, not-an-ip"}, "10.1.2.3"},
		{"empty entry is garbage", "10.1.2.3:5000", []string{"1.2.3.4,"}, "10.1.2.3"},
		{"hop with port", "10.1.2.3:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv6 hop with port", "10.1.2.3:5000", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"IPv6 peer", "[2001:db8::5]:5000", nil, "2001:db8::5"},
		{"IPv6 trusted peer", "[fd00::1]:5000", []string{"2001:db8::9"}, "2001:db8::9"},
		{"IPv4-mapped peer is IPv4", "[::ffff:203.0.113.7]:5000", nil, "203.0.113.7"},
		{"IPv4-mapped trusted peer", "[::ffff:10.1.2.3]:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped hop", "10.1.2.3:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"zone dropped", "[fe80::1%eth0]:5000", nil, "fe80::1"},
		{"no peer", "", nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientIP(tt.remote, tt.xff, trusted).String(); got != tt.want {
				t.Fatalf("clientIP(%q, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct {
		ip   string
		bits int
		want string
	}{
		{"203.0.113.7", 64, "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := clientKey(netip.MustParseAddr(tt.ip), tt.bits); got != tt.want {
				t.Fatalf("clientKey(%s, %d) = %s, want %s", tt.ip, tt.bits, got, tt.want)
			}
		})
	}
	if got := clientKey(netip.Addr{}, 64); got != "unknown" {
		t.Fatalf("clientKey(invalid) = %s", got)
	}
}

func TestConfigTrustedProxiesUnmapped(t *testing.T) {
	cfg, err := Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.TrustedProxies[0].String(); got != "10.0.0.0/8" {
		t.Fatalf("mapped prefix = %s, want 10.0.0.0/8", got)
	}
	for _, bad := range []Config{{IPv6BanPrefix: 129}, {MaxWSPerClient: -1}, {RequestTimeout: -1}, {TrustedProxies: []netip.Prefix{{}}}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestClientKeyThroughEngine checks that bans land on the client the
// engine computes: the real client behind a trusted proxy, not a spoofed
// X-Forwarded-For entry, and the whole IPv6 /64.
func TestClientKeyThroughEngine(t *testing.T) {
	e := newTestServer(t, testOptions{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})

	// Through the proxy, a forger who spoofs XFF gets their real IP banned.
	w := e.redeem("forged", from("10.0.0.1"), header("X-Forwarded-For", "192.0.2.50, 198.51.100.9"))
	wantError(t, w, http.StatusForbidden, "forbidden", false)
	tests := []struct {
		name   string
		opts   []reqOption
		banned bool
	}{
		{"real client via proxy", []reqOption{from("10.0.0.2"), header("X-Forwarded-For", "198.51.100.9")}, true},
		{"real client direct", []reqOption{from("198.51.100.9")}, true},
		{"spoofed left entry is not banned", []reqOption{from("192.0.2.50")}, false},
		{"the proxy itself is not banned", []reqOption{from("10.0.0.1")}, false},
		{"untrusted peer cannot claim the banned IP's ban away", []reqOption{from("198.51.100.9"), header("X-Forwarded-For", "192.0.2.1")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(http.MethodGet, "/api/v1/token", nil, tt.opts...)
			if got := w.Code == http.StatusForbidden; got != tt.banned {
				t.Fatalf("GET /api/v1/token = %d %s, banned want %v", w.Code, w.Body, tt.banned)
			}
		})
	}

	// IPv6: one forger bans its /64, not its neighbours.
	wantError(t, e.redeem("forged", from("2001:db8:0:1::1")), http.StatusForbidden, "forbidden", false)
	for ip, banned := range map[string]bool{
		"2001:db8:0:1::1":           true,
		"2001:db8:0:1:abcd::7":      true,
		"2001:db8:0:2::1":           false,
		"::ffff:198.51.100.9":       true, // IPv4-mapped is the banned IPv4
		"::ffff:198.51.100.10":      false,
		"2001:db8:0:1:ffff:ffff::1": true,
	} {
		w := e.do(http.MethodGet, "/api/v1/token", nil, from(ip))
		if got := w.Code == http.StatusForbidden; got != banned {
			t.Errorf("%s: GET /api/v1/token = %d, banned want %v", ip, w.Code, banned)
		}
	}
}
