package record_test

import (
	"testing"

	"github.com/catqms/catqms/queue/record"
)

// TestFromLog: a store's first step logs the take, the call and then W
// (the line it found lost); the record puts the reset first, and the
// entries verify.
func TestFromLog(t *testing.T) {
	const now = 1_800_000_000_000
	first, err := record.FromLog(1_800_000_000_000_001, 0, now, 1,
		[]record.LogEvent{{Letter: 't', Seq: 1}, {Letter: 'c', Seq: 1, At: now + 30_000}, {Letter: 'W'}})
	if err != nil {
		t.Fatal(err)
	}
	if !record.IsReset(first) || first.Events[2].Deadline != now+30_000 || first.Events[1].Ticket != "A000" {
		t.Fatalf("entry = %+v", first)
	}
	second, err := record.FromLog(1_800_000_000_000_002, 1_800_000_000_000_001, now+5_000, 1,
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
	if _, err := record.FromLog(3, 2, now, 1, []record.LogEvent{{Letter: '?'}}); err == nil {
		t.Error("an unknown log event was read")
	}
}
