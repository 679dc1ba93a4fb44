package redisline

import (
	"context"
	"runtime"
	"testing"

	"github.com/catqms/catqms/internal/testenv"
	"github.com/catqms/catqms/queue/readmodel"
	"github.com/redis/go-redis/v9"
)

// BenchmarkReadModelLoad loads a line of 1,000,000 waiting tickets (one
// seq in ten gone from the middle: people who left) from a real
// redis-server into a read model, the store's pages and the replica's
// work together: what a replica takes to start on a long line. It reports
// the load's time and the replica's memory per waiting ticket (README).
// The line is written straight into the keys (keys.go), not taken ticket
// by ticket: a load reads only the line's keys, not the tickets'.
func BenchmarkReadModelLoad(b *testing.B) {
	const waiting = 1_000_000
	r := testenv.RedisServer(b)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	b.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	prefix := keyPrefix("bench")
	var top uint64
	var batch []redis.Z
	var gone []redis.Z
	flush := func() {
		if len(batch) > 0 {
			if err := rdb.ZAdd(ctx, keyOf(prefix, "line"), batch...).Err(); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		if len(gone) > 0 {
			if err := rdb.ZAdd(ctx, keyOf(prefix, "gone"), gone...).Err(); err != nil {
				b.Fatal(err)
			}
			gone = gone[:0]
		}
	}
	for n := 0; n < waiting; {
		top++
		if top%10 == 5 {
			gone = append(gone, redis.Z{Score: float64(top), Member: top})
		} else {
			batch = append(batch, redis.Z{Score: float64(top), Member: top})
			n++
		}
		if len(batch) == 10_000 {
			flush()
		}
	}
	flush()
	if err := rdb.MSet(ctx, keyOf(prefix, "seq"), top, keyOf(prefix, "head"), 1).Err(); err != nil {
		b.Fatal(err)
	}
	l, err := New(ctx, rdb, Options{Name: "bench", Tick: -1, MaxQueue: 2 * waiting})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	var perTicket float64
	var pages int
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rep := readmodel.New(l, readmodel.Options{})
		if err := rep.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		st := rep.Stats()
		if st.Tickets != waiting {
			b.Fatalf("%d tickets loaded, want %d", st.Tickets, waiting)
		}
		perTicket = float64(after.HeapAlloc-before.HeapAlloc) / waiting
		pages = st.LastPages
		runtime.KeepAlive(rep)
	}
	b.ReportMetric(perTicket, "bytes/waiting")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
	b.ReportMetric(float64(pages), "pages")
}
