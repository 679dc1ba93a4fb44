package queue

import (
	"context"
	"time"
)

// MaxCounters is the most service slots a line may have, at start or set
// live by an operator.
const MaxCounters = 1000

// The error codes only the admin API answers.
const (
	// CodeNobodyWaiting: there is no waiting ticket to call.
	CodeNobodyWaiting Code = "nobody_waiting"
	// CodeCountersBusy: every counter holds a called ticket whose holder has
	// not come yet, so no viewing session can be ended to free one.
	CodeCountersBusy Code = "counters_busy"
	// CodeNotCalled: the ticket to skip is not called (or none is).
	CodeNotCalled Code = "not_called"
)

// Outcome is what an admin action did to the line.
type Outcome struct {
	Version  int64    // the line's version after the action
	Ticket   string   // the ticket acted on (skipped, session ended), if any
	Called   []string // tickets the action called, in order
	Counters int      // service slots after the action
	Paused   bool     // taking tickets is paused after the action
}

// Ban is one banned client.
type Ban struct {
	Client string    // the client key: an IPv4 address or an IPv6 prefix
	EndsAt time.Time // when the ban lapses
}

// AdminStats are the line's statistics with its live settings.
type AdminStats struct {
	Stats
	Paused bool // taking tickets is paused
}

// Admin is what an operator does to a line. Every change is atomic and
// reaches every replica and every watcher at once, like any other change.
// Errors are *Error values, as for Line.
type Admin interface {
	// Pause stops taking tickets (CodePaused) until Resume; the line still
	// moves. Pausing a paused line changes nothing.
	Pause(ctx context.Context) (Outcome, error)
	// Resume lets people take tickets again.
	Resume(ctx context.Context) (Outcome, error)
	// CallNext calls the next waiting ticket now. When every counter is
	// busy, the viewing session that would end first ends now to free its
	// counter. CodeNobodyWaiting when nobody waits; CodeCountersBusy when
	// every counter holds a called ticket, not a session (Skip one instead).
	CallNext(ctx context.Context) (Outcome, error)
	// Skip expires a called ticket now as a no-show, and the next ticket is
	// called. label "" skips the ticket called longest ago. CodeNotCalled
	// when that ticket (or any) is not called; CodeNotFound when label names
	// no live or recent ticket.
	Skip(ctx context.Context, label string) (Outcome, error)
	// SetCounters sets the number of service slots for every replica, at
	// once. Growing calls tickets; shrinking never interrupts a session or
	// a call: the line just calls nobody until fewer are busy than n.
	SetCounters(ctx context.Context, n int) (Outcome, error)
	// Bans lists up to limit clients banned now, the latest ban first, and
	// how many are banned in all.
	Bans(ctx context.Context, limit int) ([]Ban, int64, error)
	// Unban lifts client's ban; CodeNotFound when it is not banned.
	Unban(ctx context.Context, client string) (Outcome, error)
	// EndSession ends the viewing session of ticket label now, as if its
	// holder had; the counter frees. CodeNotServing when the ticket is not
	// serving, CodeNotFound when label names no live or recent ticket.
	EndSession(ctx context.Context, label string) (Outcome, error)
	// AdminStats returns the running totals and the live settings.
	AdminStats(ctx context.Context) (AdminStats, error)
}
