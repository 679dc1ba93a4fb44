// Package flow estimates how long a ticket will wait from the line's own
// recent flow, as a range, and scores every estimate against the wait that
// happened. It is pure computation: a Book is fed the line's events in the
// order of the change log (taken, called, redeemed, served, left, counters,
// paused) and answers from them alone, so every replica that reads the same
// log gives the same estimates and the same scores.
//
// # Feeding a Book
//
// One Book per line, fed every event once, in log order, with the time the
// store gave it. With the change log's event letters (lua/lib.lua):
//
//	t  taken            Taken(seq, at, position) — the ticket's position once in line
//	c  called           Called(seq, at) — after the t of the same step, if any
//	r  redeemed         Redeemed(seq, at)
//	s S e  served       Served(seq, at) — by its holder, its time, an operator
//	l m b B x k         Left(seq, at) — left, banned out, expired, skipped
//	N  counters set     SetCounters(n, at)
//	P U                 SetPaused(true/false, at)
//	W V, a gap, reload  Reset(at, counters, paused, called, serving, waiting)
//
// then ask Estimate(position) for each watcher, Naive(position) for the
// store's estimate, Accuracy(time.Hour) and Accuracy(24*time.Hour) for the
// stats, and register MetricAbsError and MetricInRange as histograms fed by
// Config.OnScore. The Book keeps its own count of the called tickets (a
// ticket's places to go are its position less them), so it must see every
// call and every end of a call; a Book started mid-line learns the rest
// within a head window, or at once from Reset.
//
// # The estimator
//
// A waiting ticket at position p, with k tickets called ahead of it, has
// r = p − k tickets to go (itself included). It is called when r places have
// been consumed: each call takes one (the head), and each ticket ahead of it
// that leaves while waiting takes one. While anyone waits, every counter is
// busy and a freed counter calls at once, so calls come at
//
//	μ = c / H
//
// where c is the counters and H the mean time a counter is held for one
// ticket (from its call to its end: served, no-show expiry, or leaving while
// called), measured over the recent holds (see Config.Window). People ahead
// leave at a hazard h per waiting person per unit of time, measured over the
// same window as leaves while waiting over waiting person-time. With a ahead
// and a' = −μ − h·a (the fluid limit), the last one ahead goes at
// t1 = ln(1 + h·(r−1)/μ) / h (t1 = (r−1)/μ when h = 0), and the ticket is
// called one call later:
//
//	T(r) = ln(1 + h·(r−1)/μ) / h + 1/μ
//
// T is a mean. The spread around it has three parts, added as variances:
// the service times (n = μ·T calls are needed; with holds of standard
// deviation s on c counters the n-th call's time varies as n·s²/c², the
// renewal-process limit), who leaves (the leavers ahead are binomial over
// the r−1 ahead), and the flow itself changing during the wait or being
// mis-measured (RateError·T, and the mean of few holds: H's standard error).
// The wait is taken as lognormal with that mean and variance — waits are
// positive and right-skewed — and Estimate answers its median (Mid, which
// minimises the absolute error) and its 10th and 90th percentiles (Low,
// High): an 80% interval, the target share of calls inside. Finally
// the interval's width is calibrated by the line's own record, as adaptive
// conformal inference does, in bands of places to go (1, 2–3, 4–7, …: a
// short wait and a long one miss for different reasons): after each scored
// call the band's width multiplier grows when the wait fell outside and
// shrinks when it fell inside, in the ratio that holds 80% inside.
//
// Before any counter has been freed, H is the view window, as the store's
// own estimate assumes. Holds are measured over Config.Window (15 minutes;
// at least the last 8 holds): a slower or faster service shows within the
// window, while a counter opened or closed changes μ at once, and a rush
// (more arrivals) changes nothing ahead of a waiting ticket — only its
// position.
//
// This is the naive estimate (position × share, where share is a moving
// average of the holds over the counters, queue.WaitETA) with what it
// leaves out put back: the people
// ahead who leave (a fifth of a line leaving makes the naive estimate a
// fifth too long), a windowed mean instead of a five-sample moving average
// of a long-tailed time, and the variability, which gives the range.
// Pausing a line stops only taking (the store keeps calling), so a pause
// changes no estimate; the Book notes it and nothing more.
//
// # Scoring
//
// For each ticket it sees taken, the Book records three predictions: at the
// take, when the ticket's places to go first fall to half of those at the
// take, and to a quarter (the Points). When the ticket is called it compares
// each with the wait that followed the prediction: the absolute error of Mid,
// the absolute percentage error (over max(wait, Config.ErrorFloor), so that a
// few seconds' wait does not count as a 1,000% miss), and whether the wait
// fell inside [Low, High]. The naive estimate is scored the same way beside
// it (a point; it counts as inside when within ±20%, the error the target
// allows). Tickets called at once (never waiting) and tickets that leave are
// not scored. Config.OnScore hands each score to metrics as it happens; the
// Book keeps histograms of the scores in slots of Config.Slot for
// Config.History, from which Accuracy reports the median absolute
// percentage error and the share inside over any recent window.
//
// # Cost
//
// Estimate is O(1) and allocates nothing. An event is O(log n) in the
// tickets tracked. Memory is bounded: a ring of recent holds, a ring of
// time buckets for the leaves, the score slots, and one record and one
// counter per waiting ticket it scores (at most Config.Track).
//
// A Book is not safe for concurrent use: its owner feeds events and asks
// for estimates under one lock. Estimate and Accuracy only read, so they
// may run together while no event is being applied.
package flow

