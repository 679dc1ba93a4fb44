package flow_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/memline"
)

var t0 = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// steady feeds book a line with counters busy, each counter held exactly
// hold per ticket, from seq 1, for n calls, with waiting tickets kept at
// depth; it returns the next seq and the time reached.
type steady struct {
	book    *flow.Book
	next    uint64 // next seq to take
	head    uint64 // next seq to call
	now     time.Duration
	holding []uint64 // seqs holding a counter, oldest first
}

func newSteady(tb testing.TB, counters int, depth int) *steady {
	tb.Helper()
	s := &steady{book: flow.New(flow.Config{Counters: counters, ViewWindow: time.Minute}), next: 1, head: 1}
	for range counters + depth {
		s.take()
	}
	for s.head < uint64(counters)+1 {
		s.call()
	}
	return s
}

func (s *steady) take() {
	waiting := int64(s.next - s.head) // not yet called
	called := int64(0)
	s.book.Taken(s.next, at(s.now), called+waiting+1)
	s.next++
}

func (s *steady) call() {
	s.book.Called(s.head, at(s.now))
	s.book.Redeemed(s.head, at(s.now))
	s.holding = append(s.holding, s.head)
	s.head++
}

// serve ends the oldest hold after every, and calls the next; a take keeps
// the depth.
func (s *steady) serve(every time.Duration) {
	s.now += every
	s.book.Served(s.holding[0], at(s.now))
	s.holding = s.holding[1:]
	s.take()
	s.call()
}

func near(got, want time.Duration, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)
}

// TestEstimateFollowsCounters: on a line whose counters are each held a
// minute per ticket, the r-th waiting ticket waits about r minutes over the
// counters, and opening a counter shortens every estimate at once.
func TestEstimateFollowsCounters(t *testing.T) {
	s := newSteady(t, 3, 40)
	for range 60 {
		s.serve(20 * time.Second) // 3 counters × 60 s each
	}
	f := s.book.Flow()
	if f.MeanHold != time.Minute || f.CallEvery != 20*time.Second {
		t.Fatalf("flow %+v, want holds of 1m and a call every 20s", f)
	}
	// Mean T(r) = r × 20 s; the median is a little below it.
	r30 := s.book.Estimate(30)
	if !near(r30.Mid, 600*time.Second, 0.05) || !(r30.Low < r30.Mid && r30.Mid < r30.High) {
		t.Fatalf("Estimate(30) = %+v, want a median near 10m inside its range", r30)
	}
	s.book.SetCounters(4, at(s.now))
	r30b := s.book.Estimate(30)
	if ratio := float64(r30b.Mid) / float64(r30.Mid); math.Abs(ratio-0.75) > 0.01 {
		t.Fatalf("a fourth counter made Estimate(30) %v → %v (×%.3f), want ×0.75", r30.Mid, r30b.Mid, ratio)
	}
	if s.book.Estimate(0) != (flow.Range{}) {
		t.Fatal("Estimate(0) is not zero")
	}
}

// TestEstimateAdaptsWithinTheWindow: when service slows from one minute to
// two, the mean hold follows within the window (15 minutes by default).
func TestEstimateAdaptsWithinTheWindow(t *testing.T) {
	s := newSteady(t, 1, 30)
	for range 30 {
		s.serve(time.Minute)
	}
	before := s.book.Estimate(10)
	for range 8 { // 16 minutes of slower holds
		s.serve(2 * time.Minute)
	}
	if f := s.book.Flow(); f.MeanHold != 2*time.Minute {
		t.Fatalf("after 16 minutes of 2m holds the mean hold is %v (%d holds)", f.MeanHold, f.Holds)
	}
	after := s.book.Estimate(10)
	if ratio := float64(after.Mid) / float64(before.Mid); ratio < 1.8 {
		t.Fatalf("Estimate(10) %v → %v: did not follow the slower service", before.Mid, after.Mid)
	}
}

// TestLeaversAheadShortenTheWait: leaves while waiting are measured per
// waiting person and minute, and make the estimate shorter than position ×
// share.
func TestLeaversAheadShortenTheWait(t *testing.T) {
	b := flow.New(flow.Config{Counters: 1, ViewWindow: time.Minute})
	// 20 wait from 0:00 (ticket 1 called at once), the counter is held a
	// minute, and in ten minutes four leave from the back.
	for seq := uint64(1); seq <= 21; seq++ {
		b.Taken(seq, at(0), int64(seq))
	}
	b.Called(1, at(0))
	for m := 1; m <= 10; m++ {
		b.Served(uint64(m), at(time.Duration(m)*time.Minute))
		b.Called(uint64(m+1), at(time.Duration(m)*time.Minute))
		if m%2 == 0 && m <= 8 {
			b.Left(uint64(22-m/2), at(time.Duration(m)*time.Minute))
		}
	}
	f := b.Flow()
	// Waiting person-minutes: 20 for the first minute, then one fewer a
	// minute and four fewer by the leaves: 20+19+17+16+14+13+11+10+8+7 = 135.
	if want := 4.0 / 135; math.Abs(f.LeaveRate-want) > 1e-9 || f.Waiting != 6 {
		t.Fatalf("flow %+v, want %.5f leaves per person-minute and 6 waiting", f, want)
	}
	est := b.Estimate(7) // 6 waiting, 1 called: 6 to go
	if naive := b.Naive(7); est.Mid >= naive {
		t.Fatalf("Estimate(7) %+v, naive %v: leavers ahead should shorten it", est, naive)
	}
}

