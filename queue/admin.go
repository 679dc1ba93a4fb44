package queue

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

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

// MaxReasonLen is the most characters an operator's reason may have.
const MaxReasonLen = 120

type reasonKey struct{}

// WithReason returns ctx carrying an operator's reason for the admin
// action it is passed to: the stores write it into the change log with
// the action, and the public record shows it (queue/record). An admin
// action's reason is words about the request, like a trace id, which is
// why it rides in the context rather than in every admin method; a
// context without one gives the action no reason (the record then
// names the action in its own words). Check it with CheckReason first.
func WithReason(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, reasonKey{}, reason)
}

// Reason is the operator's reason ctx carries, "" for none.
func Reason(ctx context.Context) string {
	s, _ := ctx.Value(reasonKey{}).(string)
	return s
}

// CheckReason refuses a reason the public record cannot show as one line
// of words: blank, longer than MaxReasonLen characters, not UTF-8, or with
// control characters (a line break included).
func CheckReason(reason string) error {
	switch {
	case strings.TrimSpace(reason) == "":
		return Errorf(CodeBadRequest, "a reason, when sent, must say something")
	case !utf8.ValidString(reason):
		return Errorf(CodeBadRequest, "a reason must be UTF-8 text")
	case utf8.RuneCountInString(reason) > MaxReasonLen:
		return Errorf(CodeBadRequest, "a reason is at most %d characters", MaxReasonLen)
	case strings.IndexFunc(reason, unicode.IsControl) >= 0:
		return Errorf(CodeBadRequest, "a reason is one line of text, without control characters")
	}
	return nil
}
