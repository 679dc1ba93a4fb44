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

// TestTicketShownIsTheMessage: two tickets have the same ticketShown
// exactly when they have the same message, over tickets made to differ
// little (the same seq, times within a millisecond, waits within a
// second, fields a state does not show).
func TestTicketShownIsTheMessage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	states := []queue.State{queue.StateWaiting, queue.StateCalled, queue.StateServing, queue.StateServed, queue.StateExpired, queue.StateLeft}
	base := time.UnixMilli(1_796_000_000_000)
	durations := []time.Duration{0, 400 * time.Millisecond, time.Second, 1400 * time.Millisecond, 2 * time.Second}
	times := []time.Time{{}, base, base.Add(300 * time.Microsecond), base.Add(time.Millisecond)}
	images := []string{"", "img-1", "img-2"}
	tickets := make([]queue.Ticket, 400)
	msgs := make([]string, len(tickets))
	for i := range tickets {
		seq := 1 + rng.Uint64N(2)
		tk := queue.Ticket{
			Seq: seq, Label: queue.Label(seq), State: states[rng.IntN(len(states))],
			Position: rng.Int64N(2), ETA: durations[rng.IntN(len(durations))],
			ETALow: durations[rng.IntN(len(durations))], ETAHigh: durations[rng.IntN(len(durations))],
			Deadline: times[rng.IntN(len(times))], Until: times[rng.IntN(len(times))],
			ImageID: images[rng.IntN(len(images))], Version: rng.Int64N(3),
		}
		tickets[i], msgs[i] = tk, string(appendTicketMessage(nil, tk))
	}
	same, differ := 0, 0
	for i := range tickets {
		for j := range i {
			sameShown := shownOf(tickets[i]) == shownOf(tickets[j])
			if sameMsg := msgs[i] == msgs[j]; sameShown != sameMsg {
				t.Fatalf("same shown %v, same message %v:\n%+v: %s\n%+v: %s", sameShown, sameMsg, tickets[i], msgs[i], tickets[j], msgs[j])
			}
			if sameShown {
				same++
			} else {
				differ++
			}
		}
	}
	if same < 100 || differ < 100 {
		t.Fatalf("%d pairs the same, %d different: the tickets do not test both ways", same, differ)
	}
	if (ticketShown{}) == shownOf(queue.Ticket{Seq: 1, Label: queue.Label(1), State: queue.StateServed}) {
		t.Fatal("a ticket's ticketShown is the zero one, which stands for none shown")
	}
}
