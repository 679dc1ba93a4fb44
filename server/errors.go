package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/queue"
)

// errorKind is how one error code is answered: its HTTP status, when to
// try again, and its words. Stores and the domain give facts (queue.Error);
// this table alone turns them into an answer.
type errorKind struct {
	status int
	// retry is the Retry-After for e; nil sends none.
	retry func(e *queue.Error, p policy) time.Duration
	// words say what happened and what to do, from e's facts. An error
	// that carries its own Message (what was wrong with a request) is shown
	// with that instead.
	words func(e *queue.Error, p policy) string
}

// policy is what the table's rules read besides the error itself.
type policy struct {
	headWindow time.Duration // a called ticket's time to redeem
	embedded   bool          // the line is kept in the embedded store (Config.EmbeddedStore)
}

// The Retry-After of the codes that have a fixed one.
const (
	pausedRetry      = 30 * time.Second
	unavailableRetry = 2 * time.Second
	connectionsRetry = 5 * time.Second
)

func fixed(d time.Duration) func(*queue.Error, policy) time.Duration {
	return func(*queue.Error, policy) time.Duration { return d }
}

func say(s string) func(*queue.Error, policy) string {
	return func(*queue.Error, policy) string { return s }
}

// errorTable maps every application error code to its HTTP answer. It is the
// only place that does.
var errorTable = map[queue.Code]errorKind{
	queue.CodeBadRequest:       {http.StatusBadRequest, nil, say("the request is malformed")},
	queue.CodeUnauthorized:     {http.StatusUnauthorized, nil, say("credentials are missing or wrong")},
	queue.CodeMethodNotAllowed: {http.StatusMethodNotAllowed, nil, say("method not allowed")},
	// A forged token bans its client at once: try again when the ban ends.
	queue.CodeForbidden: {http.StatusForbidden, banRetry, func(e *queue.Error, _ policy) string {
		return fmt.Sprintf("this token was not issued by this service; this address is banned for %s", roundUp(e.BanLeft))
	}},
	queue.CodeBanned: {http.StatusForbidden, banRetry, func(e *queue.Error, _ policy) string {
		return fmt.Sprintf("this address is banned for presenting a forged token; the ban ends in %s", roundUp(e.BanLeft))
	}},
	queue.CodeNotFound: {http.StatusNotFound, nil, func(e *queue.Error, _ policy) string {
		if e.Ticket != "" {
			return fmt.Sprintf("there is no ticket %s in the line (finished tickets are kept a day)", e.Ticket)
		}
		return "not found"
	}},
	// Ask again after about the wait, but never later than half the head
	// window, so a client that polls as told cannot miss its call.
	queue.CodeNotYourTurn: {http.StatusConflict, func(e *queue.Error, p policy) time.Duration {
		return min(max(e.ETA, time.Second), max(p.headWindow/2, time.Second))
	}, func(e *queue.Error, _ policy) string {
		return fmt.Sprintf("ticket %s is number %d in line; it is not your turn yet", e.Ticket, e.Position)
	}},
	queue.CodeNotServing: {http.StatusConflict, nil, func(e *queue.Error, _ policy) string {
		return fmt.Sprintf("ticket %s is %s: there is no viewing session to end", e.Ticket, e.State)
	}},
	queue.CodeNobodyWaiting: {http.StatusConflict, nil, say("nobody is waiting to be called")},
	queue.CodeCountersBusy: {http.StatusConflict, nil,
		say("every counter holds a called ticket whose holder has not come yet; skip one to call the next")},
	queue.CodeNotCalled: {http.StatusConflict, nil, func(e *queue.Error, _ policy) string {
		if e.Ticket == "" {
			return "no ticket is called now"
		}
		return fmt.Sprintf("ticket %s is %s, not called", e.Ticket, e.State)
	}},
	queue.CodeGone: {http.StatusGone, nil, func(e *queue.Error, _ policy) string {
		if e.Reset {
			return "the line was reset since this ticket was issued (the service's signing key changed), so it is no longer in the line; take a new ticket"
		}
		if e.Ticket == "" {
			return "this ticket is no longer in the line; take a new ticket"
		}
		return fmt.Sprintf("ticket %s is %s; take a new ticket", e.Ticket, e.State)
	}},
	// A live ticket frees about one ticket's share of the wait from now.
	queue.CodeTooManyTickets: {http.StatusTooManyRequests, shareRetry, func(e *queue.Error, _ policy) string {
		return fmt.Sprintf("this address already holds %d live tickets; use one or leave the line first", e.Limit)
	}},
	queue.CodeRateLimited: {http.StatusTooManyRequests, waitRetry,
		say("this client takes tickets too fast; try again after Retry-After seconds")},
	codeTooManyConnections: {http.StatusTooManyRequests, fixed(connectionsRetry),
		func(e *queue.Error, _ policy) string {
			return fmt.Sprintf("this client already has %d live connections; close one first", e.Limit)
		}},
	// The embedded store holds a shorter line than Redis (queue.EmbeddedStore).
	queue.CodeLineFull: {http.StatusServiceUnavailable, shareRetry, func(e *queue.Error, p policy) string {
		if p.embedded {
			return fmt.Sprintf("the line is full (%d tickets, the limit of this server's embedded store); "+
				"try again when it has moved on. For longer lines, run catqms with --redis-url", e.Limit)
		}
		return "the line is full; try again when it has moved on"
	}},
	queue.CodePaused: {http.StatusServiceUnavailable, fixed(pausedRetry), say("taking tickets is paused for now; try again later")},
	queue.CodeUnavailable: {http.StatusServiceUnavailable, fixed(unavailableRetry),
		say("the queue store is not answering; try again shortly")},
	queue.CodeInternal: {http.StatusInternalServerError, nil, say("internal error")},
	// Issue 13: a request another site caused (crossorigin.go).
	codeCrossOrigin: {http.StatusForbidden, nil, say("another site caused this request; it acts for nobody")},
}

