package record_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/catqms/catqms/queue/record"
)

// TestFromLog: a store's first step logs the take, the call and then W
// (the line it found lost); the record puts the reset first, and the
// entries verify.
func TestFromLog(t *testing.T) {
	const now = 1_800_000_000_000
	first, err := record.FromLog(1_800_000_000_000_001, 0, now, 1, "",
		[]record.LogEvent{{Letter: 't', Seq: 1}, {Letter: 'c', Seq: 1, At: now + 30_000}, {Letter: 'W'}})
	if err != nil {
		t.Fatal(err)
	}
	if !record.IsReset(first) || first.Events[2].Deadline != now+30_000 || first.Events[1].Ticket != "A000" {
		t.Fatalf("entry = %+v", first)
	}
	second, err := record.FromLog(1_800_000_000_000_002, 1_800_000_000_000_001, now+5_000, 1, "",
		[]record.LogEvent{{Letter: 'k', Seq: 1}, {Letter: 't', Seq: 2}, {Letter: 'c', Seq: 2, At: now + 35_000}})
	if err != nil {
		t.Fatal(err)
	}
	entries := []record.Entry{first, second}
	if _, err := record.Chain(record.Anchor{}, entries); err != nil {
		t.Fatal(err)
	}
	if d := record.Verify(entries); !d.OK || d.Calls != 2 {
		t.Fatalf("%s", d.Summary)
	}
	if _, err := record.FromLog(3, 2, now, 1, "", []record.LogEvent{{Letter: '?'}}); err == nil {
		t.Error("an unknown log event was read")
	}
}

// TestFromLogTakesTheOperatorsReason: an operator's reason kept with the
// step is the reason of its admin action, not of the events around it (a
// no-show the same step found, a ban); without one the record words the
// action itself.
func TestFromLogTakesTheOperatorsReason(t *testing.T) {
	const now = 1_800_000_000_000
	e, err := record.FromLog(5, 4, now, 1, "printer jammed",
		[]record.LogEvent{{Letter: 'x', Seq: 3}, {Letter: 'k', Seq: 4}, {Letter: 'Y'}, {Letter: 'c', Seq: 5, At: now + 30_000}})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{e.Events[0].Reason, e.Events[1].Reason, e.Events[2].Reason, e.Events[3].Reason}
	if want := []string{"", "printer jammed", "presented a forged token", ""}; !slices.Equal(got, want) {
		t.Fatalf("reasons %q, want %q", got, want)
	}
	for _, letter := range []byte{'e', 'k', 'P', 'U', 'N', 'n', 'y'} {
		seq := uint64(0)
		if letter == 'e' || letter == 'k' {
			seq = 4
		}
		with, _ := record.FromLog(6, 5, now, 1, "counter 2 closed for lunch", []record.LogEvent{{Letter: letter, Seq: seq}})
		without, _ := record.FromLog(6, 5, now, 1, "", []record.LogEvent{{Letter: letter, Seq: seq}})
		if with.Events[0].Reason != "counter 2 closed for lunch" || !strings.HasPrefix(without.Events[0].Reason, "operator: ") {
			t.Errorf("%c: with a reason %q, without %q", letter, with.Events[0].Reason, without.Events[0].Reason)
		}
	}
}
