package main

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/server"
)

// recentOf fills the stats page's charts (server.RecentReader) from what
// this process has: the line's running totals and its change log. It
// folds the log into one bucket a minute as it reads it, and reads on each
// request only what was added since the last one.
type recentOf struct {
	log interface {
		LogRange(ctx context.Context, lo, hi int64, count int, newestFirst bool) ([]queue.Change, error)
		Stats(ctx context.Context) (queue.Stats, error)
	}
	// accuracy is the wait estimate's record over a window (queue/readmodel's
	// Replica.Accuracy, through an adapter); nil: the accuracy is left
	// empty, and the page shows none.
	accuracy func(window time.Duration) (server.Accuracy, bool)
	now      func() time.Time

	mu      sync.Mutex // one fold at a time; guards what follows
	last    int64      // the newest version folded
	buckets map[int64]*recentBucket
	taken   map[uint64]int64 // ticket → when it was taken (Unix ms), for waits
	waits   []waitSample
}

// The charts' shape: a point a minute over the last hours, rates and the
// wait distribution over the last hour.
const (
	recentSpan   = 3 * time.Hour
	recentStep   = time.Minute
	recentWindow = time.Hour
	recentRead   = 1000 // entries per read of the log
)

// waitEdges are the wait distribution's bucket bounds; the last is open.
var waitEdges = []time.Duration{0, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, time.Hour}

type recentBucket struct {
	called, served, noShows, left, taken, redeemed int64
}

type waitSample struct{ at, wait int64 } // when called, how long it waited (ms)

func newRecent(log interface {
	LogRange(ctx context.Context, lo, hi int64, count int, newestFirst bool) ([]queue.Change, error)
	Stats(ctx context.Context) (queue.Stats, error)
}) *recentOf {
	return &recentOf{log: log, now: time.Now, buckets: map[int64]*recentBucket{}, taken: map[uint64]int64{}}
}

// Recent is server.RecentReader.
func (r *recentOf) Recent(ctx context.Context) (server.Recent, error) {
	st, err := r.log.Stats(ctx)
	if err != nil {
		return server.Recent{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	since := now.Add(-recentSpan).UnixMilli()
	if err := r.fold(ctx, since); err != nil {
		return server.Recent{}, err
	}
	r.prune(since, now.Add(-recentWindow).UnixMilli())

	step := recentStep.Milliseconds()
	// One point a minute, the current one last: span/step points.
	cur := now.UnixMilli() / step * step
	first := cur - (int64(recentSpan/recentStep)-1)*step
	out := server.Recent{Step: recentStep, Rates: server.Rates{Window: recentWindow}}
	windowFrom := now.Add(-recentWindow).UnixMilli()
	for at := first; at <= cur; at += step {
		b := r.buckets[at]
		if b == nil {
			b = &recentBucket{}
		}
		out.Points = append(out.Points, server.RecentPoint{At: time.UnixMilli(at).UTC(),
			Called: b.called, Served: b.served, NoShows: b.noShows, Left: b.left})
		if at+step > windowFrom {
			out.Rates.Calls += b.called
			out.Rates.NoShows += b.noShows
			out.Rates.Taken += b.taken
			out.Rates.Left += b.left
		}
	}
	// In line at each point's end: the line now, less what joined since,
	// plus what went since (a reset in the span is not undone: clamped).
	inLine := st.Length
	for i := len(out.Points) - 1; i >= 0; i-- {
		out.Points[i].InLine = max(inLine, 0)
		if b := r.buckets[out.Points[i].At.UnixMilli()]; b != nil {
			inLine -= b.taken - b.redeemed - b.noShows - b.left
		}
	}
	out.Waits = make([]server.WaitBucket, len(waitEdges))
	for i, from := range waitEdges {
		out.Waits[i].From = from
		if i+1 < len(waitEdges) {
			out.Waits[i].To = waitEdges[i+1]
		}
	}
	for _, w := range r.waits {
		if w.at < windowFrom {
			continue
		}
		i := len(waitEdges) - 1
		for i > 0 && time.Duration(w.wait)*time.Millisecond < waitEdges[i] {
			i--
		}
		out.Waits[i].Count++
	}
	if r.accuracy != nil {
		for _, w := range []time.Duration{time.Hour, 24 * time.Hour} {
			if a, ok := r.accuracy(w); ok {
				out.Accuracy = append(out.Accuracy, a)
			}
		}
	}
	return out, nil
}

// fold reads the log's entries after the last one folded, or, the first
// time, back to since, newest first until older than since.
func (r *recentOf) fold(ctx context.Context, since int64) error {
	if r.last == 0 {
		var back [][]queue.Change
		hi := int64(math.MaxInt64)
		for {
			page, err := r.log.LogRange(ctx, 0, hi, recentRead, true)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			back = append(back, page)
			oldest := page[len(page)-1]
			if oldest.Now < since || len(page) < recentRead {
				break
			}
			hi = oldest.Version - 1
		}
		for i := len(back) - 1; i >= 0; i-- {
			for j := len(back[i]) - 1; j >= 0; j-- {
				if c := back[i][j]; c.Now >= since {
					r.add(c)
				}
			}
		}
		if len(back) == 0 {
			return nil
		}
	}
	for {
		page, err := r.log.LogRange(ctx, r.last+1, math.MaxInt64, recentRead, false)
		if err != nil {
			return err
		}
		for _, c := range page {
			r.add(c)
		}
		if len(page) < recentRead {
			return nil
		}
	}
}

// add folds one entry.
func (r *recentOf) add(c queue.Change) {
	r.last = max(r.last, c.Version)
	at := c.Now / recentStep.Milliseconds() * recentStep.Milliseconds()
	b := r.buckets[at]
	if b == nil {
		b = &recentBucket{}
		r.buckets[at] = b
	}
	for _, e := range c.Events {
		switch e.Kind {
		case queue.EventTaken:
			b.taken++
			r.taken[e.Seq] = c.Now
		case queue.EventCalled:
			b.called++
			if t, ok := r.taken[e.Seq]; ok {
				r.waits = append(r.waits, waitSample{at: c.Now, wait: c.Now - t})
				delete(r.taken, e.Seq)
			}
		case queue.EventRedeemed:
			b.redeemed++
		case queue.EventEnded, queue.EventTimeUp, queue.EventEndedByAdmin:
			b.served++
		case queue.EventExpired, queue.EventSkipped:
			b.noShows++
		case queue.EventLeft, queue.EventLeftCalled, queue.EventBannedOut, queue.EventBannedCalled:
			b.left++
			delete(r.taken, e.Seq)
		}
	}
}

// prune forgets buckets and takes older than since, waits older than
// waitsSince.
func (r *recentOf) prune(since, waitsSince int64) {
	for at := range r.buckets {
		if at+recentStep.Milliseconds() <= since {
			delete(r.buckets, at)
		}
	}
	for seq, at := range r.taken {
		if at < since {
			delete(r.taken, seq)
		}
	}
	i := 0
	for i < len(r.waits) && r.waits[i].at < waitsSince {
		i++
	}
	r.waits = r.waits[i:]
}
