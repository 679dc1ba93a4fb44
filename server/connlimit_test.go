package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialFrom connects to addr from the local address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// status sends one request on c and returns the answer's status code, or
// 0 when the connection gives none.
func status(t *testing.T, c net.Conn) int {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConnectionLimits: a client address gets MaxConnsPerClient
// connections, the next is answered 429 and closed; the total cap refuses
// with 503, except for a few from the machine itself; closing a
// connection frees its slot; the counts are metrics.
func TestConnectionLimits(t *testing.T) {
	e := newTestServer(t, testOptions{cfg: Config{MaxConns: 6, MaxConnsPerClient: 3,
		TrustedProxies: mustPrefixes("127.0.0.9/32")}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.srv.Handler()}
	go srv.Serve(e.srv.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	var held []net.Conn
	for range 3 {
		c := dialFrom(t, "127.0.0.2", addr)
		if got := status(t, c); got != http.StatusOK {
			t.Fatalf("a connection within the per-client cap: %d", got)
		}
		held = append(held, c)
	}
	over := dialFrom(t, "127.0.0.2", addr)
	_ = over.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the per-client cap: %v, %v", resp, err)
	}
	body := make([]byte, 512)
	n, _ := resp.Body.Read(body)
	if !strings.Contains(string(body[:n]), `"error":"too_many_connections"`) {
		t.Fatalf("refusal body: %s", body[:n])
	}
	// Another address is still served; so is a trusted proxy beyond 3.
	if got := status(t, dialFrom(t, "127.0.0.3", addr)); got != http.StatusOK {
		t.Fatalf("another client: %d", got)
	}
	for range 2 {
		held = append(held, dialFrom(t, "127.0.0.9", addr))
		if got := status(t, held[len(held)-1]); got != http.StatusOK {
			t.Fatalf("a trusted proxy: %d", got)
		}
	}
	// 127.0.0.3's connection is open too: 6 open, the total cap. The
	// machine itself still gets in (its health check), up to loopbackRoom.
	if got := status(t, dialFrom(t, "127.0.0.1", addr)); got != http.StatusOK {
		t.Fatalf("loopback over the total cap: %d", got)
	}
	// Closing frees the slot: 127.0.0.2 may connect again.
	held[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.2", addr)
		got := status(t, c)
		c.Close()
		if got == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection's slot is not freed: %d", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	metrics := e.do(http.MethodGet, "/metrics", nil).Body.String()
	for _, m := range []string{"catqms_connections_open ", "catqms_connections_limit 6", "catqms_connections_refused_total{reason=\"per_client\"} "} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

// TestTotalConnectionCap: over the total cap a client from elsewhere is
// answered 503.
func TestTotalConnectionCap(t *testing.T) {
	lim := newConnLimiter(Config{MaxConns: 2, MaxConnsPerClient: 2, IPv6BanPrefix: 64})
	a, b := mustAddr("198.51.100.1"), mustAddr("198.51.100.2")
	k1, r1 := lim.admit(a)
	_, r2 := lim.admit(b)
	if r1 != "" || r2 != "" {
		t.Fatalf("within the caps: %q %q", r1, r2)
	}
	if _, r := lim.admit(mustAddr("198.51.100.3")); r != "total" {
		t.Fatalf("over the total cap: %q", r)
	}
	// The machine itself gets loopbackRoom more (two per address here).
	for i := range loopbackRoom / 2 {
		for range 2 {
			if _, r := lim.admit(mustAddr(fmt.Sprintf("127.0.1.%d", i))); r != "" {
				t.Fatalf("loopback within its room: %q", r)
			}
		}
	}
	if _, r := lim.admit(mustAddr("127.0.2.1")); r != "total" {
		t.Fatalf("loopback beyond its room: %q", r)
	}
	lim.release(k1)
	if _, r := lim.admit(mustAddr("2001:db8::1")); r != "total" {
		t.Fatalf("the loopback room is not for others: %q", r)
	}
}

func mustAddr(s string) netip.Addr { return parseAddr(s) }

// TestLimitedConnKeepsHalfClose: the wrapper passes CloseWrite through, so
// net/http can still answer a client that is mid-body before hanging up,
// and the socket, so the hub can watch idle WebSockets without a buffer.
func TestLimitedConnKeepsHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn = &limitedConn{Conn: raw, release: func() {}}
	defer c.Close()
	if _, ok := c.(syscall.Conn); !ok {
		t.Fatal("limitedConn hides the socket: the hub's idle WebSockets would each pin a read buffer")
	}
	if _, err := c.(syscall.Conn).SyscallConn(); err != nil {
		t.Fatalf("SyscallConn: %v", err)
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("limitedConn has no CloseWrite")
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
}
