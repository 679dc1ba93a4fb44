package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/queue"
)

// TestErrorTableWordsTheFacts: the words and Retry-After of each code come
// from the error's facts and the table, and every code has a row.
func TestErrorTableWordsTheFacts(t *testing.T) {
	p := policy{headWindow: 40 * time.Second}
	tests := []struct {
		err    *queue.Error
		status int
		words  string
		retry  time.Duration
	}{
		{&queue.Error{Code: queue.CodeNotYourTurn, Ticket: "A002", Position: 2, ETA: 90 * time.Second},
			http.StatusConflict, "ticket A002 is number 2 in line; it is not your turn yet", 20 * time.Second},
		{&queue.Error{Code: queue.CodeNotYourTurn, Ticket: "A002", Position: 2, ETA: 3 * time.Second},
			http.StatusConflict, "ticket A002 is number 2 in line; it is not your turn yet", 3 * time.Second},
		{&queue.Error{Code: queue.CodeNotYourTurn, Ticket: "A002", Position: 2},
			http.StatusConflict, "ticket A002 is number 2 in line; it is not your turn yet", time.Second},
		{&queue.Error{Code: queue.CodeBanned, BanLeft: 89500 * time.Millisecond},
			http.StatusForbidden, "this address is banned for presenting a forged token; the ban ends in 1m30s", 89500 * time.Millisecond},
		{&queue.Error{Code: queue.CodeForbidden, BanLeft: time.Hour},
			http.StatusForbidden, "this token was not issued by this service; this address is banned for 1h0m0s", time.Hour},
		{&queue.Error{Code: queue.CodeNotCalled, Ticket: "A004", State: queue.StateWaiting},
			http.StatusConflict, "ticket A004 is waiting, not called", 0},
		{&queue.Error{Code: queue.CodeNotCalled}, http.StatusConflict, "no ticket is called now", 0},
		{&queue.Error{Code: queue.CodeNotServing, Ticket: "A000", State: queue.StateCalled},
			http.StatusConflict, "ticket A000 is called: it has no viewing session to end", 0},
		{&queue.Error{Code: queue.CodeGone, Ticket: "A001", State: queue.StateServed},
			http.StatusGone, "ticket A001 is served; take a new ticket", 0},
		{&queue.Error{Code: queue.CodeGone, State: queue.StateExpired},
			http.StatusGone, "this ticket is no longer in the line; take a new ticket", 0},
		{&queue.Error{Code: queue.CodeNotFound, Ticket: "Z999"},
			http.StatusNotFound, "there is no ticket Z999 in the line (finished tickets are kept a day)", 0},
		{&queue.Error{Code: queue.CodeTooManyTickets, Limit: 10, Share: 400 * time.Millisecond},
			http.StatusTooManyRequests, "this address already holds 10 live tickets; use one or leave the line first", time.Second},
		{&queue.Error{Code: queue.CodeLineFull, Limit: 5, Share: 30 * time.Second},
			http.StatusServiceUnavailable, "the line is full; try again when it has moved on", 30 * time.Second},
		{&queue.Error{Code: queue.CodePaused}, http.StatusServiceUnavailable, "taking tickets is paused for now; try again later", pausedRetry},
		{&queue.Error{Code: queue.CodeUnavailable}, http.StatusServiceUnavailable, "the queue store is not answering; try again shortly", unavailableRetry},
		{&queue.Error{Code: queue.CodeRateLimited, Wait: 2500 * time.Millisecond},
			http.StatusTooManyRequests, "this client takes tickets too fast; try again after Retry-After seconds", 2500 * time.Millisecond},
		{&queue.Error{Code: codeTooManyConnections, Limit: 20},
			http.StatusTooManyRequests, "this client already has 20 live connections; close one first", connectionsRetry},
		{&queue.Error{Code: queue.CodeBadRequest, Message: "a token is required"}, http.StatusBadRequest, "a token is required", 0},
		{&queue.Error{Code: "no_such_code"}, http.StatusInternalServerError, "internal error", 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.err.Code), func(t *testing.T) {
			shown, status, retry := p.describe(tt.err)
			if status != tt.status || shown.Message != tt.words || retry != tt.retry {
				t.Fatalf("describe(%+v) = %d %q %v, want %d %q %v", tt.err, status, shown.Message, retry, tt.status, tt.words, tt.retry)
			}
		})
	}
	for code, kind := range errorTable {
		if kind.status == 0 || kind.words == nil {
			t.Errorf("%s: incomplete row", code)
		}
	}
	// Not a *queue.Error: a defect, except the request's own deadline.
	if _, status, _ := p.describe(context.DeadlineExceeded); status != http.StatusServiceUnavailable {
		t.Errorf("a deadline: %d, want 503", status)
	}
	if shown, status, _ := p.describe(errString("boom")); status != http.StatusInternalServerError || shown.Message != "internal error" {
		t.Errorf("a defect: %d %q, want 500 internal error", status, shown.Message)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// garbageHook makes every script answer something outside the protocol.
type garbageHook struct{}

func (garbageHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (garbageHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (garbageHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(*redis.Cmd); ok && err == nil && strings.HasPrefix(strings.ToLower(c.Name()), "eval") {
			c.SetVal([]any{"code", "ok", "surprise", int64(1)})
		}
		return err
	}
}

// TestStoreGarbageIsInternalNotUnavailable: a store whose scripts answer
// garbage is a defect: 500 internal, logged with detail and counted, not
// 503 "the store is not answering".
func TestStoreGarbageIsInternalNotUnavailable(t *testing.T) {
	e := newTestServer(t, testOptions{storeHook: garbageHook{}})
	for _, target := range []string{"/api/v1/token", "/api/v1/queue"} {
		w := e.do(http.MethodGet, target, nil)
		m := wantError(t, w, http.StatusInternalServerError, queue.CodeInternal, false)
		if m["message"] != "internal error" || w.Header().Get("Retry-After") != "" {
			t.Fatalf("GET %s: %v (Retry-After %q)", target, m, w.Header().Get("Retry-After"))
		}
	}
	if n := testutil.ToFloat64(e.srv.internalErrors); n != 2 {
		t.Fatalf("catqms_internal_errors_total = %v, want 2", n)
	}
	if logs := e.logs.String(); !strings.Contains(logs, `unknown field \"surprise\"`) && !strings.Contains(logs, `unknown field "surprise"`) {
		t.Fatalf("the log does not say what was wrong:\n%s", logs)
	}
}
