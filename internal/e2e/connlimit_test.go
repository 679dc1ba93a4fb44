package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestIdleConnectionFlood: three loopback addresses each open more idle
// keep-alive connections than --max-conns-per-ip allows. Each gets the cap
// and no more (the rest are answered 429 and closed at once), and while
// they hold them another client is served: the line, readiness, a ticket,
// a WebSocket. The refusals are counted in /metrics.
func TestIdleConnectionFlood(t *testing.T) {
	const perIP, tries = 20, 50
	svc := startService(t, "--max-conns-per-ip", fmt.Sprint(perIP))
	counts := map[int]int{}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		for range tries {
			c, err := d.Dial("tcp", svc.Addr)
			if err != nil {
				t.Fatalf("dial from %s: %v", ip, err)
			}
			t.Cleanup(func() { c.Close() })
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			// One request, then the connection stays open and idle, as a
			// browser's keep-alive connection does.
			_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: " + svc.Addr + "\r\n\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				counts[0]++
				continue
			}
			resp.Body.Close()
			counts[resp.StatusCode]++
		}
	}
	if counts[http.StatusOK] != 3*perIP || counts[http.StatusTooManyRequests] != 3*(tries-perIP) {
		t.Fatalf("answers %v; want %d × 200 and %d × 429", counts, 3*perIP, 3*(tries-perIP))
	}

	// Someone else, while the flood holds its connections.
	other := svc.client("")
	for _, path := range []string{"/api/v1/queue", "/readyz", "/api/v1/token"} {
		if r := other.do("GET", path, nil); r.Status != http.StatusOK {
			t.Fatalf("another client's GET %s during the flood: %v", path, r)
		}
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+svc.Addr+"/api/v1/ws", nil)
	if err != nil {
		t.Fatalf("another client's WebSocket during the flood: %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"snapshot"`) {
		t.Fatalf("WebSocket during the flood: %s, %v", msg, err)
	}
	ws.Close()

	metrics := other.do("GET", "/metrics", nil)
	want := fmt.Sprintf(`catqms_connections_refused_total{reason="per_client"} %d`, 3*(tries-perIP))
	if !strings.Contains(string(metrics.Body), want) {
		t.Fatalf("/metrics lacks %q", want)
	}
	if strings.Contains(svc.Log(), "too many open files") {
		t.Fatalf("the process ran out of files:\n%s", svc.Log())
	}
}
