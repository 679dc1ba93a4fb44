package record_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/catqms/catqms/queue/record"
	"github.com/catqms/catqms/queue/record/recordtest"
)

// find returns the index of the first entry with an event of kind on
// ticket label ("" = any ticket).
func find(t *testing.T, entries []record.Entry, kind record.Kind, label string) (int, int) {
	t.Helper()
	for i, e := range entries {
		for j, ev := range e.Events {
			if ev.Kind == kind && (label == "" || ev.Ticket == label) {
				return i, j
			}
		}
	}
	t.Fatalf("no %s event for %q", kind, label)
	return 0, 0
}

// reseal chains entries again, as an operator rewriting the record would.
func reseal(t *testing.T, entries []record.Entry) []record.Entry {
	t.Helper()
	if _, err := record.Chain(record.Anchor{}, entries); err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestCorruptedRecordsAreCaught(t *testing.T) {
	honest := recordtest.HonestDay(t).Sealed()
	tests := []struct {
		name    string
		corrupt func(t *testing.T, r []record.Entry) []record.Entry
		rule    record.Rule
	}{
		{"an edited entry", func(t *testing.T, r []record.Entry) []record.Entry {
			i, j := find(t, r, record.KindLeft, "A004")
			r[i].Events[j].Ticket = "A005"
			return r
		}, record.RuleHash},
		{"an edited time", func(t *testing.T, r []record.Entry) []record.Entry {
			r[5].Time += 1
			return r
		}, record.RuleHash},
		{"a removed entry", func(t *testing.T, r []record.Entry) []record.Entry {
			return slices.Delete(r, 4, 5)
		}, record.RuleGap},
		{"a removed entry, versions renumbered", func(t *testing.T, r []record.Entry) []record.Entry {
			r = slices.Delete(r, 4, 5)
			r[4].PrevVersion = r[3].Version
			return r
		}, record.RuleLink},
		{"two entries reordered", func(t *testing.T, r []record.Entry) []record.Entry {
			r[3], r[4] = r[4], r[3]
			return r
		}, record.RuleOrder},
		{"a call that jumps the line", func(t *testing.T, r []record.Entry) []record.Entry {
			// C (A002) is first in line when it is called; call E (A004) instead.
			i, j := find(t, r, record.KindCalled, "A002")
			r[i].Events[j].Ticket = "A004"
			return reseal(t, r)
		}, record.RuleFIFO},
		{"a ticket served twice", func(t *testing.T, r []record.Entry) []record.Entry {
			i, _ := find(t, r, record.KindServed, "A000")
			r[i+1].Events = append(r[i+1].Events, record.Event{Kind: record.KindServed, Ticket: "A000"})
			return reseal(t, r)
		}, record.RuleServedTwice},
		{"a call beyond the counters", func(t *testing.T, r []record.Entry) []record.Entry {
			// B (A001) is called while A (A000) holds the only counter.
			i, _ := find(t, r, record.KindCalled, "A001")
			r[i].Counters = 1
			return reseal(t, r)
		}, record.RuleCounters},
		{"an expiry before its deadline", func(t *testing.T, r []record.Entry) []record.Entry {
			// B (A001) is the no-show: its call said an hour later.
			i, j := find(t, r, record.KindCalled, "A001")
			r[i].Events[j].Deadline += 3_600_000
			return reseal(t, r)
		}, record.RuleEarlyExpiry},
		{"a skip without a reason", func(t *testing.T, r []record.Entry) []record.Entry {
			i, j := find(t, r, record.KindSkipped, "")
			r[i].Events[j].Reason = ""
			return reseal(t, r)
		}, record.RuleNoCause},
		{"a ban-out without a ban", func(t *testing.T, r []record.Entry) []record.Entry {
			i, j := find(t, r, record.KindBan, "")
			r[i].Events = slices.Delete(r[i].Events, j, j+1)
			return reseal(t, r)
		}, record.RuleNoCause},
		{"a removal of an unknown kind", func(t *testing.T, r []record.Entry) []record.Entry {
			i, j := find(t, r, record.KindLeft, "A004")
			r[i].Events[j].Kind = "removed"
			return reseal(t, r)
		}, record.RuleMalformed},
		{"a forged reset", func(t *testing.T, r []record.Entry) []record.Entry {
			r[6].Events = append([]record.Event{{Kind: record.KindReset}}, r[6].Events...)
			return r // the reset does not start at genesis
		}, record.RuleLink},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.corrupt(t, recordtest.Clone(honest))
			d := record.Verify(r)
			if d.OK || d.Violation == nil {
				t.Fatalf("verdict ok on a record with %s: %s", tc.name, d.Summary)
			}
			if d.Violation.Rule != tc.rule {
				t.Fatalf("rule = %s, want %s: %s", d.Violation.Rule, tc.rule, d.Summary)
			}
			last := d.Violation.Entries[len(d.Violation.Entries)-1]
			if last.Version != d.Violation.Version || !strings.HasPrefix(d.Summary, "VIOLATION") {
				t.Errorf("violation %+v does not end with its entry, or summary %q", d.Violation, d.Summary)
			}
			t.Log(d.Summary)
		})
	}
}

