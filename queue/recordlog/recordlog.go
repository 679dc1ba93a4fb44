// Package recordlog serves the public record (queue/record) from a line's
// change log: it reads pages of the log by version, maps each entry with
// record.FromLog and seals them with record.Chain from the store's anchor
// (the last entry trimmed off). Sealing a page needs the hash of the entry
// before it; rather than hash from the anchor on every page, it keeps
// marks: the hash of every markEvery-th entry it sealed, so a page hashes
// at most markEvery entries more than it shows.
package recordlog

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/record"
)

// Source is the change log and its anchor (queue/redisline's *Line).
type Source interface {
	// RecordAnchor is the version and hash of the last entry trimmed off.
	RecordAnchor(ctx context.Context) (record.Anchor, error)
	// LogRange is up to count entries with versions in [lo, hi], oldest
	// first unless newestFirst.
	LogRange(ctx context.Context, lo, hi int64, count int, newestFirst bool) ([]queue.Change, error)
}

// Query is one page: newest first below Before (0 = from the newest), or
// oldest first above After; Limit entries at most. Its fields are those of
// server.HistoryQuery, so one converts to the other.
type Query struct {
	NewestFirst bool
	After       int64
	Before      int64
	Limit       int
}

// markEvery is how many entries lie between two marks at most.
const markEvery = 256

// readBatch is how many entries one read of the log asks for.
const readBatch = 1000

// mark is an entry's hash, with a digest of the entry itself: a failover
// to a store replica that lagged may write a version again with other
// contents (queue/record, "lifted"), and a mark must not vouch for it.
type mark struct {
	version int64
	digest  [sha256.Size]byte
	hash    string
}

// Log is the record of one line.
type Log struct {
	src   Source
	mu    sync.Mutex
	marks []mark // by version
}

// New returns the record of the line whose log src reads.
func New(src Source) *Log { return &Log{src: src} }

// Page returns one page of the record, sealed.
func (l *Log) Page(ctx context.Context, q Query) ([]record.Entry, error) {
	limit := max(q.Limit, 1)
	var page []queue.Change
	var err error
	if q.NewestFirst {
		hi := int64(math.MaxInt64)
		if q.Before > 0 {
			hi = q.Before - 1
		}
		page, err = l.src.LogRange(ctx, 0, hi, limit, true)
	} else {
		if q.After == math.MaxInt64 {
			return nil, nil
		}
		page, err = l.src.LogRange(ctx, q.After+1, math.MaxInt64, limit, false)
	}
	if err != nil || len(page) == 0 {
		return nil, err
	}
	lo, hi := page[0].Version, page[len(page)-1].Version
	if lo > hi {
		lo, hi = hi, lo
	}
	sealed, err := l.seal(ctx, lo, hi)
	if errors.Is(err, record.ErrUnanchored) {
		// A replica may have trimmed between reading the anchor and the
		// log: read both again, once.
		sealed, err = l.seal(ctx, lo, hi)
	}
	if errors.Is(err, record.ErrUnanchored) {
		// The log's count cap cut entries before --history did: the
		// oldest kept entry follows no anchor, and guessing would serve
		// hashes no copy could check.
		return nil, queue.Errorf(queue.CodeUnavailable, "the record's oldest entries were dropped without an anchor (--log-length below what --history keeps): %v", err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]record.Entry, 0, len(page))
	for _, c := range page {
		e, ok := sealed[c.Version]
		if !ok {
			// Trimmed or replaced between the two reads: the page is stale.
			return nil, queue.Errorf(queue.CodeUnavailable, "the record changed while it was read; try again")
		}
		out = append(out, e)
	}
	return out, nil
}

