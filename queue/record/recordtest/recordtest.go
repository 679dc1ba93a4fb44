// Package recordtest writes honest records for tests: a tiny line that
// runs the rules the store's scripts run and writes one sealed entry per
// step, as the change log and record.Chain do.
package recordtest

import (
	"slices"
	"testing"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/record"
)

// Line is a tiny honest line for the tests: it runs the rules the store's
// scripts run (FIFO calls while counters are free, no-shows at their
// deadline) and writes one entry per step, as the change log does.
type Line struct {
	t        testing.TB
	Now      record.Millis
	Head     record.Millis // a call's time to redeem
	Counters int
	Seq      uint64
	Waiting  []uint64
	Called   map[uint64]record.Millis // seq → deadline
	Serving  map[uint64]bool
	Version  int64
	Entries  []record.Entry
	Pending  []record.Event
}

// NewLine starts a line with counters counters: its first entry is the
// reset every new store begins with.
func NewLine(t testing.TB, counters int) *Line {
	l := &Line{t: t, Now: 1_800_000_000_000, Head: 30_000, Counters: counters,
		Called: map[uint64]record.Millis{}, Serving: map[uint64]bool{}, Version: 1_800_000_000_000_000}
	l.Pending = []record.Event{{Kind: record.KindReset}}
	l.CommitFrom(0)
	return l
}

// Ev adds an event to the step being built and returns it, to set its
// deadline, end or reason.
func (l *Line) Ev(kind record.Kind, seq uint64) *record.Event {
	e := record.Event{Kind: kind}
	if seq != 0 {
		e.Ticket = queue.Label(seq)
	}
	l.Pending = append(l.Pending, e)
	return &l.Pending[len(l.Pending)-1]
}

// CallFree calls waiting tickets while counters are free.
func (l *Line) CallFree() {
	for len(l.Waiting) > 0 && len(l.Called)+len(l.Serving) < l.Counters {
		l.Call()
	}
}

// Call calls the first waiting ticket.
func (l *Line) Call() {
	seq := l.Waiting[0]
	l.Waiting = l.Waiting[1:]
	l.Called[seq] = l.Now + l.Head
	l.Ev(record.KindCalled, seq).Deadline = l.Now + l.Head
}

// Step moves the clock, expires no-shows, calls, and commits what changed.
func (l *Line) Step(d record.Millis, op func()) {
	l.Now += d
	for _, seq := range sortedKeys(l.Called) {
		if l.Called[seq] <= l.Now {
			delete(l.Called, seq)
			l.Ev(record.KindExpired, seq)
		}
	}
	if op != nil {
		op()
	}
	l.CallFree()
	if len(l.Pending) > 0 {
		l.CommitFrom(l.Version)
	}
}

// CommitFrom writes the step being built as an entry after version prev.
func (l *Line) CommitFrom(prev int64) {
	l.Version++
	l.Entries = append(l.Entries, record.Entry{Version: l.Version, PrevVersion: prev, Time: l.Now,
		Counters: l.Counters, Events: l.Pending})
	l.Pending = nil
}

// Take adds a ticket at the end of the line.
func (l *Line) Take() uint64 {
	l.Seq++
	l.Waiting = append(l.Waiting, l.Seq)
	l.Ev(record.KindTaken, l.Seq)
	return l.Seq
}

// Redeem starts a called ticket's session.
func (l *Line) Redeem(seq uint64) {
	if _, ok := l.Called[seq]; !ok {
		l.t.Fatalf("redeem %d: not called", seq)
	}
	delete(l.Called, seq)
	l.Serving[seq] = true
	l.Ev(record.KindRedeemed, seq).Until = l.Now + 60_000
}

// Serve ends a session.
func (l *Line) Serve(seq uint64) {
	delete(l.Serving, seq)
	l.Ev(record.KindServed, seq)
}

// Leave takes a waiting or called ticket out of the line.
func (l *Line) Leave(seq uint64) {
	if i := slices.Index(l.Waiting, seq); i >= 0 {
		l.Waiting = slices.Delete(l.Waiting, i, i+1)
	} else {
		delete(l.Called, seq)
	}
	l.Ev(record.KindLeft, seq)
}

// Sealed returns the entries chained from Genesis.
func (l *Line) Sealed() []record.Entry {
	out := Clone(l.Entries)
	if _, err := record.Chain(record.Anchor{}, out); err != nil {
		l.t.Fatal(err)
	}
	return out
}

// Clone copies entries deeply enough to corrupt the copy.
func Clone(entries []record.Entry) []record.Entry {
	out := make([]record.Entry, len(entries))
	for i, e := range entries {
		out[i] = e
		out[i].Events = slices.Clone(e.Events)
	}
	return out
}

func sortedKeys(m map[uint64]record.Millis) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// HonestDay is a line with every kind of step: takes, calls, redeems,
// served sessions, no-shows, leavers from waiting and from called, an
// operator's skip, counters set, a ban, a pause.
func HonestDay(t testing.TB) *Line {
	l := NewLine(t, 2)
	var a, c, d, e, f, g uint64
	l.Step(1000, func() { a = l.Take() })           // called at once
	l.Step(1000, func() { l.Take(); c = l.Take() }) // B: called, c waits
	l.Step(1000, func() { d = l.Take(); e = l.Take() })
	l.Step(2000, func() { l.Redeem(a) })
	l.Step(1000, func() { l.Leave(d) }) // left while waiting
	l.Step(5000, func() { l.Serve(a) }) // c called
	l.Step(1000, func() { l.Redeem(c) })
	l.Step(30_000, nil)                                 // b is a no-show: e called
	l.Step(1000, func() { l.Leave(e) })                 // left while called
	l.Step(1000, func() { f = l.Take(); g = l.Take() }) // f called
	l.Step(1000, func() {                               // an operator skips f: g called
		delete(l.Called, f)
		l.Ev(record.KindSkipped, f).Reason = "operator: holder not in the room"
	})
	l.Step(1000, func() { l.Counters = 3; l.Ev(record.KindCounters, 0).Reason = "operator: third counter opened" })
	l.Step(1000, func() { l.Ev(record.KindPaused, 0).Reason = "operator: closing soon" })
	l.Step(1000, func() {
		h := l.Take()
		l.Ev(record.KindBan, 0).Reason = "presented a forged token"
		i := slices.Index(l.Waiting, h)
		if i >= 0 {
			l.Waiting = slices.Delete(l.Waiting, i, i+1)
		} else {
			delete(l.Called, h)
		}
		l.Ev(record.KindBannedOut, h)
	})
	l.Step(1000, func() { l.Redeem(g) })
	l.Step(60_000, func() { l.Serve(c); l.Serve(g) })
	return l
}
