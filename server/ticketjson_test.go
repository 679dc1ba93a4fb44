package server

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
)

// TestTicketMessageIsEncodingJSON: the live feed's encoder writes exactly
// what json.Marshal writes, for every state and for strings that need
// escaping.
func TestTicketMessageIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	states := []queue.State{queue.StateWaiting, queue.StateCalled, queue.StateServing, queue.StateServed, queue.StateExpired, queue.StateLeft, ""}
	labels := []string{"A000", "Z999", "", `we"ird`, "<b>&", "ünï", "tab\there", "back\\slash", "\u2028"}
	for i := range 5000 {
		tk := queue.Ticket{
			Seq: rng.Uint64N(1e6), Label: labels[rng.IntN(len(labels))], State: states[rng.IntN(len(states))],
			Position: rng.Int64N(100000), ETA: time.Duration(rng.Int64N(1e13)),
			ETALow: time.Duration(rng.Int64N(1e12)), ETAHigh: time.Duration(rng.Int64N(1e14)),
			Deadline: time.UnixMilli(rng.Int64N(4e12)), Until: time.UnixMilli(rng.Int64N(4e12)),
			ImageID: labels[rng.IntN(len(labels))],
		}
		if i%3 == 0 {
			tk.ETALow, tk.ETAHigh = 0, 0 // the store's estimate alone
		}
		if i%5 == 0 {
			tk.Deadline, tk.Until = time.Time{}, time.Time{}
		}
		b := newTicketBody(tk)
		b.Type = "ticket"
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTicketMessage(nil, tk); string(got) != string(want) {
			t.Fatalf("ticket %+v:\n got %s\nwant %s", tk, got, want)
		}
	}
}