// seal returns the sealed entries with versions in [lo, hi].
func (l *Log) seal(ctx context.Context, lo, hi int64) (map[int64]record.Entry, error) {
	anchor, err := l.src.RecordAnchor(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		start, from, check, ok := l.startFor(anchor, lo)
		if attempt > 0 {
			start, from, check, ok = anchor, anchor.Version+1, mark{}, false
		}
		out, stale, err := l.walk(ctx, anchor, start, from, check, ok, lo, hi)
		if err != nil || !stale {
			return out, err
		}
		if attempt > 0 {
			return nil, fmt.Errorf("recordlog: the record changed while it was read")
		}
	}
}

// startFor is where sealing version lo starts: the last mark below lo
// (read again from the log to check its digest), or the anchor.
func (l *Log) startFor(anchor record.Anchor, lo int64) (record.Anchor, int64, mark, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Marks at or below the anchor are trimmed off: forget them.
	cut, _ := slices.BinarySearchFunc(l.marks, anchor.Version+1, func(m mark, v int64) int { return cmpInt(m.version, v) })
	l.marks = slices.Delete(l.marks, 0, cut)
	i, _ := slices.BinarySearchFunc(l.marks, lo, func(m mark, v int64) int { return cmpInt(m.version, v) })
	if i == 0 {
		return anchor, anchor.Version + 1, mark{}, false
	}
	m := l.marks[i-1]
	return record.Anchor{Version: m.version, Hash: m.hash}, m.version, m, true
}

// walk reads the log from version from to hi, sealing after start; with a
// mark, the first entry read is the mark's own, checked against its
// digest (stale: it is not, the marks from it on are dropped).
func (l *Log) walk(ctx context.Context, anchor, start record.Anchor, from int64, m mark, useMark bool, lo, hi int64) (map[int64]record.Entry, bool, error) {
	out := make(map[int64]record.Entry, hi-lo+1)
	prev, since := start, 0
	first := true
	for from <= hi {
		changes, err := l.src.LogRange(ctx, from, hi, readBatch, false)
		if err != nil {
			return nil, false, err
		}
		if len(changes) == 0 {
			break
		}
		from = changes[len(changes)-1].Version + 1
		entries := make([]record.Entry, 0, len(changes))
		for _, c := range changes {
			e, err := entryOf(c)
			if err != nil {
				return nil, false, err
			}
			if first && useMark {
				first = false
				if e.Version != m.version || sha256.Sum256(record.Canonical(e)) != m.digest {
					l.dropMarksFrom(m.version)
					return nil, true, nil
				}
				continue
			}
			first = false
			if e.Version <= anchor.Version {
				continue // trimmed while this read
			}
			entries = append(entries, e)
		}
		if _, err := record.Chain(prev, entries); err != nil {
			return nil, false, err
		}
		var marks []mark
		for _, e := range entries {
			since++
			if since >= markEvery {
				since = 0
				marks = append(marks, mark{version: e.Version, digest: sha256.Sum256(record.Canonical(e)), hash: e.Hash})
			}
			if e.Version >= lo {
				out[e.Version] = e
			}
		}
		if n := len(entries); n > 0 {
			prev = record.Anchor{Version: entries[n-1].Version, Hash: entries[n-1].Hash}
		}
		l.addMarks(marks)
	}
	return out, false, nil
}

func (l *Log) addMarks(ms []mark) {
	if len(ms) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range ms {
		i, found := slices.BinarySearchFunc(l.marks, m.version, func(x mark, v int64) int { return cmpInt(x.version, v) })
		if found {
			l.marks[i] = m
		} else {
			l.marks = slices.Insert(l.marks, i, m)
		}
	}
}

func (l *Log) dropMarksFrom(v int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.marks, v, func(x mark, v int64) int { return cmpInt(x.version, v) })
	l.marks = l.marks[:i]
}

// entryOf is the record's entry for one entry of the log, not sealed.
func entryOf(c queue.Change) (record.Entry, error) {
	evs := make([]record.LogEvent, len(c.Events))
	for i, e := range c.Events {
		evs[i] = record.LogEvent{Letter: byte(e.Kind), Seq: e.Seq, At: e.At}
	}
	return record.FromLog(c.Version, c.Prev, c.Now, c.Counters, c.Reason, evs)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
