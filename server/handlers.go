package server

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/queue"
)

// readyTimeout bounds the store ping behind /readyz.
const readyTimeout = time.Second

// imagePath is where a session's picture is served; the image id follows.
const imagePath = "/api/v1/images/"

// ticketBody is a ticket as the API and the WebSocket show it. Position and
// ETA come only while the ticket is in line, Deadline while it is called,
// Until and ImageURL while it is serving.
type ticketBody struct {
	Type       string      `json:"type,omitempty"`  // "ticket" on the WebSocket
	Token      string      `json:"token,omitempty"` // only when issued
	Ticket     string      `json:"ticket"`
	State      queue.State `json:"state"`
	Position   *int64      `json:"position,omitempty"`
	ETASeconds *int64      `json:"eta_seconds,omitempty"`
	// ETALowSeconds and ETAHighSeconds bound ETASeconds while in line: the
	// estimate's range from the line's flow (queue/flow), else both equal it.
	ETALowSeconds  *int64   `json:"eta_low_seconds,omitempty"`
	ETAHighSeconds *int64   `json:"eta_high_seconds,omitempty"`
	Deadline       *apiTime `json:"deadline,omitempty"`
	Until          *apiTime `json:"until,omitempty"`
	ImageURL       string   `json:"image_url,omitempty"`
}

// newTicketBody shows t.
func newTicketBody(t queue.Ticket) ticketBody {
	b := ticketBody{Ticket: t.Label, State: t.State}
	if t.State.InLine() {
		pos := t.Position
		eta, low, high := etaRange(t.ETA, t.ETALow, t.ETAHigh)
		b.Position, b.ETASeconds, b.ETALowSeconds, b.ETAHighSeconds = &pos, &eta, &low, &high
	}
	if t.State == queue.StateCalled && !t.Deadline.IsZero() {
		b.Deadline = timeOf(t.Deadline)
	}
	if t.State == queue.StateServing {
		if !t.Until.IsZero() {
			b.Until = timeOf(t.Until)
		}
		if t.ImageID != "" {
			b.ImageURL = imagePath + t.ImageID
		}
	}
	return b
}

// sessionBody is the answer to a redeemed ticket.
type sessionBody struct {
	Ticket   string      `json:"ticket"`
	State    queue.State `json:"state"`
	ImageURL string      `json:"image_url"`
	Until    apiTime     `json:"until"`
}

// healthBody answers /healthz and /readyz.
type healthBody struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// takeTicket is GET /api/v1/token: a new ticket at the end of the line.
func (s *Server) takeTicket(c *gin.Context) {
	issued, err := s.tickets.Take(c.Request.Context(), clientFrom(c).Key)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := newTicketBody(s.estimated(issued.Ticket))
	body.Token = issued.Token
	respond(c, http.StatusOK, body)
}

