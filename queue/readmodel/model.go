package readmodel

import (
	"math"
	"time"

	"github.com/catqms/catqms/queue"
)

// model is the line at one version: what the store's snapshot and status
// scripts read, kept in memory. It is not safe for concurrent use; the
// Replica guards it.
type model struct {
	version  int64
	now      int64 // the line's clock at the last entry or page, Unix ms
	offset   int64 // the line's clock minus the local clock, ms (Replica.Now)
	next     int64
	share    int64 // ms
	counters int
	paused   bool
	top      uint64           // the last seq known issued
	waiting  seqSet           // waiting tickets
	called   map[uint64]int64 // seq → deadline, ms
	serving  map[uint64]int64 // seq → until, ms
	recent   recentSet        // tickets that finished lately, and how
}

func newModel(recent int) *model {
	return &model{called: map[uint64]int64{}, serving: map[uint64]int64{}, recent: newRecentSet(recent)}
}

// head copies what every entry and page carries.
func (m *model) head(version, now, next, share int64, counters int, paused bool) {
	m.version, m.now, m.next, m.share, m.counters, m.paused = version, now, next, share, counters, paused
}

// apply applies one event. Every event is idempotent against a state that
// already shows it (a page read at a later version than the log's start),
// and sets its ticket's state outright: taken adds a waiting ticket,
// called and redeemed set the call or the session, and an end removes the
// ticket wherever it is.
func (m *model) apply(e queue.Event) {
	switch {
	case e.Kind == queue.EventTaken:
		m.top = max(m.top, e.Seq)
		if _, ok := m.called[e.Seq]; ok {
			return
		}
		if _, ok := m.serving[e.Seq]; ok {
			return
		}
		m.waiting.add(e.Seq)
	case e.Kind == queue.EventCalled:
		m.waiting.remove(e.Seq)
		m.called[e.Seq] = e.At
	case e.Kind == queue.EventRedeemed:
		m.waiting.remove(e.Seq)
		delete(m.called, e.Seq)
		m.serving[e.Seq] = e.At
	case e.Kind.Finished():
		m.waiting.remove(e.Seq)
		delete(m.called, e.Seq)
		delete(m.serving, e.Seq)
		m.recent.put(e.Seq, e.Kind.FinalState())
	}
}

// length is called + waiting, as the snapshot's length.
func (m *model) length() int64 { return int64(len(m.called) + m.waiting.count) }

// ticket is what status.lua answers for seq, but the image id.
func (m *model) ticket(seq uint64) (queue.Ticket, bool) {
	t := queue.Ticket{Seq: seq, Label: queue.Label(seq)}
	if at, ok := m.called[seq]; ok {
		t.State = queue.StateCalled
		// A called ticket counts the called tickets up to it (position_of).
		for s := range m.called {
			if s <= seq {
				t.Position++
			}
		}
		t.Deadline = time.UnixMilli(at).UTC()
		return t, true
	}
	if at, ok := m.serving[seq]; ok {
		t.State = queue.StateServing
		t.Until = time.UnixMilli(at).UTC()
		return t, true
	}
	if m.waiting.has(seq) {
		t.State = queue.StateWaiting
		called := int64(len(m.called))
		t.Position = called + int64(m.waiting.rank(seq))
		t.ETA = queue.WaitETA(t.Position, called, time.Duration(m.share)*time.Millisecond)
		return t, true
	}
	if st, ok := m.recent.get(seq); ok {
		t.State = st
	}
	return t, false
}

// snapshot is what snapshot.lua answers, at the line's time now.
func (m *model) snapshot(limit int, now time.Time) queue.Snapshot {
	snap := queue.Snapshot{
		Version:         m.version,
		Now:             now.UTC(),
		Length:          m.length(),
		Counters:        m.counters,
		Paused:          m.paused,
		ETAPerTicketSec: int64(math.Ceil(float64(m.share) / 1000)),
		Serving:         []queue.Slot{},
		Called:          []queue.Slot{},
		Waiting:         []queue.Waiter{},
	}
	for _, seq := range queue.ByTime(m.serving) {
		at := time.UnixMilli(m.serving[seq]).UTC()
		snap.Serving = append(snap.Serving, queue.Slot{Ticket: queue.Label(seq), Until: &at})
	}
	for _, seq := range queue.ByTime(m.called) {
		at := time.UnixMilli(m.called[seq]).UTC()
		snap.Called = append(snap.Called, queue.Slot{Ticket: queue.Label(seq), Deadline: &at})
	}
	for _, seq := range m.waiting.firstN(limit) {
		snap.Waiting = append(snap.Waiting, queue.Waiter{Ticket: queue.Label(seq)})
	}
	return snap
}

// recentSet remembers how the last n finished tickets ended, so a watcher
// of a ticket that just finished is told how, without the store.
type recentSet struct {
	state map[uint64]queue.State
	ring  []uint64
	next  int
}

func newRecentSet(n int) recentSet {
	return recentSet{state: make(map[uint64]queue.State, n), ring: make([]uint64, n)}
}

func (r *recentSet) put(seq uint64, st queue.State) {
	if len(r.ring) == 0 {
		return
	}
	if _, ok := r.state[seq]; !ok {
		if old := r.ring[r.next]; old != 0 {
			delete(r.state, old)
		}
		r.ring[r.next] = seq
		r.next = (r.next + 1) % len(r.ring)
	}
	r.state[seq] = st
}

func (r *recentSet) get(seq uint64) (queue.State, bool) {
	st, ok := r.state[seq]
	return st, ok
}
