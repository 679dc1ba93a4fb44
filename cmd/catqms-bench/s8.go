package main

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/flow/flowsim"
)

// s8Result: the wait estimates of a simulated day (queue/flow/flowsim's
// Day: Poisson arrivals with a rush hour, lognormal service, 10% no-shows,
// about 20% leaving while they wait, a counter opened and closed, a pause)
// played against the real service on a compressed clock, each estimate
// made at the take scored against the wait that followed: the flow
// estimate and the naive one (position × share) in the same run.
type s8Result struct {
	// Mode is where the flow estimate came from: "api" when the take's
	// answer carried eta_low_seconds/eta_high_seconds (the service's own
	// range; eta_seconds its middle), "local" when the service has only
	// eta_seconds and the bench fed a flow.Book of its own from what it
	// saw (the takes' answers, its own actions, and the line polled).
	Mode         string  `json:"mode"`
	Scale        float64 `json:"scale"` // the day runs this many times faster than real
	Seed         uint64  `json:"seed"`
	DayMinutes   float64 `json:"day_minutes"` // uncompressed
	RunSeconds   float64 `json:"run_seconds"`
	HeadWindow   string  `json:"head_window"` // as the service ran
	ViewWindow   string  `json:"view_window"`
	Taken        int     `json:"taken"`
	TurnedAway   int     `json:"turned_away"` // takes refused (the pause, as the clock drifted)
	CalledAtOnce int     `json:"called_at_once"`
	Left         int     `json:"left"`
	NoShows      int     `json:"no_shows"`
	Served       int     `json:"served"`
	// The scores of the estimates made at the take, for tickets that waited
	// and were called. APE = |estimate − wait| / max(wait, floor).
	FloorSeconds float64 `json:"ape_floor_seconds"` // compressed
	Flow         s8Score `json:"flow"`
	NaiveAPI     s8Score `json:"naive_api"`   // eta_seconds (whole seconds)
	NaiveLocal   s8Score `json:"naive_local"` // the same formula to the millisecond (flow.Book.Naive)
	// BenchFlow is the bench's own Book (fed from what the bench saw, to
	// the millisecond) in api mode, beside the service's: the same model,
	// so a gap between the two is the service's wiring, not the model.
	BenchFlow      s8Score `json:"bench_flow"`
	EstimateWindow string  `json:"estimate_window"` // --estimate-window, compressed
	Met            bool    `json:"met"`             // MdAPE ≤ 20%, ≥ 80% inside, both better than the naive
}

type s8Score struct {
	Calls  int     `json:"calls"`
	MdAPE  float64 `json:"mdape"`
	Inside float64 `json:"inside"`
}

// s8Visitor is one simulated visitor as the bench follows them.
type s8Visitor struct {
	token, label string
	seq          uint64
	state        queue.State // as last seen; "" before the take
	takenAt      time.Time
	waited       bool // waiting at the take: scored when called
	flow         flow.Range
	benchFlow    flow.Range // the bench's own Book's, whatever the mode
	naiveAPI     time.Duration
	naiveLocal   time.Duration
}

type s8Action struct {
	at   time.Time
	kind int
	idx  int
	n    int // tie-break: order scheduled
}

const (
	s8Arrive = iota
	s8Leave
	s8Redeem
	s8End
	s8Admin
)

type s8Queue []s8Action

