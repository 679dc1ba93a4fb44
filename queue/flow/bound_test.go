package flow

import (
	"testing"
	"time"
)

// TestMemoryIsBounded: a long line that keeps moving, with leavers, leaves
// the Book holding only what its windows and the waiting tickets need.
func TestMemoryIsBounded(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	b := New(Config{Counters: 2, Track: 64})
	var seq, head uint64 // last taken, last called
	waiting := []uint64{}
	now := time.Duration(0)
	called := []uint64{}
	for step := range 200_000 {
		now += 7 * time.Second
		at := t0.Add(now)
		seq++
		b.Taken(seq, at, int64(len(called)+len(waiting)+1))
		waiting = append(waiting, seq)
		if step%5 == 0 && len(waiting) > 3 { // one in five leaves from the middle
			i := len(waiting) / 2
			b.Left(waiting[i], at)
			waiting = append(waiting[:i], waiting[i+1:]...)
		}
		if step%2 == 1 && len(called) > 0 { // a counter frees every 14 s: the line grows, then is capped
			b.Left(called[0], at)
			called = called[1:]
		}
		for len(called) < 2 && len(waiting) > 0 {
			head = waiting[0]
			waiting = waiting[1:]
			b.Called(head, at)
			called = append(called, head)
		}
		limit := 200 // more than Track: the Book scores none …
		if step > 100_000 {
			limit = 40 // … until the line is shorter
		}
		if len(waiting) > limit {
			b.Left(waiting[len(waiting)-1], at)
			waiting = waiting[:len(waiting)-1]
		}
	}
	if b.holdN > maxHolds || len(b.records) > b.cfg.Track || int(b.tracked) != len(b.records) {
		t.Fatalf("holds %d, records %d, tracked %d (Track %d)", b.holdN, len(b.records), b.tracked, b.cfg.Track)
	}
	if len(b.checks) > 2*len(b.records)+1 {
		t.Fatalf("%d checks pending for %d records", len(b.checks), len(b.records))
	}
	if len(b.called) > 2 || len(b.serving) != 0 {
		t.Fatalf("called %d, serving %d", len(b.called), len(b.serving))
	}
	if a := b.Accuracy(24 * time.Hour); a.Flow[PointTake].Calls == 0 {
		t.Fatalf("nothing scored: tracked %d overflow %v ahead %d waiting %d/%d called %d", b.tracked, b.overflow, b.untrackedAhead, b.waiting, len(waiting), len(b.called))
	}
}
