package record

import (
	"slices"
	"testing"

	"github.com/catqms/catqms/queue"
)

// line is a tiny honest line for the tests: it runs the rules the store's
// scripts run (FIFO calls while counters are free, no-shows at their
// deadline) and writes one entry per step, as the change log does.
type line struct {
	t        *testing.T
	now      Millis
	head     Millis // a call's time to redeem
	counters int
	seq      uint64
	waiting  []uint64
	called   map[uint64]Millis // seq → deadline
	serving  map[uint64]bool
	version  int64
	entries  []Entry
	pending  []Event
}

func newLine(t *testing.T, counters int) *line {
	l := &line{t: t, now: 1_800_000_000_000, head: 30_000, counters: counters,
		called: map[uint64]Millis{}, serving: map[uint64]bool{}, version: 1_800_000_000_000_000}
	l.pending = []Event{{Kind: KindReset}}
	l.commitFrom(0)
	return l
}

func (l *line) ev(kind Kind, seq uint64) *Event {
	e := Event{Kind: kind}
	if seq != 0 {
		e.Ticket = queue.Label(seq)
	}
	l.pending = append(l.pending, e)
	return &l.pending[len(l.pending)-1]
}

// callFree calls waiting tickets while counters are free.
func (l *line) callFree() {
	for len(l.waiting) > 0 && len(l.called)+len(l.serving) < l.counters {
		l.call()
	}
}

func (l *line) call() {
	seq := l.waiting[0]
	l.waiting = l.waiting[1:]
	l.called[seq] = l.now + l.head
	l.ev(KindCalled, seq).Deadline = l.now + l.head
}

// step moves the clock, expires no-shows, calls, and commits what changed.
func (l *line) step(d Millis, op func()) {
	l.now += d
	for _, seq := range sortedKeys(l.called) {
		if l.called[seq] <= l.now {
			delete(l.called, seq)
			l.ev(KindExpired, seq)
		}
	}
	if op != nil {
		op()
	}
	l.callFree()
	if len(l.pending) > 0 {
		l.commitFrom(l.version)
	}
}

func (l *line) commitFrom(prev int64) {
	l.version++
	l.entries = append(l.entries, Entry{Version: l.version, PrevVersion: prev, Time: l.now,
		Counters: l.counters, Events: l.pending})
	l.pending = nil
}

func (l *line) take() uint64 {
	l.seq++
	l.waiting = append(l.waiting, l.seq)
	l.ev(KindTaken, l.seq)
	return l.seq
}

func (l *line) redeem(seq uint64) {
	if _, ok := l.called[seq]; !ok {
		l.t.Fatalf("redeem %d: not called", seq)
	}
	delete(l.called, seq)
	l.serving[seq] = true
	l.ev(KindRedeemed, seq).Until = l.now + 60_000
}

func (l *line) serve(seq uint64) {
	delete(l.serving, seq)
	l.ev(KindServed, seq)
}

func (l *line) leave(seq uint64) {
	if i := slices.Index(l.waiting, seq); i >= 0 {
		l.waiting = slices.Delete(l.waiting, i, i+1)
	} else {
		delete(l.called, seq)
	}
	l.ev(KindLeft, seq)
}

// sealed returns the entries chained from Genesis.
func (l *line) sealed() []Entry {
	out := clone(l.entries)
	if _, err := Chain(Anchor{}, out); err != nil {
		l.t.Fatal(err)
	}
	return out
}

func clone(entries []Entry) []Entry {
	out := make([]Entry, len(entries))
	for i, e := range entries {
		out[i] = e
		out[i].Events = slices.Clone(e.Events)
	}
	return out
}

func sortedKeys(m map[uint64]Millis) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// honestDay is a line with every kind of step: takes, calls, redeems,
// served sessions, no-shows, leavers from waiting and from called, an
// operator's skip, counters set, a ban, a pause.
func honestDay(t *testing.T) *line {
	l := newLine(t, 2)
	var a, c, d, e, f, g uint64
	l.step(1000, func() { a = l.take() })           // called at once
	l.step(1000, func() { l.take(); c = l.take() }) // B: called, c waits
	l.step(1000, func() { d = l.take(); e = l.take() })
	l.step(2000, func() { l.redeem(a) })
	l.step(1000, func() { l.leave(d) }) // left while waiting
	l.step(5000, func() { l.serve(a) }) // c called
	l.step(1000, func() { l.redeem(c) })
	l.step(30_000, nil)                                 // b is a no-show: e called
	l.step(1000, func() { l.leave(e) })                 // left while called
	l.step(1000, func() { f = l.take(); g = l.take() }) // f called
	l.step(1000, func() {                               // an operator skips f: g called
		delete(l.called, f)
		l.ev(KindSkipped, f).Reason = "operator: holder not in the room"
	})
	l.step(1000, func() { l.counters = 3; l.ev(KindCounters, 0).Reason = "operator: third counter opened" })
	l.step(1000, func() { l.ev(KindPaused, 0).Reason = "operator: closing soon" })
	l.step(1000, func() {
		h := l.take()
		l.ev(KindBan, 0).Reason = "presented a forged token"
		i := slices.Index(l.waiting, h)
		if i >= 0 {
			l.waiting = slices.Delete(l.waiting, i, i+1)
		} else {
			delete(l.called, h)
		}
		l.ev(KindBannedOut, h)
	})
	l.step(1000, func() { l.redeem(g) })
	l.step(60_000, func() { l.serve(c); l.serve(g) })
	return l
}

func TestHonestRecordPasses(t *testing.T) {
	l := honestDay(t)
	d := Verify(l.sealed())
	if !d.OK {
		t.Fatalf("honest record: %s", d.Summary)
	}
	if d.Calls != 6 || d.Entries != len(l.entries) || len(d.Resets) != 1 {
		t.Errorf("verdict = %+v, want 6 calls, %d entries, 1 reset (the first entry)", d, len(l.entries))
	}
}
