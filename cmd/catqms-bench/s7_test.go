package main

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
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
	w := &s7Watcher{pos0: 50}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	w.handle(room, []byte(`{"type":"snapshot","version":7,"now":"x","length":100,"waiting":[{"ticket":"A001"}]}`), at(5))
	w.handle(room, []byte(`{"type":"snapshot","version":9,"now":"x","length":98,"waiting":[]}`), at(50))
	w.handle(room, []byte(`{"type":"snapshot","version":8,"length":99}`), at(55)) // older than the last
	w.handle(room, []byte(`{"type":"ticket","ticket":"A050","state":"waiting","position":47,"eta_seconds":3}`), at(70))
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
	if w.msgs != 5 || !strings.Contains(w.errMsg, "bad_request") {
		t.Errorf("msgs %d, error %q", w.msgs, w.errMsg)
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
