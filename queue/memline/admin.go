package memline

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/catqms/catqms/queue"
)

// The operator's actions (lua/admin_*.lua). Each brings the line up to
// now, acts, and answers what it did: the tickets it called among them.

// adminOp runs act between the steps every action shares; the operator's
// reason ctx carries goes into the change log with the action.
func (l *Line) adminOp(ctx context.Context, act func() (uint64, error)) (queue.Outcome, error) {
	l.begin()
	defer l.end()
	l.why = queue.Reason(ctx)
	l.advance()
	before := map[uint64]bool{}
	for seq := range l.called {
		before[seq] = true
	}
	seq, err := act()
	if err != nil {
		return queue.Outcome{}, err
	}
	out := queue.Outcome{Version: l.versionAfter(), Counters: l.counters, Paused: l.paused, Called: []string{}}
	if seq != 0 {
		out.Ticket = queue.Label(seq)
	}
	for _, s := range l.line[:len(l.called)] {
		if !before[s] {
			out.Called = append(out.Called, queue.Label(s))
		}
	}
	return out, nil
}

// Pause stops taking tickets until Resume.
func (l *Line) Pause(ctx context.Context) (queue.Outcome, error) { return l.setPaused(ctx, true) }

// Resume lets people take tickets again.
func (l *Line) Resume(ctx context.Context) (queue.Outcome, error) { return l.setPaused(ctx, false) }

func (l *Line) setPaused(ctx context.Context, want bool) (queue.Outcome, error) {
	return l.adminOp(ctx, func() (uint64, error) {
		if want != l.paused {
			l.paused, l.dirty = want, true
			if want {
				l.logged(queue.EventPaused, 0, 0)
			} else {
				l.logged(queue.EventResumed, 0, 0)
			}
		}
		return 0, nil
	})
}

// CallNext calls the next waiting ticket now, ending the session that
// would end first when every counter is busy.
func (l *Line) CallNext(ctx context.Context) (queue.Outcome, error) {
	return l.adminOp(ctx, func() (uint64, error) {
		if len(l.line) <= len(l.called) {
			return 0, &queue.Error{Code: queue.CodeNobodyWaiting}
		}
		var ended uint64
		if l.counters-len(l.serving)-len(l.called) <= 0 {
			first := queue.ByTime(l.serving)
			if len(first) == 0 {
				return 0, &queue.Error{Code: queue.CodeCountersBusy}
			}
			ended = first[0]
			l.endSession(ended, queue.EventEndedByAdmin)
		}
		l.logged(queue.EventCallNext, 0, 0)
		counters := l.counters
		l.counters = len(l.serving) + len(l.called) + 1 // exactly one more
		l.callNext()
		l.counters = counters
		return ended, nil
	})
}

// Skip expires a called ticket now as a no-show ("" = the one called
// longest ago) and calls the next.
func (l *Line) Skip(ctx context.Context, label string) (queue.Outcome, error) {
	var seq uint64
	if label != "" {
		var err error
		if seq, err = labelSeq(label); err != nil {
			return queue.Outcome{}, err
		}
	}
	return l.adminOp(ctx, func() (uint64, error) {
		if seq == 0 {
			first := queue.ByTime(l.called)
			if len(first) == 0 {
				return 0, &queue.Error{Code: queue.CodeNotCalled}
			}
			seq = first[0]
		} else {
			t := l.tickets[seq]
			if t == nil {
				return 0, &queue.Error{Code: queue.CodeNotFound, Ticket: label}
			}
			if t.state != queue.StateCalled {
				return 0, &queue.Error{Code: queue.CodeNotCalled, Ticket: queue.Label(seq), State: t.state}
			}
		}
		l.removeFromLine(seq)
		l.finish(seq, queue.StateExpired, queue.EventSkipped)
		l.callNext()
		return seq, nil
	})
}

