// Package record is the line's public record: every change of the line as
// an entry anyone may fetch (GET /api/v1/history), each entry sealed with
// the hash of the one before it, and a verifier that replays a record and
// says whether the line was fair. It imports only the standard library and
// queue (for labels); it knows nothing of Redis or HTTP.
//
// # An entry
//
// An Entry is one version of the line: the version, the version before it,
// the line's clock, its counters after the step, and the events of the step
// in the order they happened, each naming its ticket by label (never a
// token, a client key or an address). The change log of the store
// (queue.Change, one entry per version) maps onto it one to one (FromLog):
//
//	log   record event        log   record event
//	t     taken               x     expired (a no-show)
//	c@d   called, deadline d  k     skipped (an operator's, with reason)
//	r@u   redeemed, until u   l, m  left (while waiting, while called)
//	s, S  served              b, B  banned_out (after a ban event)
//	e     ended (an operator's, with reason)
//	P U   paused, resumed     N     counters (Entry.Counters is the new count)
//	n     call_next           Y y   ban, unban
//	W     reset (placed first in its entry: the store lost the line)
//	V     lifted (a failover to a store that lagged; see below)
//
// The log carries no reasons yet (the admin API takes none), so whoever
// maps it gives each operator's action its own words ("operator: skipped
// the call") and a ban "presented a forged token"; a verifier refuses an
// operator's action or a ban without one.
//
// # The chain
//
// Hash = hex(SHA-256(prev || Canonical(entry))), where prev is the 32 raw
// bytes of the previous entry's hash and Canonical is the byte encoding
// documented on Canonical. The first entry of a line ever written has
// Genesis (32 zero bytes) as its previous hash.
//
// Trimmed by age (--history): the store keeps, beside the log, an anchor:
// the version and hash of the last entry it dropped. Dropping entries and
// moving the anchor are one atomic step, so every replica reads the same
// kept entries and the same anchor, and computes the same hashes (Chain).
// A verifier takes the first entry's previous hash as given: it proves
// nothing before it, and everything after it.
//
// Entries dropped without moving the anchor (a length cap on the log that
// cut first) leave a run that follows no anchor: Chain refuses it
// (ErrUnanchored) rather than guess, so a length cap must stay above what
// --history keeps.
//
// The store lost its data (or a new store): the log, the anchor and the
// ticket numbers are gone, so the next entry is a reset: its first event is
// KindReset, its previous version is 0 and its previous hash is Genesis. A
// reset starts a new chain. A verifier accepts it (an honest loss must not
// read as tampering) but reports it in the verdict (Verdict.Resets),
// because it is the one place where what came before cannot be linked to
// what comes after. Versions still rise across it (the store starts its
// version at the clock in microseconds), so a reset can never reissue a
// version that a copy already holds.
//
// A failover to a store replica that lagged loses the last few versions:
// the store lifts its version past what the service had seen and logs a
// "lifted" event whose entry links to the last version the new primary
// holds. The record stays one chain; a copy that held the lost versions
// sees them replaced, right before a "lifted" entry that says why.
//
// # Why the service computes the hash, not the store's scripts
//
// Redis scripts have SHA-1 only (redis.sha1hex). The party this record
// checks is the one that writes it, and entries carry free text (an
// operator's reason): with SHA-1's chosen-prefix collisions an operator
// could prepare two entries with one hash and later swap them. SHA-256 has
// no such attack. Computing it in Go also keeps one encoder, used by the
// service that seals and by every verifier that checks (catqms verify),
// so the two cannot drift apart, and keeps hashing off the scripts' hot
// path. It is deterministic: the same log and anchor give the same hashes
// on every replica, so a copy kept by anyone matches whatever replica
// serves it later.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/catqms/catqms/queue"
)

// Kind says what happened in an event.
type Kind string

