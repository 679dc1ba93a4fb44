package redisline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/readmodel"
	"github.com/redis/go-redis/v9"
)

// The read model (queue/readmodel) on the store's change log: a long line
// loaded in pages while it changes, and every way the log can break — a
// trim, a wiped store, a restart, a version lifted after a failover — each
// ending with the read model equal to a fresh read of the store.

// readModelOptions allow a long line.
var readModelOptions = Options{MaxQueue: 100_000, MaxTicketsPerClient: 100_000, Counters: 3}

// agree syncs rep and requires it to show what the store shows now: the
// snapshot, and the status of every ticket in issued.
func agree(t *testing.T, f *fixture, rep *readmodel.Replica, issued []queue.Issued) {
	t.Helper()
	if err := rep.Sync(f.ctx); err != nil { // a load may change the line (interleaved)
		t.Fatalf("sync: %v", err)
	}
	want, err := f.line.Snapshot(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Sync(f.ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	got, err := rep.Snapshot(queue.SnapshotWaiting)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read model's snapshot (err %v):\n got %s\nwant %s", err, show(got), show(want))
	}
	reqs := make([]queue.StatusRequest, len(issued))
	for i, is := range issued {
		reqs[i] = queue.StatusRequest{Client: "watcher", Token: is.Token}
	}
	replies, err := f.line.Statuses(f.ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range replies {
		if r.Err != nil {
			t.Fatalf("status of %s: %v", issued[i].Ticket.Label, r.Err)
		}
		tk, live, err := rep.Ticket(issued[i].Ticket.Seq)
		if err != nil {
			t.Fatal(err)
		}
		w := r.Ticket
		w.ImageID = ""
		if live != w.State.Live() || live && !reflect.DeepEqual(tk, w) {
			t.Fatalf("read model's %s: %+v (live %v), store: %+v", w.Label, tk, live, w)
		}
	}
}

// interleaved is a store whose line changes between the pages of a load.
type interleaved struct {
	*Line
	between func()
}

func (s interleaved) LoadPage(ctx context.Context, after, top uint64, limit int) (queue.LinePage, error) {
	if after > 0 {
		s.between()
	}
	return s.Line.LoadPage(ctx, after, top, limit)
}

// TestReadModelLoadsALongLineWhileItChanges: a line of 600 with a third
// gone from the middle, loaded 9 departures a page while every page brings
// takes, leaves, calls and redemptions, equals the store's line.
func TestReadModelLoadsALongLineWhileItChanges(t *testing.T) {
	forEachStore(t, readModelOptions, func(t *testing.T, f *fixture) {
		rng := rand.New(rand.NewPCG(1, 2))
		var issued []queue.Issued
		for i := range 600 {
			issued = append(issued, f.take(fmt.Sprintf("c%d", i%50)))
		}
		leave := func() {
			is := issued[rng.IntN(len(issued))]
			_ = f.line.Leave(f.ctx, "x", is.Token) // a ticket gone already is fine
		}
		for range 200 {
			leave()
		}
		src := interleaved{f.line, func() {
			for range 3 {
				switch rng.IntN(4) {
				case 0:
					issued = append(issued, f.take("late"))
				case 1:
					leave()
				case 2:
					f.advance(time.Duration(rng.IntN(90)) * time.Second) // calls expire, the next are called
				case 3:
					for _, is := range issued[:40] {
						_, _ = f.line.Redeem(f.ctx, "x", is.Token)
					}
				}
			}
		}}
		rep := readmodel.New(src, readmodel.Options{Clock: f.clock, PageSize: 9, Batch: 5})
		if _, err := rep.Snapshot(10); !errors.Is(err, readmodel.ErrStale) {
			t.Fatalf("before the load: %v, want ErrStale", err)
		}
		agree(t, f, rep, issued)
		st := rep.Stats()
		if st.LastPages < 10 || st.Loads[readmodel.ReasonStart] != 1 {
			t.Fatalf("stats %+v: want one load of many pages", st)
		}
		t.Logf("loaded %d tickets in %d pages, %d entries applied", st.Tickets, st.LastPages, st.Entries)
	})
}

// TestReadModelReloadsOnAGap: the log trimmed behind a slow reader, the
// store wiped, and a version lifted past a replica's floor (a failover to
// a replica that lagged) are each a gap: the read model loads the line
// again and shows the store's.
func TestReadModelReloadsOnAGap(t *testing.T) {
	forEachStore(t, readModelOptions, func(t *testing.T, f *fixture) {
		var issued []queue.Issued
		take := func(n int) {
			for i := range n {
				issued = append(issued, f.take(fmt.Sprintf("c%d", i)))
			}
		}
		take(20)
		rep := readmodel.New(f.line, readmodel.Options{Clock: f.clock})
		agree(t, f, rep, issued)

		// A trim under a slow reader.
		take(5)
		f.advance(time.Minute)
		if err := f.rdb.XTrimMaxLen(f.ctx, f.line.logKey, 1).Err(); err != nil {
			t.Fatal(err)
		}
		take(3)
		agree(t, f, rep, issued)
		if n := rep.Stats().Loads[readmodel.ReasonGap]; n != 1 {
			t.Fatalf("after a trim: %d loads for a gap, want 1", n)
		}

		// A wiped store: every ticket is gone; the line starts again.
		held := rep.Version()
		if err := f.rdb.FlushAll(f.ctx).Err(); err != nil {
			t.Fatal(err)
		}
		issued = nil
		take(4)
		agree(t, f, rep, issued)
		if n := rep.Stats().Loads[readmodel.ReasonGap]; n != 2 || rep.Version() <= held {
			t.Fatalf("after a wipe: %d loads for a gap, version %d after %d", n, rep.Version(), held)
		}

		// A failover to a replica that had not seen the last versions: the
		// store's version is behind what the line (and the reader) saw; the
		// next step lifts it past the line's floor.
		take(2)
		if err := rep.Sync(f.ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.rdb.Set(f.ctx, f.line.verKey, rep.Version()-2, 0).Err(); err != nil {
			t.Fatal(err)
		}
		take(1)
		agree(t, f, rep, issued)
		if n := rep.Stats().Loads[readmodel.ReasonGap]; n != 3 {
			t.Fatalf("after a lifted version: %d loads for a gap, want 3", n)
		}
	})
}

// TestReadModelFollowsARestartedStore: a redis-server restarted without
// its data; the reader's connection breaks, and the line it loads again
// is the store's. Run follows by itself, blocking on the log.
func TestReadModelFollowsARestartedStore(t *testing.T) {
	r := testenv.RedisServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	opts := readModelOptions
	opts.Tick = -1
	clock := newFakeClock()
	opts.Clock = clock
	l, err := New(ctx, rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fixture{t: t, ctx: ctx, rdb: rdb, clock: clock, line: l}
	rep := readmodel.New(l, readmodel.Options{Clock: clock, Block: 200 * time.Millisecond, Retry: 20 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rep.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	for i := range 10 {
		f.take(fmt.Sprintf("c%d", i))
	}
	converge := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			want, err := l.Snapshot(ctx)
			got, rerr := rep.Snapshot(queue.SnapshotWaiting)
			if err == nil && rerr == nil && reflect.DeepEqual(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the read model did not converge:\n got %s (%v)\nwant %s (%v)", what, show(got), rerr, show(want), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	converge("following")
	r.Restart(t)
	for i := range 3 {
		for {
			if _, err := l.Take(ctx, fmt.Sprintf("after%d", i)); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // the store is starting
		}
	}
	converge("after the restart")
	if st := rep.Stats(); st.Loads[readmodel.ReasonGap]+st.Loads[readmodel.ReasonError] == 0 {
		t.Fatalf("stats %+v: want a load again after the restart", st)
	}
}

// TestLogIsTrimmedAndASlowReaderReloads: the log keeps about LogLength
// entries (Redis trims in whole nodes of 100), and a read model that fell
// further behind finds a gap and loads the line again.
func TestLogIsTrimmedAndASlowReaderReloads(t *testing.T) {
	opts := readModelOptions
	opts.LogLength = 100
	forEachStore(t, opts, func(t *testing.T, f *fixture) {
		var issued []queue.Issued
		issued = append(issued, f.take("first"))
		rep := readmodel.New(f.line, readmodel.Options{Clock: f.clock})
		agree(t, f, rep, issued)
		for i := range 500 {
			issued = append(issued, f.take(fmt.Sprintf("c%d", i%40)))
		}
		n, err := f.rdb.XLen(f.ctx, f.line.logKey).Result()
		if err != nil || n < 100 || n > 300 {
			t.Fatalf("the log holds %d entries (%v) after 501 changes, want about 100", n, err)
		}
		agree(t, f, rep, issued)
		if st := rep.Stats(); st.Loads[readmodel.ReasonGap] != 1 {
			t.Fatalf("stats %+v: want one load for a gap", st)
		}
	})
}

// TestReadModelOnACluster: on Redis Cluster the log shares the line's
// hash tag (one shard), and a read model loads and follows it there, with
// the line's own follower serving it.
func TestReadModelOnACluster(t *testing.T) {
	cluster := testenv.RedisCluster(t, 3)
	if cluster == nil {
		return
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	clock := newFakeClock()
	opts := readModelOptions
	opts.Clock, opts.Tick = clock, time.Hour // the follower runs; advances are by hand
	l, err := New(ctx, rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fixture{t: t, ctx: ctx, rdb: rdb, clock: clock, line: l}
	var issued []queue.Issued
	for i := range 30 {
		issued = append(issued, f.take(fmt.Sprintf("c%d", i)))
	}
	rep := readmodel.New(l, readmodel.Options{Clock: clock, PageSize: 4})
	agree(t, f, rep, issued)
	_ = f.line.Leave(ctx, "x", issued[7].Token)
	f.advance(2 * time.Minute)
	agree(t, f, rep, issued)
	home, err := cluster.NodeFor(l.logKey)
	if err != nil {
		t.Fatal(err)
	}
	if ver, _ := cluster.NodeFor(l.verKey); ver != home {
		t.Fatalf("the log is on %s, the line on %s", home.Addr, ver.Addr)
	}
}

// TestReadModelFollowsASentinelFailover: the master dies, Sentinel
// promotes its replica; the read model, following by itself, shows the
// new master's line, with no version older than one it showed.
func TestReadModelFollowsASentinelFailover(t *testing.T) {
	master := testenv.RedisServer(t)
	replica := testenv.RedisServer(t, testenv.WithReplicaOf(master))
	sentinels := testenv.StartSentinels(t, master, "mymaster", 3, 1)
	if sentinels == nil {
		return
	}
	rdb, err := Dial(sentinels.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	l, err := New(ctx, rdb, Options{Tick: time.Second, MaxQueue: 1000, MaxTicketsPerClient: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rep := readmodel.New(l, readmodel.Options{Block: 200 * time.Millisecond, Retry: 50 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rep.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	var shown int64 // the highest version the read model showed
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		for {
			select {
			case <-runCtx.Done():
				return
			case <-rep.Changes():
				if s, err := rep.Snapshot(1); err == nil {
					if s.Version < shown {
						t.Errorf("the read model showed version %d after %d", s.Version, shown)
					}
					shown = max(shown, s.Version)
				}
			}
		}
	}()
	t.Cleanup(func() { stop(); <-watch })
	converge := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			want, err := l.Snapshot(ctx)
			got, rerr := rep.Snapshot(queue.SnapshotWaiting)
			// The line's clock and the local one differ by a round trip.
			got.Now = want.Now
			if err == nil && rerr == nil && reflect.DeepEqual(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the read model did not converge:\n got %s (%v)\nwant %s (%v)", what, show(got), rerr, show(want), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range 5 {
		if _, err := l.Take(ctx, fmt.Sprintf("c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	converge("before the failover")
	// Replication is asynchronous: the replica has it all first.
	for waited := time.Now(); ; {
		if n, err := master.Do("WAIT", "1", "200"); err == nil && n == "1" {
			break
		}
		if time.Since(waited) > 10*time.Second {
			t.Fatal("the replica did not acknowledge the writes")
		}
	}
	master.Kill(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := l.Take(ctx, "after"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no take 30s after the master died")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if addr, err := sentinels.MasterAddr(); err != nil || addr != replica.Addr {
		t.Logf("sentinels name %s (%v); the replica is %s", addr, err, replica.Addr)
	}
	converge("after the failover")
	t.Logf("stats after the failover: %+v", rep.Stats())
}
