package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/queue"
)

// The admin API: /api/v1/admin/…, served only when Config.AdminToken is
// set, to requests that carry it as a bearer token. Every action is one
// atomic operation of the line (Admin); its change reaches every
// watcher, on every replica, as a new snapshot like any other change.
//
// No separate "admin" WebSocket message is broadcast: the hub remembers its
// last broadcast for browsers that connect later, which must be a snapshot,
// and a message sent here would reach only this replica's browsers. The
// snapshot shows what the action changed (paused, counters, calls).

// Admin is what an operator does to a line. Every change is atomic and
// reaches every replica and every watcher at once, like any other change.
// Errors are *queue.Error values, as for Tickets.
type Admin interface {
	// Pause stops taking tickets (CodePaused) until Resume; the line still
	// moves. Pausing a paused line changes nothing.
	Pause(ctx context.Context) (queue.Outcome, error)
	// Resume lets people take tickets again.
	Resume(ctx context.Context) (queue.Outcome, error)
	// CallNext calls the next waiting ticket now, ending the viewing
	// session that would end first when every counter is busy.
	// CodeNobodyWaiting, CodeCountersBusy.
	CallNext(ctx context.Context) (queue.Outcome, error)
	// Skip expires a called ticket now as a no-show ("" = the one called
	// longest ago). CodeNotCalled, CodeNotFound.
	Skip(ctx context.Context, label string) (queue.Outcome, error)
	// SetCounters sets the number of service slots for every replica.
	SetCounters(ctx context.Context, n int) (queue.Outcome, error)
	// Bans lists up to limit clients banned now, the latest first, and
	// how many are banned in all.
	Bans(ctx context.Context, limit int) ([]queue.Ban, int64, error)
	// Unban lifts client's ban; CodeNotFound when it is not banned.
	Unban(ctx context.Context, client string) (queue.Outcome, error)
	// EndSession ends ticket label's viewing session now. CodeNotServing,
	// CodeNotFound.
	EndSession(ctx context.Context, label string) (queue.Outcome, error)
	// AdminStats returns the running totals and the live settings.
	AdminStats(ctx context.Context) (queue.AdminStats, error)
}

const (
	// adminFailureDelay slows every answer to a wrong admin token, so that
	// guessing is slow even before it is hopeless (tokens have 16+ characters).
	adminFailureDelay = 250 * time.Millisecond
	// defaultBanList is how many bans GET /api/v1/admin/bans lists
	// unless asked (queue.MaxBanList at most).
	defaultBanList = 100
	// maxClientKeyLen bounds the client named in DELETE …/bans/{client}.
	maxClientKeyLen = 64
)

// outcomeBody answers every admin action that changes the line.
type outcomeBody struct {
	Action   string   `json:"action"`
	Version  int64    `json:"version"`          // the line's version after the action
	Ticket   string   `json:"ticket,omitempty"` // the ticket acted on
	Called   []string `json:"called"`           // tickets the action called
	Counters int      `json:"counters"`
	Paused   bool     `json:"paused"`
}

// banBody is one banned client.
type banBody struct {
	Client string  `json:"client"`
	EndsAt apiTime `json:"ends_at"`
}

// bansBody answers GET /api/v1/admin/bans.
type bansBody struct {
	Bans  []banBody `json:"bans"`  // the latest first
	Total int64     `json:"total"` // banned now, listed or not
}

// statsBody answers GET /api/v1/admin/stats.
type statsBody struct {
	Issued              int64   `json:"issued"`
	Served              int64   `json:"served"`
	Expired             int64   `json:"expired"`
	Left                int64   `json:"left"`
	Bans                int64   `json:"bans"` // bans ever made
	MeanWaitSeconds     float64 `json:"mean_wait_seconds"`
	MeanServiceSeconds  float64 `json:"mean_service_seconds"`
	Length              int64   `json:"length"`
	Counters            int     `json:"counters"`
	Serving             int64   `json:"serving"`
	Called              int64   `json:"called"`
	Paused              bool    `json:"paused"`
	ETASecondsPerTicket int64   `json:"eta_seconds_per_ticket"`
}

