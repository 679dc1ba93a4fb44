package flow

import (
	"container/heap"
	"math"
	"time"
)

// calibrationStep is how far one scored call moves the interval's width
// multiplier (adaptive conformal inference's learning rate): after a miss
// it grows by e^(0.8·step), after a hit it shrinks by e^(−0.2·step), which
// balance when a fifth miss.
const calibrationStep = 0.05

// predict records the prediction of tracked seq at point p, with r places
// to go, and schedules its next point.
func (b *Book) predict(seq uint64, rec *record, p Point, r int64) {
	rec.preds[p] = prediction{
		set:   true,
		at:    b.now,
		r:     r,
		flow:  b.estimate(r),
		naive: b.Naive(r + int64(len(b.called))),
	}
	rec.next = p + 1
	if rec.next < numPoints {
		if target := b.target(rec, rec.next); target >= 1 && target < r {
			// Places fall by at most one per consumption: check again no
			// sooner than that many consumptions from now.
			heap.Push(&b.checks, check{at: b.consumed + r - target, seq: seq})
		}
	}
}

// target is the places to go at which point p is recorded.
func (b *Book) target(rec *record, p Point) int64 {
	switch p {
	case PointHalf:
		if rec.r0 < 2 {
			return 0
		}
		return (rec.r0 + 1) / 2
	case PointQuarter:
		if rec.r0 < 4 {
			return 0
		}
		return (rec.r0 + 3) / 4
	}
	return 0
}

// checkpoints records the points reached after a consumption.
func (b *Book) checkpoints() {
	for len(b.checks) > 0 && b.checks[0].at <= b.consumed {
		ck := heap.Pop(&b.checks).(check)
		rec := b.records[ck.seq]
		if rec == nil {
			continue // called or gone since
		}
		p := rec.next
		target := b.target(rec, p)
		r := b.placesToGo(ck.seq)
		if r > target {
			heap.Push(&b.checks, check{at: b.consumed + r - target, seq: ck.seq})
			continue
		}
		b.predict(ck.seq, rec, p, r)
	}
}

// untrack stops tracking seq (called or gone) and returns its record.
func (b *Book) untrack(seq uint64) *record {
	rec := b.records[seq]
	if rec == nil {
		return nil
	}
	delete(b.records, seq)
	b.fenAdd(seq, -1)
	b.tracked--
	if b.tracked == 0 {
		b.untrackedAhead, b.overflow = 0, false // the next take starts again
	} else if seq == b.low {
		// Called in order, so the next tracked one is usually next.
		for b.low++; b.records[b.low] == nil; b.low++ {
		}
	}
	return rec
}

// score compares rec's predictions with its call now.
func (b *Book) score(seq uint64, rec *record) {
	for p := range numPoints {
		pr := rec.preds[p]
		if !pr.set {
			continue
		}
		actual := time.Duration(b.now-pr.at) * time.Millisecond
		naive := Range{Low: scale(pr.naive, 1-naiveBand), Mid: pr.naive, High: scale(pr.naive, 1+naiveBand)}
		for e, rg := range [numEstimators]Range{pr.flow, naive} {
			s := Score{
				Seq: seq, Estimator: Estimator(e), Point: p, At: time.UnixMilli(b.now).UTC(),
				Predicted: rg, Actual: actual,
				AbsError: absDur(rg.Mid - actual),
				Inside:   rg.Low <= actual && actual <= rg.High,
			}
			s.APE = float64(s.AbsError) / float64(max(actual, b.cfg.ErrorFloor))
			b.keep(s)
			if s.Estimator == EstimatorFlow {
				w := &b.calibrate[band(pr.r)]
				if s.Inside {
					*w *= math.Exp(-(1 - 0.8) * calibrationStep)
				} else {
					*w *= math.Exp(0.8 * calibrationStep)
				}
				*w = min(max(*w, 0.5), 4)
			}
			if b.cfg.OnScore != nil {
				b.cfg.OnScore(s)
			}
		}
	}
}

