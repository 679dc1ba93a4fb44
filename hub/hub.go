// Package hub fans messages out to WebSocket clients.
//
// It follows the shape of gorilla/websocket's examples/chat: one owner
// goroutine holds the set of clients, and each connection has exactly one
// reader and one writer goroutine. Like centrifugal/centrifuge it encodes a
// broadcast once and hands every client the same prepared frame, and it never
// waits for a slow client: a client whose bounded queue is full is dropped and
// is expected to reconnect and resync. Unlike the chat example it never joins
// queued messages into one frame, so every WebSocket message a client receives
// is exactly one message passed to Broadcast or Send.
//
// The package knows nothing of queues or of the JSON it carries.
package hub

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// ErrClosed is returned by Serve once Close has been called.
var ErrClosed = errors.New("hub: closed")

// Defaults for the zero fields of Config.
const (
	DefaultSendQueue       = 32
	DefaultWriteWait       = 10 * time.Second
	DefaultPongWait        = 60 * time.Second
	DefaultMaxMessageSize  = 4096
	DefaultReadBufferSize  = 512
	DefaultWriteBufferSize = 1024
)

// maxCloseGrace bounds how long a writer waits, after sending the shutdown
// close frame, for the peer to answer before it drops the TCP connection.
// Waiting lets the close frame arrive before the FIN; bounding it keeps
// Close fast when a peer never answers.
const maxCloseGrace = time.Second

// Config tunes a Hub. Zero (or negative) fields take the defaults listed.
type Config struct {
	// SendQueue is the number of outgoing messages queued per client. A
	// client whose queue is full is dropped rather than waited for.
	// Default 32.
	SendQueue int
	// WriteWait is the time allowed to write one message or control frame.
	// Default 10s.
	WriteWait time.Duration
	// PongWait is the time allowed between two messages (or pongs) from the
	// peer before it is considered dead. Pings are sent every PongWait*9/10
	// so a live peer always answers in time. Default 60s.
	PongWait time.Duration
	// MaxMessageSize is the largest inbound message accepted; a larger one
	// closes the connection with CloseMessageTooBig. Default 4096.
	MaxMessageSize int64
	// ReadBufferSize is the per-connection read buffer. Browsers send only
	// small messages, and every idle connection holds it. Default 512.
	ReadBufferSize int
	// WriteBufferSize is the size of the write buffers, which are taken from
	// a pool shared by all connections of the hub only while a write is in
	// progress. Default 1024.
	WriteBufferSize int
	// AllowedOrigins lists the browser origins (e.g. "https://example.com",
	// or "*" for any) allowed to connect besides the server's own origin.
	// Empty means same-origin only: the Origin host must equal the request
	// Host. Requests without an Origin header (non-browser clients) are
	// always allowed, because the origin check only protects browsers.
	AllowedOrigins []string
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.WriteWait <= 0 {
		c.WriteWait = DefaultWriteWait
	}
	if c.PongWait <= 0 {
		c.PongWait = DefaultPongWait
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = DefaultReadBufferSize
	}
	if c.WriteBufferSize <= 0 {
		c.WriteBufferSize = DefaultWriteBufferSize
	}
	return c
}

// pingPeriod is how often the writer pings the peer. It must be shorter than
// PongWait so that the pong arrives before the read deadline expires.
func (c Config) pingPeriod() time.Duration { return c.PongWait * 9 / 10 }

// closeGrace is how long a writer waits for the peer's answer to the
// shutdown close frame.
func (c Config) closeGrace() time.Duration { return min(c.WriteWait, maxCloseGrace) }

// Handler receives what clients send.
type Handler interface {
	// OnMessage is called for each inbound text message, on that
	// connection's reader goroutine, so a slow OnMessage slows only that
	// client. data is not reused by the hub. Like OnClose, it must not call
	// Hub.Close, which waits for this goroutine.
	OnMessage(c *Client, data []byte)
	// OnClose is called once, on the reader goroutine, after the client has
	// left the hub and its connection is closed. It must not call Hub.Close,
	// which waits for this goroutine.
	OnClose(c *Client)
}

// nopHandler stands in when Serve is given no handler.
type nopHandler struct{}

func (nopHandler) OnMessage(*Client, []byte) {}
func (nopHandler) OnClose(*Client)           {}

