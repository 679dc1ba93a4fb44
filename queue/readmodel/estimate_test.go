package readmodel_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/readmodel"
)

// TestEstimateFromTheLog: two replicas following the same line's log give
// the same estimates, ranges and scores after every step (the estimate
// takes no clock); a waiting ticket's ETA is its range's middle; once
// tickets have been called from a line that waited, the estimate is scored.
func TestEstimateFromTheLog(t *testing.T) {
	settings := queue.Settings{Counters: 2, MaxQueue: 500, MaxTicketsPerClient: 500, HeadWindow: 30 * time.Second, ViewWindow: 60 * time.Second}
	d := newMover(t, settings, 7)
	clk, line := d.clk, d.line
	ctx := context.Background()
	var scores int
	opts := func(count bool) readmodel.Options {
		o := readmodel.Options{Clock: clk, PageSize: 4, HeadWindow: settings.HeadWindow, FlowETA: true,
			Flow: flow.Config{Counters: settings.Counters, ViewWindow: settings.ViewWindow}}
		if count {
			o.Flow.OnScore = func(flow.Score) { scores++ }
		}
		return o
	}
	a, b := readmodel.New(line, opts(true)), readmodel.New(line, opts(false))
	if _, err := a.Estimate(1); !errors.Is(err, readmodel.ErrStale) {
		t.Fatalf("Estimate before the load: %v, want ErrStale", err)
	}
	sawRange := false
	for step := range 600 {
		d.step(ctx, step)
		for _, rep := range []*readmodel.Replica{a, b} {
			if err := rep.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for pos := int64(1); pos <= 12; pos++ {
			ea, errA := a.Estimate(pos)
			eb, errB := b.Estimate(pos)
			if errA != nil || errB != nil || ea != eb {
				t.Fatalf("step %d: position %d: %+v (%v) and %+v (%v)", step, pos, ea, errA, eb, errB)
			}
			if ea.Low > ea.Mid || ea.Mid > ea.High {
				t.Fatalf("step %d: position %d: %+v out of order", step, pos, ea)
			}
		}
		for _, is := range d.issued[max(0, len(d.issued)-20):] {
			ta, _, _ := a.Ticket(is.Ticket.Seq)
			tb, _, _ := b.Ticket(is.Ticket.Seq)
			if !reflect.DeepEqual(ta, tb) {
				t.Fatalf("step %d: %+v and %+v", step, ta, tb)
			}
			if ta.State != queue.StateWaiting {
				continue
			}
			est, _ := a.Estimate(ta.Position)
			if ta.ETA != est.Mid || ta.ETALow != est.Low || ta.ETAHigh != est.High {
				t.Fatalf("step %d: %s at %d shows %v [%v, %v], the estimate is %+v", step, ta.Label, ta.Position, ta.ETA, ta.ETALow, ta.ETAHigh, est)
			}
			sawRange = sawRange || est.Low < est.High
		}
	}
	if !sawRange {
		t.Fatal("no waiting ticket was shown a range")
	}
	ra, rb := a.Accuracy(24*time.Hour), b.Accuracy(24*time.Hour)
	if !reflect.DeepEqual(ra, rb) {
		t.Fatalf("accuracy differs: %+v and %+v", ra, rb)
	}
	if ra.Flow[flow.PointTake].Calls == 0 || scores == 0 {
		t.Fatalf("no call scored (%d scores seen): %+v", scores, ra)
	}
}
