package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/record"
	"github.com/catqms/catqms/queue/record/recordtest"
)

// fakeHistory is a record held in memory, oldest first, answered as the
// change log would.
type fakeHistory struct {
	mu      sync.Mutex
	entries []record.Entry
	err     error
	asked   []HistoryQuery
}

func (f *fakeHistory) History(_ context.Context, q HistoryQuery) ([]record.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, q)
	if f.err != nil {
		return nil, f.err
	}
	var out []record.Entry
	if q.NewestFirst {
		for i := len(f.entries) - 1; i >= 0 && len(out) < q.Limit; i-- {
			if q.Before == 0 || f.entries[i].Version < q.Before {
				out = append(out, f.entries[i])
			}
		}
		return out, nil
	}
	for _, e := range f.entries {
		if e.Version > q.After && len(out) < q.Limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeHistory) set(entries []record.Entry) {
	f.mu.Lock()
	f.entries = entries
	f.mu.Unlock()
}

// longDay is an honest record of about n entries.
func longDay(t *testing.T, n int) []record.Entry {
	l := recordtest.NewLine(t, 3)
	for len(l.Entries) < n {
		l.Step(1000, func() { l.Take() })
		l.Step(500, func() {
			for seq := range l.Called {
				l.Redeem(seq)
				return
			}
		})
		l.Step(2000, func() {
			for seq := range l.Serving {
				l.Serve(seq)
				return
			}
		})
	}
	return l.Sealed()
}

