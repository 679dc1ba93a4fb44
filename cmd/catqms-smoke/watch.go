package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/catqms/catqms/client"
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
	c      *client.Client
	mu     sync.Mutex
	st     watchStats
	cancel context.CancelFunc // set by start
	done   chan struct{}
}

// newWatcher watches the service at base as the client ip (its
// X-Forwarded-For).
func newWatcher(base, ip string) (*watcher, error) {
	c, err := client.New(base, client.WithHeader("X-Forwarded-For", ip),
		client.WithReconnect(reconnectDelay, reconnectDelay))
	if err != nil {
		return nil, err
	}
	return &watcher{c: c, done: make(chan struct{})}, nil
}

// start watches in a goroutine until ctx ends or stop is called.
func (w *watcher) start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	go func() {
		defer close(w.done)
		var version int64 // the last version on this connection
		_ = w.c.Watch(ctx, "", func(ev client.Event) {
			w.mu.Lock()
			defer w.mu.Unlock()
			switch ev.Kind {
			case client.EventSnapshot:
				w.st.last = "snapshot"
				w.st.snapshots++
				if ev.Snapshot.Version < version && w.st.versionWentBack == "" {
					w.st.versionWentBack = fmt.Sprintf("version went back from %d to %d on one connection", version, ev.Snapshot.Version)
				}
				version = ev.Snapshot.Version
			case client.EventStale:
				w.st.last = "stale"
				w.st.stale++
			case client.EventError:
				w.st.last = "error"
			case client.EventDisconnected:
				w.st.reconnects++
				version = 0 // a new connection may start from another replica's view
			}
		})
	}()
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
