package record_test

import (
	"testing"

	"github.com/catqms/catqms/queue/record"
	"github.com/catqms/catqms/queue/record/recordtest"
)

func TestHonestRecordPasses(t *testing.T) {
	l := recordtest.HonestDay(t)
	d := record.Verify(l.Sealed())
	if !d.OK {
		t.Fatalf("honest record: %s", d.Summary)
	}
	if d.Calls != 6 || d.Entries != len(l.Entries) || len(d.Resets) != 1 {
		t.Errorf("verdict = %+v, want 6 calls, %d entries, 1 reset (the first entry)", d, len(l.Entries))
	}
}
