package flow_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/flow/flowsim"
)

var dayStart = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

// dayScores plays the simulated day of seed into a Book and returns the
// scores made at the take, for each estimator.
func dayScores(t *testing.T, seed uint64) (flowScores, naiveScores []flow.Score, b *flow.Book, out flowsim.Outcome) {
	t.Helper()
	sc := flowsim.Day()
	b = flow.New(flow.Config{Counters: sc.Counters, ViewWindow: sc.ViewWindow, OnScore: func(s flow.Score) {
		if s.Point != flow.PointTake {
			return
		}
		if s.Estimator == flow.EstimatorFlow {
			flowScores = append(flowScores, s)
		} else {
			naiveScores = append(naiveScores, s)
		}
	}})
	out, err := flowsim.Run(flowsim.Draw(sc, seed), dayStart, b)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return flowScores, naiveScores, b, out
}

// summary is the median absolute percentage error and the share inside.
func summary(scores []flow.Score) (mdape, inside float64) {
	apes := make([]float64, len(scores))
	in := 0
	for i, s := range scores {
		apes[i] = s.APE
		if s.Inside {
			in++
		}
	}
	slices.Sort(apes)
	n := len(apes)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	mdape = apes[n/2]
	if n%2 == 0 {
		mdape = (apes[n/2-1] + apes[n/2]) / 2
	}
	return mdape, float64(in) / float64(n)
}

// TestSimulatedDay plays the day (flowsim.Day: Poisson arrivals
// with a rush hour, lognormal service, 10% no-shows, about 20% leaving,
// a counter opened and closed, a pause) against memline on a simulated
// clock, with seeds 1 to 10, and holds the
// estimates made at the take to the targets: over all the calls of the ten
// days, a median absolute percentage error of at most 20% and at least 80%
// of the waits inside the range; and on every day, both better than the
// naive estimate's. Single days are logged: some miss a target alone.
func TestSimulatedDay(t *testing.T) {
	var allFlow, allNaive []flow.Score
	for seed := uint64(1); seed <= 10; seed++ {
		fs, ns, b, out := dayScores(t, seed)
		if len(fs) < 200 || len(fs) != len(ns) {
			t.Fatalf("seed %d: %d flow and %d naive scores, want the same, at least 200", seed, len(fs), len(ns))
		}
		leftShare := float64(out.Left) / float64(out.Taken)
		noShowShare := float64(out.NoShows) / float64(out.Taken)
		if leftShare < 0.12 || leftShare > 0.28 || noShowShare < 0.06 || noShowShare > 0.14 {
			t.Errorf("seed %d: the day is not the issue's: %.0f%% left, %.0f%% no-shows", seed, 100*leftShare, 100*noShowShare)
		}
		fm, fi := summary(fs)
		nm, ni := summary(ns)
		t.Logf("seed %2d: %d taken, %.0f%% left, %.0f%% no-shows, longest line %d; %d scored: flow MdAPE %.1f%% inside %.1f%%, naive MdAPE %.1f%% inside %.1f%%",
			seed, out.Taken, 100*leftShare, 100*noShowShare, out.MaxWaiting, len(fs), 100*fm, 100*fi, 100*nm, 100*ni)
		if fm >= nm {
			t.Errorf("seed %d: flow MdAPE %.3f not better than naive %.3f", seed, fm, nm)
		}
		if fi <= ni {
			t.Errorf("seed %d: flow inside %.3f not better than naive %.3f", seed, fi, ni)
		}
		// The Book's own record (histograms) agrees with the scores.
		rep := b.Accuracy(24 * time.Hour)
		if rep.Flow[flow.PointTake].Calls != int64(len(fs)) || math.Abs(rep.Flow[flow.PointTake].MdAPE-fm) > 0.02 ||
			math.Abs(rep.Flow[flow.PointTake].Inside-fi) > 1e-9 {
			t.Errorf("seed %d: Accuracy %+v, scores say %d calls, MdAPE %.3f, inside %.3f", seed, rep.Flow[flow.PointTake], len(fs), fm, fi)
		}
		for _, pt := range []flow.Point{flow.PointHalf, flow.PointQuarter} {
			t.Logf("         at %-7v: %d scored: flow MdAPE %.1f%% inside %.1f%%, naive MdAPE %.1f%% inside %.1f%%", pt, rep.Flow[pt].Calls,
				100*rep.Flow[pt].MdAPE, 100*rep.Flow[pt].Inside, 100*rep.Naive[pt].MdAPE, 100*rep.Naive[pt].Inside)
		}
		allFlow, allNaive = append(allFlow, fs...), append(allNaive, ns...)
	}
	fm, fi := summary(allFlow)
	nm, ni := summary(allNaive)
	t.Logf("all %d calls: flow MdAPE %.1f%% inside %.1f%%; naive MdAPE %.1f%% inside %.1f%%", len(allFlow), 100*fm, 100*fi, 100*nm, 100*ni)
	if fm > 0.20 {
		t.Errorf("flow MdAPE over ten days %.3f, want ≤ 0.20", fm)
	}
	if fi < 0.80 {
		t.Errorf("flow inside over ten days %.3f, want ≥ 0.80", fi)
	}
}

// TestSimulatedDayDeterministic: two Books fed the same day give the same
// scores, the same record and the same estimates.
func TestSimulatedDayDeterministic(t *testing.T) {
	fa, na, ba, _ := dayScores(t, 3)
	fb, nb, bb, _ := dayScores(t, 3)
	if !slices.Equal(fa, fb) || !slices.Equal(na, nb) {
		t.Fatal("the same events gave different scores")
	}
	if ba.Accuracy(time.Hour) != bb.Accuracy(time.Hour) || ba.Accuracy(24*time.Hour) != bb.Accuracy(24*time.Hour) {
		t.Fatal("the same events gave different records")
	}
	for p := int64(1); p <= 200; p++ {
		if ba.Estimate(p) != bb.Estimate(p) {
			t.Fatalf("Estimate(%d) differs", p)
		}
	}
}
