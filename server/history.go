package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/record"
)

// The public record (queue/record): GET /api/v1/history pages through the
// line's changes, GET /api/v1/history/verify is the verifier's verdict on
// the record this service holds. Neither names a token, a client or an
// address: entries name tickets by label.

// History is the line's record as the change log keeps it, sealed
// (record.Chain). main wires it to the change log.
type History interface {
	// History returns up to q.Limit entries: newest first below q.Before
	// (0 = from the newest), or oldest first above q.After.
	History(ctx context.Context, q HistoryQuery) ([]record.Entry, error)
}

// HistoryQuery is one page of the record.
type HistoryQuery struct {
	NewestFirst bool  // newest first (the default), else oldest first from After
	After       int64 // oldest first: entries with a version above it
	Before      int64 // newest first: entries with a version below it; 0 = the newest
	Limit       int   // 1..MaxHistoryPage
}

// Limits of GET /api/v1/history.
const (
	DefaultHistoryPage = 100
	MaxHistoryPage     = 1000
	// DefaultHistoryRetention is how long the record is kept (--history).
	DefaultHistoryRetention = 24 * time.Hour
)

// errNoRecord answers the record's routes when main wired none.
var errNoRecord = queue.Errorf(queue.CodeNotFound, "this service keeps no public record")

// historyBody answers GET /api/v1/history.
type historyBody struct {
	Order   string         `json:"order"` // "newest_first" or "oldest_first"
	Entries []record.Entry `json:"entries"`
	// Next is the query of the following page, when this one was full.
	Next string `json:"next,omitempty"`
}

// history is GET /api/v1/history.
func (s *Server) history(c *gin.Context) {
	if s.records == nil {
		s.fail(c, errNoRecord)
		return
	}
	q, err := historyQuery(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	entries, err := s.records.History(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := historyBody{Order: "newest_first", Entries: entries}
	if !q.NewestFirst {
		body.Order = "oldest_first"
	}
	if body.Entries == nil {
		body.Entries = []record.Entry{}
	}
	if n := len(entries); n == q.Limit && n > 0 {
		last := strconv.FormatInt(entries[n-1].Version, 10)
		limit := "&limit=" + strconv.Itoa(q.Limit)
		if q.NewestFirst {
			body.Next = "/api/v1/history?before=" + last + limit
		} else {
			body.Next = "/api/v1/history?after=" + last + limit
		}
	}
	respond(c, http.StatusOK, body)
}

// historyQuery reads the query string: after or before (not both), limit.
func historyQuery(c *gin.Context) (HistoryQuery, error) {
	q := HistoryQuery{NewestFirst: true, Limit: DefaultHistoryPage}
	version := func(name string) (int64, bool, error) {
		v, ok := c.GetQuery(name)
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, false, queue.Errorf(queue.CodeBadRequest, "%s must be a version: a whole number ≥ 0, not %q", name, truncate(v, 40))
		}
		return n, true, nil
	}
	after, hasAfter, err := version("after")
	if err != nil {
		return q, err
	}
	before, hasBefore, err := version("before")
	if err != nil {
		return q, err
	}
	if hasAfter && hasBefore {
		return q, queue.Errorf(queue.CodeBadRequest, "give after (oldest first) or before (newest first), not both")
	}
	if hasAfter {
		q.NewestFirst, q.After = false, after
	}
	q.Before = before
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxHistoryPage {
			return q, queue.Errorf(queue.CodeBadRequest, "limit must be 1..%d, not %q", MaxHistoryPage, truncate(v, 40))
		}
		q.Limit = n
	}
	return q, nil
}

// verifier keeps the verdict on the record between requests: the record
// only grows at its end, so each request replays only the entries added
// since the last one.
type verifier struct {
	turn chan struct{} // one replay at a time: holds a token while one runs
	v    *record.Verifier
	last int64     // the newest version replayed
	full time.Time // when the whole record was last replayed
}

// fullReplayEvery is how often the verdict replays the whole record, not
// only what was added: an entry rewritten in place changes no newest
// version, and only a whole replay sees it.
const fullReplayEvery = time.Minute

func newVerifier() verifier { return verifier{turn: make(chan struct{}, 1)} }

// historyVerify is GET /api/v1/history/verify.
func (s *Server) historyVerify(c *gin.Context) {
	if s.records == nil {
		s.fail(c, errNoRecord)
		return
	}
	verdict, err := s.verdict(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	respond(c, http.StatusOK, verdict)
}

// verdict replays the entries added since the last verdict. When they
// break a rule, or the last whole replay is older than fullReplayEvery,
// the whole record is replayed from its start: it may have been trimmed,
// rewritten, or begun anew by a store reset or a failover since.
func (s *Server) verdict(ctx context.Context) (record.Verdict, error) {
	vf := &s.verifier
	select {
	case vf.turn <- struct{}{}:
		defer func() { <-vf.turn }()
	case <-ctx.Done():
		return record.Verdict{}, queue.Errorf(queue.CodeUnavailable, "the record is being verified; try again shortly")
	}
	now := s.now()
	if vf.v != nil && now.Sub(vf.full) < fullReplayEvery {
		if d := vf.v.Verdict(); !d.OK {
			return d, nil // found by a whole replay: it stands until the next
		}
		last, err := s.replay(ctx, vf.v, vf.last)
		if err != nil {
			vf.v = nil // fed part of a page: start again
			return record.Verdict{}, err
		}
		if d := vf.v.Verdict(); d.OK {
			vf.last = last
			return d, nil
		}
	}
	v := record.NewVerifier()
	last, err := s.replay(ctx, v, 0)
	if err != nil {
		vf.v = nil
		return record.Verdict{}, err
	}
	vf.v, vf.last, vf.full = v, last, now
	return v.Verdict(), nil
}

// replay feeds v the entries above version after, page by page, and
// returns the newest version fed.
func (s *Server) replay(ctx context.Context, v *record.Verifier, after int64) (int64, error) {
	for {
		page, err := s.records.History(ctx, HistoryQuery{After: after, Limit: MaxHistoryPage})
		if err != nil {
			return after, err
		}
		for _, e := range page {
			if e.Version <= after {
				return after, queue.Errorf(queue.CodeInternal, "history: version %d came after %d", e.Version, after)
			}
			after = e.Version
			if !v.Add(e) {
				return after, nil
			}
		}
		if len(page) < MaxHistoryPage {
			return after, nil
		}
	}
}
