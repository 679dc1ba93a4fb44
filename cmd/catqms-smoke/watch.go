package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// reconnectDelay is the pause before a watcher dials again, as a page would.
const reconnectDelay = 200 * time.Millisecond

// watchStats is what the watcher saw.
type watchStats struct {
	snapshots, stale, reconnects int
	last                         string // type of the last message
	versionWentBack              string // set when a connection saw a version go back
}

// watcher is one WebSocket client on the proxy that reconnects whenever
// its connection ends, as the web page does.
type watcher struct {
	url    string
	ip     string // its X-Forwarded-For
	mu     sync.Mutex
	st     watchStats
	cancel context.CancelFunc // set by start
	done   chan struct{}
}

func newWatcher(base, ip string) *watcher {
	return &watcher{url: strings.Replace(base, "http", "ws", 1) + "/api/v1/ws", ip: ip, done: make(chan struct{})}
}

// start watches in a goroutine until ctx ends or stop is called.
func (w *watcher) start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx)
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	h := http.Header{"X-Forwarded-For": {w.ip}}
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			w.mu.Lock()
			w.st.reconnects++
			w.mu.Unlock()
			if sleep(ctx, reconnectDelay) != nil {
				return
			}
		}
		conn, _, err := websocket.DefaultDialer.DialContext(ctx, w.url, h)
		if err != nil {
			continue
		}
		stopClose := context.AfterFunc(ctx, func() { conn.Close() })
		w.read(conn)
		stopClose()
		conn.Close()
	}
}

// read reads one connection until it ends.
func (w *watcher) read(conn *websocket.Conn) {
	var version int64
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var msg struct {
			Type    string `json:"type"`
			Version int64  `json:"version"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			msg.Type = "not JSON"
		}
		w.mu.Lock()
		w.st.last = msg.Type
		switch msg.Type {
		case "snapshot":
			w.st.snapshots++
			if msg.Version < version && w.st.versionWentBack == "" {
				w.st.versionWentBack = fmt.Sprintf("version went back from %d to %d on one connection", version, msg.Version)
			}
			version = msg.Version
		case "stale":
			w.st.stale++
		}
		w.mu.Unlock()
	}
}

// stop ends the watcher started by start and waits for it.
func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// stats returns what the watcher saw so far.
func (w *watcher) stats() watchStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}