func scale(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// ---- where a tracked ticket stands ----

// The Fenwick tree counts the tracked waiting tickets by seq, in a ring of
// Track slots: every tracked seq lies in [low, low+Track).

func (b *Book) fenAdd(seq uint64, d int32) {
	n := len(b.fen) - 1
	for i := int(seq%uint64(n)) + 1; i <= n; i += i & -i {
		b.fen[i] += d
	}
}

func (b *Book) fenPrefix(i int) int64 {
	var s int64
	for ; i > 0; i -= i & -i {
		s += int64(b.fen[i])
	}
	return s
}

// placesToGo is tracked seq's places to go: the untracked ones ahead of
// every tracked one, and the tracked tickets waiting from low to it, itself
// included.
func (b *Book) placesToGo(seq uint64) int64 {
	n := uint64(len(b.fen) - 1)
	lo, hi := int(b.low%n)+1, int(seq%n)+1
	if lo <= hi {
		return b.untrackedAhead + b.fenPrefix(hi) - b.fenPrefix(lo-1)
	}
	return b.untrackedAhead + b.fenPrefix(int(n)) - b.fenPrefix(lo-1) + b.fenPrefix(hi)
}

// check is a pending checkpoint: re-examine seq's record once consumed
// reaches at.
type check struct {
	at  int64
	seq uint64
}

type checkHeap []check

func (h checkHeap) Len() int { return len(h) }
func (h checkHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h checkHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *checkHeap) Push(x any)   { *h = append(*h, x.(check)) }
func (h *checkHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ---- the record of scores ----

// The absolute percentage errors are kept as histograms: 2% bins to 100%,
// 10% bins to 200%, and one bin above.
const apeBins = 50 + 10 + 1

func apeBin(ape float64) int {
	pc := ape * 100
	switch {
	case pc < 100:
		return int(pc / 2)
	case pc < 200:
		return 50 + int((pc-100)/10)
	}
	return apeBins - 1
}

// binEdges returns bin i's lower and upper edge, as fractions.
func binEdges(i int) (float64, float64) {
	switch {
	case i < 50:
		return float64(i) * 0.02, float64(i+1) * 0.02
	case i < 60:
		return 1 + float64(i-50)*0.1, 1 + float64(i-49)*0.1
	}
	return 2, 2
}

func (b *Book) slotAt(ms int64) *slot {
	idx := ms / b.cfg.Slot.Milliseconds()
	s := &b.slots[idx%int64(len(b.slots))]
	if s.idx != idx {
		*s = slot{idx: idx}
	}
	return s
}

func (b *Book) keep(s Score) {
	c := &b.slotAt(b.now).cells[s.Estimator][s.Point]
	c.n++
	if s.Inside {
		c.inside++
	}
	c.bins[apeBin(s.APE)]++
}

// Accuracy reports the scores of the calls in the last window up to the
// last event (window is rounded up to whole Slots, and at most History):
// for each estimator and point, the calls scored, the median absolute
// percentage error and the share inside the range.
func (b *Book) Accuracy(window time.Duration) Report {
	return b.AccuracyAt(time.UnixMilli(b.now), window)
}

// AccuracyAt is Accuracy for the window up to now (never before the last
// event): a line quiet for an hour shows no calls in its last hour.
func (b *Book) AccuracyAt(now time.Time, window time.Duration) Report {
	rep := Report{Window: window}
	slotMs := b.cfg.Slot.Milliseconds()
	cur := max(now.UnixMilli(), b.now) / slotMs
	n := min(int64((window+b.cfg.Slot-1)/b.cfg.Slot), int64(len(b.slots)))
	var sum [numEstimators][numPoints]cell
	for i := range b.slots {
		s := &b.slots[i]
		if s.idx < 0 || s.idx > cur || s.idx <= cur-n {
			continue
		}
		for e := range sum {
			for p := range sum[e] {
				c := &s.cells[e][p]
				sum[e][p].n += c.n
				sum[e][p].inside += c.inside
				for k, v := range c.bins {
					sum[e][p].bins[k] += v
				}
			}
		}
	}
	for p := range numPoints {
		rep.Flow[p] = sum[EstimatorFlow][p].accuracy()
		rep.Naive[p] = sum[EstimatorNaive][p].accuracy()
	}
	return rep
}

func (c *cell) accuracy() Accuracy {
	if c.n == 0 {
		return Accuracy{}
	}
	a := Accuracy{Calls: int64(c.n), Inside: float64(c.inside) / float64(c.n)}
	half := float64(c.n) / 2
	var seen float64
	for i, v := range c.bins {
		if v == 0 {
			continue
		}
		if seen+float64(v) >= half {
			lo, hi := binEdges(i)
			a.MdAPE = lo + (hi-lo)*(half-seen)/float64(v)
			return a
		}
		seen += float64(v)
	}
	return a
}
