package queue

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A line's change log: every step that changes the line (a new version)
// appends one Change, in the same atomic step, saying what happened. A
// reader that holds the line at version V applies the entry whose Prev is
// V; any other Prev is a gap (a trimmed log, a store that lost its data, a
// failover to a replica that lagged), and the reader loads the line anew
// (LinePage). The stores write it (queue/redisline's scripts, queue/memline)
// and queue/readmodel reads it.

// Change is one entry of the change log: the line after one version.
type Change struct {
	Version  int64   // the version this step made
	Prev     int64   // the version before it; 0 when the store had none (it lost the line)
	Now      int64   // the line's clock at the step, Unix ms
	Next     int64   // the earliest deadline after it, Unix ms; 0 = none
	Share    int64   // one ticket's share of the wait after it, ms
	Counters int     // service slots after it
	Paused   bool    // taking is paused after it
	Events   []Event // what happened, in order
	// Reason is an operator's reason for the step's admin action (see
	// WithReason); "" when none was given or the step was no operator's.
	Reason string
}

// Event is one thing that happened to the line in a step.
type Event struct {
	Kind EventKind
	Seq  uint64 // the ticket; 0 for the events of the whole line
	At   int64  // called: the call's deadline; redeemed: the session's end (Unix ms); else 0
}

// EventKind says what happened. Its letter is its form in the log.
type EventKind byte

// The kinds of event. A ticket's: taken, called (At: deadline), redeemed
// (At: until), and the ends of its life, each with its cause. The line's:
// the operator's actions that name no ticket, bans, and the two ways a
// version comes about without the line's history (lost, lifted).
const (
	EventTaken        EventKind = 't' // joined the line, waiting
	EventCalled       EventKind = 'c' // called to a counter; At is the deadline
	EventRedeemed     EventKind = 'r' // started its session; At is its end
	EventEnded        EventKind = 's' // served: the holder ended the session
	EventTimeUp       EventKind = 'S' // served: the session's time was up
	EventEndedByAdmin EventKind = 'e' // served: an operator ended it (end, call-next)
	EventExpired      EventKind = 'x' // expired: the holder did not come in time
	EventSkipped      EventKind = 'k' // expired: an operator skipped it
	EventLeft         EventKind = 'l' // left while waiting
	EventLeftCalled   EventKind = 'm' // left while called
	EventBannedOut    EventKind = 'b' // left while waiting: its client was banned
	EventBannedCalled EventKind = 'B' // left while called: its client was banned
	EventPaused       EventKind = 'P' // an operator paused taking
	EventResumed      EventKind = 'U' // an operator resumed taking
	EventCounters     EventKind = 'N' // an operator set the counters (Change.Counters)
	EventCallNext     EventKind = 'n' // an operator called the next ticket
	EventBan          EventKind = 'Y' // a client was banned (its tickets follow as b/B)
	EventUnban        EventKind = 'y' // an operator lifted a ban
	EventLost         EventKind = 'W' // the store had lost the line: a new version
	EventLifted       EventKind = 'V' // the version was lifted past a replica's floor
)

// eventKinds maps each letter to whether its event names a ticket, and
// whether it carries a time.
var eventKinds = map[EventKind]struct{ seq, at bool }{
	EventTaken: {true, false}, EventCalled: {true, true}, EventRedeemed: {true, true},
	EventEnded: {true, false}, EventTimeUp: {true, false}, EventEndedByAdmin: {true, false},
	EventExpired: {true, false}, EventSkipped: {true, false},
	EventLeft: {true, false}, EventLeftCalled: {true, false},
	EventBannedOut: {true, false}, EventBannedCalled: {true, false},
	EventPaused: {}, EventResumed: {}, EventCounters: {}, EventCallNext: {},
	EventBan: {}, EventUnban: {}, EventLost: {}, EventLifted: {},
}

// Finished reports whether the event ends its ticket's life (served,
// expired or left).
func (k EventKind) Finished() bool {
	switch k {
	case EventEnded, EventTimeUp, EventEndedByAdmin, EventExpired, EventSkipped,
		EventLeft, EventLeftCalled, EventBannedOut, EventBannedCalled:
		return true
	}
	return false
}

