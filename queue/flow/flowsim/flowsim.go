// Package flowsim is a simulated day at a catqms line: who comes when, who
// leaves, who never shows up, how long each one is served, and when the
// operator opens and closes a counter or pauses the line. A Plan is drawn
// from a Scenario and a seed, and is the same for the same seed. Run plays
// a Plan by the line's rules (FIFO, a freed counter calls the next at once,
// a called ticket not redeemed within the head window expires, a session
// ends by itself at the view window) on a simulated clock and feeds every
// event to a flow.Book, as the change log would; benchmark S8 plays the same
// Plan against the real service.
package flowsim

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/catqms/catqms/queue/flow"
)

// Scenario describes a day. Durations are of the uncompressed day; Scale
// shrinks every one of them for a run on a real clock.
type Scenario struct {
	Open            time.Duration // how long the line takes tickets
	Base, Rush      float64       // arrivals per minute, outside and during the rush
	RushFrom        time.Duration // the rush hour's start
	RushFor         time.Duration
	Counters        int           // at the opening
	ExtraFrom       time.Duration // one more counter open from …
	ExtraTo         time.Duration // … to
	PauseAt         time.Duration // taking paused at …
	PauseFor        time.Duration // … for
	HeadWindow      time.Duration // a called ticket's time to redeem
	ViewWindow      time.Duration // a session's longest time
	ServiceMedian   time.Duration // lognormal service times: median …
	ServiceSigma    float64       // … and σ of the log
	WalkMax         time.Duration // a called visitor redeems within U(0, WalkMax)
	NoShow          float64       // share of visitors never redeeming
	Leavers         float64       // share of visitors with a limited patience …
	PatienceMedian  time.Duration // … lognormal, of this median …
	PatienceSigma   float64       // … and σ of the log
	DrainAfterClose bool          // keep serving after Open until the line is empty
}

// Day is the scenario of the issue: a working day of four hours with a rush
// hour, three counters and a fourth during the rush, a quarter-hour pause,
// long-tailed service times, a tenth of visitors not showing up and about a
// fifth leaving while they wait.
func Day() Scenario {
	return Scenario{
		Open:            4 * time.Hour,
		Base:            1.5,
		Rush:            3.4,
		RushFrom:        75 * time.Minute,
		RushFor:         time.Hour,
		Counters:        3,
		ExtraFrom:       105 * time.Minute,
		ExtraTo:         165 * time.Minute,
		PauseAt:         195 * time.Minute,
		PauseFor:        15 * time.Minute,
		HeadWindow:      2 * time.Minute,
		ViewWindow:      6 * time.Minute,
		ServiceMedian:   70 * time.Second,
		ServiceSigma:    0.7,
		WalkMax:         40 * time.Second,
		NoShow:          0.10,
		Leavers:         0.45,
		PatienceMedian:  10 * time.Minute,
		PatienceSigma:   0.8,
		DrainAfterClose: true,
	}
}

// ShortDay is Day in two hours: the same rush, counter, pause and people,
// closer together (benchmark S8's --quick).
func ShortDay() Scenario {
	sc := Day()
	sc.Open = 2 * time.Hour
	sc.RushFrom, sc.ExtraFrom, sc.ExtraTo = 30*time.Minute, 50*time.Minute, 100*time.Minute
	sc.PauseAt = 100 * time.Minute
	sc.PauseFor = 10 * time.Minute
	return sc
}

// Visitor is one person's part in the day.
type Visitor struct {
	At       time.Duration // arrival, from the opening
	NoShow   bool          // never redeems once called
	Walk     time.Duration // from the call to the redeem
	Service  time.Duration // from the redeem to the end (capped at the view window by the line)
	Patience time.Duration // leaves after waiting this long; 0 = never
}

// Admin is an operator's action.
type Admin struct {
	At       time.Duration
	Counters int  // set the counters to this, when > 0
	Pause    bool // pause taking
	Resume   bool // resume taking
}

// Plan is a drawn day: visitors in order of arrival, the operator's
// actions in order of time.
type Plan struct {
	Scenario Scenario
	Visitors []Visitor
	Admin    []Admin
}

// Draw draws a Plan from sc with seed: Poisson arrivals at the scenario's
// rates (visitors arriving while taking is paused are turned away and do
// not appear).
func Draw(sc Scenario, seed uint64) Plan {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	p := Plan{Scenario: sc}
	rate := func(t time.Duration) float64 {
		if t >= sc.RushFrom && t < sc.RushFrom+sc.RushFor {
			return sc.Rush
		}
		return sc.Base
	}
	peak := max(sc.Base, sc.Rush)
	for t := time.Duration(0); ; {
		// Thinning: candidates at the peak rate, kept at rate(t)/peak.
		t += time.Duration(rng.ExpFloat64() / peak * float64(time.Minute))
		if t >= sc.Open {
			break
		}
		if rng.Float64()*peak > rate(t) {
			continue
		}
		v := Visitor{
			At:      t,
			NoShow:  rng.Float64() < sc.NoShow,
			Walk:    time.Duration(rng.Float64() * float64(sc.WalkMax)),
			Service: time.Duration(float64(sc.ServiceMedian) * math.Exp(sc.ServiceSigma*rng.NormFloat64())),
		}
		if rng.Float64() < sc.Leavers {
			v.Patience = time.Duration(float64(sc.PatienceMedian) * math.Exp(sc.PatienceSigma*rng.NormFloat64()))
		}
		if sc.PauseFor > 0 && t >= sc.PauseAt && t < sc.PauseAt+sc.PauseFor {
			continue
		}
		p.Visitors = append(p.Visitors, v)
	}
	if sc.ExtraTo > sc.ExtraFrom {
		p.Admin = append(p.Admin, Admin{At: sc.ExtraFrom, Counters: sc.Counters + 1}, Admin{At: sc.ExtraTo, Counters: sc.Counters})
	}
	if sc.PauseFor > 0 {
		p.Admin = append(p.Admin, Admin{At: sc.PauseAt, Pause: true}, Admin{At: sc.PauseAt + sc.PauseFor, Resume: true})
	}
	slices.SortStableFunc(p.Admin, func(a, b Admin) int { return int(a.At - b.At) })
	return p
}