// reasonBody is what every admin action's body may carry: the operator's
// reason, which the public record shows with the action (GET
// /api/v1/history). The actions that take nothing else take it alone.
type reasonBody struct {
	Reason *string `json:"reason"`
}

// context is ctx with the reason, if one was sent; a reason the record
// cannot show as one line of words is 400. The reason is kept with the
// request too, for the service log's line of the action (logAdmin).
func (b reasonBody) context(ctx context.Context, c *gin.Context) (context.Context, error) {
	if b.Reason == nil {
		return ctx, nil
	}
	if err := queue.CheckReason(*b.Reason); err != nil {
		return ctx, err
	}
	c.Set(adminReasonKey, *b.Reason)
	return queue.WithReason(ctx, *b.Reason), nil
}

// adminReasonKey keeps an admin action's reason in its gin.Context.
const adminReasonKey = "catqms.admin.reason"

// counterBody is PUT /api/v1/admin/counters.
type counterBody struct {
	Counters *int `json:"counters"`
	reasonBody
}

// skipBody is the optional body of POST /api/v1/admin/skip.
type skipBody struct {
	Ticket *string `json:"ticket"`
	reasonBody
}

// adminRoutes mounts the admin API on api when an admin token is set.
// Without one, no admin route exists: every admin path answers 404.
func (s *Server) adminRoutes(api *gin.RouterGroup) {
	if s.cfg.AdminToken == "" {
		return
	}
	a := api.Group("/admin", s.adminAuth)
	a.POST("/pause", s.adminAction("pause", withReason(func(ctx context.Context, _ *gin.Context) (queue.Outcome, error) {
		return s.admin.Pause(ctx)
	})))
	a.POST("/resume", s.adminAction("resume", withReason(func(ctx context.Context, _ *gin.Context) (queue.Outcome, error) {
		return s.admin.Resume(ctx)
	})))
	a.POST("/call-next", s.adminAction("call_next", withReason(func(ctx context.Context, _ *gin.Context) (queue.Outcome, error) {
		return s.admin.CallNext(ctx)
	})))
	a.POST("/skip", s.adminAction("skip", s.adminSkip))
	a.PUT("/counters", s.adminAction("set_counters", s.adminSetCounters))
	a.DELETE("/sessions/:label", s.adminAction("end_session", withReason(func(ctx context.Context, c *gin.Context) (queue.Outcome, error) {
		return s.admin.EndSession(ctx, c.Param("label"))
	})))
	a.GET("/bans", s.adminBans)
	// A catch-all, because an IPv6 client key is a prefix with a slash
	// ("2001:db8::/64"), escaped or not.
	a.DELETE("/bans/*client", s.adminAction("unban", withReason(s.adminUnban)))
	a.GET("/stats", s.adminStats)
}

// adminAuth lets through requests with the admin bearer token. A missing or
// malformed Authorization header is 401 with a Bearer challenge; a wrong
// token is 403, logged with the client's address and answered after a
// short delay. Admin failures never ban: the admin's own address must not
// lock itself out over a typo.
func (s *Server) adminAuth(c *gin.Context) {
	token, ok, err := bearerToken(c.Request.Header.Values("Authorization"))
	if err != nil || !ok {
		s.log.Warn("admin: no credentials", "client", clientFrom(c).IP.String(),
			"method", c.Request.Method, "route", routeOf(c))
		c.Header("WWW-Authenticate", `Bearer realm="catqms admin"`)
		s.fail(c, queue.Errorf(queue.CodeUnauthorized, "send the admin token as Authorization: Bearer TOKEN"))
		return
	}
	if !sameSecret(token, s.cfg.AdminToken) {
		s.log.Warn("admin: wrong token", "client", clientFrom(c).IP.String(),
			"method", c.Request.Method, "route", routeOf(c))
		sleep(c.Request.Context(), adminFailureDelay)
		s.fail(c, queue.Errorf(queue.CodeForbidden, "the admin token is wrong"))
		return
	}
	c.Next()
}

