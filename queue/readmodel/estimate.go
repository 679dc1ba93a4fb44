package readmodel

import (
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
)

// feedLocked tells the replica's flow.Book event e of entry c, just applied
// to m, at the entry's time (queue/flow's package doc gives the letters).
// It reports whether the Book must start again from m once the entry is
// applied: the store lost the line or lifted its version, so the log no
// longer tells the line's history. r.mu is held, or m is a load's model
// that nobody sees yet.
func (r *Replica) feedLocked(m *model, c queue.Change, e queue.Event) (reset bool) {
	var position int64
	if e.Kind == queue.EventTaken {
		// The model has the ticket's place right after its take; one called
		// in the same step is taken here and called by the next event.
		if !m.waiting.has(e.Seq) {
			return false
		}
		position = int64(len(m.called)) + int64(m.waiting.rank(e.Seq))
	}
	return feed(r.book, c, e, position)
}

// feed tells b event e of entry c at the entry's time; position is a
// taken ticket's place once in line. It reports whether the Book must
// start again from the line: the store lost it or lifted its version.
func feed(b *flow.Book, c queue.Change, e queue.Event, position int64) (reset bool) {
	at := timeOf(c)
	switch e.Kind {
	case queue.EventTaken:
		b.Taken(e.Seq, at, position)
	case queue.EventCalled:
		b.Called(e.Seq, at)
	case queue.EventRedeemed:
		b.Redeemed(e.Seq, at)
	case queue.EventEnded, queue.EventTimeUp, queue.EventEndedByAdmin:
		b.Served(e.Seq, at)
	case queue.EventLeft, queue.EventLeftCalled, queue.EventBannedOut, queue.EventBannedCalled,
		queue.EventExpired, queue.EventSkipped:
		b.Left(e.Seq, at)
	case queue.EventCounters:
		b.SetCounters(c.Counters, at)
	case queue.EventPaused:
		b.SetPaused(true, at)
	case queue.EventResumed:
		b.SetPaused(false, at)
	case queue.EventLost, queue.EventLifted:
		return true
	}
	return false
}

// timeOf is the line's clock at entry c.
func timeOf(c queue.Change) time.Time { return time.UnixMilli(c.Now) }

// resetBookLocked starts the Book's view of the line again from m: after a
// load, or an entry that broke the line's history. A called ticket was
// called its deadline less the head window ago; a serving one is taken as
// called a view window before its end (its call time is not kept), which
// only weighs on the first hold the Book measures from it.
func (r *Replica) resetBookLocked(m *model) {
	called := make(map[uint64]time.Time, len(m.called))
	for seq, deadline := range m.called {
		at := m.now
		if r.opts.HeadWindow > 0 {
			at = deadline - r.opts.HeadWindow.Milliseconds()
		}
		called[seq] = time.UnixMilli(min(at, m.now))
	}
	serving := make(map[uint64]time.Time, len(m.serving))
	view := r.opts.Flow.ViewWindow
	if view <= 0 {
		view = queue.DefaultSettings().ViewWindow
	}
	for seq, until := range m.serving {
		serving[seq] = time.UnixMilli(min(until-view.Milliseconds(), m.now))
	}
	r.book.Reset(time.UnixMilli(m.now), m.counters, m.paused, called, serving, int64(m.waiting.count))
}

// estimateLocked fills a waiting ticket's wait from the Book (with
// Options.FlowETA): ETA is the
// range's middle, ETALow and ETAHigh its bounds. r.mu is held.
func (r *Replica) estimateLocked(t *queue.Ticket) {
	if t.State != queue.StateWaiting || !r.opts.FlowETA {
		return
	}
	est := r.book.Estimate(t.Position)
	t.ETA, t.ETALow, t.ETAHigh = est.Mid, est.Low, est.High
}

// Estimate is the wait of a ticket at position (1-based, the called
// tickets included, as queue.Ticket.Position) from the line's flow as the
// log has shown it: zero for a position among the called. It takes no
// clock, so replicas that applied the same log answer the same. ErrStale
// (a *StaleError) while the replica holds no line.
func (r *Replica) Estimate(position int64) (flow.Range, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.m == nil {
		return flow.Range{}, r.staleLocked()
	}
	return r.book.Estimate(position), nil
}

// Accuracy is how the estimates fared over the last window up to the last
// event applied (flow.Book.Accuracy): the flow estimate's and the naive
// one's median absolute percentage error and share inside the range. The
// scores outlive a reload; a replica that has applied nothing reports none.
func (r *Replica) Accuracy(window time.Duration) flow.Report {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.book.Accuracy(window)
}

// Flow describes the flow the estimate is made from, as last measured.
func (r *Replica) Flow() flow.Flow {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.book.Flow()
}
