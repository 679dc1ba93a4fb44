package main

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestS7WatcherCountsMoves feeds one watcher the messages catqms sends and
// checks which moves each delivers, and with what latency.
func TestS7WatcherCountsMoves(t *testing.T) {
	room := &s7Room{tickets: 100, at: make([]atomic.Int64, 6)}
	t0 := time.Unix(1000, 0)
	for k := 1; k <= 5; k++ {
		room.at[k].Store(t0.Add(time.Duration(k) * 10 * time.Millisecond).UnixNano())
	}
	w := &s7Watcher{pos0: 50, own: ownKey("A050")}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	w.handle(room, []byte(`{"type":"snapshot","version":7,"now":"x","length":100,"waiting":[{"ticket":"A001"}]}`), at(5))
	w.handle(room, []byte(`{"type":"snapshot","version":9,"now":"x","length":98,"waiting":[]}`), at(50))
	w.handle(room, []byte(`{"type":"snapshot","version":8,"length":99}`), at(55)) // older than the last
	// A ticket whose label starts with its own is another's.
	w.handle(room, []byte(`{"type":"ticket","ticket":"A0500","state":"waiting","position":2,"eta_seconds":3}`), at(60))
	w.handle(room, []byte(`{"type":"ticket","ticket":"A050","state":"waiting","position":47,"eta_seconds":3}`), at(70))
	if w.released {
		t.Errorf("released by a live ticket's message")
	}
	// The answer to a switch back to the line only: another ticket, served.
	w.handle(room, []byte(`{"type":"ticket","ticket":"A002","state":"served"}`), at(75))
	w.handle(room, []byte(`{"type":"error","error":"bad_request","message":"no"}`), at(80))

	want := []s7Sample{
		{false, 1, 40}, // move 1 at 10 ms, shown at 50 ms
		{false, 2, 30},
		{true, 1, 60}, // the ticket message shows moves 1–3 at 70 ms
		{true, 2, 50},
		{true, 3, 40},
	}
	if len(w.samples) != len(want) {
		t.Fatalf("samples %+v, want %+v", w.samples, want)
	}
	for i, s := range w.samples {
		if s.ticket != want[i].ticket || s.move != want[i].move || math.Abs(s.ms-want[i].ms) > 1e-9 {
			t.Errorf("sample %d = %+v, want %+v", i, s, want[i])
		}
	}
	if w.lineSeen != 2 || w.tickSeen != 3 || !w.tickGot {
		t.Errorf("seen line %d ticket %d (got %v), want 2, 3, true", w.lineSeen, w.tickSeen, w.tickGot)
	}
	if w.backwards != 1 {
		t.Errorf("out of order %d, want 1", w.backwards)
	}
	if !w.released || !strings.Contains(w.foreign, `"A0500"`) {
		t.Errorf("released %v, foreign %q: want true, the live A0500", w.released, w.foreign)
	}
	if w.msgs != 7 || !strings.Contains(w.errMsg, "bad_request") {
		t.Errorf("msgs %d, error %q", w.msgs, w.errMsg)
	}
}

// TestS7WatcherReadsTheTypeAnywhere: the watcher reads a message's type
// from its start, where catqms writes it, and finds it elsewhere too.
func TestS7WatcherReadsTheTypeAnywhere(t *testing.T) {
	room := &s7Room{tickets: 100, at: make([]atomic.Int64, 6)}
	for k := 1; k <= 5; k++ {
		room.at[k].Store(time.Unix(1000, 0).UnixNano())
	}
	w := &s7Watcher{pos0: 50, own: ownKey("A050")}
	w.handle(room, []byte(`{"version":9,"type":"snapshot","length":98}`), time.Unix(1001, 0))
	w.handle(room, []byte(`{"ticket":"A050","type":"ticket","position":47}`), time.Unix(1001, 0))
	w.handle(room, []byte(`{"ticket":"A002","state":"served","type":"ticket"}`), time.Unix(1001, 0))
	if w.lineSeen != 2 || w.tickSeen != 3 || !w.released {
		t.Errorf("seen line %d ticket %d, released %v: want 2, 3, true", w.lineSeen, w.tickSeen, w.released)
	}
}

func TestFitLine(t *testing.T) {
	a, b := fitLine([]float64{1000, 5000, 10000}, []float64{12, 20, 30})
	// y = 10 + 0.002·x exactly
	if math.Abs(a-10) > 1e-9 || math.Abs(b-0.002) > 1e-12 {
		t.Errorf("fit = %g + %g·x, want 10 + 0.002·x", a, b)
	}
	if a, b := fitLine([]float64{1000}, []float64{20}); a != 0 || b != 0.02 {
		t.Errorf("one point: %g + %g·x, want 0 + 0.02·x", a, b)
	}
	if got := capacity(1000, 5, 10, 0.01); math.Abs(got-19000) > 1e-6 {
		t.Errorf("capacity = %g, want 19000", got)
	}
	if got := capacity(1000, 5, 10, 0); !math.IsInf(got, 1) {
		t.Errorf("capacity with nothing per watcher = %g, want +Inf", got)
	}
}

