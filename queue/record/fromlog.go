package record

import (
	"fmt"

	"github.com/catqms/catqms/queue"
)

// LogEvent is one event of the store's change log as its reader decodes
// it: the letter of its kind, the ticket's seq (0 for the line's events)
// and its time (a call's deadline, a session's end; Unix ms).
type LogEvent struct {
	Letter byte
	Seq    uint64
	At     int64
}

// logKinds maps the change log's letters to the record's kinds, with the
// reason the record gives events the log carries none for; operator marks
// an operator's action, whose reason is the operator's when the log has
// one.
var logKinds = map[byte]struct {
	kind     Kind
	reason   string
	operator bool
}{
	't': {KindTaken, "", false}, 'c': {KindCalled, "", false}, 'r': {KindRedeemed, "", false},
	's': {KindServed, "", false}, 'S': {KindServed, "", false},
	'e': {KindEnded, "operator: ended the session", true},
	'x': {KindExpired, "", false}, 'k': {KindSkipped, "operator: skipped the call", true},
	'l': {KindLeft, "", false}, 'm': {KindLeft, "", false},
	'b': {KindBannedOut, "", false}, 'B': {KindBannedOut, "", false},
	'P': {KindPaused, "operator: paused taking", true}, 'U': {KindResumed, "operator: resumed taking", true},
	'N': {KindCounters, "operator: set the counters", true}, 'n': {KindCallNext, "operator: called the next ticket", true},
	'Y': {KindBan, "presented a forged token", false}, 'y': {KindUnban, "operator: lifted a ban", true},
	'W': {KindReset, "", false}, 'V': {KindLifted, "", false},
}

// FromLog is the record's entry for one entry of the change log: version
// and prev its versions, now the line's clock (Unix ms), counters after
// the step, reason the operator's reason for the step's admin action as
// the log keeps it ("" = none given: the record words the action itself).
// A reset (W) goes first, where a verifier looks for it: the store logs it
// last, after the step that found the line lost. The entry is not sealed
// (Chain).
func FromLog(version, prev, now int64, counters int, reason string, events []LogEvent) (Entry, error) {
	e := Entry{Version: version, PrevVersion: prev, Time: Millis(now), Counters: counters,
		Events: make([]Event, 0, len(events))}
	for _, le := range events {
		k, ok := logKinds[le.Letter]
		if !ok {
			return Entry{}, fmt.Errorf("record: version %d: unknown log event %q", version, le.Letter)
		}
		ev := Event{Kind: k.kind, Reason: k.reason}
		if k.operator && reason != "" {
			ev.Reason = reason
		}
		if le.Seq != 0 {
			ev.Ticket = queue.Label(le.Seq)
		}
		switch k.kind {
		case KindCalled:
			ev.Deadline = Millis(le.At)
		case KindRedeemed:
			ev.Until = Millis(le.At)
		}
		if k.kind == KindReset {
			e.Events = append([]Event{ev}, e.Events...)
			continue
		}
		e.Events = append(e.Events, ev)
	}
	return e, nil
}