// The kinds of event. A ticket's: taken, called, redeemed, and each way its
// life ends. The line's: the operator's actions, bans, a reset and a lift.
const (
	KindTaken     Kind = "taken"      // joined the end of the line
	KindCalled    Kind = "called"     // called to a counter; Deadline set
	KindRedeemed  Kind = "redeemed"   // its holder came: serving; Until set
	KindServed    Kind = "served"     // its session ended (the holder, or its time was up)
	KindEnded     Kind = "ended"      // an operator ended its session; Reason required
	KindExpired   Kind = "expired"    // a no-show: called and not redeemed by the deadline
	KindSkipped   Kind = "skipped"    // an operator expired its call; Reason required
	KindLeft      Kind = "left"       // its holder left, waiting or called
	KindBannedOut Kind = "banned_out" // its client was banned (a ban event comes first)
	KindPaused    Kind = "paused"     // an operator paused taking; Reason required
	KindResumed   Kind = "resumed"    // an operator resumed taking; Reason required
	KindCounters  Kind = "counters"   // an operator set the counters (Entry.Counters); Reason required
	KindCallNext  Kind = "call_next"  // an operator called the next ticket; Reason required
	KindBan       Kind = "ban"        // a client was banned; Reason required
	KindUnban     Kind = "unban"      // an operator lifted a ban; Reason required
	KindReset     Kind = "reset"      // the store lost the line: a new chain
	KindLifted    Kind = "lifted"     // a failover lost the last versions
)

// kindShape is what an event of a kind carries.
type kindShape struct {
	ticket   bool // names a ticket
	deadline bool // carries Deadline
	until    bool // carries Until
	reason   bool // needs a Reason
}

var kinds = map[Kind]kindShape{
	KindTaken: {ticket: true}, KindCalled: {ticket: true, deadline: true},
	KindRedeemed: {ticket: true, until: true}, KindServed: {ticket: true},
	KindEnded: {ticket: true, reason: true}, KindExpired: {ticket: true},
	KindSkipped: {ticket: true, reason: true}, KindLeft: {ticket: true},
	KindBannedOut: {ticket: true},
	KindPaused:    {reason: true}, KindResumed: {reason: true}, KindCounters: {reason: true},
	KindCallNext: {reason: true}, KindBan: {reason: true}, KindUnban: {reason: true},
	KindReset: {}, KindLifted: {},
}

// Genesis is the previous hash of a chain's first entry: 32 zero bytes.
var Genesis = strings.Repeat("0", 2*sha256.Size)

// MaxReason is the longest reason an event carries, in bytes.
const MaxReason = 200

// Millis is a time as the record keeps it: Unix milliseconds. Its JSON form
// is the API's: RFC 3339 in UTC with exactly three decimals.
type Millis int64

const millisLayout = "2006-01-02T15:04:05.000Z07:00"

// Time returns m as a time.Time.
func (m Millis) Time() time.Time { return time.UnixMilli(int64(m)).UTC() }

// MillisOf returns t to the millisecond.
func MillisOf(t time.Time) Millis { return Millis(t.UnixMilli()) }

// MarshalJSON writes m in the API's time layout.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(`"` + m.Time().Format(millisLayout) + `"`), nil
}

// UnmarshalJSON reads the API's time layout, and nothing less precise:
// the hash covers the milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("record: time %s is not a string", b)
	}
	t, err := time.Parse(millisLayout, s)
	if err != nil {
		return fmt.Errorf("record: time %q is not like 2026-12-05T02:00:00.000Z", s)
	}
	*m = MillisOf(t)
	return nil
}

// Event is one thing that happened in a step.
type Event struct {
	Kind     Kind   `json:"event"`
	Ticket   string `json:"ticket,omitempty"`  // the ticket's label, for a ticket's event
	Deadline Millis `json:"deadline,omitzero"` // called: when the call expires
	Until    Millis `json:"until,omitzero"`    // redeemed: when the session ends
	Reason   string `json:"reason,omitempty"`  // why, for an operator's action or a ban
}

// Entry is one version of the line in the record.
type Entry struct {
	Version     int64   `json:"version"`
	PrevVersion int64   `json:"prev_version"` // 0 after a reset
	Time        Millis  `json:"time"`         // the line's clock at the step
	Counters    int     `json:"counters"`     // service slots after the step
	Events      []Event `json:"events"`
	PrevHash    string  `json:"prev_hash"`
	Hash        string  `json:"hash"`
}