// s7Fixture is a run with one-replica cells at 10,000 watchers and a
// 3-replica cell, own-ticket figures from own.
func s7Fixture(own s7Cell) *s7Result {
	line := s7Cell{Mode: "line", Rate: 5, P99ms: 100, RedisMs: 2, ServiceMs: 50}
	own.Mode, own.Rate = "ticket", 5
	res := &s7Result{Rates: []float64{5}, Replicas: 3, Windows: []string{"4s"}, Grace: "5s"}
	for rep := 1; rep <= 3; rep++ {
		res.Runs = append(res.Runs,
			s7Run{Rep: rep, Replicas: 1, Watchers: 10000, Cells: []s7Cell{line, own}},
			s7Run{Rep: rep, Replicas: 3, Watchers: 15000, Cells: []s7Cell{line, own}})
	}
	return res
}

func TestS7SummaryJudgesTheTargets(t *testing.T) {
	for _, tc := range []struct {
		name string
		own  s7Cell
		want string // the verdict of every row
	}{
		{"within", s7Cell{P99ms: 120, RedisMs: 2.9, ServiceMs: 60}, "| met |"},
		{"redis over", s7Cell{P99ms: 120, RedisMs: 3.1, ServiceMs: 60}, "| **missed** |"},
		{"p99 over", s7Cell{P99ms: 130, RedisMs: 2.9, ServiceMs: 60}, "| **missed** |"},
		{"a drop", s7Cell{P99ms: 120, RedisMs: 2.9, ServiceMs: 60, Drops: 1}, "| **missed** |"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			summaryS7(&b, s7Fixture(tc.own), false)
			rows := strings.Split(strings.TrimSpace(b.String()), "\n")
			if len(rows) != 5 {
				t.Fatalf("%d rows:\n%s", len(rows), b.String())
			}
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("no row says %q:\n%s", tc.want, b.String())
			}
			if tc.want == "| met |" && strings.Contains(b.String(), "missed") {
				t.Errorf("a row is missed:\n%s", b.String())
			}
		})
	}
}

func TestMedianCellKeepsTheWorstDrops(t *testing.T) {
	m := medianCell([]s7Cell{
		{P99ms: 10, RedisMs: 1, Drops: 0},
		{P99ms: 30, RedisMs: 3, Drops: 4, Lost: 1},
		{P99ms: 20, RedisMs: 2, Drops: 0, Backwards: 2},
	})
	if m.P99ms != 20 || m.RedisMs != 2 || m.Drops != 4 || m.Lost != 1 || m.Backwards != 2 {
		t.Errorf("median cell %+v", m)
	}
}

