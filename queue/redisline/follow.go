package redisline

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
)

// Every replica follows the line's change log (log.go) with one blocking
// read, on a connection of its own (LogClientName): each entry tells it a
// new version (Changes) and the next deadline (the scheduler), whichever
// replica made it. The log replaced a pub/sub channel, which did the same
// but could lose messages and cost the store a PUBLISH in every change
// (see the README's "The change log").
//
// The entries it reads are kept in a window (followWindow of them), from
// which ReadLog serves a read model in this process without a second read
// of the store: one read of the log per replica per change, however many
// read models it feeds.

// Timing of the follower.
const (
	followBlock  = 2 * time.Second        // one blocking read; Close waits at most this long on a shared client
	followRetry  = 100 * time.Millisecond // after a failed read
	followWindow = 4096                   // entries kept for ReadLog, at least (feed.add)
)

// errLogBroken is what ReadLog answers a reader waiting when the follower's
// connection failed: entries may have been missed, so it loads the line again.
var errLogBroken = errors.New("redisline: the change log's reader lost its connection")

// feed is the follower's window of entries.
type feed struct {
	mu      sync.Mutex
	from    int64          // every entry after this version is in window (or was dropped from its front); -1 = none yet
	window  []queue.Change // the newest followWindow entries read, or up to twice as many
	wake    chan struct{}  // closed when entries come or the connection breaks
	breaks  int64          // connection failures so far
	lastErr error
}

func newFeed() *feed { return &feed{from: -1, wake: make(chan struct{})} }

// add appends entries read from the log to the window and keeps the
// newest followWindow of them, dropping the rest from the front once the
// window holds twice that many: each entry is moved once, where dropping
// at every read moved the whole window (about 400 KB) every read, 3.7 µs
// against 16 ns a read of one entry (BenchmarkFeedAdd). f.mu is held.
func (f *feed) add(got []queue.Change) {
	f.window = append(f.window, got...)
	if n := len(f.window) - followWindow; len(f.window) >= 2*followWindow {
		f.from = f.window[n-1].Version
		f.window = slices.Delete(f.window, 0, n)
	}
}

// follow reads the log until Close.
func (l *Line) follow() {
	defer l.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-l.stop
		cancel()
	}()
	last := "" // the id read last; "" = start at the log's end
	failing := false
	for ctx.Err() == nil {
		if last == "" {
			id, err := l.logEnd(ctx)
			if err != nil {
				failing = l.followFailed(ctx, err, failing)
				continue
			}
			last = id
			v, _ := strconv.ParseInt(id[:len(id)-2], 10, 64)
			l.feed.mu.Lock()
			l.feed.from, l.feed.window = v, l.feed.window[:0]
			l.feed.mu.Unlock()
			// The log's end is a version of the line: a change made
			// before the follower (re)started is one this replica has not
			// seen, unless an answer showed it already.
			l.saw(v, 0)
		}
		streams, err := l.logRDB.XRead(ctx, &redis.XReadArgs{
			Streams: []string{l.logKey, last}, Count: 1000, Block: followBlock,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			last = "" // start again from the end: a reader that waited loads the line
			failing = l.followFailed(ctx, err, failing)
			continue
		}
		if failing {
			l.log.Info("reading the change log works again")
			failing = false
		}
		var got []queue.Change
		for _, s := range streams {
			for _, msg := range s.Messages {
				last = msg.ID
				c, err := parseChange(msg)
				if err != nil {
					l.log.Error("unreadable change log entry", "id", msg.ID, "err", err)
					continue
				}
				got = append(got, c)
			}
		}
		l.feed.mu.Lock()
		l.feed.add(got)
		close(l.feed.wake)
		l.feed.wake = make(chan struct{})
		l.feed.mu.Unlock()
		for _, c := range got {
			l.saw(c.Version, c.Next)
		}
	}
}

// logEnd is the id of the log's last entry, "0-0" when it has none.
func (l *Line) logEnd(ctx context.Context) (string, error) {
	msgs, err := l.logRDB.XRevRangeN(ctx, l.logKey, "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// followFailed notes a failed read: the window is dropped and a reader
// waiting on it is told, then the follower waits a little.
func (l *Line) followFailed(ctx context.Context, err error, failing bool) bool {
	if ctx.Err() != nil {
		return failing
	}
	if !failing {
		l.log.Warn("reading the change log failed; retrying", "err", err)
		l.signal() // watchers learn at once that the store is gone
	}
	l.feed.mu.Lock()
	l.feed.from, l.feed.window = -1, l.feed.window[:0]
	l.feed.breaks++
	l.feed.lastErr = err
	close(l.feed.wake)
	l.feed.wake = make(chan struct{})
	l.feed.mu.Unlock()
	t := time.NewTimer(followRetry)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	return true
}

// fromWindow serves ReadLog from the follower's window when it holds every
// entry after after: ok is false when it does not (then the store is read).
// It waits up to block for an entry; a connection that breaks meanwhile is
// errLogBroken.
func (l *Line) fromWindow(ctx context.Context, after int64, count int, block time.Duration) (out []queue.Change, ok bool, err error) {
	var deadline <-chan time.Time
	for {
		l.feed.mu.Lock()
		f := l.feed
		if f.from < 0 || after < f.from {
			f.mu.Unlock()
			return nil, false, nil
		}
		i, _ := slices.BinarySearchFunc(f.window, after+1, func(c queue.Change, v int64) int {
			return int(min(max(c.Version-v, -1), 1))
		})
		if i < len(f.window) {
			out = slices.Clone(f.window[i:min(len(f.window), i+count)])
		}
		wake, breaks := f.wake, f.breaks
		held := f.from // the newest version the window holds
		if n := len(f.window); n > 0 {
			held = f.window[n-1].Version
		}
		f.mu.Unlock()
		if len(out) > 0 {
			return out, true, nil
		}
		if block <= 0 {
			// Nothing to wait for: the window answers unless this line
			// has seen a newer version (an answer of its own) that the
			// follower has not read yet; then the store does.
			return nil, l.version.Load() <= held, nil
		}
		if deadline == nil {
			t := time.NewTimer(block)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-wake:
			l.feed.mu.Lock()
			broke := l.feed.breaks != breaks
			l.feed.mu.Unlock()
			if broke {
				return nil, true, l.storeErr("read the change log", errLogBroken)
			}
		case <-deadline:
			return nil, true, nil
		case <-ctx.Done():
			return nil, true, ctx.Err()
		case <-l.stop:
			return nil, true, l.storeErr("read the change log", errors.New("the line is closed"))
		}
	}
}
