// Package client is a Go client of the catqms API: take a ticket, watch the
// line, redeem the ticket when it is called, end or leave. docs/api.md in
// the repository is the contract it speaks.
//
// Every method returns an *Error for an answer the service refused, with
// the code, the HTTP status, Retry-After and the fields the code carries;
// any other error is the transport's. WaitAndRedeem polls as the service
// asks (Retry-After), and Watch keeps a WebSocket open, reconnecting and
// watching the ticket again by itself.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/catqms/catqms/queue"
)

// maxBody bounds what the client reads of an answer: a picture fits many
// times; a service that sends more is not a catqms service.
const maxBody = 32 << 20

// State is where a ticket is in its life: the domain's states, which are
// the API's words (waiting → called → serving → served; called → expired;
// waiting/called → left).
type State = queue.State

// The states of a ticket.
const (
	StateWaiting = queue.StateWaiting
	StateCalled  = queue.StateCalled
	StateServing = queue.StateServing
	StateServed  = queue.StateServed
	StateExpired = queue.StateExpired
	StateLeft    = queue.StateLeft
)

// Ticket is a ticket as its holder sees it.
type Ticket struct {
	Token    string        // the secret token; set only by Take
	Label    string        // the public label, e.g. "A042"
	State    State         // where it is
	Position int64         // 1-based place in line while waiting or called, else 0
	ETA      time.Duration // estimated wait until called (the middle of its range); 0 once called
	Deadline time.Time     // while called: when the call expires
	Until    time.Time     // while serving: when viewing ends
	ImageURL string        // while serving: the picture's absolute URL

	// ETALow and ETAHigh bound ETA: the service's range for the wait
	// (equal to ETA when it has none). 0 once called.
	ETALow, ETAHigh time.Duration
}

// Session is a redeemed ticket.
type Session struct {
	Label    string    // the ticket's label
	ImageURL string    // the picture's absolute URL, valid until Until
	Until    time.Time // when viewing ends
}

// Picture is an image and its media type.
type Picture struct {
	ContentType string // e.g. image/png
	Data        []byte
}

// Slot is a serving or called ticket in a snapshot.
type Slot struct {
	Label    string
	Until    time.Time // serving: when viewing ends
	Deadline time.Time // called: when the call expires
}

// Snapshot is the whole visible line at one version.
type Snapshot struct {
	Version      int64         // grows with every change; compare, never count
	Now          time.Time     // the service's clock when it was read
	Length       int64         // tickets called or waiting
	Counters     int           // service slots
	Paused       bool          // taking tickets is paused
	Serving      []Slot        // viewing sessions
	Called       []Slot        // called tickets
	Waiting      []string      // the labels of the first 64 waiting tickets, in order
	ETAPerTicket time.Duration // the service's estimate of one ticket's wait
}

// Client calls one catqms service. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	http   *http.Client
	header http.Header
	dialer wsDialer
	backoff
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc instead of a client with a 15 s
// timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithHeader adds a header to every request and WebSocket handshake, e.g.
// X-Forwarded-For behind a proxy that the service trusts.
func WithHeader(key, value string) Option {
	return func(c *Client) { c.header.Add(key, value) }
}

// WithReconnect sets how long Watch waits before reconnecting: first least,
// doubling up to most. The defaults are 500 ms and 15 s. A Retry-After from
// the service's refusal is waited instead when it is longer.
func WithReconnect(least, most time.Duration) Option {
	return func(c *Client) { c.backoff = backoff{least: least, most: max(least, most)} }
}

// New returns a client of the service at baseURL, e.g.
// "http://localhost:8080".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: %q is not an http or https URL", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{
		base:    u,
		http:    &http.Client{Timeout: 15 * time.Second},
		header:  http.Header{},
		backoff: backoff{least: 500 * time.Millisecond, most: 15 * time.Second},
	}
	for _, o := range opts {
		o(c)
	}
	c.dialer = newWSDialer(c.http)
	return c, nil
}

// Take takes a ticket at the end of the line. Keep its Token secret: it is
// the ticket.
func (c *Client) Take(ctx context.Context) (Ticket, error) {
	var w wireTicket
	if _, err := c.call(ctx, http.MethodGet, "/api/v1/token", "", "", &w); err != nil {
		return Ticket{}, err
	}
	return c.ticket(w), nil
}

// Redeem turns a called ticket into a viewing session. Redeeming a serving
// ticket again returns the same session. A waiting ticket is an *Error
// with CodeNotYourTurn, its position, wait and Retry-After.
func (c *Client) Redeem(ctx context.Context, token string) (Session, error) {
	var w wireSession
	if _, err := c.call(ctx, http.MethodPost, "/api/v1/kitty", token, "application/json", &w); err != nil {
		return Session{}, err
	}
	return Session{Label: w.Ticket, ImageURL: c.resolve(w.ImageURL), Until: w.Until}, nil
}

