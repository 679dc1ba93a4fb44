package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/memline"
	"github.com/catqms/catqms/queue/readmodel"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestReplicaOfTheModel: a read model following queue/memline's log (what
// server tests without a store run) shows memline's snapshot and every
// ticket's status after every step of a random run, with Run following by
// itself.
func TestReplicaOfTheModel(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	line, err := memline.New(queue.Settings{Counters: 2, MaxQueue: 500, MaxTicketsPerClient: 500}, []byte("replica-test-secret-0123456789"), clk)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep := readmodel.New(line, readmodel.Options{Clock: clk, Block: 50 * time.Millisecond, PageSize: 3, FlowETA: true})
	if _, _, err := rep.Ticket(1); !errors.Is(err, readmodel.ErrStale) {
		t.Fatalf("before the load: %v, want ErrStale", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rep.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	rng := rand.New(rand.NewPCG(5, 6))
	var issued []queue.Issued
	for step := range 400 {
		switch r := rng.IntN(10); {
		case r < 4:
			is, err := line.Take(ctx, fmt.Sprintf("c%d", rng.IntN(9)))
			if err == nil {
				issued = append(issued, is)
			}
		case r < 6 && len(issued) > 0:
			_, _ = line.Redeem(ctx, "x", issued[rng.IntN(len(issued))].Token)
		case r < 7 && len(issued) > 0:
			_ = line.Leave(ctx, "x", issued[rng.IntN(len(issued))].Token)
		case r < 8:
			_, _ = line.SetCounters(ctx, 1+rng.IntN(3))
		default:
			clk.Add(time.Duration(rng.IntN(40)) * time.Second)
			_ = line.Advance(ctx)
		}
		want, err := line.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for rep.Version() != want.Version {
			if time.Now().After(deadline) {
				t.Fatalf("step %d: the replica holds %d, the line is at %d", step, rep.Version(), want.Version)
			}
			time.Sleep(time.Millisecond)
		}
		got, err := rep.Snapshot(queue.SnapshotWaiting)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: snapshot (err %v)\n got %s\nwant %s", step, err, show(got), show(want))
		}
		recent := issued[max(0, len(issued)-30):]
		seqs := make([]uint64, len(recent))
		for i, is := range recent {
			seqs[i] = is.Ticket.Seq
		}
		many, manyLive, at, err := rep.Tickets(seqs)
		if err != nil || at != want.Version {
			t.Fatalf("step %d: Tickets at %d (%v), want %d", step, at, err, want.Version)
		}
		for i, is := range recent {
			one, live, _ := rep.Ticket(is.Ticket.Seq)
			if !reflect.DeepEqual(many[i], one) || manyLive[i] != live {
				t.Fatalf("step %d: Tickets says %+v (%v), Ticket %+v (%v)", step, many[i], manyLive[i], one, live)
			}
		}
		for _, is := range recent {
			w, err := line.Status(ctx, "watcher", is.Token)
			if err != nil {
				t.Fatal(err)
			}
			w.ImageID = ""
			tk, live, err := rep.Ticket(is.Ticket.Seq)
			// The wait is the replica's own (queue/flow), the rest the line's.
			if tk.ETALow > tk.ETA || tk.ETA > tk.ETAHigh || (tk.State != queue.StateWaiting && tk.ETAHigh != 0) {
				t.Fatalf("step %d: %s: wait %v outside its range [%v, %v]", step, is.Ticket.Label, tk.ETA, tk.ETALow, tk.ETAHigh)
			}
			tk.ETA, tk.ETALow, tk.ETAHigh = w.ETA, w.ETALow, w.ETAHigh
			if err != nil || live != w.State.Live() || !reflect.DeepEqual(tk, w) {
				t.Fatalf("step %d: %s: replica %+v (live %v, err %v), line %+v", step, is.Ticket.Label, tk, live, err, w)
			}
		}
	}
	if st := rep.Stats(); st.Loads[readmodel.ReasonStart] != 1 || len(st.Loads) != 1 || st.Entries == 0 {
		t.Fatalf("stats %+v: want one load and entries applied", st)
	}
}