// SetCounters sets the number of service slots.
func (l *Line) SetCounters(ctx context.Context, n int) (queue.Outcome, error) {
	if n < 1 || n > queue.MaxCounters {
		return queue.Outcome{}, queue.Errorf(queue.CodeBadRequest, "counters must be 1 to %d, not %d", queue.MaxCounters, n)
	}
	return l.adminOp(ctx, func() (uint64, error) {
		if n != l.counters {
			l.logged(queue.EventCounters, 0, 0)
			l.dirty = true
		}
		l.counters = n
		l.callNext()
		return 0, nil
	})
}

// EndSession ends ticket label's viewing session now.
func (l *Line) EndSession(ctx context.Context, label string) (queue.Outcome, error) {
	seq, err := labelSeq(label)
	if err != nil {
		return queue.Outcome{}, err
	}
	return l.adminOp(ctx, func() (uint64, error) {
		t := l.tickets[seq]
		if t == nil {
			return 0, &queue.Error{Code: queue.CodeNotFound, Ticket: label}
		}
		if t.state != queue.StateServing {
			return 0, &queue.Error{Code: queue.CodeNotServing, Ticket: queue.Label(seq), State: t.state}
		}
		l.endSession(seq, queue.EventEndedByAdmin)
		l.callNext()
		return seq, nil
	})
}

// Unban lifts client's ban.
func (l *Line) Unban(ctx context.Context, client string) (queue.Outcome, error) {
	if client == "" {
		return queue.Outcome{}, queue.Errorf(queue.CodeBadRequest, "name the client to unban")
	}
	return l.adminOp(ctx, func() (uint64, error) {
		left := l.banned(client)
		delete(l.bans, client)
		if left == 0 {
			return 0, queue.Errorf(queue.CodeNotFound, "client %s is not banned", client)
		}
		l.logged(queue.EventUnban, 0, 0)
		l.dirty = true
		return 0, nil
	})
}

// Bans lists the clients banned now, the latest ban first.
func (l *Line) Bans(_ context.Context, limit int) ([]queue.Ban, int64, error) {
	limit = min(max(limit, 1), queue.MaxBanList)
	l.begin()
	defer l.end()
	l.advance()
	var clients []string
	for client, end := range l.bans {
		if end > l.now {
			clients = append(clients, client)
		} else {
			delete(l.bans, client)
		}
	}
	// A sorted set read from the top: the latest end first, ties by name,
	// also from the top.
	slices.SortFunc(clients, func(a, b string) int {
		if c := cmp.Compare(l.bans[b], l.bans[a]); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
	out := make([]queue.Ban, 0, min(limit, len(clients)))
	for _, c := range clients[:min(limit, len(clients))] {
		out = append(out, queue.Ban{Client: c, EndsAt: time.UnixMilli(l.bans[c]).UTC()})
	}
	return out, int64(len(clients)), nil
}

// AdminStats returns the running totals and whether taking is paused.
func (l *Line) AdminStats(context.Context) (queue.AdminStats, error) {
	l.begin()
	defer l.end()
	l.advance()
	mean := func(sum, n int64) time.Duration {
		if n == 0 {
			return 0
		}
		return ms(sum / n)
	}
	return queue.AdminStats{Paused: l.paused, Stats: queue.Stats{
		Issued: l.stats.issued, Served: l.stats.served, Expired: l.stats.expired,
		Left: l.stats.left, Bans: l.stats.bans,
		Length: int64(len(l.line)), Serving: int64(len(l.serving)), Called: int64(len(l.called)),
		Counters:     l.counters,
		MeanWait:     mean(l.stats.waitSum, l.stats.waitN),
		MeanService:  mean(l.stats.heldSum, l.stats.heldN),
		ETAPerTicket: ms(l.share()),
	}}, nil
}

// labelSeq returns the sequence number of label, or CodeBadRequest.
func labelSeq(label string) (uint64, error) {
	seq, ok := queue.ParseLabel(label)
	if !ok {
		return 0, queue.Errorf(queue.CodeBadRequest, "%.20q is not a ticket label (like A042)", label)
	}
	return seq, nil
}