func (q s8Queue) Len() int { return len(q) }
func (q s8Queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].n < q[j].n
}
func (q s8Queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *s8Queue) Push(x any)   { *q = append(*q, x.(s8Action)) }
func (q *s8Queue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// s8Take is the take's answer, with the range when the service has it.
type s8Take struct {
	Token      string      `json:"token"`
	Ticket     string      `json:"ticket"`
	State      queue.State `json:"state"`
	Position   int64       `json:"position"`
	ETASeconds *float64    `json:"eta_seconds"`
	ETALow     *float64    `json:"eta_low_seconds"`
	ETAHigh    *float64    `json:"eta_high_seconds"`
}

type s8Snapshot struct {
	Now     time.Time `json:"now"`
	Length  int64     `json:"length"`
	Serving []struct {
		Ticket string `json:"ticket"`
	} `json:"serving"`
	Called []struct {
		Ticket string `json:"ticket"`
	} `json:"called"`
}

const s8AdminToken = "catqms-bench-s8-admin-token"

func runS8(ctx context.Context, e *env) (*s8Result, error) {
	// Four hours in eight minutes: the API answers whole seconds, and at
	// 30× a second is half a minute of the day (at 60× the rounding up of
	// eta_seconds alone added about a tenth to a five-minute wait's error).
	sc, scale := flowsim.Day(), 30.0
	if e.quick {
		sc, scale = flowsim.ShortDay(), 120.0 // two hours in one minute
	}
	if e.s8Scale > 0 {
		scale = e.s8Scale
	}
	const seed = 1
	plan := flowsim.Draw(sc, seed)
	compress := func(d time.Duration) time.Duration { return time.Duration(float64(d) / scale) }
	head, view := compress(sc.HeadWindow).Round(time.Millisecond), compress(sc.ViewWindow).Round(time.Millisecond)
	window := compress(flow.DefaultWindow).Round(time.Second) // the service takes whole seconds
	res := &s8Result{Mode: "local", Scale: scale, Seed: seed, DayMinutes: sc.Open.Minutes(),
		HeadWindow: head.String(), ViewWindow: view.String(), EstimateWindow: window.String()}
	floor := compress(30 * time.Second)
	res.FloorSeconds = floor.Seconds()

	if err := e.flush(ctx); err != nil {
		return nil, err
	}
	p, err := e.startCatqms(ctx, "s8-catqms", catqmsOpts{counters: sc.Counters, headWindow: head.String(),
		viewWindow: view.String(), estimateWindow: window.String(), adminToken: s8AdminToken})
	if err != nil {
		return nil, err
	}
	defer p.stop()
	base := "http://" + p.addr
	client := httpClient(4)

	book := flow.New(flow.Config{
		Counters: sc.Counters, ViewWindow: view,
		Window: window, ErrorFloor: floor,
		Slot: compress(5 * time.Minute), History: compress(24 * time.Hour),
	})
	visitors := make([]s8Visitor, len(plan.Visitors))
	bySeq := map[uint64]int{}
	var (
		q     s8Queue
		n     int
		start = time.Now()
	)
	push := func(at time.Time, kind, idx int) {
		n++
		heap.Push(&q, s8Action{at: at, kind: kind, idx: idx, n: n})
	}
	for i, v := range plan.Visitors {
		push(start.Add(compress(v.At)), s8Arrive, i)
	}
	for i, a := range plan.Admin {
		push(start.Add(compress(a.At)), s8Admin, i)
	}
	var scores [4][]s8Sample // flow, naive API, naive local, the bench's Book
	score := func(v *s8Visitor, calledAt time.Time) {
		if !v.waited {
			return
		}
		wait := calledAt.Sub(v.takenAt)
		for k, r := range []flow.Range{v.flow, naiveRange(v.naiveAPI), naiveRange(v.naiveLocal), v.benchFlow} {
			ape := math.Abs(float64(r.Mid-wait)) / float64(max(wait, floor))
			scores[k] = append(scores[k], s8Sample{ape: ape, inside: r.Low <= wait && wait <= r.High})
		}
	}
	// called marks visitor i called at at (seen in the line) and sends
	// them to the counter, unless they never show.
	called := func(i int, at time.Time) {
		v := &visitors[i]
		v.state = queue.StateCalled
		book.Called(v.seq, at)
		score(v, at)
		pv := plan.Visitors[i]
		if !pv.NoShow && pv.Walk < sc.HeadWindow {
			push(time.Now().Add(compress(pv.Walk)), s8Redeem, i)
		}
	}

	// observe polls the line and turns what changed into the Book's events.
	prevCalled, prevServing := map[string]bool{}, map[string]bool{}
	var last s8Snapshot
	observe := func() error {
		var snap s8Snapshot
		if err := getJSON(ctx, client, base+"/api/v1/queue", &snap); err != nil {
			return err
		}
		last = snap
		nowCalled, nowServing := map[string]bool{}, map[string]bool{}
		for _, s := range snap.Called {
			nowCalled[s.Ticket] = true
		}
		for _, s := range snap.Serving {
			nowServing[s.Ticket] = true
		}
		for _, s := range snap.Called {
			if prevCalled[s.Ticket] {
				continue
			}
			if i, ok := visitorOf(bySeq, s.Ticket); ok && visitors[i].state == queue.StateWaiting {
				called(i, snap.Now)
			}
		}
		for label := range prevCalled {
			if nowCalled[label] {
				continue
			}
			if i, ok := visitorOf(bySeq, label); ok && visitors[i].state == queue.StateCalled {
				// Gone from the calls without a redeem of ours: a no-show.
				visitors[i].state = queue.StateExpired
				book.Left(visitors[i].seq, snap.Now)
				res.NoShows++
			}
		}
		for label := range prevServing {
			if nowServing[label] {
				continue
			}
			if i, ok := visitorOf(bySeq, label); ok && visitors[i].state == queue.StateServing {
				visitors[i].state = queue.StateServed // the view window ended it
				book.Served(visitors[i].seq, snap.Now)
				res.Served++
			}
		}
		prevCalled, prevServing = nowCalled, nowServing
		return nil
	}

	act := func(a s8Action) error {
		now := time.Now()
		switch a.kind {
		case s8Arrive:
			tk, status, err := s8TakeTicket(ctx, client, base, fmt.Sprintf("10.%d.%d.%d", 8+a.idx>>16, a.idx>>8&255, a.idx&255))
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				res.TurnedAway++
				return nil
			}
			now = time.Now()
			seq, ok := queue.ParseLabel(tk.Ticket)
			if !ok {
				return fmt.Errorf("take answered ticket %q", tk.Ticket)
			}
			v := &visitors[a.idx]
			v.token, v.label, v.seq, v.takenAt, v.state = tk.Token, tk.Ticket, seq, now, queue.StateWaiting
			bySeq[seq] = a.idx
			res.Taken++
			book.Taken(seq, now, tk.Position)
			if tk.State == queue.StateCalled {
				res.CalledAtOnce++
				called(a.idx, now)
				return nil
			}
			v.waited = true
			v.naiveLocal = book.Naive(tk.Position)
			v.flow = book.Estimate(tk.Position)
			v.benchFlow = v.flow
			if tk.ETASeconds != nil {
				v.naiveAPI = secs(*tk.ETASeconds)
			}
			if tk.ETALow != nil && tk.ETAHigh != nil && tk.ETASeconds != nil {
				res.Mode = "api"
				v.flow = flow.Range{Low: secs(*tk.ETALow), Mid: secs(*tk.ETASeconds), High: secs(*tk.ETAHigh)}
				v.naiveAPI = 0 // the API's middle is the flow estimate now
			}
			if pt := plan.Visitors[a.idx].Patience; pt > 0 {
				push(now.Add(compress(pt)), s8Leave, a.idx)
			}
		case s8Leave:
			v := &visitors[a.idx]
			if v.state != queue.StateWaiting {
				return nil
			}
			status, err := s8Call(ctx, client, http.MethodDelete, base+"/api/v1/ticket", v.token, nil)
			if err != nil {
				return err
			}
			if status < 300 {
				v.state = queue.StateLeft
				book.Left(v.seq, time.Now())
				res.Left++
			}
		case s8Redeem:
			v := &visitors[a.idx]
			if v.state != queue.StateCalled {
				return nil
			}
			status, err := s8Call(ctx, client, http.MethodPost, base+"/api/v1/kitty", v.token, nil)
			if err != nil {
				return err
			}
			if status == http.StatusOK {
				v.state = queue.StateServing
				book.Redeemed(v.seq, time.Now())
				if svc := plan.Visitors[a.idx].Service; svc < sc.ViewWindow {
					push(time.Now().Add(compress(svc)), s8End, a.idx)
				}
			}
		case s8End:
			v := &visitors[a.idx]
			if v.state != queue.StateServing {
				return nil
			}
			status, err := s8Call(ctx, client, http.MethodDelete, base+"/api/v1/kitty", v.token, nil)
			if err != nil {
				return err
			}
			if status < 300 {
				v.state = queue.StateServed
				book.Served(v.seq, time.Now())
				res.Served++
			}
		case s8Admin:
			ad := plan.Admin[a.idx]
			switch {
			case ad.Counters > 0:
				body, _ := json.Marshal(map[string]int{"counters": ad.Counters})
				if err := s8Admin200(ctx, client, http.MethodPut, base+"/api/v1/admin/counters", body); err != nil {
					return err
				}
				book.SetCounters(ad.Counters, now)
			case ad.Pause:
				if err := s8Admin200(ctx, client, http.MethodPost, base+"/api/v1/admin/pause", nil); err != nil {
					return err
				}
				book.SetPaused(true, now)
			case ad.Resume:
				if err := s8Admin200(ctx, client, http.MethodPost, base+"/api/v1/admin/resume", nil); err != nil {
					return err
				}
				book.SetPaused(false, now)
			}
		}
		return nil
	}

	// One loop does everything, in time order: the Book sees the events in
	// the order the bench learns them, as a replica reads its log.
	const pollEvery = 15 * time.Millisecond
	deadline := start.Add(compress(sc.Open) + 3*time.Minute)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the day did not end by %v (line %d long)", deadline.Sub(start), last.Length)
		}
		for q.Len() > 0 && !q[0].at.After(time.Now()) {
			if err := act(heap.Pop(&q).(s8Action)); err != nil {
				return nil, err
			}
		}
		if err := observe(); err != nil {
			return nil, err
		}
		if q.Len() == 0 && last.Length == 0 && len(last.Serving) == 0 && time.Since(start) > compress(sc.Open) {
			break
		}
		time.Sleep(pollEvery)
	}
	res.RunSeconds = time.Since(start).Seconds()
	res.Flow, res.NaiveAPI, res.NaiveLocal = s8Summary(scores[0]), s8Summary(scores[1]), s8Summary(scores[2])
	naive := res.NaiveAPI
	if res.Mode == "api" {
		// eta_seconds is the flow estimate's middle then: the naive estimate
		// is the bench's, to the millisecond, and the bench's Book stands
		// beside the service's.
		naive, res.NaiveAPI, res.BenchFlow = res.NaiveLocal, s8Score{}, s8Summary(scores[3])
	}
	res.Met = res.Flow.MdAPE <= 0.20 && res.Flow.Inside >= 0.80 && res.Flow.MdAPE < naive.MdAPE && res.Flow.Inside > naive.Inside
	e.log("s8 (%s mode, ×%.0f, %.0fs): %d taken, %d called at once, %d left, %d no-shows, %d served; %d scored: flow MdAPE %.1f%% inside %.1f%% | %s | naive (local, ms) MdAPE %.1f%% inside %.1f%% → %s",
		res.Mode, scale, res.RunSeconds, res.Taken, res.CalledAtOnce, res.Left, res.NoShows, res.Served, res.Flow.Calls,
		100*res.Flow.MdAPE, 100*res.Flow.Inside, s8Second(res),
		100*res.NaiveLocal.MdAPE, 100*res.NaiveLocal.Inside, verdict(res.Met))
	return res, nil
}