// Hub owns a set of WebSocket clients and fans broadcasts out to them.
//
// One owner goroutine (run) is the only code that touches the client set and
// the latest broadcast; everything else talks to it through channels, so the
// ordering of registrations and broadcasts is simply the order in which the
// owner handles them.
type Hub struct {
	cfg      Config
	logger   *slog.Logger
	upgrader websocket.Upgrader
	allowed  []string // normalised AllowedOrigins

	register   chan *Client
	unregister chan *Client
	wake       chan struct{} // capacity 1: "pending has something"
	quit       chan struct{} // closed by Close
	ownerDone  chan struct{} // closed when run returns

	// pending holds broadcasts not yet fanned out. Broadcast only appends
	// under a short lock, so it never waits for the owner, however many
	// clients the owner is busy with; the owner takes the whole batch at
	// once. Its size is not capped because each entry is one pointer to a
	// shared prepared message and the owner never blocks on a client, so it
	// drains the list at CPU speed.
	pendingMu sync.Mutex
	pending   []*websocket.PreparedMessage

	clientCount atomic.Int64

	// mu orders Serve's pumps.Add against Close's pumps.Wait: once closed
	// is set no new pump can be added.
	mu        sync.Mutex
	closed    bool
	pumps     sync.WaitGroup
	closeOnce sync.Once

	// Owned by the run goroutine.
	clients map[*Client]struct{}
	latest  *websocket.PreparedMessage
	spare   []*websocket.PreparedMessage // reused batch buffer
}

// New returns a Hub and starts its owner goroutine; Close stops it.
// A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) *Hub {
	h := newHub(cfg, logger)
	go h.run()
	return h
}

// newHub builds a Hub without starting its owner goroutine, so that tests
// can drive the owner's steps one by one.
func newHub(cfg Config, logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	h := &Hub{
		cfg:        cfg,
		logger:     logger,
		register:   make(chan *Client),
		unregister: make(chan *Client),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		ownerDone:  make(chan struct{}),
		clients:    make(map[*Client]struct{}),
	}
	for _, o := range cfg.AllowedOrigins {
		o = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
		if o == "" {
			continue
		}
		if o != "*" && !strings.Contains(o, "://") {
			logger.Warn("hub: allowed origin has no scheme and will never match", "origin", o)
		}
		h.allowed = append(h.allowed, o)
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  cfg.ReadBufferSize,
		WriteBufferSize: cfg.WriteBufferSize,
		// One pool per hub (one WriteBufferSize): an idle connection then
		// holds no write buffer at all.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     h.checkOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			w.Header().Set("Sec-Websocket-Version", "13")
			writeError(w, status, reason.Error())
		},
	}
	return h
}

// Serve upgrades the request to a WebSocket and registers the client. The
// client first receives the latest message passed to Broadcast (if any), then
// every later broadcast, in order. handler may be nil.
//
// Serve returns right after the upgrade and registration; the connection is
// served by its own goroutines until the peer leaves, the client is dropped
// or the hub is closed. It returns an error if the upgrade failed (the HTTP
// error has been written) or the hub is closed (ErrClosed: a 503 has been
// written, or, if Close raced with the upgrade, a close frame has been sent).
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, handler Handler) error {
	if handler == nil {
		handler = nopHandler{}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
		return ErrClosed
	}
	// Reserve both pumps now, under mu, so Close's Wait covers them.
	h.pumps.Add(2)
	h.mu.Unlock()

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.pumps.Add(-2)
		h.logger.Debug("hub: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return err
	}
	c := newClient(h, conn, r, handler)

	// Register before the pumps start so that nothing (not even a Send from
	// OnMessage) can reach the client before the latest broadcast.
	select {
	case h.register <- c:
		<-c.registered
	case <-h.quit:
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"),
			time.Now().Add(h.cfg.WriteWait))
		_ = conn.Close()
		c.cancel()
		h.pumps.Add(-2)
		return ErrClosed
	}
	c.start() // the writer runs whenever there is something to write
	go c.readPump()
	return nil
}