// Canonical is the byte encoding of e that its hash covers: UTF-8 text,
// one field per line, each line ending in "\n":
//
//	catqms-record 1
//	version <Version>
//	prev <PrevVersion>
//	time <Time, Unix ms>
//	counters <Counters>
//	event <kind> <ticket or -> <deadline ms or 0> <until ms or 0> <reason length in bytes>:<reason>
//
// with one event line per event, in order. Integers are in decimal with no
// leading zeros (a minus sign only for a negative one); the reason is
// length-prefixed, so no text in it can forge a line. The hashes are not
// part of it.
func Canonical(e Entry) []byte {
	b := make([]byte, 0, 96+48*len(e.Events))
	b = append(b, "catqms-record 1\nversion "...)
	b = strconv.AppendInt(b, e.Version, 10)
	b = append(b, "\nprev "...)
	b = strconv.AppendInt(b, e.PrevVersion, 10)
	b = append(b, "\ntime "...)
	b = strconv.AppendInt(b, int64(e.Time), 10)
	b = append(b, "\ncounters "...)
	b = strconv.AppendInt(b, int64(e.Counters), 10)
	b = append(b, '\n')
	for _, ev := range e.Events {
		b = append(b, "event "...)
		b = append(b, ev.Kind...)
		b = append(b, ' ')
		if ev.Ticket == "" {
			b = append(b, '-')
		} else {
			b = append(b, ev.Ticket...)
		}
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(ev.Deadline), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(ev.Until), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(len(ev.Reason)), 10)
		b = append(b, ':')
		b = append(b, ev.Reason...)
		b = append(b, '\n')
	}
	return b
}

// HashOf returns the hash of e after an entry whose hash is prev (hex), or
// an error when prev is not 64 hex digits.
func HashOf(prev string, e Entry) (string, error) {
	p, err := hex.DecodeString(prev)
	if err != nil || len(p) != sha256.Size {
		return "", fmt.Errorf("record: previous hash %q is not %d hex digits", truncate(prev, 80), 2*sha256.Size)
	}
	h := sha256.New()
	h.Write(p)
	h.Write(Canonical(e))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Seal sets e's previous hash to prev and its hash to match.
func Seal(prev string, e *Entry) error {
	h, err := HashOf(prev, *e)
	if err != nil {
		return err
	}
	e.PrevHash, e.Hash = prev, h
	return nil
}

// Anchor is where a trimmed record starts: the version and hash of the last
// entry the store dropped. The zero Anchor is a record never trimmed: its
// first entry follows Genesis.
type Anchor struct {
	Version int64  `json:"version"`
	Hash    string `json:"hash"`
}

// ErrUnanchored says a run of entries does not follow its anchor: entries
// were dropped without moving the anchor.
var ErrUnanchored = errors.New("record: the first entry does not follow the anchor")

// Chain seals entries, oldest first, after anchor: the first follows the
// anchor (or Genesis when it is a reset, or the anchor is zero), every
// other the entry before it, a reset always Genesis. It changes entries in
// place and returns the anchor of the last one, for the next run.
func Chain(anchor Anchor, entries []Entry) (Anchor, error) {
	prev := anchor
	if prev.Hash == "" {
		prev.Hash = Genesis
	}
	for i := range entries {
		e := &entries[i]
		switch {
		case IsReset(*e):
			prev = Anchor{Hash: Genesis}
		case e.PrevVersion != prev.Version && (i > 0 || anchor.Hash != ""):
			return prev, fmt.Errorf("%w: version %d follows %d, the anchor is %d", ErrUnanchored, e.Version, e.PrevVersion, prev.Version)
		}
		if err := Seal(prev.Hash, e); err != nil {
			return prev, err
		}
		prev = Anchor{Version: e.Version, Hash: e.Hash}
	}
	return prev, nil
}

// IsReset reports whether e starts a new chain: its first event is a reset.
func IsReset(e Entry) bool { return len(e.Events) > 0 && e.Events[0].Kind == KindReset }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// seqOf is the sequence number behind a label.
func seqOf(label string) (uint64, bool) { return queue.ParseLabel(label) }

// queueLabel is the label of seq.
func queueLabel(seq uint64) string { return queue.Label(seq) }
