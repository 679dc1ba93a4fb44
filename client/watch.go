package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Timing of a watch. The service pings every 54 s; a connection that has
// brought nothing, not even a ping, for readWait is taken for dead.
const (
	readWait  = 75 * time.Second
	writeWait = 10 * time.Second
	// stableAfter is how long a connection must last for the next
	// reconnect to start again from the shortest wait.
	stableAfter = 30 * time.Second
)

// EventKind says what an Event carries.
type EventKind int

// The kinds of Event.
const (
	// EventSnapshot: the line changed (or the connection is new); Snapshot is set.
	EventSnapshot EventKind = iota + 1
	// EventTicket: the watched ticket changed; Ticket is set (without its
	// Token). After a final state the service stops watching it.
	EventTicket
	// EventError: the service refused the watch or a message; Err is an
	// *Error. A refusal other than CodeUnavailable ends the watch: it is
	// not sent again after a reconnect.
	EventError
	// EventStale: the service lost its store; the last snapshot may be out
	// of date until the next one. Err says why.
	EventStale
	// EventDisconnected: the connection failed or could not be opened; Err
	// is the cause and Wait the time before the next attempt.
	EventDisconnected
)

// Event is one thing Watch saw.
type Event struct {
	Kind     EventKind
	Snapshot Snapshot      // EventSnapshot
	Ticket   Ticket        // EventTicket
	Err      error         // EventError, EventStale, EventDisconnected
	Wait     time.Duration // EventDisconnected: until the next attempt
}

// Watch follows the line over the WebSocket until ctx is done, and calls
// fn with every event, on the caller's goroutine: fn must return quickly,
// or the service drops the connection as too slow (Watch then reconnects).
// With a token, it also watches that ticket, and sends the watch again
// after every reconnect, because a watch lives as long as its connection.
// It reconnects by itself after any failure, waiting longer after each
// (WithReconnect) and at least the Retry-After of a refused handshake.
// It returns ctx's error.
func (c *Client) Watch(ctx context.Context, token string, fn func(Event)) error {
	wait := c.least
	for {
		started := time.Now()
		err := c.watchOnce(ctx, &token, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(started) > stableAfter {
			wait = c.least
		}
		pause := wait
		if e := (*Error)(nil); errors.As(err, &e) && e.RetryAfter > pause {
			pause = e.RetryAfter
		}
		fn(Event{Kind: EventDisconnected, Err: err, Wait: pause})
		if err := sleep(ctx, pause); err != nil {
			return err
		}
		wait = min(wait*2, c.most)
	}
}

// watchOnce runs one connection until it fails or ctx is done. *token is
// cleared when the service ends the watch.
func (c *Client) watchOnce(ctx context.Context, token *string, fn func(Event)) error {
	conn, err := c.dialer.dial(ctx, c.wsURL(), c.header)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Closing the connection is the only way to stop a blocked read.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	_ = conn.SetReadDeadline(time.Now().Add(readWait))
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(readWait))
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
	})
	if *token != "" {
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		if err := conn.WriteJSON(map[string]string{"type": "watch", "token": *token}); err != nil {
			return err
		}
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(readWait))
		ev, err := c.event(data)
		if err != nil {
			return err
		}
		switch {
		case ev.Kind == 0:
			continue // a kind this client does not know
		case ev.Kind == EventTicket && ev.Ticket.State.Final():
			*token = ""
		case ev.Kind == EventError && ev.Err.(*Error).Code != CodeUnavailable:
			*token = ""
		}
		fn(ev)
	}
}

// event decodes one message of the service.
func (c *Client) event(data []byte) (Event, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Event{}, fmt.Errorf("client: a WebSocket message is not JSON: %w", err)
	}
	switch head.Type {
	case "snapshot":
		var w wireSnapshot
		if err := json.Unmarshal(data, &w); err != nil {
			return Event{}, fmt.Errorf("client: a snapshot message: %w", err)
		}
		return Event{Kind: EventSnapshot, Snapshot: w.snapshot()}, nil
	case "ticket":
		var w wireTicket
		if err := json.Unmarshal(data, &w); err != nil {
			return Event{}, fmt.Errorf("client: a ticket message: %w", err)
		}
		return Event{Kind: EventTicket, Ticket: c.ticket(w)}, nil
	case "error":
		var w wireError
		if err := json.Unmarshal(data, &w); err != nil {
			return Event{}, fmt.Errorf("client: an error message: %w", err)
		}
		return Event{Kind: EventError, Err: &Error{
			Code: w.Error, Message: w.Message, State: w.State,
			Position: w.Position, ETA: time.Duration(w.ETASeconds) * time.Second,
			ETALow: time.Duration(w.ETALowSec) * time.Second, ETAHigh: time.Duration(w.ETAHighSec) * time.Second,
		}}, nil
	case "stale":
		var w struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &w)
		return Event{Kind: EventStale, Err: errors.New(w.Message)}, nil
	}
	// A newer service may send more kinds; they are not for this client.
	return Event{}, nil
}

// wsURL is the WebSocket's URL.
func (c *Client) wsURL() string {
	u := *c.base
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path += "/api/v1/ws"
	return u.String()
}

// backoff is how long Watch waits between attempts.
type backoff struct{ least, most time.Duration }

// wsDialer opens WebSockets.
type wsDialer struct{ d websocket.Dialer }

// newWSDialer dials through hc's transport settings where it has them.
func newWSDialer(hc *http.Client) wsDialer {
	d := websocket.Dialer{HandshakeTimeout: 15 * time.Second, Proxy: http.ProxyFromEnvironment}
	if t, ok := hc.Transport.(*http.Transport); ok {
		d.Proxy, d.TLSClientConfig, d.NetDialContext = t.Proxy, t.TLSClientConfig, t.DialContext
	}
	return wsDialer{d: d}
}

// dial opens one connection. A refused handshake is an *Error, with the
// service's Retry-After.
func (w wsDialer) dial(ctx context.Context, url string, header http.Header) (*websocket.Conn, error) {
	conn, resp, err := w.d.DialContext(ctx, url, header.Clone())
	if err == nil {
		return conn, nil
	}
	if resp != nil {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, newError(resp, body)
	}
	return nil, err
}