// Broadcast sends data to every client as one text message and remembers it
// as the latest message for clients that connect later. The message is
// encoded once and the same prepared frame is handed to every client.
//
// Broadcast never blocks on clients: the owner goroutine does the fan-out,
// and a client whose queue is full is dropped (it will reconnect and resync).
// data may be reused after Broadcast returns. After Close it does nothing.
func (h *Hub) Broadcast(data []byte) {
	select {
	case <-h.quit:
		return
	default:
	}
	// NewPreparedMessage copies data, so the caller may reuse it.
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		h.logger.Error("hub: prepare broadcast", "err", err)
		return
	}
	h.pendingMu.Lock()
	h.pending = append(h.pending, pm)
	h.pendingMu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default: // the owner is already due to look at pending
	}
}

// Clients returns the number of connected clients.
func (h *Hub) Clients() int { return int(h.clientCount.Load()) }

// Close sends every client a close frame (CloseGoingAway, "server shutting
// down"), stops all goroutines of the hub and waits for them. Well-behaved
// clients answer at once; one that stopped reading can hold Close for up to
// two WriteWaits (the write in progress, then the close frame) plus a
// second. It is safe to call more than once; later calls wait for the first
// to finish. After Close, Serve fails and Broadcast does nothing.
//
// http.Server.Shutdown does not track hijacked connections, so a server must
// call Close as part of its own shutdown.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		close(h.quit)
		<-h.ownerDone
		h.pumps.Wait()
	})
	return nil
}

// run is the owner goroutine: the only code that touches clients, latest and
// spare.
func (h *Hub) run() {
	defer close(h.ownerDone)
	for {
		select {
		case <-h.quit:
			h.clientCount.Store(0)
			for c := range h.clients {
				c.shutdown(goneHubClosed)
			}
			clear(h.clients)
			return
		case c := <-h.register:
			h.add(c)
		case c := <-h.unregister:
			// A client dropped during fan-out is already gone from the set.
			delete(h.clients, c)
			h.clientCount.Store(int64(len(h.clients)))
			close(c.unregistered)
		case <-h.wake:
			h.flush()
		}
	}
}

// add registers c. It first fans out what is already pending, so that the
// latest message c starts with is the newest broadcast made before this
// registration, and c then gets exactly the broadcasts after it.
func (h *Hub) add(c *Client) {
	h.flush()
	if h.latest != nil {
		c.enqueue(h.latest) // the queue is empty: cannot fail
	}
	h.clients[c] = struct{}{}
	h.clientCount.Store(int64(len(h.clients)))
	close(c.registered)
}

// flush fans every pending broadcast out to every client, oldest first.
func (h *Hub) flush() {
	h.pendingMu.Lock()
	batch := h.pending
	h.pending = h.spare[:0]
	h.pendingMu.Unlock()
	if len(batch) == 0 {
		h.spare = batch
		return
	}
	for _, pm := range batch {
		for c := range h.clients {
			if !c.enqueue(pm) {
				// Dropped for being slow, or already leaving: either way it
				// gets nothing more, so stop iterating over it.
				delete(h.clients, c)
			}
		}
	}
	h.latest = batch[len(batch)-1]
	h.clientCount.Store(int64(len(h.clients)))
	clear(batch) // let old messages be collected
	h.spare = batch[:0]
}

// checkOrigin protects browsers against cross-site WebSocket hijacking. The
// server's own origin is always allowed, so an allow-list only ever widens
// same-origin.
func (h *Hub) checkOrigin(r *http.Request) bool {
	values := r.Header["Origin"]
	if len(values) == 0 {
		return true // not a browser: the origin check does not apply
	}
	origin := strings.ToLower(values[0])
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || host == "" {
		return false // e.g. "null" from sandboxed frames
	}
	if strings.EqualFold(host, r.Host) {
		return true
	}
	origin = scheme + "://" + host
	for _, a := range h.allowed {
		if a == "*" || a == origin {
			return true
		}
	}
	return false
}

// writeError answers with the service's JSON error shape,
// {"error": CODE, "message": TEXT}.
func writeError(w http.ResponseWriter, status int, message string) {
	code := "bad_request"
	switch status {
	case http.StatusForbidden:
		code = "forbidden"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	case http.StatusServiceUnavailable:
		code = "unavailable"
	case http.StatusInternalServerError:
		code = "internal"
	}
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, message})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
