// Package readmodel keeps a line in memory, in every replica, from the
// line's change log (queue.Change): the order of the waiting tickets, the
// called and serving ones with their deadlines, the counters, the pause.
// It answers what the store's snapshot and status scripts answer — the
// board and every ticket's position, wait estimate, state and deadline —
// with no store call: a position is O(log n) (seqSet). It serves only what
// is shown; whatever decides (a take, a redeem, a ban) still asks the store.
//
// A Replica loads the line in pages (queue.LinePage), then applies the log
// from the first page's version. An entry whose previous version is not
// the one it holds is a gap (a trimmed log, a store that lost its data, a
// failover): it loads again. So does a read that fails (a reconnect). While
// it has no line it can vouch for, its queries answer ErrStale.
package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
)

// Source is a line that a Replica follows: a store that keeps the change
// log. *redisline.Line and *memline.Line implement it.
type Source interface {
	// LoadPage reads one page of the line in one atomic step (see
	// queue.LinePage): after is the last seq the previous page covered (0
	// at first), top the first page's Top (0 at first), limit the most
	// Gone seqs to list.
	LoadPage(ctx context.Context, after, top uint64, limit int) (queue.LinePage, error)
	// ReadLog returns up to count entries of the change log after version
	// after, oldest first, waiting up to block for one when there are none
	// (block ≤ 0: no wait). No entries and no error: nothing new.
	ReadLog(ctx context.Context, after int64, count int, block time.Duration) ([]queue.Change, error)
}

// ErrStale is what the queries answer while the replica holds no line it
// can vouch for: before its first load, and from a gap or a failed read
// until it has loaded again.
var ErrStale = errors.New("readmodel: the line is not loaded")

// Options configure a Replica. Zero fields take the defaults below.
type Options struct {
	// Clock is this process's clock: a snapshot's now is it plus the
	// offset to the line's clock that the last entry showed. Nil = the
	// system clock.
	Clock queue.Clock
	// PageSize is the most departed seqs one page of a load lists.
	PageSize int
	// Batch is the most log entries one read returns.
	Batch int
	// Block is how long one read of the log waits for an entry.
	Block time.Duration
	// Retry is how long to wait after a load or a read failed.
	Retry time.Duration
	// Recent is how many finished tickets' ends are remembered, so a
	// watcher of a ticket that just finished learns how.
	Recent int
	// ImageID names a serving ticket's picture (queue.Signer.ImageID);
	// nil leaves Ticket's ImageID empty.
	ImageID func(seq uint64) string
	// Logger reports loads and gaps; nil discards.
	Logger *slog.Logger
	// Flow configures the wait estimate (queue/flow) the replica keeps
	// from the log: the line's counters and view window, and OnScore for
	// the metrics. OnScore is called under the replica's lock, in log
	// order: it must not call back into the replica.
	Flow flow.Config
	// FlowETA makes Ticket and Tickets show a waiting ticket's wait from
	// the flow (Estimate): ETA the range's middle, ETALow and ETAHigh its
	// bounds. Without it they show the store's estimate, as status.lua
	// answers it (ETALow and ETAHigh zero), which the stores' differential
	// tests compare field by field.
	FlowETA bool
	// HeadWindow is the line's head window: a called ticket's deadline
	// less it is when it was called, which a load tells the estimate
	// (queue/flow's Reset). Zero takes the line's clock at the load.
	HeadWindow time.Duration
	// Warm is how many entries of the kept change log the first load
	// replays into the wait estimate (DefaultWarm; negative: none), so a
	// replica that starts estimates as the others do (warm.go).
	Warm int
}

// The defaults of Options.
const (
	DefaultPageSize = 10_000
	DefaultBatch    = 1_000
	DefaultBlock    = 5 * time.Second
	DefaultRetry    = 500 * time.Millisecond
	DefaultRecent   = 4_096
)

// Reasons a Replica loads the line, the keys of Stats.Loads.
const (
	ReasonStart = "start" // the first load
	ReasonGap   = "gap"   // an entry's previous version is not the one held (trim, wipe, failover)
	ReasonError = "error" // a read or a load failed (a reconnect, a store down)
)

// Stats describe a Replica's work.
type Stats struct {
	Loaded       bool             // it holds a line it can vouch for
	Version      int64            // the version it holds
	Loads        map[string]int64 // loads done, by reason
	LastLoad     time.Duration    // how long the last load took, log replay included
	LastPages    int              // pages the last load read
	Tickets      int              // waiting, called and serving tickets held
	Entries      int64            // log entries applied
	WaitingBytes int              // memory of the waiting tickets' set
}