// FinalState is the state a finishing event leaves its ticket in.
func (k EventKind) FinalState() State {
	switch k {
	case EventEnded, EventTimeUp, EventEndedByAdmin:
		return StateServed
	case EventExpired, EventSkipped:
		return StateExpired
	case EventLeft, EventLeftCalled, EventBannedOut, EventBannedCalled:
		return StateLeft
	}
	return ""
}

// String is the event as the log writes it: the letter, the seq, @At.
func (e Event) String() string {
	var b strings.Builder
	e.append(&b)
	return b.String()
}

func (e Event) append(b *strings.Builder) {
	b.WriteByte(byte(e.Kind))
	if e.Seq != 0 {
		b.WriteString(strconv.FormatUint(e.Seq, 10))
	}
	if e.At != 0 {
		b.WriteByte('@')
		b.WriteString(strconv.FormatInt(e.At, 10))
	}
}

// FormatEvents writes events as the log's "ev" field: space-separated.
func FormatEvents(events []Event) string {
	var b strings.Builder
	for i, e := range events {
		if i > 0 {
			b.WriteByte(' ')
		}
		e.append(&b)
	}
	return b.String()
}

// errEvents marks a log entry this package cannot read.
var errEvents = errors.New("malformed change log events")

// ParseEvents reads the log's "ev" field.
func ParseEvents(s string) ([]Event, error) {
	if s == "" {
		return nil, nil
	}
	fields := strings.Fields(s)
	out := make([]Event, 0, len(fields))
	for _, f := range fields {
		kind := EventKind(f[0])
		shape, ok := eventKinds[kind]
		if !ok {
			return nil, fmt.Errorf("%w: unknown kind in %q", errEvents, f)
		}
		e := Event{Kind: kind}
		rest := f[1:]
		seq, at, hasAt := strings.Cut(rest, "@")
		if shape.seq != (seq != "") || shape.at != hasAt {
			return nil, fmt.Errorf("%w: %q", errEvents, f)
		}
		if seq != "" {
			n, err := strconv.ParseUint(seq, 10, 64)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("%w: seq in %q", errEvents, f)
			}
			e.Seq = n
		}
		if hasAt {
			n, err := strconv.ParseInt(at, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: time in %q", errEvents, f)
			}
			e.At = n
		}
		out = append(out, e)
	}
	return out, nil
}

// SeqTime is a ticket with a time: a call's deadline or a session's end.
type SeqTime struct {
	Seq uint64
	At  int64 // Unix ms
}

// LinePage is one page of a paged load of the line (a store's LoadPage),
// read at Version in one atomic step. A line is too long to read in one
// step, so a load reads the line's small parts and the first page of the
// waiting tickets at one version, then further pages at later versions,
// then applies the change log from the first page's version: the pages
// only ever say a ticket is no longer waiting, which the log confirms.
//
// The waiting tickets are every seq from Head to Top that is not in Gone
// (they left the line while waiting). Gone lists, in order, the seqs of
// the page's range that left: those after the cursor asked for, up to
// Limit of them; the range ends at the last one when Limit are listed,
// else at Top.
type LinePage struct {
	Version  int64
	Now      int64 // the line's clock, Unix ms
	Next     int64 // the earliest deadline, Unix ms; 0 = none
	Share    int64 // one ticket's share of the wait, ms
	Counters int
	Paused   bool
	Length   int64     // called + waiting
	Head     uint64    // the first seq that may be waiting; every called seq is below it
	Top      uint64    // the last seq issued
	Called   []SeqTime // seq and deadline, in seq order
	Serving  []SeqTime // seq and session end, in seq order
	Gone     []uint64  // seqs after the cursor, at most the limit asked, that left while waiting
}

// ByTime orders the tickets of m (seq → a time, Unix ms) as a Redis
// sorted set orders its members: by time, then by the seq's decimal text.
// The line's model (queue/memline) and the read model call and end
// tickets in this order, as the store's scripts do.
func ByTime(m map[uint64]int64) []uint64 {
	seqs := make([]uint64, 0, len(m))
	for seq := range m {
		seqs = append(seqs, seq)
	}
	slices.SortFunc(seqs, func(a, b uint64) int {
		if m[a] != m[b] {
			return cmp.Compare(m[a], m[b])
		}
		return cmp.Compare(strconv.FormatUint(a, 10), strconv.FormatUint(b, 10))
	})
	return seqs
}