// s8Second is the log's second score: the bench's own Book in api mode,
// the naive eta_seconds as served in local mode.
func s8Second(r *s8Result) string {
	if r.Mode == "api" {
		return fmt.Sprintf("the bench's Book MdAPE %.1f%% inside %.1f%%", 100*r.BenchFlow.MdAPE, 100*r.BenchFlow.Inside)
	}
	return fmt.Sprintf("naive (API) MdAPE %.1f%% inside %.1f%%", 100*r.NaiveAPI.MdAPE, 100*r.NaiveAPI.Inside)
}

type s8Sample struct {
	ape    float64
	inside bool
}

func s8Summary(ss []s8Sample) s8Score {
	out := s8Score{Calls: len(ss)}
	if len(ss) == 0 {
		return out
	}
	apes := make([]float64, len(ss))
	in := 0
	for i, s := range ss {
		apes[i] = s.ape
		if s.inside {
			in++
		}
	}
	slices.Sort(apes)
	out.MdAPE = apes[len(apes)/2]
	if len(apes)%2 == 0 {
		out.MdAPE = (apes[len(apes)/2-1] + apes[len(apes)/2]) / 2
	}
	out.Inside = float64(in) / float64(len(ss))
	return out
}

// naiveRange is the naive point estimate as a range: within ±20%, as
// queue/flow scores it.
func naiveRange(d time.Duration) flow.Range {
	return flow.Range{Low: time.Duration(float64(d) * 0.8), Mid: d, High: time.Duration(float64(d) * 1.2)}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func visitorOf(bySeq map[uint64]int, label string) (int, bool) {
	seq, ok := queue.ParseLabel(label)
	if !ok {
		return 0, false
	}
	i, ok := bySeq[seq]
	return i, ok
}

// s8TakeTicket takes a ticket as client xff; a refusal (the pause) is its
// status, not an error.
func s8TakeTicket(ctx context.Context, c *http.Client, base, xff string) (s8Take, int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/token", nil)
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := c.Do(req)
	if err != nil {
		return s8Take{}, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return s8Take{}, 0, err
	}
	var tk s8Take
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(body, &tk)
	} else if resp.StatusCode >= 500 {
		err = fmt.Errorf("take: %d %s", resp.StatusCode, body)
	}
	return tk, resp.StatusCode, err
}

