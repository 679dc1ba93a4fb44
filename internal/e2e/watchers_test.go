package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsWatcher is a plain WebSocket client that records the highest snapshot
// version it has seen, and the labels on the board at that version.
type wsWatcher struct {
	conn *websocket.Conn
	mu   sync.Mutex
	ver  int64
	seen map[string]bool // labels of the latest snapshot
	err  error
	done chan struct{}
}

// watch connects a watcher; ip, when set, is its forwarded address (the
// service must trust 127.0.0.1 as a proxy).
func watch(t *testing.T, svc *service, ip string) *wsWatcher {
	t.Helper()
	url := strings.Replace(svc.URL, "http", "ws", 1) + "/api/v1/ws"
	h := http.Header{}
	if ip != "" {
		h.Set("X-Forwarded-For", ip)
	}
	conn, _, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	w := &wsWatcher{conn: conn, ver: -1, done: make(chan struct{})}
	go w.read()
	t.Cleanup(func() { conn.Close(); <-w.done })
	return w
}

func (w *wsWatcher) read() {
	defer close(w.done)
	for {
		_, data, err := w.conn.ReadMessage()
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		var msg struct {
			Type    string `json:"type"`
			Version int64  `json:"version"`
			Serving []struct {
				Ticket string `json:"ticket"`
			} `json:"serving"`
			Called []struct {
				Ticket string `json:"ticket"`
			} `json:"called"`
			Waiting []struct {
				Ticket string `json:"ticket"`
			} `json:"waiting"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			w.mu.Lock()
			w.err = fmt.Errorf("not one JSON object: %q", data)
			w.mu.Unlock()
			return
		}
		if err := contract.CheckServerMessage(data); err != nil {
			w.mu.Lock()
			w.err = fmt.Errorf("the message breaks api/openapi.json: %w", err)
			w.mu.Unlock()
			return
		}
		if msg.Type != "snapshot" {
			continue
		}
		seen := map[string]bool{}
		for _, s := range msg.Serving {
			seen[s.Ticket] = true
		}
		for _, s := range msg.Called {
			seen[s.Ticket] = true
		}
		for _, s := range msg.Waiting {
			seen[s.Ticket] = true
		}
		w.mu.Lock()
		if msg.Version < w.ver {
			w.err = fmt.Errorf("version went back from %d to %d", w.ver, msg.Version)
		}
		w.ver, w.seen = msg.Version, seen
		w.mu.Unlock()
	}
}

func (w *wsWatcher) sees(label string) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[label], w.err
}

// TestTenBrowsersAndAHundredSocketsSeeEveryChange: ten separate browsers
// and a hundred plain WebSocket clients watch one service; every change
// reaches all of them within a second.
func TestTenBrowsersAndAHundredSocketsSeeEveryChange(t *testing.T) {
	svc := startService(t, "--trusted-proxies", "127.0.0.1/32", "--max-tickets-per-ip", "100")
	var browsers []*browser
	for range 10 {
		b := newBrowser(t)
		b.open(svc.URL + "/")
		browsers = append(browsers, b)
	}
	var sockets []*wsWatcher
	for i := range 100 {
		sockets = append(sockets, watch(t, svc, fmt.Sprintf("198.18.0.%d", i+1)))
	}
	c := svc.client("203.0.113.9")
	for change := range 5 {
		label := c.take().str("ticket")
		start := time.Now()
		deadline := start.Add(time.Second)
		for i, w := range sockets {
			for {
				ok, err := w.sees(label)
				if err != nil {
					t.Fatalf("socket %d: %v", i, err)
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("change %d: socket %d did not see %s within 1s", change, i, label)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		for i, b := range browsers {
			left := time.Until(deadline)
			if left < 50*time.Millisecond {
				left = 50 * time.Millisecond
			}
			b.waitJS(fmt.Sprintf("change %d: %s on browser %d", change, label, i), left, onBoard(label))
		}
		t.Logf("change %d (%s) reached 100 sockets and 10 browsers in %v", change, label, time.Since(start))
	}
}
