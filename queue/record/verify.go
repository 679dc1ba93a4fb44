package record

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule names what a violation broke.
type Rule string

// The rules a record must keep.
const (
	RuleMalformed   Rule = "malformed"    // an entry or event that is not well formed
	RuleOrder       Rule = "order"        // versions do not rise: entries reordered
	RuleGap         Rule = "gap"          // an entry does not follow the one before: one removed
	RuleHash        Rule = "hash"         // an entry does not match its hash: edited
	RuleLink        Rule = "link"         // an entry's previous hash is not the hash before it
	RuleFIFO        Rule = "fifo"         // a call went past an earlier waiting ticket
	RuleServedTwice Rule = "served_twice" // a ticket served twice
	RuleCounters    Rule = "counters"     // a call while every counter was held
	RuleEarlyExpiry Rule = "early_expiry" // a no-show before its deadline
	RuleNoCause     Rule = "no_cause"     // a removal or an operator's action without its cause
	RuleState       Rule = "state"        // an event its ticket's state does not allow
)

// Violation is the first thing a record did wrong, with the entries that
// show it: the offending one last.
type Violation struct {
	Rule    Rule    `json:"rule"`
	Version int64   `json:"version"` // the offending entry
	Message string  `json:"message"`
	Entries []Entry `json:"entries"`
}

// Verdict is what a verifier concluded from a record.
type Verdict struct {
	OK           bool       `json:"ok"`
	Summary      string     `json:"summary"`
	Entries      int        `json:"entries"`
	FirstVersion int64      `json:"first_version,omitempty"`
	LastVersion  int64      `json:"last_version,omitempty"`
	Anchor       string     `json:"anchor,omitempty"`    // the first entry's previous hash, taken as given
	LastHash     string     `json:"last_hash,omitempty"` // a copy holding it can prove everything before it
	Calls        int        `json:"calls"`
	Resets       []int64    `json:"resets"` // versions where the store lost the line: new chains
	Lifts        []int64    `json:"lifts"`  // versions where a failover lost the last versions
	Violation    *Violation `json:"violation,omitempty"`
}

// ticketState is where the verifier believes a ticket is.
type ticketState uint8

const (
	unknown ticketState = iota // taken before the record's first entry
	waiting
	called
	serving
	served
	gone // expired or left
)

// ticket is what the verifier knows of one ticket.
type ticket struct {
	state    ticketState
	deadline Millis // while called, when known
	held     bool   // counted in Verifier.held
	last     *Entry // the entry of its last event
}

// Verifier replays a record, oldest entry first, one entry at a time, so
// that a record too long to hold whole can be checked page by page.
//
// A record trimmed by age starts in the middle of the line's life: tickets
// taken before its first entry are learnt from their first event, and the
// checks on them are as strong as what the record shows (a call that jumps
// one of them is caught when that ticket is called later).
type Verifier struct {
	n         int
	first     int64
	anchor    string
	prev      *Entry
	tickets   map[uint64]*ticket
	waiting   []uint64 // waiting seqs taken in the record, ascending; stale ones skipped
	held      int      // called + serving tickets known to hold a counter
	maxSeq    uint64   // the highest seq seen
	maxCalled uint64   // the highest seq called
	firstTake uint64   // the first seq taken in the record: any seq not taken is below it
	fresh     bool     // after a reset: every ticket is taken in the record
	calls     int
	resets    []int64
	lifts     []int64
	violation *Violation
	// suspect is a gap seen at the last entry: a missing entry, unless
	// the next entry is the one that was missing (entries reordered).
	suspect *Violation
}

// NewVerifier returns a verifier for a record's entries, oldest first.
func NewVerifier() *Verifier {
	return &Verifier{tickets: make(map[uint64]*ticket)}
}

// Verify replays entries, oldest first, and returns the verdict.
func Verify(entries []Entry) Verdict {
	v := NewVerifier()
	for _, e := range entries {
		if !v.Add(e) {
			break
		}
	}
	return v.Verdict()
}

// Add replays the next entry. It reports false once the record has broken
// a rule; later entries are then ignored.
func (v *Verifier) Add(e Entry) bool {
	if v.violation != nil {
		return false
	}
	cur := &e
	if v.suspect != nil {
		if e.Version <= v.prev.Version {
			v.fail(RuleOrder, cur, []*Entry{v.prev}, fmt.Sprintf("it comes after version %d: versions must rise (entries reordered)", v.prev.Version))
		} else {
			v.violation = v.suspect
		}
		return false
	}
	v.check(cur)
	v.n++
	if v.n == 1 {
		v.first, v.anchor = e.Version, e.PrevHash
	}
	v.prev = cur
	return v.violation == nil
}

