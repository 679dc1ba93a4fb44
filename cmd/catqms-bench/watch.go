package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// changeLog records when each change was triggered. A change is identified
// by the line length it produces (every change the bench makes adds one
// ticket), so a snapshot of length L shows every change up to L.
type changeLog struct {
	at []atomic.Int64 // UnixNano when change L was triggered, indexed by L
}

func newChangeLog(n int) *changeLog { return &changeLog{at: make([]atomic.Int64, n)} }

// watcher is one WebSocket client that records, for each change, how long
// after its trigger the first message showing it arrived.
type watcher struct {
	conn *websocket.Conn

	mu     sync.Mutex
	next   int64     // the next change it has not yet seen
	seen   []sample  // changes seen since the last collect
	fanout []float64 // ms from the message's "now" to its arrival
	msgs   int64
	dead   bool
}

type sample struct {
	change int64
	ms     float64
}

// watchers is a set of WebSocket clients of one server.
type watchers struct {
	log  *changeLog
	list []*watcher
	wg   sync.WaitGroup
	down atomic.Int64 // connections that ended during the run
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var (
	lengthKey = []byte(`"length":`)
	nowKey    = []byte(`"now":"`)
)

// connectWatchers opens n WebSocket connections to url, from the loopback
// source addresses in turn, each with an X-Forwarded-For of its own (catqms
// trusts 127.0.0.0/8 here and caps connections per client address), and
// waits for each to receive its first message.
func connectWatchers(ctx context.Context, url string, n int, cl *changeLog) (*watchers, error) {
	ws := &watchers{log: cl, list: make([]*watcher, n)}
	const dialers = 32
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range dialers {
		wg.Go(func() {
			for i := range next {
				w, err := dialWatcher(ctx, url, i)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("watcher %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				ws.list[i] = w
				ws.wg.Go(func() { w.read(ws) })
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		ws.close()
		return nil, first
	}
	// Each has its first message (the current snapshot) before we measure.
	deadline := time.Now().Add(30 * time.Second)
	for _, w := range ws.list {
		for {
			w.mu.Lock()
			got := w.msgs
			w.mu.Unlock()
			if got > 0 {
				break
			}
			if time.Now().After(deadline) {
				ws.close()
				return nil, fmt.Errorf("watchers got no first message in 30s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return ws, nil
}

func dialWatcher(ctx context.Context, url string, i int) (*watcher, error) {
	conn, err := dialWS(ctx, url, i, fmt.Sprintf("10.%d.%d.%d", 100+i/65536, (i/256)%256, i%256))
	if err != nil {
		return nil, err
	}
	return &watcher{conn: conn, next: -1}, nil
}

// dialWS opens the i-th client's WebSocket from its loopback source
// address, as client address xff, trying a few times.
func dialWS(ctx context.Context, url string, i int, xff string) (*websocket.Conn, error) {
	nd := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: sourceAddr(i)}}
	d := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 20 * time.Second,
		ReadBufferSize: 2048, WriteBufferSize: 256}
	h := http.Header{}
	h.Set("X-Forwarded-For", xff)
	var lastErr error
	for try := 0; try < 5; try++ {
		conn, resp, err := d.DialContext(ctx, url, h)
		if err == nil {
			return conn, nil
		}
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		lastErr = err
		time.Sleep(time.Duration(50*(try+1)) * time.Millisecond)
	}
	return nil, lastErr
}

func (w *watcher) read(ws *watchers) {
	for {
		_, r, err := w.conn.NextReader()
		if err != nil {
			w.mu.Lock()
			w.dead = true
			w.mu.Unlock()
			ws.down.Add(1)
			return
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = io.Copy(buf, r)
		arrived := time.Now()
		if err == nil {
			w.handle(ws.log, buf.Bytes(), arrived)
		}
		bufPool.Put(buf)
	}
}

// handle notes one message: every change up to its length is now seen.
func (w *watcher) handle(cl *changeLog, msg []byte, arrived time.Time) {
	length := int64(-1)
	if i := bytes.Index(msg, lengthKey); i >= 0 {
		rest := msg[i+len(lengthKey):]
		j := bytes.IndexAny(rest, ",}")
		if j > 0 {
			length, _ = strconv.ParseInt(string(rest[:j]), 10, 64)
		}
	}
	var fan float64 = -1
	if i := bytes.Index(msg, nowKey); i >= 0 {
		rest := msg[i+len(nowKey):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			if t, err := time.Parse(time.RFC3339Nano, string(rest[:j])); err == nil {
				fan = ms(arrived.Sub(t))
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs++
	if fan >= 0 {
		w.fanout = append(w.fanout, fan)
	}
	if length < 0 {
		return
	}
	if w.next < 0 { // the first message: the line as it was
		w.next = length + 1
		return
	}
	for c := w.next; c <= length && c < int64(len(cl.at)); c++ {
		if t := cl.at[c].Load(); t > 0 {
			w.seen = append(w.seen, sample{c, ms(arrived.Sub(time.Unix(0, t)))})
		}
	}
	if length+1 > w.next {
		w.next = length + 1
	}
}

// windowStats is what the watchers saw of changes first…last.
type windowStats struct {
	Watchers   int     `json:"watchers"`
	Changes    int64   `json:"changes"`
	Seconds    float64 `json:"seconds"`
	Messages   int64   `json:"messages"`   // WebSocket messages received
	Deliveries int64   `json:"deliveries"` // (watcher, change) pairs seen
	Expected   int64   `json:"expected"`   // watchers × changes
	Drops      int64   `json:"drops"`      // expected − deliveries
	Down       int64   `json:"connections_lost"`
	MsgsPerS   float64 `json:"messages_per_s"`
	DelivPerS  float64 `json:"deliveries_per_s"`
	P50ms      float64 `json:"p50_ms"` // trigger → first message showing the change
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	FanP50ms   float64 `json:"fanout_p50_ms"` // the message's "now" → arrival
	FanP99ms   float64 `json:"fanout_p99_ms"`
}

// waitSeen waits until every live watcher has seen change last, or until
// the grace period ends.
func (ws *watchers) waitSeen(last int64, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		behind := false
		for _, w := range ws.list {
			w.mu.Lock()
			b := !w.dead && w.next <= last
			w.mu.Unlock()
			if b {
				behind = true
				break
			}
		}
		if !behind {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// collect takes what the watchers recorded since the last collect and
// summarises changes first…last over secs seconds.
func (ws *watchers) collect(first, last int64, secs float64) windowStats {
	st := windowStats{Watchers: len(ws.list), Changes: last - first + 1, Seconds: secs}
	var lat, fan []float64
	for _, w := range ws.list {
		w.mu.Lock()
		for _, s := range w.seen {
			if s.change >= first && s.change <= last {
				lat = append(lat, s.ms)
			}
		}
		fan = append(fan, w.fanout...)
		st.Messages += w.msgs
		w.seen, w.fanout, w.msgs = w.seen[:0], w.fanout[:0], 0
		w.mu.Unlock()
	}
	st.Deliveries = int64(len(lat))
	st.Expected = int64(len(ws.list)) * st.Changes
	st.Drops = st.Expected - st.Deliveries
	st.Down = ws.down.Load()
	st.MsgsPerS = float64(st.Messages) / secs
	st.DelivPerS = float64(st.Deliveries) / secs
	st.P50ms, st.P99ms, st.MaxMs = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	st.FanP50ms, st.FanP99ms = percentile(fan, 50), percentile(fan, 99)
	return st
}

func (ws *watchers) close() {
	for _, w := range ws.list {
		if w != nil {
			_ = w.conn.Close()
		}
	}
	ws.wg.Wait()
}
