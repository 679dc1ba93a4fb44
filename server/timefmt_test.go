package server

import (
	"encoding/json"
	"testing"
	"time"
)

// TestAPITimeMilliseconds: every time has exactly three decimals and is in
// UTC, whatever its fraction and zone.
func TestAPITimeMilliseconds(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 27, 10, 0, 57, 850_000_000, time.UTC), `"2026-11-27T10:00:57.850Z"`},
		{time.Date(2026, 11, 27, 10, 0, 57, 0, time.UTC), `"2026-11-27T10:00:57.000Z"`},
		{time.Date(2026, 11, 27, 10, 0, 57, 123_999_999, time.UTC), `"2026-11-27T10:00:57.123Z"`},
		{time.Date(2026, 11, 27, 11, 0, 57, 5_000_000, paris), `"2026-11-27T10:00:57.005Z"`},
	} {
		got, err := json.Marshal(apiTime(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("%v: %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	// Optional times are left out when nil.
	got, _ := json.Marshal(slotBody{Ticket: "A000"})
	if string(got) != `{"ticket":"A000"}` {
		t.Errorf("slot without times = %s", got)
	}
}
