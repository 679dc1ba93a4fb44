package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
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
// sent the new line, and with own tickets its own ticket beside it
// (wsSession.accompany). An iteration is one move, until every watcher
// has read the frames it brings. The watchers read their frames raw and
// only count them, so that the process's CPU time, reported per watcher
// per move, is the service's own but for one read per watcher: own less
// line is what showing a watcher its ticket costs the service.
// own-writer has every companion decline the hub owner's call, so that
// the client's writer makes the ticket, as it did before the owner
// made them (hub.Client.Accompany).
func BenchmarkWatchersPerMove(b *testing.B) {
	for _, mode := range []string{"line", "own", "own-writer"} {
		b.Run(mode, func(b *testing.B) { benchWatchers(b, 1000, mode) })
	}
}

func benchWatchers(b *testing.B, n int, mode string) {
	own := mode != "line"
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

	// Each watcher holds ticket 1000+i; after its greeting (and the
	// answer to its watch) it reads the frames of each move: the
	// snapshot, and its ticket beside it.
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/ws"
	perMove := int64(1)
	if own {
		perMove = 2
	}
	var shown sync.WaitGroup
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
		if _, _, err := conn.ReadMessage(); err != nil { // the greeting
			b.Fatal(err)
		}
		if own {
			seq := 1000 + i
			if err := conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"watch","token":"t%d"}`, seq)); err != nil {
				b.Fatal(err)
			}
			_, msg, err := conn.ReadMessage()
			if err != nil || !bytes.Contains(msg, fmt.Appendf(nil, `"position":%d`, seq)) {
				b.Fatalf("watch answered %s, %v", msg, err)
			}
		}
		// Nothing more is sent before the first move: gorilla's buffer
		// is empty, and the rest is read from the socket.
		readers.Go(func() { countFrames(conn.NetConn(), perMove, &shown) })
	}
	if mode == "own-writer" {
		srv.live.mu.Lock()
		for w := range srv.live.watchers {
			w.client.Accompany(func(c *hub.Client, wait bool) bool {
				return wait && w.accompany(c, true)
			})
		}
		srv.live.mu.Unlock()
	}
	var cpu0, cpu1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	b.ResetTimer()
	for b.Loop() {
		view.moves.Add(1)
		shown.Add(n)
		srv.live.refresh()
		shown.Wait()
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	cpu := time.Duration(syscall.TimevalToNsec(cpu1.Utime) + syscall.TimevalToNsec(cpu1.Stime) -
		syscall.TimevalToNsec(cpu0.Utime) - syscall.TimevalToNsec(cpu0.Stime))
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/watcher")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/watcher")
}

// countFrames reads a server's unmasked WebSocket frames from conn and
// marks one move shown (shown.Done) for every perMove frames.
func countFrames(conn net.Conn, perMove int64, shown *sync.WaitGroup) {
	buf := make([]byte, 64<<10)
	var have int // bytes of buf not yet parsed
	var frames int64
	for {
		n, err := conn.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		at := 0
		for {
			// A header: FIN and opcode, then a 7-bit length, or 126 and
			// 16 bits of it (a server's frames here are shorter than 64 KB).
			if have-at < 2 {
				break
			}
			size, head := int(buf[at+1]&0x7f), 2
			if size == 126 {
				if have-at < 4 {
					break
				}
				size, head = int(binary.BigEndian.Uint16(buf[at+2:])), 4
			}
			if have-at < head+size {
				break
			}
			at += head + size
			if frames++; frames%perMove == 0 {
				shown.Done()
			}
		}
		have = copy(buf, buf[at:have])
	}
}