// RedeemPicture is Redeem that answers the picture itself.
func (c *Client) RedeemPicture(ctx context.Context, token string) (Picture, error) {
	resp, err := c.call(ctx, http.MethodPost, "/api/v1/kitty", token, "image/*", nil)
	if err != nil {
		return Picture{}, err
	}
	return Picture{ContentType: resp.Header.Get("Content-Type"), Data: resp.body}, nil
}

// Picture fetches a session's picture, while the session lasts.
func (c *Client) Picture(ctx context.Context, s Session) (Picture, error) {
	if s.ImageURL == "" {
		return Picture{}, errors.New("client: the session has no image URL")
	}
	resp, err := c.call(ctx, http.MethodGet, s.ImageURL, "", "image/*", nil)
	if err != nil {
		return Picture{}, err
	}
	return Picture{ContentType: resp.Header.Get("Content-Type"), Data: resp.body}, nil
}

// End ends the viewing session now; the counter frees. Ending a session
// that already ended is not an error.
func (c *Client) End(ctx context.Context, token string) error {
	_, err := c.call(ctx, http.MethodDelete, "/api/v1/kitty", token, "", nil)
	return err
}

// Leave takes the ticket out of the line (a serving ticket's session ends).
// Leaving twice is not an error.
func (c *Client) Leave(ctx context.Context, token string) error {
	_, err := c.call(ctx, http.MethodDelete, "/api/v1/ticket", token, "", nil)
	return err
}

// Status reports where the ticket stands. A finished ticket reports its
// final state for a day; after that it is an *Error with CodeGone.
func (c *Client) Status(ctx context.Context, token string) (Ticket, error) {
	var w wireTicket
	if _, err := c.call(ctx, http.MethodGet, "/api/v1/ticket", token, "", &w); err != nil {
		return Ticket{}, err
	}
	return c.ticket(w), nil
}

// Snapshot returns the line.
func (c *Client) Snapshot(ctx context.Context) (Snapshot, error) {
	var w wireSnapshot
	if _, err := c.call(ctx, http.MethodGet, "/api/v1/queue", "", "", &w); err != nil {
		return Snapshot{}, err
	}
	return w.snapshot(), nil
}

// WaitAndRedeem redeems the ticket as soon as it is called: it asks, and
// while the answer is not_your_turn, or any answer that says to try again
// later (429, 503 with Retry-After), it waits as long as Retry-After says
// and asks again. The service keeps Retry-After within half the head
// window, so a ticket is never missed by waiting as told. It returns the
// session, the first other error, or ctx's error.
func (c *Client) WaitAndRedeem(ctx context.Context, token string) (Session, error) {
	for {
		s, err := c.Redeem(ctx, token)
		if err == nil {
			return s, nil
		}
		var e *Error
		if !errors.As(err, &e) || !e.Temporary() {
			return Session{}, err
		}
		if err := sleep(ctx, max(e.RetryAfter, time.Second)); err != nil {
			return Session{}, err
		}
	}
}

// answer is a response read whole.
type answer struct {
	*http.Response
	body []byte
}

// call sends one request and decodes a 2xx JSON answer into out (when not
// nil); any other answer becomes an *Error. path is the service's path, or
// an absolute URL the service gave. token, when set, goes as a bearer
// token; accept, when set, is the Accept header.
func (c *Client) call(ctx context.Context, method, path, token, accept string, out any) (answer, error) {
	target := path
	if !strings.Contains(path, "://") {
		target = c.base.String() + path
	}
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return answer{}, err
	}
	for k, v := range c.header {
		req.Header[k] = append([]string(nil), v...)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answer{}, newError(resp, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return answer{}, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
		}
	}
	return answer{Response: resp, body: body}, nil
}