import (
	"math"
	"math/bits"
	"time"
)

// Metric names for the scores (Config.OnScore): the server registers them
// as Prometheus histograms labelled estimator (EstimatorFlow.String(),
// EstimatorNaive.String()) and point (the Point's String()). Suggested
// buckets: 5 s to about 40 min doubling for the error; {0.5} for the
// in-range one, whose sum over its count is the share inside.
const (
	// MetricAbsError is the absolute error of an estimate's Mid, seconds.
	MetricAbsError = "catqms_wait_estimate_abs_error_seconds"
	// MetricInRange observes 1 when the wait fell inside the estimate's
	// range and 0 when not: its sum over its count is the share inside.
	MetricInRange = "catqms_wait_estimate_in_range"
)

// DefaultWindow is how far back a Book measures the flow unless told
// (Config.Window): long enough to hold a dozen holds of a slow counter,
// short enough to follow a rush within it.
const DefaultWindow = 15 * time.Minute

// Config sets a Book. Zero fields take the defaults shown.
type Config struct {
	// Counters is the line's counters when the Book starts (1).
	Counters int
	// ViewWindow is the line's viewing window: the naive estimate's share
	// before any counter has been freed, as in the store (60s).
	ViewWindow time.Duration
	// Window is how far back the flow is measured: holds completed and
	// leaves in the last Window (15m); at least the last 8 holds are kept
	// however old, at most 256.
	Window time.Duration
	// RateError is the relative drift of the flow allowed for during a
	// wait (0.2: a counter opened or closed among three to five moves the
	// flow by a fifth to a third; adaptive calibration corrects the rest).
	RateError float64
	// ErrorFloor is the least wait an absolute percentage error is taken
	// over (30s).
	ErrorFloor time.Duration
	// Track is the most waiting tickets scored at once; tickets taken
	// while more wait are estimated but not scored (65,536; a power of
	// two is used, rounded up).
	Track int
	// History is how long scores are kept for Accuracy (24h), in slots of
	// Slot (5m).
	History, Slot time.Duration
	// OnScore, when set, receives every score as the ticket is called,
	// in the order of the events.
	OnScore func(Score)
}