// TestNaiveIsTheStores: the Book's naive estimate is the store's (memline
// answers the same as the scripts): the same share, learned the same way.
func TestNaiveIsTheStores(t *testing.T) {
	ctx := context.Background()
	clock := &manualClock{now: t0}
	line, err := memline.New(queue.Settings{Counters: 2, HeadWindow: 30 * time.Second, ViewWindow: time.Minute},
		[]byte("flow-test-secret-0123456789abcdef"), clock)
	if err != nil {
		t.Fatal(err)
	}
	b := flow.New(flow.Config{Counters: 2, ViewWindow: time.Minute})
	var tokens []string
	for i := range 6 {
		is, err := line.Take(ctx, "client")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, is.Token)
		b.Taken(is.Ticket.Seq, clock.now, is.Ticket.Position)
		if is.Ticket.State == queue.StateCalled {
			b.Called(is.Ticket.Seq, clock.now)
		}
		if i == 5 {
			if got := b.Naive(is.Ticket.Position); got != is.Ticket.ETA {
				t.Fatalf("before any hold: naive %v, store %v", got, is.Ticket.ETA)
			}
		}
	}
	// Ticket 1 redeems at 0:05 and ends at 0:25 (held 25 s): 3 is called.
	clock.now = t0.Add(5 * time.Second)
	if _, err := line.Redeem(ctx, "client", tokens[0]); err != nil {
		t.Fatal(err)
	}
	b.Redeemed(1, clock.now)
	clock.now = t0.Add(25 * time.Second)
	if err := line.EndViewing(ctx, "client", tokens[0]); err != nil {
		t.Fatal(err)
	}
	b.Served(1, clock.now)
	b.Called(3, clock.now)
	// Ticket 2 never comes: expired at 0:30 (held 30 s): 4 is called.
	clock.now = t0.Add(30 * time.Second)
	if err := line.Advance(ctx); err != nil {
		t.Fatal(err)
	}
	b.Left(2, clock.now)
	b.Called(4, clock.now)
	for _, tok := range tokens[4:] {
		tk, err := line.Status(ctx, "client", tok)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Naive(tk.Position); got != tk.ETA || tk.ETA == 0 {
			t.Fatalf("ticket %s at %d: naive %v, store %v", tk.Label, tk.Position, got, tk.ETA)
		}
	}
}

type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }

// TestScoresAtTheTakeAndTheCheckpoints: a ticket taken eighth in line is
// scored at its call for the prediction made at the take, at four places
// to go (half) and at two (a quarter), each against the wait from then;
// a leaver ahead counts as a place.
func TestScoresAtTheTakeAndTheCheckpoints(t *testing.T) {
	var scores []flow.Score
	b := flow.New(flow.Config{Counters: 1, ViewWindow: time.Minute, OnScore: func(s flow.Score) { scores = append(scores, s) }})
	b.Taken(1, at(0), 1)
	b.Called(1, at(0)) // called at once: never scored
	for seq := uint64(2); seq <= 9; seq++ {
		b.Taken(seq, at(0), int64(seq))
	}
	// Ticket 9 has 8 to go. Calls every 10 s; ticket 4 leaves at 0:25.
	call := func(done, next uint64, d time.Duration) {
		b.Served(done, at(d))
		b.Called(next, at(d))
	}
	call(1, 2, 10*time.Second)
	call(2, 3, 20*time.Second)
	b.Left(4, at(25*time.Second))
	call(3, 5, 30*time.Second) // ticket 9: 4 to go (half) at 0:30
	call(5, 6, 40*time.Second)
	call(6, 7, 50*time.Second) // 2 to go (a quarter) at 0:50
	call(7, 8, 60*time.Second)
	call(8, 9, 70*time.Second)
	want := map[flow.Point]time.Duration{flow.PointTake: 70 * time.Second, flow.PointHalf: 40 * time.Second, flow.PointQuarter: 20 * time.Second}
	got := map[flow.Point]time.Duration{}
	for _, s := range scores {
		if s.Seq == 1 {
			t.Fatal("the ticket called at once was scored")
		}
		if s.Seq != 9 {
			continue
		}
		if s.Estimator == flow.EstimatorFlow {
			got[s.Point] = s.Actual
			if s.AbsError != max(s.Predicted.Mid-s.Actual, s.Actual-s.Predicted.Mid) ||
				s.Inside != (s.Predicted.Low <= s.Actual && s.Actual <= s.Predicted.High) {
				t.Fatalf("inconsistent score %+v", s)
			}
		}
	}
	for p, w := range want {
		if got[p] != w {
			t.Fatalf("ticket 9's %v score: wait %v, want %v (all: %v)", p, got[p], w, got)
		}
	}
	// Every ticket 2..9 but the leaver was scored at the take, by both.
	n := 0
	for _, s := range scores {
		if s.Point == flow.PointTake {
			n++
		}
	}
	if n != 2*7 {
		t.Fatalf("%d take scores, want 14", n)
	}
}

