package server

import (
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
)

// estimated is t with its wait from the server's view (queue/flow, as the
// read model keeps it): ETA the range's middle, ETALow and ETAHigh its
// bounds. A ticket the view already estimated, or one not waiting, is
// shown as it is; while the view cannot answer, the store's ETA stands
// alone (newTicketBody shows it as both bounds).
func (s *Server) estimated(t queue.Ticket) queue.Ticket {
	if t.State != queue.StateWaiting || t.ETAHigh > 0 {
		return t
	}
	t.ETA, t.ETALow, t.ETAHigh = s.estimate(t.Position, t.ETA)
	return t
}

// estimate is the wait at position from the view: middle, low, high. While
// the view cannot answer (stale), or places the position among the called
// (it is a moment behind the store that answered), it is the store's eta
// with no range.
func (s *Server) estimate(position int64, store time.Duration) (mid, low, high time.Duration) {
	r, err := s.view.Estimate(position)
	if err != nil || r.High <= 0 {
		return store, store, store
	}
	return r.Mid, r.Low, r.High
}

// etaRange is a wait and its bounds in whole seconds, low ≤ eta ≤ high:
// the wait rounded up, as everywhere, the low bound down and the high one
// up, so that the whole seconds hold the range they stand for (a low
// bound rounded up would cut up to a second off the range's bottom: a
// short wait predicted in range would be shown outside it). Bounds not
// known (both zero), or no range (both the wait: the store's estimate),
// are the wait itself.
func etaRange(eta, low, high time.Duration) (mid, lo, hi int64) {
	mid = etaSeconds(eta)
	if low == 0 && high == 0 || low == eta && high == eta {
		return mid, mid, mid
	}
	return mid, min(floorSeconds(low), mid), max(etaSeconds(high), mid)
}

// floorSeconds is d in whole seconds, rounded down; never negative.
func floorSeconds(d time.Duration) int64 {
	return max(int64(d/time.Second), 0)
}

// Accuracy is the wait estimate's record over the window up to now, as
// the replica's view scored it (the prediction made when each ticket was
// taken), beside the naive estimate's; false while the view cannot say.
// GET /api/v1/stats shows it (cmd/catqms wires it to the RecentReader).
func (s *Server) Accuracy(window time.Duration) (Accuracy, bool) {
	if s.replica == nil {
		return Accuracy{}, false
	}
	if _, err := s.replica.Snapshot(0); err != nil {
		return Accuracy{}, false
	}
	rep := s.replica.Accuracy(window)
	f, n := rep.Flow[flow.PointTake], rep.Naive[flow.PointTake]
	return Accuracy{
		Window: window, Calls: f.Calls,
		MedianAPE: f.MdAPE, Inside: f.Inside,
		NaiveMedian: n.MdAPE, NaiveInside: n.Inside,
	}, true
}

// snapshotBody shows snap with the wait of a ticket taken now (at the end
// of the line) as a range from the view; the store's per-ticket share
// alone while the view cannot answer. The board and the page show it.
func (s *Server) snapshotBody(snap queue.Snapshot) snapshotBody {
	b := newSnapshotBody(snap)
	called := int64(len(snap.Called))
	store := queue.WaitETA(snap.Length+1, called, time.Duration(snap.ETAPerTicketSec)*time.Second)
	b.TakeETASec, b.TakeETALowSec, b.TakeETAHighSec = etaRange(s.estimate(snap.Length+1, store))
	return b
}
