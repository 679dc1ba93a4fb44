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
// reason the record gives events the log carries none for.
var logKinds = map[byte]struct {
	kind   Kind
	reason string
}{
	't': {KindTaken, ""}, 'c': {KindCalled, ""}, 'r': {KindRedeemed, ""},
	's': {KindServed, ""}, 'S': {KindServed, ""},
	'e': {KindEnded, "operator: ended the session"},
	'x': {KindExpired, ""}, 'k': {KindSkipped, "operator: skipped the call"},
	'l': {KindLeft, ""}, 'm': {KindLeft, ""},
	'b': {KindBannedOut, ""}, 'B': {KindBannedOut, ""},
	'P': {KindPaused, "operator: paused taking"}, 'U': {KindResumed, "operator: resumed taking"},
	'N': {KindCounters, "operator: set the counters"}, 'n': {KindCallNext, "operator: called the next ticket"},
	'Y': {KindBan, "presented a forged token"}, 'y': {KindUnban, "operator: lifted a ban"},
	'W': {KindReset, ""}, 'V': {KindLifted, ""},
}

// FromLog is the record's entry for one entry of the change log: version
// and prev its versions, now the line's clock (Unix ms), counters after
// the step. A reset (W) goes first, where a verifier looks for it: the
// store logs it last, after the step that found the line lost. The entry
// is not sealed (Chain).
func FromLog(version, prev, now int64, counters int, events []LogEvent) (Entry, error) {
	e := Entry{Version: version, PrevVersion: prev, Time: Millis(now), Counters: counters,
		Events: make([]Event, 0, len(events))}
	for _, le := range events {
		k, ok := logKinds[le.Letter]
		if !ok {
			return Entry{}, fmt.Errorf("record: version %d: unknown log event %q", version, le.Letter)
		}
		ev := Event{Kind: k.kind, Reason: k.reason}
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