func TestS7ReportWritesItsSectionAndCharts(t *testing.T) {
	dir := t.TempDir()
	res := &results{Started: time.Now(), Finished: time.Now(), S7: s7Fixture(s7Cell{P99ms: 300, RedisMs: 40, ServiceMs: 200})}
	md := dir + "/BENCHMARKS.md"
	if err := writeReport(res, md, dir+"/docs"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	data := string(raw)
	for _, want := range []string{"## S7 — the waiting room", "### Scaling on paper", "A million people in line", "docs/bench-s7-redis.png"} {
		if !strings.Contains(data, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, png := range []string{"bench-s7-redis.png", "bench-s7-delivery.png"} {
		if _, err := os.Stat(dir + "/docs/" + png); err != nil {
			t.Errorf("chart %s: %v", png, err)
		}
	}
}

// TestResultsWithNaNStillSave: an undefined figure becomes 0, named, and
// the results marshal (a NaN lost a whole run's JSON once).
func TestResultsWithNaNStillSave(t *testing.T) {
	res := &results{S8: &s8Result{Flow: s8Score{MdAPE: math.NaN(), Inside: math.Inf(1)}}}
	found := zeroNonFinite(reflect.ValueOf(res).Elem(), "results")
	if len(found) != 2 || found[0] != "results.S8.Flow.MdAPE" {
		t.Fatalf("found %v", found)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}
}

// TestS7PlanPairsWindowsBackToBack: every pair's two windows are
// neighbours, the watchers switch once per pair, the pairs at a pace
// alternate their order, and the other start mirrors the plan.
func TestS7PlanPairsWindowsBackToBack(t *testing.T) {
	rates := []float64{2, 5, 20}
	windows := []time.Duration{4 * time.Second, 3 * time.Second, 2 * time.Second}
	pairs := func(r float64) int {
		if r == 5 {
			return 2
		}
		return 1
	}
	code := func(steps []s7Step) string {
		var b strings.Builder
		for i, st := range steps {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(map[bool]string{false: "L", true: "T"}[st.Ticket])
			b.WriteString(strconv.FormatFloat(st.Rate, 'g', -1, 64))
			b.WriteString("." + strconv.Itoa(st.Pair))
		}
		return b.String()
	}
	lineFirst := s7Plan(rates, windows, pairs, false)
	if got, want := code(lineFirst), "L2.1 T2.1 T5.1 L5.1 L5.2 T5.2 T20.1 L20.1"; got != want {
		t.Errorf("line first: %s, want %s", got, want)
	}
	ticketFirst := s7Plan(rates, windows, pairs, true)
	if got, want := code(ticketFirst), "T2.1 L2.1 L5.1 T5.1 T5.2 L5.2 L20.1 T20.1"; got != want {
		t.Errorf("ticket first: %s, want %s", got, want)
	}
	for _, steps := range [][]s7Step{lineFirst, ticketFirst} {
		switches := 0
		for i := 1; i < len(steps); i++ {
			if steps[i].Ticket != steps[i-1].Ticket {
				switches++
			}
		}
		if switches != 4 { // one per pair, the first pair's own switch being the start's
			t.Errorf("%d switches in %s, want 4", switches, code(steps))
		}
		for _, st := range steps {
			if want := windows[slices.Index(rates, st.Rate)]; st.Window != want {
				t.Errorf("%g moves/s has a %s window, want %s", st.Rate, st.Window, want)
			}
		}
	}
	if got := code(s7Plan([]float64{5}, windows[1:2], func(float64) int { return 3 }, false)); got != "L5.1 T5.1 T5.2 L5.2 L5.3 T5.3" {
		t.Errorf("three pairs: %s", got)
	}
}

// s7PairRun is a run of one replica, 10,000 watchers, with one pair per
// (line p99, own p99) at 5 moves/s, in plan order from the line first.
func s7PairRun(rep int, p99s ...[2]float64) s7Run {
	run := s7Run{Rep: rep, Replicas: 1, Watchers: 10000}
	lineFirst := true
	for i, pr := range p99s {
		l := s7Cell{Mode: "line", Rate: 5, Pair: i + 1, P99ms: pr[0], RedisMs: 2}
		o := s7Cell{Mode: "ticket", Rate: 5, Pair: i + 1, P99ms: pr[1], RedisMs: 2.2}
		if lineFirst {
			run.Cells = append(run.Cells, l, o)
		} else {
			run.Cells = append(run.Cells, o, l)
		}
		lineFirst = !lineFirst
	}
	return run
}

// TestS7RatioIsTheMedianOfPairs: the ratio judged is the median of the
// pairs' own ratios, not the quotient of the medians — in either
// direction — and every pair is kept, with its order.
func TestS7RatioIsTheMedianOfPairs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		runs     []s7Run
		ratio    float64 // the median of the pairs'
		quotient float64 // the medians'
		verdict  string
	}{
		// Pair ratios 1.2, 1.1, 1.3: median 1.2; medians 200 / 260 = 1.3.
		{"pairs lower", []s7Run{s7PairRun(1, [2]float64{100, 120}, [2]float64{300, 330}), s7PairRun(2, [2]float64{200, 260})}, 1.2, 1.3, "| met |"},
		// Pair ratios 1.4, 1.2, 1.3: median 1.3; medians 200 / 240 = 1.2.
		{"pairs higher", []s7Run{s7PairRun(1, [2]float64{100, 140}, [2]float64{200, 240}), s7PairRun(2, [2]float64{300, 390})}, 1.3, 1.2, "| **missed** |"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &s7Result{Rates: []float64{5}, Pairs: 2, Runs: tc.runs}
			if cells := res.pairs(); len(cells) != 1 {
				t.Fatalf("%d cells, want one: %+v", len(cells), cells)
			}
			pr := res.pair(1, 10000, 5)
			if len(pr.Pairs) != 3 {
				t.Fatalf("%d pairs, want 3: %+v", len(pr.Pairs), pr.Pairs)
			}
			if math.Abs(pr.P99Ratio-tc.ratio) > 1e-9 || math.Abs(ratio(pr.Ticket.P99ms, pr.Line.P99ms)-tc.quotient) > 1e-9 {
				t.Errorf("ratio %g (quotient %g), want %g (%g)", pr.P99Ratio, ratio(pr.Ticket.P99ms, pr.Line.P99ms), tc.ratio, tc.quotient)
			}
			if math.Abs(pr.RedisRatio-1.1) > 1e-9 {
				t.Errorf("Redis ratio %g, want 1.1", pr.RedisRatio)
			}
			if first := pr.Pairs[0]; first.Rep != 1 || first.Pair != 1 || !first.LineFirst || pr.Pairs[1].LineFirst || !pr.Pairs[2].LineFirst {
				t.Errorf("pairs %+v", pr.Pairs)
			}
			var b strings.Builder
			summaryS7(&b, res, false)
			row := ""
			for line := range strings.Lines(b.String()) {
				if strings.Contains(line, "delivery p99") {
					row = line
				}
			}
			if !strings.Contains(row, tc.verdict) || !strings.Contains(row, "median over 3 back-to-back pairs)") {
				t.Errorf("delivery row %q, want %s", row, tc.verdict)
			}
			b.Reset()
			pairsS7(&b, res)
			if !strings.Contains(b.String(), "1.1 LO 100 / ") || !strings.Contains(b.String(), "1.2 OL ") {
				t.Errorf("the pairs are not all listed:\n%s", b.String())
			}
		})
	}
}