// fail records the first violation: the rule, the offending entry, the
// earlier entries that show it, and the words.
func (v *Verifier) fail(rule Rule, cur *Entry, related []*Entry, msg string) {
	if v.violation != nil {
		return
	}
	entries := []Entry{}
	for _, e := range related {
		if e != nil && e != cur {
			entries = append(entries, *e)
		}
	}
	v.violation = &Violation{
		Rule: rule, Version: cur.Version,
		Message: fmt.Sprintf("version %d: %s", cur.Version, msg),
		Entries: append(entries, *cur),
	}
}

// versionOf is e's version, 0 for none.
func versionOf(e *Entry) int64 {
	if e == nil {
		return 0
	}
	return e.Version
}

// check applies every rule to one entry.
func (v *Verifier) check(cur *Entry) {
	if !v.chain(cur) {
		return
	}
	if IsReset(*cur) {
		v.resets = append(v.resets, cur.Version)
		// The line the store held is gone, numbers and all.
		v.tickets = make(map[uint64]*ticket)
		v.waiting, v.held, v.maxSeq, v.maxCalled, v.firstTake, v.fresh = nil, 0, 0, 0, 0, true
	}
	startHeld := v.held
	callNext := false // an operator's call-next may call once past the counters
	banned := false   // a ban in this entry accounts for its banned_out events
	for i, ev := range cur.Events {
		shape, ok := kinds[ev.Kind]
		if !ok {
			v.fail(RuleMalformed, cur, nil, fmt.Sprintf("event %d has an unknown kind %q", i+1, truncate(string(ev.Kind), 40)))
			return
		}
		if !v.wellFormed(cur, i, ev, shape) {
			return
		}
		switch ev.Kind {
		case KindReset:
			if i != 0 {
				v.fail(RuleMalformed, cur, nil, "a reset is not the first event of its entry")
				return
			}
		case KindLifted:
			v.lifts = append(v.lifts, cur.Version)
		case KindCallNext:
			callNext = true
		case KindBan:
			banned = true
		}
		if !shape.ticket {
			continue
		}
		seq, _ := seqOf(ev.Ticket)
		if !v.ticketEvent(cur, ev, seq, &callNext, banned, startHeld) {
			return
		}
	}
}

// chain checks cur's place in the chain: versions, links, hash.
func (v *Verifier) chain(cur *Entry) bool {
	h, err := HashOf(cur.PrevHash, *cur)
	if err != nil || len(cur.Hash) != len(Genesis) {
		v.fail(RuleMalformed, cur, nil, fmt.Sprintf("its hashes are not %d hex digits", len(Genesis)))
		return false
	}
	reset := IsReset(*cur)
	if reset && (cur.PrevVersion != 0 || cur.PrevHash != Genesis) {
		v.fail(RuleLink, cur, nil, "a reset must start a new chain: previous version 0 and the genesis hash")
		return false
	}
	if p := v.prev; p != nil {
		switch {
		case cur.Version <= p.Version:
			v.fail(RuleOrder, cur, []*Entry{p}, fmt.Sprintf("it comes after version %d: versions must rise", p.Version))
			return false
		case !reset && cur.PrevVersion != p.Version:
			v.fail(RuleGap, cur, []*Entry{p}, fmt.Sprintf("it follows version %d, but the entry before it is %d: entries are missing", cur.PrevVersion, p.Version))
			// Judged at the next entry, which may be the missing one, late.
			v.suspect, v.violation = v.violation, nil
			return false
		case !reset && cur.PrevHash != p.Hash:
			v.fail(RuleLink, cur, []*Entry{p}, fmt.Sprintf("its previous hash is not the hash of %d", p.Version))
			return false
		}
	}
	if h != cur.Hash {
		v.fail(RuleHash, cur, nil, "it does not match its hash: it was changed after it was sealed")
		return false
	}
	return true
}

