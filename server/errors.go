package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/queue"
)

// errorKind is how one error code is answered.
type errorKind struct {
	status  int
	message string        // used when the error carries none
	retry   time.Duration // Retry-After when the error carries none; 0 = no header
}

// errorTable maps every application error code to its HTTP answer. It is the
// only place that does.
var errorTable = map[queue.Code]errorKind{
	queue.CodeBadRequest:       {http.StatusBadRequest, "the request is malformed", 0},
	queue.CodeUnauthorized:     {http.StatusUnauthorized, "credentials are missing or wrong", 0},
	queue.CodeForbidden:        {http.StatusForbidden, "this token was not issued by this service", 0},
	queue.CodeBanned:           {http.StatusForbidden, "this client is banned for a while", time.Minute},
	queue.CodeNotFound:         {http.StatusNotFound, "not found", 0},
	queue.CodeMethodNotAllowed: {http.StatusMethodNotAllowed, "method not allowed", 0},
	queue.CodeNotYourTurn:      {http.StatusConflict, "it is not your turn yet", time.Second},
	queue.CodeNotServing:       {http.StatusConflict, "this ticket is not being served", 0},
	queue.CodeNobodyWaiting:    {http.StatusConflict, "nobody is waiting", 0},
	queue.CodeCountersBusy:     {http.StatusConflict, "every counter holds a called ticket", 0},
	queue.CodeNotCalled:        {http.StatusConflict, "that ticket is not called", 0},
	queue.CodeGone:             {http.StatusGone, "this ticket is no longer in the line", 0},
	queue.CodeTooManyTickets:   {http.StatusTooManyRequests, "this client holds too many live tickets", 10 * time.Second},
	queue.CodeRateLimited:      {http.StatusTooManyRequests, "too many requests", time.Second},
	queue.CodeLineFull:         {http.StatusServiceUnavailable, "the line is full", 10 * time.Second},
	queue.CodePaused:           {http.StatusServiceUnavailable, "taking tickets is paused", 10 * time.Second},
	queue.CodeUnavailable:      {http.StatusServiceUnavailable, "the queue store is not answering", 2 * time.Second},
	codeTooManyConnections:     {http.StatusTooManyRequests, "this client has too many live connections", 5 * time.Second},
	codeCrossOrigin:            {http.StatusForbidden, "another site caused this request", 0}, // issue 13: crossorigin.go
}

// codeTooManyConnections is the server's own code for the WebSocket cap.
const codeTooManyConnections queue.Code = "too_many_connections"

// internalKind answers every code the table lacks, and CodeInternal.
var internalKind = errorKind{http.StatusInternalServerError, "internal error", 0}

// errorBody is every error answer. Position and ETA come with
// not_your_turn, State with gone.
type errorBody struct {
	Error      queue.Code  `json:"error"`
	Message    string      `json:"message"`
	Position   *int64      `json:"position,omitempty"`
	ETASeconds *int64      `json:"eta_seconds,omitempty"`
	State      queue.State `json:"state,omitempty"`
}

// describe turns any error into the *queue.Error that is shown to the
// client, its HTTP status and the Retry-After to send (0 = none). Errors
// that are not *queue.Error come from the store (queue.Line's contract) or
// from a request deadline, so they are reported as unavailable.
func describe(err error) (*queue.Error, int, time.Duration) {
	qe := queue.AsError(err)
	if qe == nil {
		qe = &queue.Error{Code: queue.CodeUnavailable}
		if errors.Is(err, context.DeadlineExceeded) {
			qe.Message = "the queue store did not answer in time"
		}
	}
	kind, ok := errorTable[qe.Code]
	if !ok {
		return &queue.Error{Code: queue.CodeInternal, Message: internalKind.message}, internalKind.status, 0
	}
	shown := *qe
	if shown.Message == "" {
		shown.Message = kind.message
	}
	retry := qe.RetryAfter
	if retry <= 0 {
		retry = kind.retry
		if qe.Code == queue.CodeNotYourTurn && qe.ETA > 0 {
			retry = qe.ETA
		}
	}
	return &shown, kind.status, retry
}

// fail answers err. It is the one path every error answer takes.
func (s *Server) fail(c *gin.Context, err error) {
	qe, status, retry := describe(err)
	if status == http.StatusInternalServerError {
		s.log.Error("internal error", "route", routeOf(c), "method", c.Request.Method, "err", err)
	} else if queue.AsError(err) == nil {
		s.log.Warn("store error", "route", routeOf(c), "method", c.Request.Method, "err", err)
	}
	if retry > 0 {
		c.Header("Retry-After", strconv.FormatInt(retrySeconds(retry), 10))
	}
	c.AbortWithStatusJSON(status, newErrorBody(qe))
}

// newErrorBody shows qe with the extra fields its code carries.
func newErrorBody(qe *queue.Error) errorBody {
	body := errorBody{Error: qe.Code, Message: qe.Message}
	switch qe.Code {
	case queue.CodeNotYourTurn:
		pos, eta := qe.Position, etaSeconds(qe.ETA)
		body.Position, body.ETASeconds = &pos, &eta
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

// etaSeconds is d in whole seconds, rounded up; never negative.
func etaSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