// TestS7TwinsLeavesOutWhatIsNotAPair: a pair with a missing or a doubled
// mode is no pair; cells of other paces are not counted; a run from
// before the pairs (no numbers) is one pair per pace.
func TestS7TwinsLeavesOutWhatIsNotAPair(t *testing.T) {
	run := s7Run{Rep: 1, Cells: []s7Cell{
		{Mode: "line", Rate: 5, Pair: 1, P99ms: 100},
		{Mode: "ticket", Rate: 5, Pair: 1, P99ms: 110},
		{Mode: "ticket", Rate: 20, Pair: 1, P99ms: 999},
		{Mode: "line", Rate: 5, Pair: 2, P99ms: 100}, // its own-ticket window is missing
		{Mode: "ticket", Rate: 5, Pair: 3, P99ms: 100},
		{Mode: "ticket", Rate: 5, Pair: 3, P99ms: 100}, // twice the same mode
		{Mode: "line", Rate: 5, Pair: 3, P99ms: 100},
	}}
	got := twins(run, 5)
	if len(got) != 1 || got[0].Pair != 1 || math.Abs(got[0].P99Ratio()-1.1) > 1e-9 || !got[0].LineFirst {
		t.Errorf("twins %+v, want pair 1 alone, 1.1×, line first", got)
	}
	old := s7Run{Rep: 2, Cells: []s7Cell{
		{Mode: "line", Rate: 2, P99ms: 50}, {Mode: "line", Rate: 5, P99ms: 100},
		{Mode: "ticket", Rate: 2, P99ms: 60}, {Mode: "ticket", Rate: 5, P99ms: 150},
	}}
	if got := twins(old, 5); len(got) != 1 || got[0].P99Ratio() != 1.5 || got[0].Rep != 2 {
		t.Errorf("an old run's twins %+v", got)
	}
}

// TestS7EvenPairsTakeTheMiddleTwo: with two pairs a run the count of pairs
// is even, and the median is the mean of the middle two, not the lower
// one (the nearest rank), which would lean towards meeting the target.
// The p99s are run A's at 10,000 watchers, 5 moves/s (see the report).
func TestS7EvenPairsTakeTheMiddleTwo(t *testing.T) {
	res := &s7Result{Rates: []float64{5}, Pairs: 2, Runs: []s7Run{
		s7PairRun(1, [2]float64{170, 202}, [2]float64{216, 165}),
		s7PairRun(2, [2]float64{243, 401}, [2]float64{199, 348}),
		s7PairRun(3, [2]float64{196, 324}, [2]float64{346, 347}),
	}}
	pr := res.pair(1, 10000, 5)
	want := (202.0/170 + 401.0/243) / 2 // 1.19 and 1.65, the middle two of six
	if pr == nil || math.Abs(pr.P99Ratio-want) > 1e-9 {
		t.Fatalf("ratio %+v, want %g", pr, want)
	}
	if pr.Line.P99ms != (199+216)/2.0 || pr.Ticket.P99ms != (324+347)/2.0 {
		t.Errorf("medians of the windows %g / %g, want 207.5 / 335.5", pr.Line.P99ms, pr.Ticket.P99ms)
	}
	var b strings.Builder
	summaryS7(&b, res, false)
	if !strings.Contains(b.String(), "| 1.42× | ≤ 1.25× | **missed** |") {
		t.Errorf("summary:\n%s", b.String())
	}
	if got := midMedianOf([]float64{3, 1, 2}, func(x float64) float64 { return x }); got != 2 {
		t.Errorf("odd count: %g, want 2", got)
	}
	if got := midMedianOf(nil, func(x float64) float64 { return x }); !math.IsNaN(got) {
		t.Errorf("none: %g, want NaN", got)
	}
}