// TestAccuracyWindow: Accuracy counts the calls of the window only.
func TestAccuracyWindow(t *testing.T) {
	b := flow.New(flow.Config{Counters: 1, ViewWindow: time.Minute})
	seq := uint64(0)
	// Two tickets at 9:00, called a minute apart; three more at 11:00.
	batch := func(start time.Duration, n int) {
		first := seq + 1
		for i := range n {
			seq++
			b.Taken(seq, at(start), int64(i+1))
			if i == 0 {
				b.Called(first, at(start))
			}
		}
		for s := first + 1; s <= seq; s++ {
			d := start + time.Duration(s-first)*time.Minute
			b.Served(s-1, at(d))
			b.Called(s, at(d))
		}
		b.Served(seq, at(start+time.Duration(n)*time.Minute))
	}
	batch(0, 2)
	batch(2*time.Hour, 4)
	if got := b.Accuracy(time.Hour).Flow[flow.PointTake].Calls; got != 3 {
		t.Fatalf("last hour: %d calls scored, want 3", got)
	}
	if got := b.Accuracy(24 * time.Hour).Naive[flow.PointTake].Calls; got != 4 {
		t.Fatalf("last day: %d calls scored, want 4", got)
	}
	if got := b.AccuracyAt(at(3*time.Hour+30*time.Minute), time.Hour).Flow[flow.PointTake].Calls; got != 0 {
		t.Fatalf("an hour and more after the last call: %d calls in the last hour, want 0", got)
	}
}

// TestResetDropsTheTracked: after a gap the tickets in flight are not
// scored (their story is lost); the ones taken after are, behind them.
func TestResetDropsTheTracked(t *testing.T) {
	var scored []uint64
	b := flow.New(flow.Config{Counters: 1, OnScore: func(s flow.Score) {
		if s.Estimator == flow.EstimatorFlow && s.Point == flow.PointTake {
			scored = append(scored, s.Seq)
		}
	}})
	b.Taken(1, at(0), 1)
	b.Called(1, at(0))
	b.Taken(2, at(time.Second), 2)
	b.Reset(at(2*time.Second), 1, false, map[uint64]time.Time{1: at(0)}, nil, 1)
	b.Taken(3, at(3*time.Second), 3) // 2 is ahead, untracked; 3 is scored
	b.Left(1, at(4*time.Second))
	b.Called(2, at(4*time.Second))
	b.Left(2, at(5*time.Second))
	b.Called(3, at(5*time.Second))
	b.Taken(4, at(6*time.Second), 2) // 3 called ahead: 4 waits first
	b.Left(3, at(7*time.Second))
	b.Called(4, at(7*time.Second))
	if len(scored) != 2 || scored[0] != 3 || scored[1] != 4 {
		t.Fatalf("scored %v, want tickets 3 and 4", scored)
	}
}

func TestEstimateAllocatesNothing(t *testing.T) {
	s := newSteady(t, 3, 40)
	for range 30 {
		s.serve(20 * time.Second)
	}
	var r flow.Range
	if n := testing.AllocsPerRun(1000, func() { r = s.book.Estimate(25) }); n != 0 {
		t.Fatalf("Estimate allocates %v times", n)
	}
	_ = r
}

func BenchmarkEstimate(b *testing.B) {
	s := newSteady(b, 3, 40)
	for range 30 {
		s.serve(20 * time.Second)
	}
	for i := 0; b.Loop(); i++ {
		s.book.Estimate(int64(i%1000) + 1)
	}
}

// TestAccuracyForgetsPastHistory: scores older than Config.History are
// gone from every window, even when the ring of slots has come round.
func TestAccuracyForgetsPastHistory(t *testing.T) {
	b := flow.New(flow.Config{Counters: 1, History: time.Hour, Slot: 10 * time.Minute})
	b.Taken(1, at(0), 1)
	b.Called(1, at(0))
	b.Taken(2, at(time.Second), 2)
	b.Left(1, at(time.Minute))
	b.Called(2, at(time.Minute)) // scored in the first slot
	if got := b.Accuracy(time.Hour).Flow[flow.PointTake].Calls; got != 1 {
		t.Fatalf("%d calls scored, want 1", got)
	}
	b.Left(2, at(70*time.Minute)) // past History, in the slot the first one held
	if got := b.Accuracy(24 * time.Hour).Flow[flow.PointTake].Calls; got != 0 {
		t.Fatalf("%d calls remembered after History, want 0", got)
	}
}