// wellFormed checks an event's fields against its kind.
func (v *Verifier) wellFormed(cur *Entry, i int, ev Event, shape kindShape) bool {
	bad := ""
	switch {
	case shape.ticket && ev.Ticket == "":
		bad = "names no ticket"
	case shape.ticket:
		if _, ok := seqOf(ev.Ticket); !ok {
			bad = fmt.Sprintf("names %q, which is not a label", truncate(ev.Ticket, 40))
		}
	case ev.Ticket != "":
		bad = "names a ticket, which its kind does not"
	}
	switch {
	case bad != "":
	case shape.deadline != (ev.Deadline != 0):
		bad = "has a deadline only a call has"
	case shape.until != (ev.Until != 0):
		bad = "has an end only a redeemed ticket has"
	case len(ev.Reason) > MaxReason:
		bad = fmt.Sprintf("has a reason longer than %d bytes", MaxReason)
	case shape.reason && strings.TrimSpace(ev.Reason) == "":
		v.fail(RuleNoCause, cur, nil, fmt.Sprintf("event %d (%s) gives no reason", i+1, ev.Kind))
		return false
	}
	if bad != "" {
		v.fail(RuleMalformed, cur, nil, fmt.Sprintf("event %d (%s) %s", i+1, ev.Kind, bad))
		return false
	}
	return true
}

// ticketEvent replays one event of a ticket.
func (v *Verifier) ticketEvent(cur *Entry, ev Event, seq uint64, callNext *bool, banned bool, startHeld int) bool {
	t := v.tickets[seq]
	if ev.Kind == KindTaken {
		if seq <= v.maxSeq {
			v.fail(RuleState, cur, nil, fmt.Sprintf("%s was taken, but tickets up to %s were already issued", ev.Ticket, labelOf(v.maxSeq)))
			return false
		}
		v.maxSeq = seq
		if v.firstTake == 0 {
			v.firstTake = seq
		}
		v.tickets[seq] = &ticket{state: waiting, last: cur}
		v.waiting = append(v.waiting, seq)
		return true
	}
	if t == nil {
		if v.fresh || (v.firstTake != 0 && seq > v.firstTake) {
			v.fail(RuleState, cur, nil, fmt.Sprintf("%s is %s but was never taken", ev.Ticket, ev.Kind))
			return false
		}
		// Taken before the record begins: learnt from this event.
		t = &ticket{state: unknown}
		v.tickets[seq] = t
		v.maxSeq = max(v.maxSeq, seq)
	}
	switch ev.Kind {
	case KindCalled:
		if t.state != waiting && t.state != unknown {
			return v.wrongState(cur, ev, t)
		}
		if t.state == unknown && seq < v.maxCalled {
			v.fail(RuleFIFO, cur, nil, fmt.Sprintf("%s was called after %s, which was taken later", ev.Ticket, labelOf(v.maxCalled)))
			return false
		}
		if first, ok := v.firstWaiting(); ok && first < seq {
			taken := v.tickets[first].last
			v.fail(RuleFIFO, cur, []*Entry{taken}, fmt.Sprintf("%s was called while %s, taken at %d, was still waiting", ev.Ticket, labelOf(first), versionOf(taken)))
			return false
		}
		limit := cur.Counters
		if *callNext {
			limit = max(limit, startHeld) // the operator's one call: the busy count does not grow
			*callNext = false
		}
		if v.held >= limit {
			v.fail(RuleCounters, cur, nil, fmt.Sprintf("%s was called while %d tickets held the %d counters", ev.Ticket, v.held, cur.Counters))
			return false
		}
		t.state, t.deadline, t.held = called, ev.Deadline, true
		v.held++
		v.maxCalled = max(v.maxCalled, seq)
		v.calls++
	case KindRedeemed:
		if t.state != called && t.state != unknown {
			return v.wrongState(cur, ev, t)
		}
		if !t.held {
			t.held = true
			v.held++
		}
		t.state = serving
	case KindServed, KindEnded:
		if t.state == served {
			v.fail(RuleServedTwice, cur, []*Entry{t.last}, fmt.Sprintf("%s was served again; it was served at %d", ev.Ticket, versionOf(t.last)))
			return false
		}
		if t.state != serving && t.state != unknown {
			return v.wrongState(cur, ev, t)
		}
		v.release(t)
		t.state = served
	case KindExpired, KindSkipped:
		if t.state != called && t.state != unknown {
			return v.wrongState(cur, ev, t)
		}
		if ev.Kind == KindExpired && t.state == called && cur.Time < t.deadline {
			v.fail(RuleEarlyExpiry, cur, []*Entry{t.last}, fmt.Sprintf("%s expired as a no-show %s before its deadline, set at %d",
				ev.Ticket, (t.deadline-cur.Time).duration(), versionOf(t.last)))
			return false
		}
		v.release(t)
		t.state = gone
	case KindLeft, KindBannedOut:
		if ev.Kind == KindBannedOut && !banned {
			v.fail(RuleNoCause, cur, nil, fmt.Sprintf("%s was banned out, but no ban comes before it in its entry", ev.Ticket))
			return false
		}
		if t.state != waiting && t.state != called && t.state != unknown {
			return v.wrongState(cur, ev, t)
		}
		v.release(t)
		t.state = gone
	}
	t.last = cur
	return true
}

