// Package flowsim is a simulated day at a catqms line: who comes when, who
// leaves, who never shows up, how long each one is served, and when the
// operator opens and closes a counter or pauses the line. A Plan is drawn
// from a Scenario and a seed, and is the same for the same seed. Run plays
// a Plan against queue/memline (the rules of the line, stated once) on a
// simulated clock and feeds every event to a flow.Book, as the change log
// would; benchmark S8 plays the same Plan against the real service.
package flowsim

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/memline"
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
	Taken, TurnedAway, CalledAtOnce int
	Served, NoShows, Left           int
	MaxWaiting                      int
	End                             time.Duration // the last event, from the opening
}

// What the simulation does, in the order it does it at the same instant.
const (
	doEnd     = iota // a holder ends their session
	doAdvance        // a deadline or a session's end passes: the line moves
	doRedeem
	doAdmin
	doLeave
	doArrive
)

type action struct {
	at   time.Duration
	kind int
	idx  int // visitor or admin index
	n    int // tie-break: the order scheduled
}

type actions []action

func (q actions) Len() int { return len(q) }
func (q actions) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	if q[i].kind != q[j].kind {
		return q[i].kind < q[j].kind
	}
	return q[i].n < q[j].n
}
func (q actions) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *actions) Push(x any)   { *q = append(*q, x.(action)) }
func (q *actions) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// Run plays plan against a memline line on a simulated clock that starts at
// start, and feeds book (which may be nil) every event as the change log
// would carry it: each operation's own (a take and its position, a leave
// while waiting) and what the line shows changed after it (calls, redeems,
// sessions ended, calls expired), at the operation's time. Visitor i's
// ticket is the line's seq i+1 unless takes were refused.
func Run(plan Plan, start time.Time, book *flow.Book) (Outcome, error) {
	ctx := context.Background()
	sc := plan.Scenario
	clk := &clock{now: start}
	line, err := memline.New(queue.Settings{
		Counters: sc.Counters, HeadWindow: sc.HeadWindow, ViewWindow: sc.ViewWindow,
		MaxTicketsPerClient: 1, MaxQueue: 1 << 30,
	}, []byte("flowsim-secret-0123456789abcdef!"), clk)
	if err != nil {
		return Outcome{}, err
	}
	var (
		q       actions
		n       int
		out     Outcome
		now     time.Duration
		tokens  = make([]string, len(plan.Visitors))
		seqs    = make([]uint64, len(plan.Visitors))
		states  = make([]queue.State, len(plan.Visitors))
		visitor = map[string]int{} // label → visitor
		called  = map[string]bool{}
		serving = map[string]bool{}
		waiting int
	)
	push := func(at time.Duration, kind, idx int) {
		n++
		heap.Push(&q, action{at: at, kind: kind, idx: idx, n: n})
	}
	for i, v := range plan.Visitors {
		push(v.At, doArrive, i)
	}
	for i, a := range plan.Admin {
		push(a.At, doAdmin, i)
	}
	seqOf := func(label string) uint64 {
		seq, _ := queue.ParseLabel(label)
		return seq
	}
	// changed reads the line after an operation and reports what moved.
	changed := func() error {
		snap, err := line.Snapshot(ctx)
		if err != nil {
			return err
		}
		at := clk.now
		nowCalled, nowServing := map[string]bool{}, map[string]bool{}
		for _, s := range snap.Serving {
			nowServing[s.Ticket] = true
		}
		for _, s := range snap.Called {
			nowCalled[s.Ticket] = true
		}
		for _, label := range sortedLabels(serving) {
			if !nowServing[label] {
				out.Served++
				states[visitor[label]] = queue.StateServed
				if book != nil {
					book.Served(seqOf(label), at)
				}
			}
		}
		for _, label := range sortedLabels(called) {
			if nowCalled[label] {
				continue
			}
			i := visitor[label]
			if nowServing[label] {
				states[i] = queue.StateServing
				if book != nil {
					book.Redeemed(seqOf(label), at)
				}
				if svc := plan.Visitors[i].Service; svc < sc.ViewWindow {
					push(now+svc, doEnd, i)
				}
				push(now+sc.ViewWindow, doAdvance, i)
				continue
			}
			out.NoShows++
			states[i] = queue.StateExpired
			if book != nil {
				book.Left(seqOf(label), at)
			}
		}
		for _, s := range snap.Called { // in the order called
			if called[s.Ticket] {
				continue
			}
			i := visitor[s.Ticket]
			states[i] = queue.StateCalled
			waiting--
			if book != nil {
				book.Called(seqOf(s.Ticket), at)
			}
			if v := plan.Visitors[i]; !v.NoShow && v.Walk < sc.HeadWindow {
				push(now+v.Walk, doRedeem, i)
			}
			push(now+sc.HeadWindow, doAdvance, i)
		}
		called, serving = nowCalled, nowServing
		return nil
	}
	for q.Len() > 0 {
		a := heap.Pop(&q).(action)
		now = a.at
		clk.now = start.Add(now)
		var err error
		switch a.kind {
		case doArrive:
			var is queue.Issued
			is, err = line.Take(ctx, fmt.Sprintf("visitor-%d", a.idx))
			if queue.ErrorCode(err) == queue.CodePaused {
				out.TurnedAway++
				continue
			}
			if err != nil {
				break
			}
			out.Taken++
			tokens[a.idx], seqs[a.idx], states[a.idx] = is.Token, is.Ticket.Seq, queue.StateWaiting
			visitor[is.Ticket.Label] = a.idx
			waiting++
			if book != nil {
				book.Taken(is.Ticket.Seq, clk.now, is.Ticket.Position)
			}
			if is.Ticket.State == queue.StateCalled {
				out.CalledAtOnce++
			} else if p := plan.Visitors[a.idx].Patience; p > 0 {
				push(now+p, doLeave, a.idx)
			}
		case doLeave:
			if states[a.idx] != queue.StateWaiting {
				continue // called (or gone) before their patience ran out
			}
			if err = line.Leave(ctx, fmt.Sprintf("visitor-%d", a.idx), tokens[a.idx]); err != nil {
				break
			}
			out.Left++
			states[a.idx] = queue.StateLeft
			waiting--
			if book != nil {
				book.Left(seqs[a.idx], clk.now)
			}
		case doRedeem:
			if states[a.idx] != queue.StateCalled {
				continue
			}
			_, err = line.Redeem(ctx, fmt.Sprintf("visitor-%d", a.idx), tokens[a.idx])
		case doEnd:
			if states[a.idx] != queue.StateServing {
				continue
			}
			err = line.EndViewing(ctx, fmt.Sprintf("visitor-%d", a.idx), tokens[a.idx])
		case doAdvance:
			err = line.Advance(ctx)
		case doAdmin:
			ad := plan.Admin[a.idx]
			switch {
			case ad.Counters > 0:
				_, err = line.SetCounters(ctx, ad.Counters)
				if err == nil && book != nil {
					book.SetCounters(ad.Counters, clk.now)
				}
			case ad.Pause, ad.Resume:
				if ad.Pause {
					_, err = line.Pause(ctx)
				} else {
					_, err = line.Resume(ctx)
				}
				if err == nil && book != nil {
					book.SetPaused(ad.Pause, clk.now)
				}
			}
		}
		if err != nil {
			return out, fmt.Errorf("at %v: %w", now, err)
		}
		if err := changed(); err != nil {
			return out, err
		}
		out.MaxWaiting = max(out.MaxWaiting, waiting)
		out.End = now
	}
	return out, nil
}

func sortedLabels(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b string) int {
		sa, _ := queue.ParseLabel(a)
		sb, _ := queue.ParseLabel(b)
		return cmp.Compare(sa, sb)
	})
	return out
}