func banRetry(e *queue.Error, _ policy) time.Duration   { return e.BanLeft }
func shareRetry(e *queue.Error, _ policy) time.Duration { return max(e.Share, time.Second) }
func waitRetry(e *queue.Error, _ policy) time.Duration  { return max(e.Wait, time.Second) }

// codeTooManyConnections is the server's own code for the WebSocket cap.
const codeTooManyConnections queue.Code = "too_many_connections"

// errorBody is every error answer. Position and ETA come with
// not_your_turn, State with gone.
type errorBody struct {
	Error      queue.Code `json:"error"`
	Message    string     `json:"message"`
	Position   *int64     `json:"position,omitempty"`
	ETASeconds *int64     `json:"eta_seconds,omitempty"`
	// ETALowSeconds and ETAHighSeconds come with not_your_turn: the
	// estimate's range around ETASeconds (as a ticket's).
	ETALowSeconds  *int64      `json:"eta_low_seconds,omitempty"`
	ETAHighSeconds *int64      `json:"eta_high_seconds,omitempty"`
	State          queue.State `json:"state,omitempty"`
}

// describe turns any error into the *queue.Error that is shown to the
// client, its HTTP status and the Retry-After to send (0 = none). An error
// that is not a *queue.Error is a defect (internal), except a request's own
// deadline, which is the store being slow (unavailable). A 500 tells the
// client nothing more: its detail is logged.
func (p policy) describe(err error) (*queue.Error, int, time.Duration) {
	qe := queue.AsError(err)
	if qe == nil {
		if errors.Is(err, context.DeadlineExceeded) {
			qe = &queue.Error{Code: queue.CodeUnavailable, Message: "the queue store did not answer in time"}
		} else {
			qe = &queue.Error{Code: queue.CodeInternal}
		}
	}
	kind, ok := errorTable[qe.Code]
	if !ok || qe.Code == queue.CodeInternal {
		internal := errorTable[queue.CodeInternal]
		return &queue.Error{Code: queue.CodeInternal, Message: internal.words(nil, p)}, internal.status, 0
	}
	shown := *qe
	if shown.Message == "" {
		shown.Message = kind.words(qe, p)
	}
	var retry time.Duration
	if kind.retry != nil {
		retry = kind.retry(qe, p)
	}
	return &shown, kind.status, retry
}

// fail answers err. It is the one path every error answer takes.
func (s *Server) fail(c *gin.Context, err error) {
	qe, status, retry := s.policy.describe(err)
	if status == http.StatusInternalServerError {
		s.log.Error("internal error", "route", routeOf(c), "method", c.Request.Method, "err", err)
		s.internalErrors.Inc()
	} else if queue.AsError(err) == nil {
		s.log.Warn("store error", "route", routeOf(c), "method", c.Request.Method, "err", err)
	}
	if qe.Code == queue.CodeNotYourTurn {
		qe.ETA, qe.ETALow, qe.ETAHigh = s.estimate(qe.Position, qe.ETA)
	}
	if retry > 0 {
		c.Header("Retry-After", strconv.FormatInt(retrySeconds(retry), 10))
	}
	c.AbortWithStatusJSON(status, newErrorBody(qe))
}

// backgroundError logs a store error met outside a request (the live feed,
// a scrape) and reports whether it was a defect: a defect is logged as an
// error and counted, as a 500 is; the store not answering is a warning.
func (s *Server) backgroundError(what string, err error) (defect bool) {
	if qe, _, _ := s.policy.describe(err); qe.Code == queue.CodeInternal {
		s.log.Error(what+": internal error", "err", err)
		s.internalErrors.Inc()
		return true
	}
	s.log.Warn(what+": the queue store is not answering", "err", err)
	return false
}

// newErrorBody shows qe with the extra fields its code carries.
func newErrorBody(qe *queue.Error) errorBody {
	body := errorBody{Error: qe.Code, Message: qe.Message}
	switch qe.Code {
	case queue.CodeNotYourTurn:
		pos := qe.Position
		eta, low, high := etaRange(qe.ETA, qe.ETALow, qe.ETAHigh)
		body.Position, body.ETASeconds, body.ETALowSeconds, body.ETAHighSeconds = &pos, &eta, &low, &high
	case queue.CodeGone:
		body.State = qe.State
	}
	return body
}

// respond answers v as JSON with status.
func respond(c *gin.Context, status int, v any) {
	c.JSON(status, v)
}

// retrySeconds is d in whole seconds, rounded up, at least 1.
func retrySeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}

// roundUp is d rounded up to whole seconds.
func roundUp(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(d.Seconds())) * time.Second
}

// etaSeconds is d in whole seconds, rounded up; never negative.
func etaSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