// sameSecret compares two secrets in constant time. Hashing first makes
// the time independent of their lengths too.
func sameSecret(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// adminWords words the errors an operator reads differently from a holder:
// ending a session that is not one is said of the ticket, not of the
// holder's request.
func adminWords(err error) error {
	if qe := queue.AsError(err); qe != nil && qe.Code == queue.CodeNotServing && qe.Message == "" {
		worded := *qe
		worded.Message = fmt.Sprintf("ticket %s is %s: it has no viewing session", qe.Ticket, qe.State)
		return &worded
	}
	return err
}

// adminAction makes a handler of one admin action: run it, log who did
// what and how it went, and answer its outcome or its error.
func (s *Server) adminAction(action string, run func(context.Context, *gin.Context) (queue.Outcome, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		out, err := run(c.Request.Context(), c)
		s.logAdmin(c, action, err, out)
		if err != nil {
			s.fail(c, adminWords(err))
			return
		}
		called := out.Called
		if called == nil {
			called = []string{}
		}
		respond(c, http.StatusOK, outcomeBody{
			Action: action, Version: out.Version, Ticket: out.Ticket, Called: called,
			Counters: out.Counters, Paused: out.Paused,
		})
	}
}

// logAdmin records one admin action: what, by which address, the result
// (ok, or the error code), the operator's reason when one was given and,
// when it worked, what it did. The record's time says when.
func (s *Server) logAdmin(c *gin.Context, action string, err error, out queue.Outcome) {
	args := []any{"action", action, "client", clientFrom(c).IP.String()}
	if reason := c.GetString(adminReasonKey); reason != "" {
		args = append(args, "reason", reason)
	}
	switch {
	case err != nil:
		args = append(args, "result", string(queue.ErrorCode(err)))
	case out.Ticket != "":
		args = append(args, "result", "ok", "ticket", out.Ticket, "called", out.Called, "version", out.Version)
	default:
		args = append(args, "result", "ok", "called", out.Called, "version", out.Version)
	}
	s.log.Info("admin action", args...)
}

// withReason makes an action whose body is at most {"reason": TEXT}.
func withReason(run func(context.Context, *gin.Context) (queue.Outcome, error)) func(context.Context, *gin.Context) (queue.Outcome, error) {
	return func(ctx context.Context, c *gin.Context) (queue.Outcome, error) {
		var body reasonBody
		if _, err := readJSON(c.Request, &body); err != nil {
			return queue.Outcome{}, err
		}
		ctx, err := body.context(ctx, c)
		if err != nil {
			return queue.Outcome{}, err
		}
		return run(ctx, c)
	}
}

// adminSkip is POST /api/v1/admin/skip, with an optional {"ticket": LABEL}
// (none: the ticket called longest ago) and reason.
func (s *Server) adminSkip(ctx context.Context, c *gin.Context) (queue.Outcome, error) {
	var body skipBody
	if _, err := readJSON(c.Request, &body); err != nil {
		return queue.Outcome{}, err
	}
	if body.Ticket != nil && *body.Ticket == "" {
		return queue.Outcome{}, queue.Errorf(queue.CodeBadRequest, `send {"ticket": LABEL}, or no ticket to skip the one called longest ago`)
	}
	ctx, err := body.context(ctx, c)
	if err != nil {
		return queue.Outcome{}, err
	}
	var label string
	if body.Ticket != nil {
		label = *body.Ticket
	}
	return s.admin.Skip(ctx, label)
}

// adminSetCounters is PUT /api/v1/admin/counters with {"counters": N}.
func (s *Server) adminSetCounters(ctx context.Context, c *gin.Context) (queue.Outcome, error) {
	var body counterBody
	present, err := readJSON(c.Request, &body)
	if err != nil {
		return queue.Outcome{}, err
	}
	if !present || body.Counters == nil {
		return queue.Outcome{}, queue.Errorf(queue.CodeBadRequest, `send {"counters": N} with N from 1 to %d`, queue.MaxCounters)
	}
	if ctx, err = body.context(ctx, c); err != nil {
		return queue.Outcome{}, err
	}
	return s.admin.SetCounters(ctx, *body.Counters)
}

// adminUnban is DELETE /api/v1/admin/bans/{client}.
func (s *Server) adminUnban(ctx context.Context, c *gin.Context) (queue.Outcome, error) {
	key, err := parseClientKey(strings.TrimPrefix(c.Param("client"), "/"))
	if err != nil {
		return queue.Outcome{}, err
	}
	return s.admin.Unban(ctx, key)
}

// parseClientKey checks a client key as GET …/bans lists it (an IPv4
// address, an IPv6 prefix or address, or "unknown") and returns it in the
// form the server keys clients by, so that "2001:DB8::/64" finds
// "2001:db8::/64".
func parseClientKey(s string) (string, error) {
	if len(s) > maxClientKeyLen {
		return "", queue.Errorf(queue.CodeBadRequest, "a client key is at most %d characters", maxClientKeyLen)
	}
	if addr, dev, ok := strings.Cut(s, deviceSep); ok { // a device on a shared network (device.go)
		key, err := parseClientKey(addr)
		if err != nil || !isDeviceName(dev) {
			return "", queue.Errorf(queue.CodeBadRequest, "%q is not a device's client key (ADDRESS~32 hex digits)", truncate(s, maxClientKeyLen))
		}
		return key + deviceSep + dev, nil
	}
	if s == "unknown" {
		return s, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
		return ip.Unmap().String(), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String(), nil
	}
	return "", queue.Errorf(queue.CodeBadRequest, "%q is not a client key: an IPv4 address or an IPv6 prefix like 2001:db8::/64", truncate(s, maxClientKeyLen))
}

// adminBans is GET /api/v1/admin/bans[?limit=N]: the clients banned now.
func (s *Server) adminBans(c *gin.Context) {
	limit := defaultBanList
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > queue.MaxBanList {
			s.fail(c, queue.Errorf(queue.CodeBadRequest, "limit must be a whole number from 1 to %d", queue.MaxBanList))
			return
		}
		limit = n
	}
	bans, total, err := s.admin.Bans(c.Request.Context(), limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := bansBody{Bans: make([]banBody, 0, len(bans)), Total: total}
	for _, b := range bans {
		body.Bans = append(body.Bans, banBody{Client: b.Client, EndsAt: apiTime(b.EndsAt)})
	}
	respond(c, http.StatusOK, body)
}

// adminStats is GET /api/v1/admin/stats: the running totals and the line now.
func (s *Server) adminStats(c *gin.Context) {
	st, err := s.admin.AdminStats(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	respond(c, http.StatusOK, statsBody{
		Issued:              st.Issued,
		Served:              st.Served,
		Expired:             st.Expired,
		Left:                st.Left,
		Bans:                st.Bans,
		MeanWaitSeconds:     st.MeanWait.Seconds(),
		MeanServiceSeconds:  st.MeanService.Seconds(),
		Length:              st.Length,
		Counters:            st.Counters,
		Serving:             st.Serving,
		Called:              st.Called,
		Paused:              st.Paused,
		ETASecondsPerTicket: etaSeconds(st.ETAPerTicket),
	})
}

// readJSON decodes a JSON object body into v, refusing unknown fields and
// anything after the object. An absent or blank body is not an error:
// present is false.
func readJSON(r *http.Request, v any) (present bool, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return false, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return false, queue.Errorf(queue.CodeBadRequest, "the body is larger than %d bytes", maxBodyBytes)
		}
		return false, queue.Errorf(queue.CodeBadRequest, "the body could not be read")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, queue.Errorf(queue.CodeBadRequest, "the body is not the JSON object this route takes: %s", truncate(err.Error(), 120))
	}
	if _, err := dec.Token(); err != io.EOF {
		return true, queue.Errorf(queue.CodeBadRequest, "the body has data after the JSON object")
	}
	return true, nil
}