// redeem is POST /api/v1/kitty: a called ticket becomes a viewing session.
func (s *Server) redeem(c *gin.Context) {
	ctx, key := c.Request.Context(), clientFrom(c).Key
	token, err := s.requireToken(ctx, c.Request, key, bearerOrBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	session, err := s.tickets.Redeem(ctx, key, token)
	if err != nil {
		s.fail(c, err)
		return
	}
	if wantsImage(c.Request.Header.Values("Accept")) {
		s.serveImage(c, session)
		return
	}
	respond(c, http.StatusOK, sessionBody{
		Ticket:   session.Label,
		State:    queue.StateServing,
		ImageURL: imagePath + session.ImageID,
		Until:    apiTime(session.Until),
	})
}

// endViewing is DELETE /api/v1/kitty: the session ends and its counter frees.
func (s *Server) endViewing(c *gin.Context) {
	ctx, key := c.Request.Context(), clientFrom(c).Key
	token, err := s.requireToken(ctx, c.Request, key, bearerOrBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.tickets.EndViewing(ctx, key, token); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ticketStatus is GET /api/v1/ticket: where the ticket stands.
func (s *Server) ticketStatus(c *gin.Context) {
	ctx, key := c.Request.Context(), clientFrom(c).Key
	token, err := s.requireToken(ctx, c.Request, key, bearerOnly)
	if err != nil {
		s.fail(c, err)
		return
	}
	body, err := s.ticketOf(ctx, key, token)
	if err != nil {
		s.fail(c, err)
		return
	}
	respond(c, http.StatusOK, body)
}

// leave is DELETE /api/v1/ticket: the holder leaves the line.
func (s *Server) leave(c *gin.Context) {
	ctx, key := c.Request.Context(), clientFrom(c).Key
	token, err := s.requireToken(ctx, c.Request, key, bearerOrBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.tickets.Leave(ctx, key, token); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// snapshot is GET /api/v1/queue: the whole visible line.
func (s *Server) snapshot(c *gin.Context) {
	snap, err := s.tickets.Snapshot(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	respond(c, http.StatusOK, s.snapshotBody(snap))
}

// image is GET /api/v1/images/:id: a live session's picture. An image id is
// a capability, not a token: a wrong one is simply not found, never a ban.
func (s *Server) image(c *gin.Context) {
	session, err := s.tickets.Viewing(c.Request.Context(), c.Param("id"))
	if err != nil {
		switch queue.ErrorCode(err) {
		case queue.CodeForbidden, queue.CodeBadRequest, queue.CodeNotFound:
			err = queue.Errorf(queue.CodeNotFound, "no such image")
		case queue.CodeGone:
			err = &queue.Error{Code: queue.CodeGone, State: queue.AsError(err).State, Message: "this viewing session has ended"}
		}
		s.fail(c, err)
		return
	}
	s.serveImage(c, session)
}

// serveImage answers the picture of session.
func (s *Server) serveImage(c *gin.Context, session queue.Session) {
	img, err := s.images.Image(session.Seq)
	if err != nil {
		s.fail(c, queue.Errorf(queue.CodeInternal, "image for ticket %d: %v", session.Seq, err))
		return
	}
	contentType := img.ContentType
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	// The picture is for this viewer and only until the session ends.
	c.Header("Cache-Control", "private, no-store")
	c.Data(http.StatusOK, contentType, img.Data)
}

// openAPI is GET /api/v1/openapi.json: the contract this server keeps.
func (s *Server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", s.openAPIDoc)
}

// healthz is GET /healthz: the process serves.
func (s *Server) healthz(c *gin.Context) {
	respond(c, http.StatusOK, healthBody{Status: "ok", Version: s.cfg.Version})
}

// readyz is GET /readyz: the queue store answers.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if err := s.health.Ping(ctx); err != nil {
		s.fail(c, err) // unavailable, in the table's words; a defect is internal
		return
	}
	respond(c, http.StatusOK, healthBody{Status: "ok", Version: s.cfg.Version})
}

// page serves the web client.
func (s *Server) page(c *gin.Context) {
	if s.pages == nil {
		s.fail(c, queue.Errorf(queue.CodeNotFound, "the web client is not served here"))
		return
	}
	s.pages.ServeHTTP(c.Writer, c.Request)
}

// requireToken returns the request's token. A request without a usable
// token is a bad request, except that a banned client hears that it is
// banned first, whatever it sent.
func (s *Server) requireToken(ctx context.Context, r *http.Request, key string, from tokenSources) (string, error) {
	token, err := tokenOf(r, from)
	if err == nil {
		return token, nil
	}
	left, banErr := s.tickets.BanRemaining(ctx, key)
	switch {
	case banErr != nil:
		return "", banErr
	case left > 0:
		return "", queue.ErrBanned(left)
	}
	return "", err
}

// ticketOf is the ticket behind token, with its image URL while it serves.
func (s *Server) ticketOf(ctx context.Context, key, token string) (ticketBody, error) {
	t, err := s.tickets.Status(ctx, key, token)
	if err != nil {
		return ticketBody{}, err
	}
	return newTicketBody(s.estimated(t)), nil
}

// wantsImage reports whether Accept asks for a picture and not for JSON.
func wantsImage(accept []string) bool {
	image := false
	for _, header := range accept {
		for _, part := range strings.Split(header, ",") {
			mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || refused(params) {
				continue
			}
			switch {
			case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
				return false
			case strings.HasPrefix(mediaType, "image/"):
				image = true
			}
		}
	}
	return image
}

// refused reports whether a media range's quality is zero: "not this".
func refused(params map[string]string) bool {
	q, ok := params["q"]
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(q, 64)
	return err == nil && f <= 0
}
