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
	CodeBanned           Code = "banned"           // the client is banned; RetryAfter set
	CodeNotYourTurn      Code = "not_your_turn"    // waiting; Position, ETA, RetryAfter set
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
	CodeInternal         Code = "internal"
)

// Error is an application error. Only the fields its Code names are set.
type Error struct {
	Code       Code
	Message    string        // a sentence for a person
	RetryAfter time.Duration // when to try again; 0 when it does not apply
	State      State         // CodeGone: the ticket's final state
	Position   int64         // CodeNotYourTurn: the place in line
	ETA        time.Duration // CodeNotYourTurn: the estimated wait
}

// Error returns the message with its code.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

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

// ErrBanned is the answer to a banned client: when the ban ends, and why.
func ErrBanned(left time.Duration) *Error {
	return &Error{Code: CodeBanned, RetryAfter: left,
		Message: fmt.Sprintf("this address is banned for presenting a forged token; the ban ends in %s",
			(left + time.Second - 1).Truncate(time.Second))} // rounded up, as Retry-After
}