func TestHonestRecordsPass(t *testing.T) {
	t.Run("a store reset in the middle", func(t *testing.T) {
		l := recordtest.HonestDay(t)
		// The store loses the line: a new chain with new numbers.
		l.Now += 5000
		l.Version += 1000 // versions rise across a reset
		l.Seq, l.Waiting, l.Called, l.Serving = 0, nil, map[uint64]record.Millis{}, map[uint64]bool{}
		l.Pending = []record.Event{{Kind: record.KindReset}}
		l.CommitFrom(0)
		l.Step(1000, func() { l.Take(); l.Take(); l.Take() })
		l.Step(1000, func() { l.Redeem(1) })
		r := l.Sealed()
		d := record.Verify(r)
		if !d.OK || len(d.Resets) != 2 || !strings.Contains(d.Summary, "reset") {
			t.Fatalf("verdict = %s (resets %v), want ok with 2 resets shown", d.Summary, d.Resets)
		}
	})
	t.Run("trimmed by age", func(t *testing.T) {
		full := recordtest.HonestDay(t).Sealed()
		for cut := 1; cut < len(full); cut++ {
			kept := recordtest.Clone(full[cut:])
			// The service chains what it keeps from the anchor it kept.
			anchor := record.Anchor{Version: full[cut-1].Version, Hash: full[cut-1].Hash}
			if _, err := record.Chain(anchor, kept); err != nil {
				t.Fatal(err)
			}
			for i := range kept {
				if kept[i].Hash != full[cut+i].Hash {
					t.Fatalf("cut %d: entry %d hashed %s, the untrimmed record %s", cut, i, kept[i].Hash, full[cut+i].Hash)
				}
			}
			if d := record.Verify(kept); !d.OK || d.Anchor != anchor.Hash {
				t.Fatalf("cut at %d: %s (anchor %s)", cut, d.Summary, d.Anchor)
			}
		}
	})
	t.Run("page by page, through JSON", func(t *testing.T) {
		full := recordtest.HonestDay(t).Sealed()
		v := record.NewVerifier()
		for page := range slices.Chunk(full, 3) {
			b, err := json.Marshal(page)
			if err != nil {
				t.Fatal(err)
			}
			var back []record.Entry
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			for _, e := range back {
				v.Add(e)
			}
		}
		if d := v.Verdict(); !d.OK || d.LastHash != full[len(full)-1].Hash {
			t.Fatalf("paged: %s", d.Summary)
		}
	})
	t.Run("an operator's call-next past shrunk counters", func(t *testing.T) {
		l := recordtest.NewLine(t, 2)
		l.Step(1000, func() { l.Take(); l.Take(); l.Take() })
		l.Step(1000, func() { l.Redeem(1); l.Redeem(2) })
		l.Step(1000, func() { l.Counters = 1; l.Ev(record.KindCounters, 0).Reason = "operator: one counter closes" })
		l.Step(1000, func() {
			// The session that ends first ends, and exactly one is called.
			l.Serve(1)
			l.Ev(record.KindCallNext, 0).Reason = "operator: call next"
			l.Call()
		})
		if d := record.Verify(l.Sealed()); !d.OK {
			t.Fatal(d.Summary)
		}
	})
}

func TestChainRefusesAnUnanchoredRun(t *testing.T) {
	full := recordtest.HonestDay(t).Sealed()
	kept := recordtest.Clone(full[4:])
	if _, err := record.Chain(record.Anchor{Version: full[2].Version, Hash: full[2].Hash}, kept); err == nil {
		t.Fatal("a run that skips an entry after its anchor was chained")
	}
}

// TestCanonicalIsStable pins the documented encoding: a change to it
// changes every hash any copy holds. The hash was computed apart from Go
// (sha256 of 32 zero bytes and the text above).
func TestCanonicalIsStable(t *testing.T) {
	e := record.Entry{Version: 7, PrevVersion: 6, Time: 1_800_000_000_123, Counters: 2, Events: []record.Event{
		{Kind: record.KindCalled, Ticket: "A001", Deadline: 1_800_000_030_123},
		{Kind: record.KindSkipped, Ticket: "A002", Reason: "operator: a\nb"},
		{Kind: record.KindPaused, Reason: "x"},
	}}
	want := "catqms-record 1\nversion 7\nprev 6\ntime 1800000000123\ncounters 2\n" +
		"event called A001 1800000030123 0 0:\n" +
		"event skipped A002 0 0 13:operator: a\nb\n" +
		"event paused - 0 0 1:x\n"
	if got := string(record.Canonical(e)); got != want {
		t.Fatalf("Canonical =\n%q\nwant\n%q", got, want)
	}
	h, err := record.HashOf(record.Genesis, e)
	if err != nil {
		t.Fatal(err)
	}
	if h != "fb1abc24caaba787d1efb078db4eb913a66fd3643742e0e284c9d856af1edd80" {
		t.Fatalf("HashOf(record.Genesis, e) = %s", h)
	}
	if _, err := record.HashOf("zz", e); err == nil {
		t.Error("a malformed previous hash was accepted")
	}
}

func TestRewrittenComparesACopy(t *testing.T) {
	kept := recordtest.HonestDay(t).Sealed()
	served := recordtest.Clone(kept[5:]) // trimmed since
	if v := record.Rewritten(kept, served); v != 0 {
		t.Fatalf("an honest trimmed record differs at %d", v)
	}
	// The operator rewrites entry 8 and seals the chain again from there:
	// the record verifies on its own, but not against the copy.
	served[3].Events[0].Reason = "rewritten"
	served[3].Events = append(served[3].Events, record.Event{Kind: record.KindPaused, Reason: "rewritten"})
	if _, err := record.Chain(record.Anchor{Version: kept[4].Version, Hash: kept[4].Hash}, served); err != nil {
		t.Fatal(err)
	}
	if d := record.Verify(served); !d.OK {
		t.Fatalf("the rewritten record should verify on its own: %s", d.Summary)
	}
	if v := record.Rewritten(kept, served); v != served[3].Version {
		t.Fatalf("Rewritten = %d, want %d", v, served[3].Version)
	}
}
