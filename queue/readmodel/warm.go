package readmodel

import (
	"context"
	"fmt"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
)

// DefaultWarm is how many entries of the kept change log a replica replays
// into its wait estimate when it starts (Options.Warm): at 20 changes a
// second, the last quarter of an hour, the flow's own window.
const DefaultWarm = 20_000

// warm replays the kept change log up to version v — the first load's
// pages, m — into a new Book, and makes it the replica's: a replica that
// starts (a restart, one more replica) measures the flow, calibrates its
// range and keeps the scores as one that followed those entries would,
// instead of starting from nothing and answering differently from the
// others for a window's time. The Book is built aside, so a read that
// fails leaves the replica's as it was; the scores it replays reach
// Accuracy but not Options.Flow.OnScore (the metrics count what this
// process scored live). It reads the entries after version v − Warm up to
// v, only those since the line's history last broke (a lost line, a
// lifted version, a gap in what the log kept); the first one read sets
// the Book's start (replay.start), the others are replayed.
func (r *Replica) warm(ctx context.Context, m *model) error {
	if r.opts.Warm < 0 {
		return nil
	}
	v := m.version
	var entries []queue.Change
	after := max(v-int64(r.opts.Warm), 0)
read:
	for after < v {
		batch, err := r.src.ReadLog(ctx, after, r.opts.Batch, 0)
		if err != nil {
			return fmt.Errorf("read the change log to warm the estimate: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, c := range batch {
			if c.Version > v {
				break read
			}
			if n := len(entries); n > 0 && c.Prev != entries[n-1].Version || breaksHistory(c) {
				entries = entries[:0] // the history before it does not lead to v
			}
			entries = append(entries, c)
		}
		after = batch[len(batch)-1].Version
	}
	if len(entries) < 2 || entries[len(entries)-1].Version != v {
		return nil // the log does not lead to the pages: nothing to replay
	}

	r.quiet.Store(true)
	defer r.quiet.Store(false)
	b := flow.New(r.flowCfg)
	var p replay
	p.start(b, entries, int64(m.waiting.count))
	for _, c := range entries[1:] {
		for _, e := range c.Events {
			p.feed(b, c, e)
		}
	}
	r.mu.Lock()
	r.book = b
	r.mu.Unlock()
	r.log.Debug("read model: estimate warmed from the change log", "entries", len(entries), "from", entries[0].Version, "to", v)
	return nil
}

// breaksHistory reports whether c starts the line's history again.
func breaksHistory(c queue.Change) bool {
	for _, e := range c.Events {
		if e.Kind == queue.EventLost || e.Kind == queue.EventLifted {
			return true
		}
	}
	return false
}

// replay follows the line as far as a Book needs it while the log is
// replayed without a model: how many wait, which tickets it saw called
// or serving. A replay starts in the middle of the line's life: tickets
// called before its first entry are unknown to it, and their ends tell
// the Book nothing (a Book takes an unknown ticket's leave for a waiting
// one's).
type replay struct {
	waiting int64
	called  map[uint64]bool // called, not yet redeemed: the Book's own called
	serving map[uint64]bool
}

// start sets the Book at the first entry, the anchor: the line as it was
// right after it, with as many waiting as the entries after it leave
// waiting at their end (waitingAtEnd, the pages' count) — takes add one,
// calls and leaves while waiting take one away — and the anchor's
// counters and pause. The replay feeds the entries after it.
func (p *replay) start(b *flow.Book, entries []queue.Change, waitingAtEnd int64) {
	net := int64(0)
	for _, c := range entries[1:] {
		for _, e := range c.Events {
			switch e.Kind {
			case queue.EventTaken:
				net++
			case queue.EventCalled, queue.EventLeft, queue.EventBannedOut:
				net--
			}
		}
	}
	p.waiting = max(waitingAtEnd-net, 0)
	p.called, p.serving = map[uint64]bool{}, map[uint64]bool{}
	anchor := entries[0]
	b.Reset(timeOf(anchor), anchor.Counters, anchor.Paused, nil, nil, p.waiting)
}

func (p *replay) feed(b *flow.Book, c queue.Change, e queue.Event) {
	var position int64
	switch e.Kind {
	case queue.EventTaken:
		p.waiting++
		position = int64(len(p.called)) + p.waiting
	case queue.EventCalled:
		p.waiting = max(p.waiting-1, 0)
		p.called[e.Seq] = true
	case queue.EventRedeemed:
		if !p.called[e.Seq] {
			return
		}
		delete(p.called, e.Seq)
		p.serving[e.Seq] = true
	case queue.EventLeft, queue.EventBannedOut:
		p.waiting = max(p.waiting-1, 0)
	case queue.EventLeftCalled, queue.EventBannedCalled, queue.EventExpired, queue.EventSkipped,
		queue.EventEnded, queue.EventTimeUp, queue.EventEndedByAdmin:
		if !p.called[e.Seq] && !p.serving[e.Seq] {
			return // called before the replay began
		}
		delete(p.called, e.Seq)
		delete(p.serving, e.Seq)
	}
	feed(b, c, e, position)
}