func historyPage(t *testing.T, e *testEnv, target string) historyBody {
	t.Helper()
	w := e.do(http.MethodGet, target, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", target, w.Code, w.Body)
	}
	var b historyBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHistoryPages(t *testing.T) {
	full := longDay(t, 250)
	e := newTestServer(t, testOptions{history: &fakeHistory{entries: full}})

	// Newest first by default, 100 a page, paged back with before.
	var back []record.Entry
	for target := "/api/v1/history"; target != ""; {
		b := historyPage(t, e, target)
		if b.Order != "newest_first" || len(b.Entries) > DefaultHistoryPage {
			t.Fatalf("%s: order %s, %d entries", target, b.Order, len(b.Entries))
		}
		back = append(back, b.Entries...)
		target = b.Next
	}
	slices.Reverse(back)
	if len(back) != len(full) || back[0].Hash != full[0].Hash || back[len(back)-1].Hash != full[len(full)-1].Hash {
		t.Fatalf("newest first: %d entries, want %d, the same", len(back), len(full))
	}

	// Oldest first from a cursor, as a verifier reads it.
	var fwd []record.Entry
	for target := "/api/v1/history?after=0&limit=7"; target != ""; {
		b := historyPage(t, e, target)
		if b.Order != "oldest_first" {
			t.Fatalf("%s: order %s", target, b.Order)
		}
		fwd = append(fwd, b.Entries...)
		target = b.Next
	}
	if d := record.Verify(fwd); !d.OK || d.Entries != len(full) {
		t.Fatalf("forward pages: %s", d.Summary)
	}
	if b := historyPage(t, e, "/api/v1/history?after="+strconv.FormatInt(full[len(full)-1].Version, 10)); len(b.Entries) != 0 || b.Next != "" {
		t.Fatalf("after the newest: %+v", b)
	}
}

func TestHistoryRefusesBadQueries(t *testing.T) {
	e := newTestServer(t, testOptions{history: &fakeHistory{}})
	for _, q := range []string{"after=-1", "after=x", "before=1.5", "limit=0", "limit=1001", "limit=", "after=1&before=9",
		"after=99999999999999999999"} {
		t.Run(q, func(t *testing.T) {
			wantError(t, e.do(http.MethodGet, "/api/v1/history?"+q, nil), http.StatusBadRequest, queue.CodeBadRequest, false)
		})
	}
}

func TestHistoryWithoutARecord(t *testing.T) {
	e := newTestServer(t, testOptions{})
	wantError(t, e.do(http.MethodGet, "/api/v1/history", nil), http.StatusNotFound, queue.CodeNotFound, false)
	wantError(t, e.do(http.MethodGet, "/api/v1/history/verify", nil), http.StatusNotFound, queue.CodeNotFound, false)
}

func TestHistoryStoreDown(t *testing.T) {
	h := &fakeHistory{err: queue.Errorf(queue.CodeUnavailable, "store down")}
	e := newTestServer(t, testOptions{history: h})
	wantError(t, e.do(http.MethodGet, "/api/v1/history", nil), http.StatusServiceUnavailable, queue.CodeUnavailable, true)
	wantError(t, e.do(http.MethodGet, "/api/v1/history/verify", nil), http.StatusServiceUnavailable, queue.CodeUnavailable, true)
	h.mu.Lock()
	h.err = errors.New("a defect")
	h.mu.Unlock()
	wantError(t, e.do(http.MethodGet, "/api/v1/history", nil), http.StatusInternalServerError, queue.CodeInternal, false)
}

func verdictOf(t *testing.T, e *testEnv) record.Verdict {
	t.Helper()
	w := e.do(http.MethodGet, "/api/v1/history/verify", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("verify = %d %s", w.Code, w.Body)
	}
	var d record.Verdict
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHistoryVerify(t *testing.T) {
	full := longDay(t, 2500)
	h := &fakeHistory{entries: full[:1200]}
	e := newTestServer(t, testOptions{history: h})
	if d := verdictOf(t, e); !d.OK || d.Entries != 1200 {
		t.Fatalf("honest record: %s", d.Summary)
	}
	// The record grows: only the new entries are replayed.
	h.set(full)
	h.mu.Lock()
	h.asked = nil
	h.mu.Unlock()
	if d := verdictOf(t, e); !d.OK || d.Entries != len(full) || d.LastHash != full[len(full)-1].Hash {
		t.Fatalf("grown record: %+v", d)
	}
	h.mu.Lock()
	if h.asked[0].After != full[1199].Version {
		t.Errorf("the second verdict read from after=%d, want %d (the last replayed)", h.asked[0].After, full[1199].Version)
	}
	h.mu.Unlock()

	// Trimmed by age: replayed anew from its anchor, still sound.
	h.set(full[700:])
	e.srv.now = func() time.Time { return time.Now().Add(fullReplayEvery) }
	if d := verdictOf(t, e); !d.OK {
		t.Fatalf("trimmed record: %s", d.Summary)
	}

	// An entry edited in place: caught, with the entry shown.
	bad := recordtest.Clone(full)
	bad[2000].Time++
	h.set(bad)
	if d := verdictOf(t, e); !d.OK {
		t.Fatalf("within a minute, only new entries are replayed: %s", d.Summary)
	}
	e.srv.now = func() time.Time { return time.Now().Add(3 * fullReplayEvery) }
	d := verdictOf(t, e)
	if d.OK || d.Violation == nil || d.Violation.Rule != record.RuleHash || d.Violation.Version != bad[2000].Version {
		t.Fatalf("edited record: %+v", d)
	}
	// The violation stands without a replay on every request.
	h.mu.Lock()
	h.asked = nil
	h.mu.Unlock()
	if d := verdictOf(t, e); d.OK || d.Violation.Rule != record.RuleHash {
		t.Fatalf("the violation did not stand: %s", d.Summary)
	}
	h.mu.Lock()
	if len(h.asked) != 0 {
		t.Errorf("a standing violation read the record again: %v", h.asked)
	}
	h.mu.Unlock()
}

// fakeRecent answers the stats page's charts.
type fakeRecent struct{ r Recent }

func (f fakeRecent) Recent(context.Context) (Recent, error) { return f.r, nil }

func TestPublicStats(t *testing.T) {
	t.Run("totals only", func(t *testing.T) {
		e := newTestServer(t, testOptions{})
		e.take()
		m := decode(t, e.do(http.MethodGet, "/api/v1/stats", nil))
		if m["issued"] != 1.0 || m["length"] != 1.0 || m["step_seconds"] != 0.0 || len(m["series"].([]any)) != 0 {
			t.Fatalf("stats = %v", m)
		}
		if _, ok := m["history"]; ok {
			t.Errorf("a service without a record tells where to verify it: %v", m["history"])
		}
	})
	t.Run("with the charts", func(t *testing.T) {
		at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
		r := Recent{Step: time.Minute,
			Points: []RecentPoint{{At: at, InLine: 4, Called: 2, Served: 1, NoShows: 1}, {At: at.Add(time.Minute), InLine: 3, Left: 1}},
			Waits:  []WaitBucket{{From: 0, To: time.Minute, Count: 3}, {From: time.Minute, Count: 1}},
			Rates:  Rates{Window: time.Hour, Calls: 10, NoShows: 1, Taken: 0, Left: 2},
			Accuracy: []Accuracy{{Window: time.Hour, Calls: 10, MedianAPE: 0.125, Inside: 0.8, NaiveMedian: 0.5, NaiveInside: 0.3},
				{Window: 24 * time.Hour}},
		}
		e := newTestServer(t, testOptions{history: &fakeHistory{}, recent: fakeRecent{r}})
		m := decode(t, e.do(http.MethodGet, "/api/v1/stats", nil))
		series, waits := m["series"].([]any), m["wait_distribution"].([]any)
		if m["step_seconds"] != 60.0 || len(series) != 2 || series[1].(map[string]any)["left"] != 1.0 ||
			series[0].(map[string]any)["at"] != "2026-12-05T01:00:00.000Z" || len(waits) != 2 ||
			waits[0].(map[string]any)["to_seconds"] != 60.0 || waits[1].(map[string]any)["to_seconds"] != nil {
			t.Fatalf("series or waits: %v", m)
		}
		if rates := m["rates"].(map[string]any); rates["no_show_rate"] != 0.1 || rates["leave_rate"] != nil {
			t.Fatalf("rates: %v (a rate over no takes is null)", rates)
		}
		acc := m["accuracy"].([]any)
		if len(acc) != 2 || acc[0].(map[string]any)["median_ape"] != 0.125 || acc[1].(map[string]any)["median_ape"] != nil {
			t.Fatalf("accuracy: %v (a window without calls is null)", acc)
		}
		if h := m["history"].(map[string]any); h["retention_seconds"] != 86400.0 || h["verify"] != "/api/v1/history/verify" {
			t.Fatalf("history: %v", h)
		}
	})
}
