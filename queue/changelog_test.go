package queue

import (
	"reflect"
	"testing"
)

// TestEventsRoundTrip: every kind of event reads back as it was written,
// and anything else in the log's "ev" field is refused, not guessed at.
func TestEventsRoundTrip(t *testing.T) {
	var events []Event
	for kind, shape := range eventKinds {
		e := Event{Kind: kind}
		if shape.seq {
			e.Seq = 42
		}
		if shape.at {
			e.At = 1764921600000
		}
		events = append(events, e)
	}
	s := FormatEvents(events)
	got, err := ParseEvents(s)
	if err != nil || !reflect.DeepEqual(got, events) {
		t.Fatalf("ParseEvents(%q) = %v, %v; want %v", s, got, err, events)
	}
	if got, err := ParseEvents(""); err != nil || got != nil {
		t.Fatalf("no events: %v, %v", got, err)
	}
	for _, bad := range []string{"q12", "t", "c12", "t12@5", "P3", "t0", "tx", "c12@x", "t-1"} {
		if got, err := ParseEvents(bad); err == nil {
			t.Errorf("ParseEvents(%q) = %v, want an error", bad, got)
		}
	}
	if EventTimeUp.FinalState() != StateServed || EventSkipped.FinalState() != StateExpired ||
		EventBannedCalled.FinalState() != StateLeft || EventCalled.Finished() || !EventLeft.Finished() {
		t.Fatal("the final states of the events are wrong")
	}
}