// release frees t's counter, if the verifier counted it.
func (v *Verifier) release(t *ticket) {
	if t.held {
		t.held = false
		v.held--
	}
}

// firstWaiting returns the earliest ticket taken in the record that is
// still waiting.
func (v *Verifier) firstWaiting() (uint64, bool) {
	for len(v.waiting) > 0 {
		if t := v.tickets[v.waiting[0]]; t != nil && t.state == waiting {
			return v.waiting[0], true
		}
		v.waiting = v.waiting[1:]
	}
	return 0, false
}

var stateNames = [...]string{unknown: "unknown", waiting: "waiting", called: "called",
	serving: "serving", served: "served", gone: "gone (expired or left)"}

func (v *Verifier) wrongState(cur *Entry, ev Event, t *ticket) bool {
	v.fail(RuleState, cur, []*Entry{t.last}, fmt.Sprintf("%s is %s, but it was %s since %d", ev.Ticket, ev.Kind, stateNames[t.state], versionOf(t.last)))
	return false
}

// Verdict returns what the verifier concluded from the entries so far.
func (v *Verifier) Verdict() Verdict {
	violation := v.violation
	if violation == nil {
		violation = v.suspect
	}
	d := Verdict{OK: violation == nil, Entries: v.n, Calls: v.calls, Anchor: v.anchor,
		Resets: append([]int64{}, v.resets...), Lifts: append([]int64{}, v.lifts...), Violation: violation}
	if v.n > 0 {
		d.FirstVersion = v.first
	}
	if v.prev != nil {
		d.LastVersion, d.LastHash = v.prev.Version, v.prev.Hash
	}
	d.Summary = d.summary()
	return d
}

// summary words a verdict in one line.
func (d Verdict) summary() string {
	var b strings.Builder
	if d.Violation != nil {
		fmt.Fprintf(&b, "VIOLATION (%s) %s", d.Violation.Rule, d.Violation.Message)
		return b.String()
	}
	if d.Entries == 0 {
		return "ok: the record is empty"
	}
	fmt.Fprintf(&b, "ok: %d entries (versions %d to %d), %d calls, each to the earliest waiting ticket; the chain is intact",
		d.Entries, d.FirstVersion, d.LastVersion, d.Calls)
	resets := d.Resets
	if len(resets) > 0 && resets[0] == d.FirstVersion {
		// The record begins with the line: a new store, or one that lost
		// its data before this record's first entry. Nothing in it is cut.
		fmt.Fprintf(&b, "; the line begins at version %d (a new store, or one that had lost its data)", resets[0])
		resets = resets[1:]
	}
	if n := len(resets); n > 0 {
		fmt.Fprintf(&b, "; %d reset(s), at version %s: the store lost the line, and what came before cannot be linked to what came after",
			n, joinInts(resets))
	}
	if n := len(d.Lifts); n > 0 {
		fmt.Fprintf(&b, "; %d failover(s) lost the last versions before %s", n, joinInts(d.Lifts))
	}
	return b.String()
}

func joinInts(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(s, ", ")
}

func labelOf(seq uint64) string {
	if seq == 0 {
		return "none"
	}
	return queueLabel(seq)
}

// duration words m as a length of time.
func (m Millis) duration() string {
	return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64) + "s"
}

// Rewritten compares a copy of a record kept earlier with the record
// served now: an entry both hold with different hashes was rewritten
// (or, right before a "lifted" entry, lost to a failover). It returns the
// version of the first such entry, or 0 when they agree. Entries only one
// holds (trimmed since, or newer) are not compared.
func Rewritten(kept, served []Entry) int64 {
	byVersion := make(map[int64]string, len(served))
	for _, e := range served {
		byVersion[e.Version] = e.Hash
	}
	for _, e := range kept {
		if h, ok := byVersion[e.Version]; ok && h != e.Hash {
			return e.Version
		}
	}
	return 0
}
