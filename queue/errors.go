package queue

import (
	"errors"
	"fmt"
	"time"
)

// Code is an application error code. It is part of the public API: clients
// read it from {"error": CODE}.
type Code string

// The application error codes. The HTTP layer maps each to a status.
const (
	CodeBadRequest       Code = "bad_request"      // malformed input; no ban
	CodeForbidden        Code = "forbidden"        // a token this service never issued
	CodeBanned           Code = "banned"           // the client is banned; BanLeft set
	CodeNotYourTurn      Code = "not_your_turn"    // waiting; Position, ETA set
	CodeNotServing       Code = "not_serving"      // ending a session that has not begun
	CodeGone             Code = "gone"             // expired, served or left; State set
	CodeTooManyTickets   Code = "too_many_tickets" // per-client live ticket limit
	CodeLineFull         Code = "line_full"        // --max-queue reached
	CodePaused           Code = "paused"           // taking tickets is paused
	CodeUnauthorized     Code = "unauthorized"     // missing admin credentials
	CodeNotFound         Code = "not_found"        // no such route or object
	CodeMethodNotAllowed Code = "method_not_allowed"
	CodeRateLimited      Code = "rate_limited"
	CodeUnavailable      Code = "unavailable" // the store does not answer
	CodeInternal         Code = "internal"    // a defect: logged, counted, answered 500
)

// Error is an application error: a code and the facts behind it. Stores
// and the domain set facts only; the HTTP layer alone turns them into a
// status, a Retry-After and words (server/errors.go). Message is set only
// where the facts cannot say it, e.g. what was wrong with a request.
type Error struct {
	Code     Code
	Message  string        // a sentence for a person; "" = worded from the facts
	Ticket   string        // the ticket's label, when the error is about one
	State    State         // gone, not_serving, not_called: the ticket's state
	Position int64         // not_your_turn: the place in line
	ETA      time.Duration // not_your_turn: the estimated wait
	ETALow   time.Duration // not_your_turn: the estimate's range around ETA, when known
	ETAHigh  time.Duration // not_your_turn: ... its upper bound (both 0: ETA alone)
	Share    time.Duration // too_many_tickets, line_full: one ticket's share of the wait
	BanLeft  time.Duration // banned: how long the ban lasts; forbidden: the new ban's length
	Limit    int64         // too_many_tickets, line_full: the limit reached
	Wait     time.Duration // rate_limited, too_many_connections: when a slot frees
	Reset    bool          // gone: the line was reset since the ticket was issued (its key is unknown)
}

// Error returns the code with the message, or with the ticket it is about.
func (e *Error) Error() string {
	switch {
	case e.Message != "":
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	case e.Ticket != "":
		return fmt.Sprintf("%s: ticket %s", e.Code, e.Ticket)
	}
	return string(e.Code)
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: the *Error's code, CodeInternal for any
// other error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// AsError returns err as an *Error, or nil when it is not one.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// ErrBanned is the answer to a banned client: when the ban ends.
func ErrBanned(left time.Duration) *Error {
	return &Error{Code: CodeBanned, BanLeft: left}
}
