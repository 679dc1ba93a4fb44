package server

import (
	"time"

	"github.com/catqms/catqms/queue"
)

// timeLayout is the one way the API writes a time: RFC 3339 in UTC with
// exactly three decimals, so that every time has the same length and
// clients that compare or parse them by hand need no special cases
// (time.Time's own JSON drops trailing zeros: "…:57.85Z", "…:57Z").
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// apiTime is a time as the API shows it: in UTC, to the millisecond.
type apiTime time.Time

// MarshalJSON writes t as a JSON string in timeLayout.
func (t apiTime) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

// timeOf returns a pointer to t as the API shows it.
func timeOf(t time.Time) *apiTime {
	a := apiTime(t)
	return &a
}

// slotBody is a serving or called ticket in a snapshot: until is set while
// serving, deadline while called.
type slotBody struct {
	Ticket   string   `json:"ticket"`
	Until    *apiTime `json:"until,omitempty"`
	Deadline *apiTime `json:"deadline,omitempty"`
}

// snapshotBody is queue.Snapshot as the API and the WebSocket show it.
type snapshotBody struct {
	Version         int64          `json:"version"`
	Now             apiTime        `json:"now"`
	Length          int64          `json:"length"`
	Counters        int            `json:"counters"`
	Paused          bool           `json:"paused"`
	Serving         []slotBody     `json:"serving"`
	Called          []slotBody     `json:"called"`
	Waiting         []queue.Waiter `json:"waiting"`
	ETAPerTicketSec int64          `json:"eta_seconds_per_ticket"`
	// The wait of a ticket taken now, as a range (Server.snapshotBody).
	TakeETASec     int64 `json:"take_eta_seconds"`
	TakeETALowSec  int64 `json:"take_eta_low_seconds"`
	TakeETAHighSec int64 `json:"take_eta_high_seconds"`
}

// newSnapshotBody shows snap, with empty lists as [] and without touching
// the slices it was given.
func newSnapshotBody(snap queue.Snapshot) snapshotBody {
	b := snapshotBody{
		Version:         snap.Version,
		Now:             apiTime(snap.Now),
		Length:          snap.Length,
		Counters:        snap.Counters,
		Paused:          snap.Paused,
		Serving:         slotBodies(snap.Serving),
		Called:          slotBodies(snap.Called),
		Waiting:         snap.Waiting,
		ETAPerTicketSec: snap.ETAPerTicketSec,
	}
	if b.Waiting == nil {
		b.Waiting = []queue.Waiter{}
	}
	return b
}

func slotBodies(slots []queue.Slot) []slotBody {
	out := make([]slotBody, len(slots))
	for i, sl := range slots {
		out[i] = slotBody{Ticket: sl.Ticket}
		if sl.Until != nil {
			out[i].Until = timeOf(*sl.Until)
		}
		if sl.Deadline != nil {
			out[i].Deadline = timeOf(*sl.Deadline)
		}
	}
	return out
}