// s8Call sends method to url with the ticket's token; a 5xx is an error.
func s8Call(ctx context.Context, c *http.Client, method, url, token string, body []byte) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Forwarded-For", "10.7.0.1")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, msg)
	}
	return resp.StatusCode, nil
}

// s8Admin200 calls the admin API and wants a 200.
func s8Admin200(ctx context.Context, c *http.Client, method, url string, body []byte) error {
	req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s8AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, msg)
	}
	return nil
}

func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	body, err := must200(c.Do(req))
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// summaryS8 is S8's rows of the summary table.
func summaryS8(p func(string, ...any), s *s8Result) {
	naive, which := s.NaiveAPI, "naive eta_seconds"
	if s.Mode == "api" {
		naive, which = s.NaiveLocal, "naive position × share"
	}
	p("| S8 | wait estimate MdAPE (%s mode) | %s%% | %s%% (%s) | | ≤ 20%%, below the naive | %s |\n",
		s.Mode, f1(100*s.Flow.MdAPE), f1(100*naive.MdAPE), which, verdict(s.Flow.MdAPE <= 0.20 && s.Flow.MdAPE < naive.MdAPE))
	p("| S8 | calls inside the estimated range | %s%% | %s%% (%s ±20%%) | | ≥ 80%%, above the naive | %s |\n",
		f1(100*s.Flow.Inside), f1(100*naive.Inside), which, verdict(s.Flow.Inside >= 0.80 && s.Flow.Inside > naive.Inside))
}

