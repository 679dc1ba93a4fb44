package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/readmodel"
)

// stillLine is a line of waiting tickets 1…top that never changes, loaded
// in one page: the read model's source for movingView.
type stillLine struct{ top uint64 }

func (l stillLine) LoadPage(context.Context, uint64, uint64, int) (queue.LinePage, error) {
	return queue.LinePage{Version: 1, Now: time.Now().UnixMilli(), Share: 60_000, Counters: 1,
		Head: 1, Top: l.top, Length: int64(l.top)}, nil
}

func (stillLine) ReadLog(context.Context, int64, int, time.Duration) ([]queue.Change, error) {
	return nil, nil
}

// movingView is a real read model of a still line whose head moves by
// hand, as S7's moves move it: each move takes one ticket off the head, so
// the line's length and every ticket's position drop by one and the
// version goes up.
type movingView struct {
	*readmodel.Replica
	moves   atomic.Int64
	changes chan struct{}
}

func (v *movingView) Snapshot(limit int) (queue.Snapshot, error) {
	snap, err := v.Replica.Snapshot(limit)
	m := v.moves.Load()
	snap.Version += m
	snap.Length -= m
	return snap, err
}

func (v *movingView) Ticket(seq uint64) (queue.Ticket, bool, error) {
	t, live, err := v.Replica.Ticket(seq)
	m := v.moves.Load()
	t.Version += m
	t.Position -= m
	return t, live, err
}

func (v *movingView) Changes() <-chan struct{} { return v.changes }

// viewLine answers a watch request (Status) from the view: the token
// "t<seq>" is ticket seq's.
type viewLine struct {
	stubLine
	view *movingView
}

func (l viewLine) Status(_ context.Context, _, token string) (queue.Ticket, error) {
	seq, err := strconv.ParseUint(strings.TrimPrefix(token, "t"), 10, 64)
	if err != nil {
		return queue.Ticket{}, queue.Errorf(queue.CodeNotFound, "no such ticket")
	}
	t, _, err := l.view.Ticket(seq)
	return t, err
}

// BenchmarkWatchersPerMove is S7's fan-out in one process: after each
// move of the head, every one of 1,000 WebSocket watchers on loopback is
// sent the new line, and in the own-ticket case its own ticket beside it
// (wsSession.accompany). An iteration is one move, until every watcher
// has read the snapshot that shows it (and, own ticket, its ticket's new
// position first). It reports the process's CPU time per watcher per
// move, the watchers' reading included (they are in the same process, as
// the bench's share one core with Redis); the own-ticket case less the
// line-only one is what showing a watcher its ticket costs.
func BenchmarkWatchersPerMove(b *testing.B) {
	for _, own := range []bool{false, true} {
		name := "line"
		if own {
			name = "own"
		}
		b.Run(name, func(b *testing.B) { benchWatchers(b, 1000, own) })
	}
}

func benchWatchers(b *testing.B, n int, own bool) {
	rep := readmodel.New(stillLine{top: 1_000_000}, readmodel.Options{FlowETA: true})
	if err := rep.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	view := &movingView{Replica: rep, changes: make(chan struct{}, 1)}
	h := hub.New(hub.Config{}, nil)
	defer h.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The feed's resync is an hour: the benchmark makes every refresh.
	srv, err := newServer(Config{TakeRate: rate.Inf, MaxWSPerClient: 100_000},
		Deps{Line: viewLine{view: view}, View: view, Images: kitty.Builtin(), Hub: h, Logger: logger}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	<-srv.live.spoken // the feed's first snapshot: from now on only this goroutine refreshes

	// Each watcher holds ticket 1000+i (positions from 1000 on) and
	// reports the move its messages show: a snapshot of length L shows
	// top − L moves, its ticket at position P shows pos0 − P.
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/ws"
	var shown sync.WaitGroup
	var want atomic.Int64 // the move every watcher is to show
	var failed atomic.Value
	conns := make([]*websocket.Conn, n)
	var readers sync.WaitGroup
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
		readers.Wait()
	}()
	for i := range n {
		conn, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = conn
		seq := int64(1000 + i)
		watched := make(chan struct{})
		readers.Go(func() { watcherReads(conn, seq, own, &want, &shown, watched, &failed) })
		if own {
			if err := conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"watch","token":"t%d"}`, seq)); err != nil {
				b.Fatal(err)
			}
			<-watched
		}
	}
	var cpu0, cpu1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	b.ResetTimer()
	for b.Loop() {
		m := view.moves.Add(1)
		want.Store(m)
		shown.Add(n)
		srv.live.refresh()
		shown.Wait()
		if f := failed.Load(); f != nil {
			b.Fatal(f)
		}
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	cpu := time.Duration(syscall.TimevalToNsec(cpu1.Utime) + syscall.TimevalToNsec(cpu1.Stime) -
		syscall.TimevalToNsec(cpu0.Utime) - syscall.TimevalToNsec(cpu0.Stime))
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/watcher")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/watcher")
}

// watcherReads reads one watcher's messages and marks shown done once the
// snapshot showing move want has come (own: after its ticket showed it).
func watcherReads(conn *websocket.Conn, seq int64, own bool, want *atomic.Int64, shown *sync.WaitGroup, watched chan struct{}, failed *atomic.Value) {
	const top = 1_000_000
	var seen, ticketSeen int64 // the moves shown so far
	first := true
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(msg, []byte(`{"type":"ticket"`)):
			p := benchIntField(msg, `"position":`)
			ticketSeen = seq - p
			if first {
				first = false
				close(watched)
			}
		case bytes.HasPrefix(msg, []byte(`{"type":"snapshot"`)):
			m := top - benchIntField(msg, `"length":`)
			if m <= seen || m != want.Load() {
				continue // the greeting, or the snapshot of the watch's answer
			}
			seen = m
			if own && ticketSeen != m {
				failed.Store(fmt.Errorf("ticket %d shows move %d beside the snapshot of move %d", seq, ticketSeen, m))
			}
			shown.Done()
		}
	}
}

// benchIntField is the integer after key in msg, or -1.
func benchIntField(msg []byte, key string) int64 {
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return -1
	}
	rest := msg[i+len(key):]
	j := bytes.IndexAny(rest, ",}")
	if j <= 0 {
		return -1
	}
	v, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v
}