// Replica is a line in memory following a Source's change log. Its queries
// are safe for concurrent use; one goroutine follows (Run, or Sync in tests).
type Replica struct {
	src  Source
	opts Options
	log  *slog.Logger

	follow sync.Mutex // one follower: Run or Sync

	mu      sync.RWMutex
	m       *model // nil while stale
	reload  bool   // load before reading on; m, a true past state, is shown meanwhile
	cause   error  // why it is stale: the last failure, nil before the first load
	version int64  // the version last held, kept while stale
	stats   Stats
	bans    int64      // bans seen in the log, and loads (which may hide some)
	reason  string     // why the next load happens
	book    *flow.Book // the wait estimate, fed every applied event under mu

	flowCfg flow.Config // the Book's, with OnScore silenced while quiet
	quiet   atomic.Bool // replaying the log into a Book aside (warm.go)

	changes chan struct{}
}

// New returns a Replica of src; it loads nothing until Run or Sync.
func New(src Source, opts Options) *Replica {
	if opts.Clock == nil {
		opts.Clock = queue.SystemClock{}
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Block <= 0 {
		opts.Block = DefaultBlock
	}
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	if opts.Recent <= 0 {
		opts.Recent = DefaultRecent
	}
	if opts.Warm == 0 {
		opts.Warm = DefaultWarm
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Replica{
		src: src, opts: opts, log: opts.Logger,
		stats:   Stats{Loads: map[string]int64{}},
		reason:  ReasonStart,
		changes: make(chan struct{}, 1),
		flowCfg: opts.Flow,
	}
	if score := opts.Flow.OnScore; score != nil {
		r.flowCfg.OnScore = func(s flow.Score) {
			if !r.quiet.Load() {
				score(s)
			}
		}
	}
	r.book = flow.New(r.flowCfg)
	return r
}

// Changes signals after entries were applied or the line was loaded (or
// went stale). One pending signal stands for any number.
func (r *Replica) Changes() <-chan struct{} { return r.changes }

func (r *Replica) signal() {
	select {
	case r.changes <- struct{}{}:
	default:
	}
}

// Run follows the log until ctx ends: it loads, then reads and applies
// entries, loading again on a gap or a failure (after Retry).
func (r *Replica) Run(ctx context.Context) error {
	failing := false // warn once a failure, not once a retry
	for ctx.Err() == nil {
		err := r.step(ctx, r.opts.Block)
		if err == nil && failing {
			r.log.Info("read model: following the line works again")
			failing = false
		}
		if err != nil && ctx.Err() == nil {
			r.fail(err)
			if !failing {
				r.log.Warn("read model: following the line failed; retrying", "err", err, "retry", r.opts.Retry)
			}
			failing = true
			t := time.NewTimer(r.opts.Retry)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	return ctx.Err()
}

// Sync brings the replica up to the log's end without waiting for new
// entries: it loads if it must, then applies what there is. For tests and
// tools that drive the replica by hand (not together with Run).
func (r *Replica) Sync(ctx context.Context) error {
	for {
		before := r.Version()
		if err := r.step(ctx, 0); err != nil {
			return err
		}
		r.mu.RLock()
		stale := r.m == nil || r.reload
		r.mu.RUnlock()
		if !stale && r.Version() == before {
			return nil
		}
	}
}

// step loads if stale, else reads entries (waiting up to block) and
// applies them. A gap makes the replica stale (the next step loads).
func (r *Replica) step(ctx context.Context, block time.Duration) error {
	r.follow.Lock()
	defer r.follow.Unlock()
	r.mu.RLock()
	m, held, reload := r.m, r.version, r.reload
	r.mu.RUnlock()
	if m == nil || reload {
		return r.load(ctx)
	}
	entries, err := r.src.ReadLog(ctx, held, r.opts.Batch, block)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Most often a reconnect: load again at once, showing the line
		// held meanwhile; a load that fails too drops it (Run).
		r.log.Info("read model: reading the change log failed; loading the line again", "err", err)
		r.stale(ReasonError)
		return nil
	}
	if len(entries) == 0 {
		return nil
	}
	r.mu.Lock()
	applied, gap := r.applyLocked(r.m, entries)
	r.mu.Unlock()
	if applied > 0 {
		r.signal()
	}
	if gap != nil {
		r.log.Info("read model: gap in the change log; loading the line again", "held", gap.held, "prev", gap.prev, "version", gap.version)
		r.stale(ReasonGap)
	}
	return nil
}

type gapInfo struct{ held, prev, version int64 }

// applyLocked applies entries in order to m until a gap; m is r.m (under
// r.mu) or a model being loaded, which nobody else sees yet.
func (r *Replica) applyLocked(m *model, entries []queue.Change) (int, *gapInfo) {
	n := 0
	for _, c := range entries {
		if c.Version <= m.version {
			continue // seen already
		}
		if c.Prev != m.version {
			return n, &gapInfo{m.version, c.Prev, c.Version}
		}
		reset := false
		for _, e := range c.Events {
			m.apply(e)
			if e.Kind == queue.EventBan {
				r.bans++
			}
			reset = r.feedLocked(m, c, e) || reset
		}
		m.head(c.Version, c.Now, c.Next, c.Share, c.Counters, c.Paused)
		if reset {
			r.resetBookLocked(m)
		}
		// An entry read late (a backlog) shows the line's clock behind,
		// never ahead: the largest offset since the load is the best.
		m.offset = max(m.offset, c.Now-r.opts.Clock.Now().UnixMilli())
		if m == r.m {
			r.version = c.Version
		}
		r.stats.Entries++
		n++
	}
	return n, nil
}

// stale makes the next step load the line again. The line held meanwhile
// is a true past state of the line, so it is still shown: a reconnect or a
// trimmed log costs watchers nothing but the load's time. Only a load or a
// read that fails drops it (fail).
func (r *Replica) stale(reason string) {
	r.mu.Lock()
	r.reload, r.reason = true, reason
	r.mu.Unlock()
}

// fail drops the line after a load or a read failed: until a load
// succeeds, the queries answer ErrStale with err as its cause.
func (r *Replica) fail(err error) {
	r.mu.Lock()
	was := r.m != nil
	r.m, r.reload, r.cause = nil, true, err
	r.mu.Unlock()
	if was {
		r.signal()
	}
}

// StaleError is what the queries answer while the replica holds no line it
// can vouch for: errors.Is(err, ErrStale), and Unwrap gives the failure
// behind it, if any (none before the first load).
type StaleError struct{ Cause error }

func (e *StaleError) Error() string {
	if e.Cause == nil {
		return ErrStale.Error()
	}
	return ErrStale.Error() + ": " + e.Cause.Error()
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Unwrap is the failure that made the replica stale.
func (e *StaleError) Unwrap() error { return e.Cause }

// staleLocked is the error the queries answer while r.m is nil. r.mu is held.
func (r *Replica) staleLocked() error { return &StaleError{Cause: r.cause} }

// load reads the line in pages, applies the log from the first page's
// version up to its end, and only then shows it.
func (r *Replica) load(ctx context.Context) error {
	start := time.Now()
	r.mu.RLock()
	reason := r.reason
	r.mu.RUnlock()
	m := newModel(r.opts.Recent)
	first, err := r.src.LoadPage(ctx, 0, 0, r.opts.PageSize)
	if err != nil {
		return fmt.Errorf("load the line: %w", err)
	}
	// The first page was read just now: its clock sets the offset, and the
	// entries applied during the load may move it (applyLocked).
	m.offset = first.Now - r.opts.Clock.Now().UnixMilli()
	m.head(first.Version, first.Now, first.Next, first.Share, first.Counters, first.Paused)
	m.top = first.Top
	for _, c := range first.Called {
		m.called[c.Seq] = c.At
	}
	for _, s := range first.Serving {
		m.serving[s.Seq] = s.At
	}
	pages := 1
	for p, cursor := first, uint64(0); ; pages++ {
		end := first.Top
		if len(p.Gone) >= r.opts.PageSize {
			end = p.Gone[len(p.Gone)-1]
		}
		// The page's range (cursor, end] is waiting from its head on, but
		// for the seqs that left; below its head nothing waits.
		m.waiting.fill(max(cursor+1, p.Head), end)
		for _, seq := range p.Gone {
			m.waiting.clearBit(seq)
		}
		cursor = end
		if cursor >= first.Top {
			break
		}
		if p, err = r.src.LoadPage(ctx, cursor, first.Top, r.opts.PageSize); err != nil {
			return fmt.Errorf("load the line, page %d: %w", pages+1, err)
		}
	}
	m.waiting.build()
	if reason == ReasonStart {
		// A replica that starts learns the flow from the log it finds.
		// Without it, it only estimates from the view window until it
		// has seen the line move: it says so and goes on.
		if err := r.warm(ctx, m); err != nil {
			r.log.Warn("read model: the estimate starts without the line's past", "err", err)
		}
	}
	// The estimate starts again from the page; the log's entries then feed
	// it as they are applied (the flow it measured and its scores stay).
	r.mu.Lock()
	r.resetBookLocked(m)
	r.mu.Unlock()
	// Then the log from the first page's version, to its end.
	for {
		entries, err := r.src.ReadLog(ctx, m.version, r.opts.Batch, 0)
		if err != nil {
			return fmt.Errorf("read the change log after a load: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		r.mu.Lock()
		_, gap := r.applyLocked(m, entries)
		r.mu.Unlock()
		if gap != nil {
			r.mu.Lock()
			r.reason = ReasonGap
			r.mu.Unlock()
			return fmt.Errorf("the change log has a gap after version %d (previous %d): trimmed during the load", gap.held, gap.prev)
		}
	}
	r.mu.Lock()
	r.m, r.version, r.reload, r.cause = m, m.version, false, nil
	r.stats.Loads[reason]++
	r.bans++ // the log before this load may have banned someone
	r.stats.LastLoad = time.Since(start)
	r.stats.LastPages = pages
	r.reason = ReasonError
	r.mu.Unlock()
	r.log.Info("read model: line loaded", "reason", reason, "version", m.version, "waiting", m.waiting.count, "pages", pages, "took", time.Since(start))
	r.signal()
	return nil
}

// Version is the version the replica holds (or last held, while stale).
func (r *Replica) Version() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.version
}

// Now is the line's clock now: the local clock plus the offset the last
// entry showed.
func (r *Replica) Now() time.Time {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.nowLocked()
}

func (r *Replica) nowLocked() time.Time {
	var offset int64
	if r.m != nil {
		offset = r.m.offset
	}
	return time.UnixMilli(r.opts.Clock.Now().UnixMilli() + offset).UTC()
}

// Snapshot is the board as the store's snapshot answers it, listing the
// first limit waiting tickets, with the line's time now.
func (r *Replica) Snapshot(limit int) (queue.Snapshot, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.m == nil {
		return queue.Snapshot{}, r.staleLocked()
	}
	return r.m.snapshot(limit, r.nowLocked()), nil
}

// Ticket is ticket seq as the store's status answers it (its image id only
// with Options.ImageID): live reports whether it is waiting, called or
// serving. A ticket that finished lately has its final state; one the
// replica does not know has none.
func (r *Replica) Ticket(seq uint64) (queue.Ticket, bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.m == nil {
		return queue.Ticket{}, false, r.staleLocked()
	}
	t, live := r.m.ticket(seq)
	t.Version = r.m.version
	r.estimateLocked(&t)
	if t.State == queue.StateServing && r.opts.ImageID != nil {
		t.ImageID = r.opts.ImageID(seq)
	}
	return t, live, nil
}

// Tickets is Ticket for every seq of seqs at one version, read under one
// lock: what a live feed asks after each change for all its watchers.
// live[i] is Ticket's live for seqs[i]; version is the version they show.
func (r *Replica) Tickets(seqs []uint64) (tickets []queue.Ticket, live []bool, version int64, err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.m == nil {
		return nil, nil, 0, r.staleLocked()
	}
	tickets, live = make([]queue.Ticket, len(seqs)), make([]bool, len(seqs))
	for i, seq := range seqs {
		tickets[i], live[i] = r.m.ticket(seq)
		tickets[i].Version = r.m.version // as Ticket shows it
		r.estimateLocked(&tickets[i])
		if tickets[i].State == queue.StateServing && r.opts.ImageID != nil {
			tickets[i].ImageID = r.opts.ImageID(seq)
		}
	}
	return tickets, live, r.m.version, nil
}

// Bans counts the clients banned in the entries applied, plus one for
// each load (the entries a load skips may hold bans). A ban is a client's,
// which the line in memory does not know: whoever shows tickets to
// clients checks its own with the store when the count moves.
func (r *Replica) Bans() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.bans
}

// Stats reports the replica's work so far.
func (r *Replica) Stats() Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.stats
	st.Loads = make(map[string]int64, len(r.stats.Loads))
	for k, v := range r.stats.Loads {
		st.Loads[k] = v
	}
	st.Version = r.version
	if r.m != nil {
		st.Loaded = true
		st.Tickets = r.m.waiting.count + len(r.m.called) + len(r.m.serving)
		st.WaitingBytes = r.m.waiting.bytes()
	}
	return st
}