// resolve makes a path the service sent absolute.
func (c *Client) resolve(path string) string {
	if path == "" {
		return ""
	}
	u, err := c.base.Parse(path)
	if err != nil {
		return ""
	}
	return u.String()
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Code is an error code of the API: the "error" field of an error answer.
type Code string

// The codes a holder meets; docs/api.md lists every code.
const (
	CodeBadRequest         Code = "bad_request"
	CodeForbidden          Code = "forbidden"
	CodeBanned             Code = "banned"
	CodeCrossOrigin        Code = "cross_origin" // a browser request another site caused; see docs/api.md
	CodeNotFound           Code = "not_found"
	CodeNotYourTurn        Code = "not_your_turn"
	CodeNotServing         Code = "not_serving"
	CodeGone               Code = "gone"
	CodeTooManyTickets     Code = "too_many_tickets"
	CodeRateLimited        Code = "rate_limited"
	CodeTooManyConnections Code = "too_many_connections"
	CodeLineFull           Code = "line_full"
	CodePaused             Code = "paused"
	CodeUnavailable        Code = "unavailable"
	CodeInternal           Code = "internal"
)

// Error is an answer the service refused, as docs/api.md describes it.
type Error struct {
	Status     int           // the HTTP status
	Code       Code          // the error code; "" when the answer was not the API's JSON
	Message    string        // a sentence for a person
	RetryAfter time.Duration // Retry-After; 0 when absent
	Position   int64         // CodeNotYourTurn: the place in line
	ETA        time.Duration // CodeNotYourTurn: the estimated wait
	ETALow     time.Duration // CodeNotYourTurn: the low end of the wait's range
	ETAHigh    time.Duration // CodeNotYourTurn: the high end of the wait's range
	State      State         // CodeGone: the ticket's final state
}

// Error returns the code and message.
func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("catqms: HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("catqms: %s (%d): %s", e.Code, e.Status, e.Message)
}

// Temporary reports whether the same request may succeed later without any
// change: the service said when to try again, and the refusal is not a ban.
func (e *Error) Temporary() bool {
	switch e.Code {
	case CodeBanned, CodeForbidden:
		return false
	}
	return e.RetryAfter > 0
}

// newError reads an error answer.
func newError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var w wireError
	if mediaType == "application/json" && json.Unmarshal(body, &w) == nil && w.Error != "" {
		e.Code, e.Message, e.State = w.Error, w.Message, w.State
		e.Position, e.ETA = w.Position, time.Duration(w.ETASeconds)*time.Second
		e.ETALow, e.ETAHigh = time.Duration(w.ETALowSec)*time.Second, time.Duration(w.ETAHighSec)*time.Second
		return e
	}
	e.Message = strings.TrimSpace(string(bytes.ToValidUTF8(body[:min(len(body), 200)], nil)))
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// The API's JSON.
type (
	wireError struct {
		Error      Code   `json:"error"`
		Message    string `json:"message"`
		Position   int64  `json:"position"`
		ETASeconds int64  `json:"eta_seconds"`
		ETALowSec  int64  `json:"eta_low_seconds"`
		ETAHighSec int64  `json:"eta_high_seconds"`
		State      State  `json:"state"`
	}
	wireTicket struct {
		Token      string    `json:"token"`
		Ticket     string    `json:"ticket"`
		State      State     `json:"state"`
		Position   int64     `json:"position"`
		ETASeconds int64     `json:"eta_seconds"`
		ETALowSec  int64     `json:"eta_low_seconds"`
		ETAHighSec int64     `json:"eta_high_seconds"`
		Deadline   time.Time `json:"deadline"`
		Until      time.Time `json:"until"`
		ImageURL   string    `json:"image_url"`
	}
	wireSession struct {
		Ticket   string    `json:"ticket"`
		ImageURL string    `json:"image_url"`
		Until    time.Time `json:"until"`
	}
	wireSlot struct {
		Ticket   string    `json:"ticket"`
		Until    time.Time `json:"until"`
		Deadline time.Time `json:"deadline"`
	}
	wireSnapshot struct {
		Version         int64      `json:"version"`
		Now             time.Time  `json:"now"`
		Length          int64      `json:"length"`
		Counters        int        `json:"counters"`
		Paused          bool       `json:"paused"`
		Serving         []wireSlot `json:"serving"`
		Called          []wireSlot `json:"called"`
		Waiting         []wireSlot `json:"waiting"`
		ETAPerTicketSec int64      `json:"eta_seconds_per_ticket"`
	}
)

func (c *Client) ticket(w wireTicket) Ticket {
	return Ticket{
		Token: w.Token, Label: w.Ticket, State: w.State, Position: w.Position,
		ETA: time.Duration(w.ETASeconds) * time.Second, Deadline: w.Deadline, Until: w.Until,
		ETALow: time.Duration(w.ETALowSec) * time.Second, ETAHigh: time.Duration(w.ETAHighSec) * time.Second,
		ImageURL: c.resolve(w.ImageURL),
	}
}

func (w wireSnapshot) snapshot() Snapshot {
	s := Snapshot{
		Version: w.Version, Now: w.Now, Length: w.Length, Counters: w.Counters, Paused: w.Paused,
		ETAPerTicket: time.Duration(w.ETAPerTicketSec) * time.Second,
	}
	for _, sl := range w.Serving {
		s.Serving = append(s.Serving, Slot{Label: sl.Ticket, Until: sl.Until})
	}
	for _, sl := range w.Called {
		s.Called = append(s.Called, Slot{Label: sl.Ticket, Deadline: sl.Deadline})
	}
	for _, sl := range w.Waiting {
		s.Waiting = append(s.Waiting, sl.Ticket)
	}
	return s
}