func (c Config) withDefaults() Config {
	if c.Counters < 1 {
		c.Counters = 1
	}
	if c.ViewWindow <= 0 {
		c.ViewWindow = 60 * time.Second
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.RateError <= 0 {
		c.RateError = 0.2
	}
	if c.ErrorFloor <= 0 {
		c.ErrorFloor = 30 * time.Second
	}
	if c.Track <= 0 {
		c.Track = 1 << 16
	}
	c.Track = 1 << bitsFor(c.Track)
	if c.Slot <= 0 {
		c.Slot = 5 * time.Minute
	}
	if c.History <= 0 {
		c.History = 24 * time.Hour
	}
	c.History = max(c.History, c.Slot)
	return c
}

func bitsFor(n int) uint {
	var b uint
	for 1<<b < n {
		b++
	}
	return b
}

// Range is a wait estimate: the median wait and an 80% interval around it
// (the 10th and 90th percentiles). All zero for a ticket already called.
type Range struct {
	Low, Mid, High time.Duration
}

// Estimator names who made an estimate.
type Estimator int

// The estimators a Book scores.
const (
	EstimatorFlow  Estimator = iota // this package's Range
	EstimatorNaive                  // position × share (queue.WaitETA), as the store answers today
	numEstimators
)

// String returns "flow" or "naive", the metrics' label.
func (e Estimator) String() string {
	if e == EstimatorNaive {
		return "naive"
	}
	return "flow"
}

// Point is when, in a ticket's wait, an estimate was made.
type Point int

// The points at which a Book records a prediction for each ticket.
const (
	PointTake    Point = iota // when the ticket was taken
	PointHalf                 // when its places to go first fell to half those at the take
	PointQuarter              // ... and to a quarter
	numPoints
)

// String returns "take", "half" or "quarter", the metrics' label.
func (p Point) String() string {
	switch p {
	case PointHalf:
		return "half"
	case PointQuarter:
		return "quarter"
	}
	return "take"
}

// Score is one prediction compared with the wait that followed it.
type Score struct {
	Seq       uint64 // the ticket
	Estimator Estimator
	Point     Point
	At        time.Time     // when the ticket was called
	Predicted Range         // the naive estimate has Low = Mid×0.8, High = Mid×1.2
	Actual    time.Duration // from the prediction to the call
	AbsError  time.Duration // |Predicted.Mid − Actual|
	APE       float64       // AbsError / max(Actual, ErrorFloor)
	Inside    bool          // Low ≤ Actual ≤ High
}

// Accuracy is how the estimates of one estimator at one point fared.
type Accuracy struct {
	Calls  int64   // scores counted
	MdAPE  float64 // median absolute percentage error, as a fraction (0.15 = 15%)
	Inside float64 // share of the calls whose wait fell inside the range
}

// Report is Accuracy for both estimators at every point, over one window.
type Report struct {
	Window time.Duration
	Flow   [numPoints]Accuracy
	Naive  [numPoints]Accuracy
}

// naiveBand is the half-width, relative, of the band around the naive point
// estimate that counts as inside: the error the 20% target allows.
const naiveBand = 0.2

// z80 is the standard normal's 90th percentile: Low and High are the
// lognormal's 10th and 90th.
const z80 = 1.2815515655446004

const (
	minHolds = 8
	maxHolds = 256
	buckets  = 16 // leave-hazard buckets per Window
)

type hold struct{ at, ms int64 }

type bucket struct {
	idx      int64 // bucket number (ms / width); which one it holds
	leaves   int64
	personMs float64 // waiting people × ms
}

// record is what the Book keeps for a waiting ticket it scores.
type record struct {
	r0    int64 // places to go at the take
	next  Point // the next point to record
	preds [numPoints]prediction
}

type prediction struct {
	set   bool
	r     int64 // places to go
	at    int64 // ms
	flow  Range
	naive time.Duration
}

// Book follows one line's flow and keeps its estimates' scores.
type Book struct {
	cfg Config

	now      int64 // the last event's time, Unix ms
	started  bool
	counters int
	paused   bool
	waiting  int64 // tickets waiting (not called)
	called   map[uint64]int64
	serving  map[uint64]int64 // redeemed: seq → called at, ms

	holds      [maxHolds]hold
	holdFirst  int // index of the oldest hold in the window
	holdN      int
	holdSum    float64
	holdSumSq  float64
	naiveEWMA  int64 // the store's held_ewma, ms
	naiveSeen  bool
	bucketMs   int64
	leaveRing  [buckets]bucket
	calibrate  [widthBands]float64 // the interval's width multiplier, by places to go
	consumed   int64               // calls plus leaves while waiting, ever
	derivedMu  float64             // calls per ms
	derivedH   float64             // leaves per waiting person per ms
	derivedS2  float64             // hold variance, ms²
	derivedSE2 float64             // variance of the hold mean's estimate, relative²

	// Scoring: the waiting tickets tracked, in a Fenwick tree over their
	// seqs (a ring of Track slots) that gives each one's places to go. The
	// line is: untrackedAhead tickets (waiting when tracking started), the
	// tracked ones, then, once overflow is set, untracked ones behind.
	records        map[uint64]*record
	fen            []int32
	low            uint64 // lowest tracked waiting seq (when tracked > 0)
	tracked        int64
	untrackedAhead int64
	overflow       bool
	checks         checkHeap

	slots []slot
}

type slot struct {
	idx   int64
	cells [numEstimators][numPoints]cell
}

type cell struct {
	n, inside uint32
	bins      [apeBins]uint32
}

// New returns an empty Book.
func New(cfg Config) *Book {
	cfg = cfg.withDefaults()
	b := &Book{
		cfg:      cfg,
		counters: cfg.Counters,
		called:   map[uint64]int64{},
		serving:  map[uint64]int64{},
		records:  map[uint64]*record{},
		fen:      make([]int32, cfg.Track+1),
		bucketMs: max(cfg.Window.Milliseconds()/buckets, 1),
		slots:    make([]slot, int((cfg.History+cfg.Slot-1)/cfg.Slot)),
	}
	for i := range b.slots {
		b.slots[i].idx = -1
	}
	for i := range b.calibrate {
		b.calibrate[i] = 1
	}
	for i := range b.leaveRing {
		b.leaveRing[i].idx = -1
	}
	b.derive()
	return b
}

// ---- events ----

// Taken records that ticket seq was taken at at and stood at position
// (1-based, the called tickets ahead of it included) once in line. A ticket
// called in the same step is reported taken, then Called.
func (b *Book) Taken(seq uint64, at time.Time, position int64) {
	b.step(at)
	r0 := position - int64(len(b.called))
	b.waiting = max(r0, 1) // every take tells the Book how many wait
	if r0 >= 1 && b.trackable(seq, r0) {
		b.fenAdd(seq, 1)
		if b.tracked == 0 {
			b.low, b.untrackedAhead = seq, r0-1
		}
		b.tracked++
		rec := &record{r0: r0}
		b.records[seq] = rec
		b.predict(seq, rec, PointTake, r0)
	} else if b.tracked > 0 {
		b.overflow = true // behind one not tracked: neither are the next
	}
	b.derive()
}

// trackable reports whether a take can be scored: it will wait (no
// counter is free), and either nothing is tracked (tracking starts again:
// everyone ahead is untrackedAhead) or the tickets ahead are the untracked
// ones from before tracking started and tracked ones, it fits the ring and
// fewer than Track are tracked.
func (b *Book) trackable(seq uint64, r0 int64) bool {
	if len(b.called)+len(b.serving) < b.counters {
		return false // a counter is free: it is called at once, never waits
	}
	if b.tracked == 0 {
		return true
	}
	if b.overflow || b.tracked >= int64(b.cfg.Track)-1 || r0 != b.untrackedAhead+b.tracked+1 {
		return false
	}
	return seq > b.low && seq-b.low < uint64(b.cfg.Track)
}

// consumedUntracked notes that untracked seq, waiting, was called or left:
// if it was ahead of the tracked ones, they are a place closer.
func (b *Book) consumedUntracked(seq uint64) {
	if b.tracked > 0 && seq < b.low {
		b.untrackedAhead = max(b.untrackedAhead-1, 0)
	}
}

// Called records that ticket seq was called at at.
func (b *Book) Called(seq uint64, at time.Time) {
	b.step(at)
	if _, again := b.called[seq]; again {
		return // told twice (a replay): once is the event
	}
	b.called[seq] = b.now
	b.waiting = max(b.waiting-1, 0)
	b.consumed++
	if rec := b.untrack(seq); rec != nil {
		b.score(seq, rec)
	} else {
		b.consumedUntracked(seq)
	}
	b.checkpoints()
	b.derive()
}

// Redeemed records that called ticket seq was redeemed at at: it leaves
// the line, and its counter stays held until it is served.
func (b *Book) Redeemed(seq uint64, at time.Time) {
	b.step(at)
	if ca, ok := b.called[seq]; ok {
		delete(b.called, seq)
		b.serving[seq] = ca
	}
	b.derive()
}

// Served records that ticket seq's viewing ended at at (its holder ended
// it, its time was up, or an operator ended it): its counter is free.
func (b *Book) Served(seq uint64, at time.Time) {
	b.step(at)
	if ca, ok := b.serving[seq]; ok {
		delete(b.serving, seq)
		b.freed(ca)
	} else if ca, ok := b.called[seq]; ok {
		delete(b.called, seq)
		b.freed(ca)
	}
	b.derive()
}

// Left records that ticket seq left the line at at: it left, was banned
// out, expired as a no-show or was skipped by an operator. A called ticket
// frees its counter; a waiting one takes a place from everyone behind it.
func (b *Book) Left(seq uint64, at time.Time) {
	b.step(at)
	if ca, ok := b.called[seq]; ok {
		delete(b.called, seq)
		b.freed(ca)
	} else if ca, ok := b.serving[seq]; ok { // leaving a session ends it
		delete(b.serving, seq)
		b.freed(ca)
	} else {
		b.waiting = max(b.waiting-1, 0)
		b.consumed++
		b.bucket().leaves++
		if b.untrack(seq) == nil {
			b.consumedUntracked(seq)
		}
		b.checkpoints()
	}
	b.derive()
}

// SetCounters records that the line's counters became n at at.
func (b *Book) SetCounters(n int, at time.Time) {
	b.step(at)
	b.counters = max(n, 1)
	b.derive()
}

// SetPaused records that taking was paused (or resumed) at at. The line
// keeps calling while paused, so no estimate changes.
func (b *Book) SetPaused(paused bool, at time.Time) {
	b.step(at)
	b.paused = paused
}

// Paused reports whether taking is paused, as last recorded.
func (b *Book) Paused() bool { return b.paused }

// Reset starts the Book's view of the line again from a snapshot — after a
// gap in the log, a reload or a failover: called tickets (seq → the time
// they were called), serving ones likewise, and the number waiting. The
// measured flow and the scores are kept; the tickets being tracked are
// dropped unscored (what happened to them in the gap is unknown).
func (b *Book) Reset(at time.Time, counters int, paused bool, called, serving map[uint64]time.Time, waiting int64) {
	b.step(at)
	b.counters, b.paused, b.waiting = max(counters, 1), paused, max(waiting, 0)
	clear(b.called)
	clear(b.serving)
	for seq, t := range called {
		b.called[seq] = t.UnixMilli()
	}
	for seq, t := range serving {
		b.serving[seq] = t.UnixMilli()
	}
	clear(b.records)
	clear(b.fen)
	b.tracked, b.low, b.untrackedAhead, b.overflow = 0, 0, 0, false
	b.checks = b.checks[:0]
	b.derive()
}

// step moves the Book's clock to at (never back), adding the waiting
// person-time since the last event to the leave buckets.
func (b *Book) step(at time.Time) {
	t := at.UnixMilli()
	if !b.started {
		b.now, b.started = t, true
	}
	if edge := t - int64(buckets+1)*b.bucketMs; b.now < edge {
		b.now = edge // only the last Window's buckets count: skip a long silence
	}
	for t > b.now {
		// Split the person-time at bucket edges.
		edge := (b.now/b.bucketMs + 1) * b.bucketMs
		upTo := min(t, edge)
		b.bucket().personMs += float64(b.waiting) * float64(upTo-b.now)
		b.now = upTo
	}
	b.evictHolds()
}

// bucket returns the leave bucket of the Book's now, emptied if it held an
// older one.
func (b *Book) bucket() *bucket {
	idx := b.now / b.bucketMs
	bk := &b.leaveRing[idx%buckets]
	if bk.idx != idx {
		*bk = bucket{idx: idx}
	}
	return bk
}

// freed learns a hold: the counter was held from calledAt to now.
func (b *Book) freed(calledAt int64) {
	ms := max(b.now-calledAt, 0)
	if b.naiveSeen { // lib.lua freed(): held_ewma
		b.naiveEWMA = int64(math.Floor(float64(b.naiveEWMA)*0.8 + float64(ms)*0.2))
	} else {
		b.naiveEWMA, b.naiveSeen = ms, true
	}
	if b.holdN == maxHolds {
		b.dropHold()
	}
	i := (b.holdFirst + b.holdN) % maxHolds
	b.holds[i] = hold{at: b.now, ms: ms}
	b.holdN++
	f := float64(ms)
	b.holdSum += f
	b.holdSumSq += f * f
	b.evictHolds()
}

func (b *Book) dropHold() {
	f := float64(b.holds[b.holdFirst].ms)
	b.holdSum -= f
	b.holdSumSq -= f * f
	b.holdFirst = (b.holdFirst + 1) % maxHolds
	b.holdN--
	if b.holdN == 0 { // no drift left over from the running sums
		b.holdSum, b.holdSumSq = 0, 0
	}
}

// evictHolds drops the holds older than Window, keeping the newest
// minHolds.
func (b *Book) evictHolds() {
	edge := b.now - b.cfg.Window.Milliseconds()
	for b.holdN > minHolds && b.holds[b.holdFirst].at < edge {
		b.dropHold()
	}
}

// derive recomputes the flow's figures after an event, so that Estimate
// only does arithmetic.
func (b *Book) derive() {
	c := float64(b.counters)
	mean := float64(b.cfg.ViewWindow.Milliseconds())
	var s2, se2 float64
	if b.holdN > 0 {
		n := float64(b.holdN)
		mean = max(b.holdSum/n, 1)
		if b.holdN > 1 {
			s2 = max((b.holdSumSq-b.holdSum*b.holdSum/n)/(n-1), 0)
		}
		se2 = s2 / (n * mean * mean)
	} else {
		s2 = mean * mean // nothing measured: as variable as an exponential
		se2 = 1
	}
	if b.holdN == 1 {
		s2, se2 = mean*mean, 1
	}
	b.derivedMu = c / mean
	b.derivedS2 = s2
	b.derivedSE2 = se2
	var leaves int64
	var person float64
	cur := b.now / b.bucketMs
	for _, bk := range b.leaveRing {
		if bk.idx >= 0 && bk.idx > cur-buckets {
			leaves += bk.leaves
			person += bk.personMs
		}
	}
	b.derivedH = 0
	if leaves > 0 && person > 0 {
		b.derivedH = float64(leaves) / person
	}
}

// ---- estimates ----

// Estimate returns the wait of a ticket at position (1-based, the called
// tickets included, as queue.Ticket.Position) from the last event on: zero
// for a position among the called tickets. It takes no clock: it answers
// from the events alone, so two replicas that applied the same log answer
// the same Range whenever they are asked. O(1); it allocates nothing.
func (b *Book) Estimate(position int64) Range {
	r := position - int64(len(b.called))
	if r < 1 || position < 1 {
		return Range{}
	}
	return b.estimate(r)
}

// widthBands is how many bands of places to go the interval's width is
// calibrated in: 1, 2–3, 4–7, … and 2^(widthBands−1) or more.
const widthBands = 12

func band(r int64) int { return min(bits.Len64(uint64(r))-1, widthBands-1) }

func (b *Book) estimate(r int64) Range {
	widen := b.calibrate[band(r)]
	mu, h := b.derivedMu, b.derivedH
	ahead := float64(r - 1)
	var t float64 // ms until the last one ahead is gone
	if h > 0 && h*ahead/mu > 1e-9 {
		t = math.Log1p(h*ahead/mu) / h
	} else {
		t = ahead / mu
	}
	mean := t + 1/mu
	calls := mu * mean
	c := float64(b.counters)
	// Service: the calls' times add up; who leaves: binomial over those ahead.
	v := calls * b.derivedS2 / (c * c)
	if ahead > 0 {
		q := min(max((float64(r)-calls)/ahead, 0), 1)
		v += ahead * q * (1 - q) / (mu * mu)
	}
	// The flow drifting, and its measure: relative to the whole wait.
	v += mean * mean * (b.cfg.RateError*b.cfg.RateError + b.derivedSE2)
	s2 := math.Log1p(v / (mean * mean))
	s := math.Sqrt(s2) * widen
	med := mean * math.Exp(-s2/2)
	return Range{
		Low:  msDur(med * math.Exp(-z80*s)),
		Mid:  msDur(med),
		High: msDur(med * math.Exp(z80*s)),
	}
}

// Naive returns the store's estimate today (queue.WaitETA with the share
// lib.lua learns: the moving average of the holds over the counters) for a
// ticket at position.
func (b *Book) Naive(position int64) time.Duration {
	r := position - int64(len(b.called))
	if r < 1 || position < 1 {
		return 0
	}
	held := b.cfg.ViewWindow.Milliseconds()
	if b.naiveSeen {
		held = b.naiveEWMA
	}
	share := int64(math.Ceil(float64(held) / float64(b.counters)))
	return time.Duration(r*share) * time.Millisecond
}

// Flow describes the measured flow: what an Estimate is made of.
type Flow struct {
	Counters  int
	Holds     int           // holds in the window
	MeanHold  time.Duration // H
	CallEvery time.Duration // 1/μ while anyone waits
	LeaveRate float64       // h, leaves per waiting person per minute
	Waiting   int64
	Called    int64
	Widen     [widthBands]float64 // the interval's calibration by places to go: 1, 2–3, 4–7, …
}

// Flow returns the flow as last measured.
func (b *Book) Flow() Flow {
	return Flow{
		Counters:  b.counters,
		Holds:     b.holdN,
		MeanHold:  msDur(float64(b.counters) / b.derivedMu),
		CallEvery: msDur(1 / b.derivedMu),
		LeaveRate: b.derivedH * 60_000,
		Waiting:   b.waiting,
		Called:    int64(len(b.called)),
		Widen:     b.calibrate,
	}
}

func msDur(ms float64) time.Duration {
	if ms <= 0 || math.IsNaN(ms) {
		return 0
	}
	if ms > float64(math.MaxInt64/int64(time.Millisecond)) {
		return math.MaxInt64
	}
	return time.Duration(ms * float64(time.Millisecond))
}