// Outcome counts what happened in a Run.
type Outcome struct {
	Taken, Served, NoShows, Left, CalledAtOnce int
	MaxWaiting                                 int
	End                                        time.Duration // the last event, from the opening
}

// event kinds of the simulation, in the order they run at the same instant.
const (
	evServiceEnd = iota
	evExpire
	evRedeem
	evAdmin
	evLeave
	evArrive
)

type event struct {
	at   time.Duration
	kind int
	idx  int // visitor or admin index
	seq  int // tie-break: the order scheduled
}

type queueOf []event

func (q queueOf) Len() int { return len(q) }
func (q queueOf) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	if q[i].kind != q[j].kind {
		return q[i].kind < q[j].kind
	}
	return q[i].seq < q[j].seq
}
func (q queueOf) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queueOf) Push(x any)   { *q = append(*q, x.(event)) }
func (q *queueOf) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// Run plays plan by the line's rules on a simulated clock that starts at
// start, feeding every event to book (which may be nil). Ticket seqs are
// the visitors' indexes plus one.
func Run(plan Plan, start time.Time, book *flow.Book) Outcome {
	sc := plan.Scenario
	var (
		q        queueOf
		n        int
		line     []int // waiting visitors, in order
		called   = map[int]bool{}
		serving  = map[int]bool{}
		counters = sc.Counters
		out      Outcome
	)
	push := func(at time.Duration, kind, idx int) {
		n++
		heap.Push(&q, event{at: at, kind: kind, idx: idx, seq: n})
	}
	for i, v := range plan.Visitors {
		push(v.At, evArrive, i)
	}
	for i, a := range plan.Admin {
		push(a.At, evAdmin, i)
	}
	at := func(d time.Duration) time.Time { return start.Add(d) }
	seqOf := func(i int) uint64 { return uint64(i) + 1 }
	var now time.Duration
	callNext := func() {
		for counters-len(called)-len(serving) > 0 && len(line) > 0 {
			i := line[0]
			line = line[1:]
			called[i] = true
			if book != nil {
				book.Called(seqOf(i), at(now))
			}
			v := plan.Visitors[i]
			if v.NoShow || v.Walk >= sc.HeadWindow {
				push(now+sc.HeadWindow, evExpire, i)
			} else {
				push(now+v.Walk, evRedeem, i)
			}
		}
	}
	for q.Len() > 0 {
		ev := heap.Pop(&q).(event)
		now = ev.at
		switch ev.kind {
		case evArrive:
			line = append(line, ev.idx)
			out.Taken++
			if book != nil {
				book.Taken(seqOf(ev.idx), at(now), int64(len(called)+len(line)))
			}
			if counters-len(called)-len(serving) > 0 {
				out.CalledAtOnce++
			}
			callNext()
			if slices.Contains(line, ev.idx) {
				if p := plan.Visitors[ev.idx].Patience; p > 0 {
					push(now+p, evLeave, ev.idx)
				}
			}
			out.MaxWaiting = max(out.MaxWaiting, len(line))
		case evLeave:
			if k := slices.Index(line, ev.idx); k >= 0 {
				line = slices.Delete(line, k, k+1)
				out.Left++
				if book != nil {
					book.Left(seqOf(ev.idx), at(now))
				}
			}
		case evRedeem:
			delete(called, ev.idx)
			serving[ev.idx] = true
			if book != nil {
				book.Redeemed(seqOf(ev.idx), at(now))
			}
			push(now+min(plan.Visitors[ev.idx].Service, sc.ViewWindow), evServiceEnd, ev.idx)
		case evServiceEnd:
			delete(serving, ev.idx)
			out.Served++
			if book != nil {
				book.Served(seqOf(ev.idx), at(now))
			}
			callNext()
		case evExpire:
			delete(called, ev.idx)
			out.NoShows++
			if book != nil {
				book.Left(seqOf(ev.idx), at(now))
			}
			callNext()
		case evAdmin:
			a := plan.Admin[ev.idx]
			switch {
			case a.Counters > 0:
				counters = a.Counters
				if book != nil {
					book.SetCounters(counters, at(now))
				}
				callNext()
			case a.Pause, a.Resume:
				if book != nil {
					book.SetPaused(a.Pause, at(now))
				}
			}
		}
		out.End = now
	}
	return out
}
