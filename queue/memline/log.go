package memline

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/catqms/catqms/queue"
)

// The change log (queue/changelog.go), as the store's scripts write it:
// one entry per version, with the events of the step that made it, so a
// read model (queue/readmodel) can follow this line as it follows the
// store's.

// LogLength is how many entries the line's change log keeps.
const LogLength = 100_000

// appendLog appends the entry of the operation that ends, at l.version.
func (l *Line) appendLog() {
	paused := l.paused
	prev := l.version - 1
	if len(l.events) > 0 && l.events[0].Kind == queue.EventLost {
		prev = 0
	}
	l.log = append(l.log, queue.Change{
		Version: l.version, Prev: prev, Now: l.now, Next: l.nextDeadline(), Share: l.share(),
		Counters: l.counters, Paused: paused, Events: slices.Clone(l.events), Reason: l.why,
	})
	if len(l.log) > LogLength {
		l.log = slices.Delete(l.log, 0, len(l.log)-LogLength)
	}
	close(l.logWake)
	l.logWake = make(chan struct{})
}

// nextDeadline is the earliest deadline of a call or a session, 0 = none.
func (l *Line) nextDeadline() int64 {
	var n int64
	for _, m := range []map[uint64]int64{l.called, l.serving} {
		for _, at := range m {
			if n == 0 || at < n {
				n = at
			}
		}
	}
	return n
}

// ReadLog returns the change log's entries after version after, oldest
// first, at most count of them. When there are none it waits up to block
// for one (block ≤ 0: it does not wait).
func (l *Line) ReadLog(ctx context.Context, after int64, count int, block time.Duration) ([]queue.Change, error) {
	var deadline <-chan time.Time
	if block > 0 {
		t := time.NewTimer(block)
		defer t.Stop()
		deadline = t.C
	}
	for {
		l.mu.Lock()
		i, _ := slices.BinarySearchFunc(l.log, after+1, func(c queue.Change, v int64) int {
			return cmp.Compare(c.Version, v)
		})
		var out []queue.Change
		if i < len(l.log) {
			out = slices.Clone(l.log[i:min(len(l.log), i+count)])
		}
		wake := l.logWake
		l.mu.Unlock()
		if len(out) > 0 || block <= 0 {
			return out, nil
		}
		select {
		case <-wake:
		case <-deadline:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// LoadPage reads one page of the line (queue.LinePage): after is the
// cursor (the last seq the previous page covered, 0 at first), top the
// first page's Top (0 at first), limit the most Gone seqs to list. Like
// the store's, it is one step of the line: it brings the line up to now
// first.
func (l *Line) LoadPage(_ context.Context, after, top uint64, limit int) (queue.LinePage, error) {
	l.begin()
	defer l.end()
	l.advance()
	p := queue.LinePage{
		Version: l.versionAfter(), Now: l.now, Next: l.nextDeadline(), Share: l.share(),
		Counters: l.counters, Paused: l.paused, Length: int64(len(l.line)),
		Head: l.lastSeq + 1, Top: l.lastSeq,
		Called: []queue.SeqTime{}, Serving: []queue.SeqTime{}, Gone: []uint64{},
	}
	if waiting := l.line[len(l.called):]; len(waiting) > 0 {
		p.Head = waiting[0]
	}
	for _, seq := range sortedKeys(l.called) {
		p.Called = append(p.Called, queue.SeqTime{Seq: seq, At: l.called[seq]})
	}
	for _, seq := range sortedKeys(l.serving) {
		p.Serving = append(p.Serving, queue.SeqTime{Seq: seq, At: l.serving[seq]})
	}
	if top == 0 {
		top = p.Top
	}
	// Every seq from the head on that is not waiting left while waiting:
	// called tickets are called in order, so all of them are below it.
	waiting := map[uint64]bool{}
	for _, seq := range l.line[len(l.called):] {
		waiting[seq] = true
	}
	for seq := max(after+1, p.Head); seq <= top && len(p.Gone) < limit; seq++ {
		if !waiting[seq] {
			p.Gone = append(p.Gone, seq)
		}
	}
	return p, nil
}

func sortedKeys(m map[uint64]int64) []uint64 {
	out := make([]uint64, 0, len(m))
	for seq := range m {
		out = append(out, seq)
	}
	slices.Sort(out)
	return out
}
