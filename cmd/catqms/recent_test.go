package main

import (
	"context"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/server"
)

// fakeLog is a change log in memory, with the line's length now.
type fakeLog struct {
	changes []queue.Change
	length  int64
}

func (f *fakeLog) LogRange(_ context.Context, lo, hi int64, count int, newestFirst bool) ([]queue.Change, error) {
	var out []queue.Change
	if newestFirst {
		for i := len(f.changes) - 1; i >= 0 && len(out) < count; i-- {
			if c := f.changes[i]; c.Version >= lo && c.Version <= hi {
				out = append(out, c)
			}
		}
		return out, nil
	}
	for _, c := range f.changes {
		if c.Version >= lo && c.Version <= hi && len(out) < count {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeLog) Stats(context.Context) (queue.Stats, error) {
	return queue.Stats{Length: f.length}, nil
}

func (f *fakeLog) add(at time.Time, evs ...queue.Event) {
	v := int64(len(f.changes) + 1)
	f.changes = append(f.changes, queue.Change{Version: v, Prev: v - 1, Now: at.UnixMilli(), Events: evs})
}

// TestRecentFromTheLog: the stats page's series, rates and waits are the
// log's events, by minute; what was read once is not read again; entries
// older than the span are left out.
func TestRecentFromTheLog(t *testing.T) {
	now := time.Date(2026, 12, 5, 3, 30, 30, 0, time.UTC)
	f := &fakeLog{}
	ev := func(k queue.EventKind, seq uint64) queue.Event { return queue.Event{Kind: k, Seq: seq} }
	f.add(now.Add(-4*time.Hour), ev(queue.EventTaken, 1)) // outside the span
	f.add(now.Add(-10*time.Minute), ev(queue.EventTaken, 2), ev(queue.EventCalled, 2))
	f.add(now.Add(-9*time.Minute), ev(queue.EventTaken, 3))
	f.add(now.Add(-9*time.Minute), ev(queue.EventTaken, 4))
	f.add(now.Add(-8*time.Minute), ev(queue.EventExpired, 2), ev(queue.EventCalled, 3))
	f.add(now.Add(-2*time.Minute), ev(queue.EventRedeemed, 3), ev(queue.EventCalled, 4), ev(queue.EventLeft, 5))
	// Now in line: 4 (called) and 1 (taken before the span); 5, also
	// taken before it, was in line until it left.
	f.length = 2
	r := newRecent(f)
	r.now = func() time.Time { return now }

	got, err := r.Recent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != time.Minute || len(got.Points) != 180 {
		t.Fatalf("step %v, %d points; want a minute, 180", got.Step, len(got.Points))
	}
	want := server.Rates{Window: time.Hour, Calls: 3, NoShows: 1, Taken: 3, Left: 1}
	if got.Rates != want {
		t.Fatalf("rates %+v, want %+v", got.Rates, want)
	}
	last := got.Points[len(got.Points)-1]
	at := func(d time.Duration) server.RecentPoint {
		m := now.Add(-d).Truncate(time.Minute)
		for _, p := range got.Points {
			if p.At.Equal(m) {
				return p
			}
		}
		t.Fatalf("no point at %v", m)
		return server.RecentPoint{}
	}
	// Back from 2 now: -3m before 3 redeemed and 5 left: 4; -9m before 2
	// expired: 5; -10m before 3 and 4 were taken: 3; -11m before 2: 2.
	if last.InLine != 2 || at(2*time.Minute).InLine != 2 || at(3*time.Minute).InLine != 4 ||
		at(9*time.Minute).InLine != 5 || at(10*time.Minute).InLine != 3 || at(11*time.Minute).InLine != 2 {
		t.Fatalf("in line: now %d, -2m %d, -3m %d, -9m %d, -10m %d, -11m %d", last.InLine,
			at(2*time.Minute).InLine, at(3*time.Minute).InLine, at(9*time.Minute).InLine, at(10*time.Minute).InLine, at(11*time.Minute).InLine)
	}
	if p := at(8 * time.Minute); p.Called != 1 || p.NoShows != 1 {
		t.Fatalf("-8m: %+v", p)
	}
	// Waits: 2 waited 0, 3 waited 1m, 4 waited 7m.
	counts := map[time.Duration]int64{}
	for _, w := range got.Waits {
		counts[w.From] = w.Count
	}
	if counts[0] != 1 || counts[time.Minute] != 1 || counts[5*time.Minute] != 1 {
		t.Fatalf("waits %+v", got.Waits)
	}
	if len(got.Accuracy) != 0 {
		t.Fatalf("accuracy %+v without a source", got.Accuracy)
	}

	// More changes: only they are read, and counted once.
	f.add(now.Add(10*time.Second), ev(queue.EventTaken, 6))
	f.length = 3
	got, err = r.Recent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Rates.Taken != 4 || got.Points[len(got.Points)-1].InLine != 3 {
		t.Fatalf("after one more take: %+v, in line %d", got.Rates, got.Points[len(got.Points)-1].InLine)
	}
}