func reportS8(b *strings.Builder, s *s8Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S8 — wait estimate accuracy\n\n")
	p("A simulated day of %.0f minutes (queue/flow/flowsim, seed %d: Poisson arrivals with a rush hour, lognormal service times, ", s.DayMinutes, s.Seed)
	p("10%% no-shows, about a fifth leaving while they wait, a fourth counter opened and closed, a pause) played against one catqms on the bench's redis-server, ")
	p("%.0f× faster than real (`--head-window %s --view-window %s --estimate-window %s`), in %.0f s. ", s.Scale, s.HeadWindow, s.ViewWindow, s.EstimateWindow, s.RunSeconds)
	p("%d tickets taken (%d called at once, %d turned away by the pause), %d left, %d no-shows, %d served. ", s.Taken, s.CalledAtOnce, s.TurnedAway, s.Left, s.NoShows, s.Served)
	p("Every estimate made at the take of a ticket that waited and was called is scored against the wait that followed: ")
	p("APE = |estimate − wait| / max(wait, %.2f s, which is 30 s uncompressed); the naive point estimate counts as inside when within ±20%%.\n\n", s.FloorSeconds)
	if s.Mode == "api" {
		p("Mode **api**: the flow estimate is the service's own (`eta_seconds` with `eta_low_seconds`/`eta_high_seconds`).\n\n")
	} else {
		p("Mode **local**: the service answered only `eta_seconds` (the naive estimate); the flow estimate came from a queue/flow Book in the bench, fed from what the bench saw ")
		p("(the takes' answers, its own redeems, ends and leaves, and the line polled every 15 ms).\n\n")
	}
	p("| estimate | calls scored | MdAPE | inside the range |\n|---|---|---|---|\n")
	p("| flow (queue/flow) | %d | %s%% | %s%% |\n", s.Flow.Calls, f1(100*s.Flow.MdAPE), f1(100*s.Flow.Inside))
	if s.Mode == "api" {
		p("| flow, the bench's own Book (fed from what it saw, to the ms) | %d | %s%% | %s%% |\n", s.BenchFlow.Calls, f1(100*s.BenchFlow.MdAPE), f1(100*s.BenchFlow.Inside))
	} else {
		p("| naive, eta_seconds as served (whole seconds) | %d | %s%% | %s%% |\n", s.NaiveAPI.Calls, f1(100*s.NaiveAPI.MdAPE), f1(100*s.NaiveAPI.Inside))
	}
	p("| naive, position × share to the ms | %d | %s%% | %s%% |\n\n", s.NaiveLocal.Calls, f1(100*s.NaiveLocal.MdAPE), f1(100*s.NaiveLocal.Inside))
}
