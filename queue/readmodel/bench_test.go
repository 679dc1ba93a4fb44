package readmodel

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
)

// pagedLine is a still line of waiting tickets, one in ten gone from the
// middle (people who left), served in pages as a store would.
type pagedLine struct {
	top  uint64
	gone []uint64 // in order
}

func newPagedLine(waiting int) *pagedLine {
	p := &pagedLine{}
	for seq := uint64(1); int(p.top)-len(p.gone) < waiting; seq++ {
		p.top = seq
		if seq%10 == 5 {
			p.gone = append(p.gone, seq)
		}
	}
	return p
}

func (p *pagedLine) LoadPage(_ context.Context, after, _ uint64, limit int) (queue.LinePage, error) {
	page := queue.LinePage{Version: 1, Now: 1, Counters: 1, Head: 1, Top: p.top, Length: int64(p.top) - int64(len(p.gone))}
	i := 0
	for i < len(p.gone) && p.gone[i] <= after {
		i++ // a store's index finds it in O(log n); this is a benchmark's fixture
	}
	page.Gone = p.gone[i:min(len(p.gone), i+limit)]
	return page, nil
}

func (p *pagedLine) ReadLog(context.Context, int64, int, time.Duration) ([]queue.Change, error) {
	return nil, nil
}

// BenchmarkLoadMillionWaiting loads a line of 1,000,000 waiting tickets
// (and 111,111 gone from the middle) from pages of 10,000 departures, and
// reports what the replica's line costs in memory per waiting ticket and
// how long the load takes in the replica (the store's part is measured by
// redisline's BenchmarkReadModelLoad). The README quotes it.
func BenchmarkLoadMillionWaiting(b *testing.B) {
	src := newPagedLine(1_000_000)
	ctx := context.Background()
	var perTicket float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rep := New(src, Options{})
		if err := rep.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		st := rep.Stats()
		if st.Tickets != 1_000_000 {
			b.Fatalf("%d tickets loaded", st.Tickets)
		}
		perTicket = float64(after.HeapAlloc-before.HeapAlloc) / float64(st.Tickets)
		runtime.KeepAlive(rep)
	}
	b.ReportMetric(perTicket, "bytes/waiting")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
}

// BenchmarkTenThousandWatchers is what a live feed pays after a change for
// 10,000 watchers of their own tickets in a line of 1,000,000: one
// Tickets call.
func BenchmarkTenThousandWatchers(b *testing.B) {
	rep := New(newPagedLine(1_000_000), Options{})
	if err := rep.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	seqs := make([]uint64, 10_000)
	for i := range seqs {
		seqs[i] = uint64(i)*97 + 3
	}
	for b.Loop() {
		if _, _, _, err := rep.Tickets(seqs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPositionOfMillionWaiting is one watcher's position in a line
// of 1,000,000: what the live feed pays per watcher per change.
func BenchmarkPositionOfMillionWaiting(b *testing.B) {
	rep := New(newPagedLine(1_000_000), Options{})
	if err := rep.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	seq := uint64(1)
	for b.Loop() {
		seq = seq*7919%1_100_000 + 1
		if _, _, err := rep.Ticket(seq); err != nil {
			b.Fatal(err)
		}
	}
}
