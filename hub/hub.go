// Package hub fans messages out to WebSocket clients.
//
// It follows the shape of gorilla/websocket's examples/chat: one owner
// goroutine holds the set of clients, and each connection has exactly one
// reader and one writer goroutine. Like centrifugal/centrifuge it encodes a
// broadcast once and hands every client the same frame, and it never waits
// for a slow client. Unlike the chat example it never joins queued messages
// into one frame, so every WebSocket message a client receives is exactly
// one message passed to Broadcast or Send; but the frames queued for a
// client go out in one write (a snapshot and the client's own ticket cost
// one system call).
//
// A broadcast is a state, not an event: each one supersedes the one before
// (a new client starts with the latest). A client that is behind gets the
// newest state next rather than a backlog, because a broadcast still waiting
// in its queue is replaced by the next one; so broadcasts never fill a queue,
// and a client that stops reading is dropped when a write times out. Sends
// are never replaced; a client whose queue of them is full is dropped. Either
// way it is expected to reconnect and resync.
//
// The package knows nothing of queues or of the JSON it carries.
package hub

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
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

// yieldEvery is how many clients the owner hands the latest broadcast to
// before it lets other goroutines run. Each hand-off can start a writer
// goroutine, and the scheduler runs goroutines in the order they became
// runnable: handing a broadcast to 10,000 clients at once would put every
// request, Redis reply and timer that becomes ready meanwhile behind 10,000
// writes (the whole fan-out, 100 ms and more on one core). In steps, they get
// their turn between steps, and a newer broadcast is picked up at once: the
// clients not yet reached get only the newer one. A step also fits the
// scheduler's local run queue (256 goroutines), so writers do not spill into
// the global queue ahead of them.
const yieldEvery = 128

// Config tunes a Hub. Zero (or negative) fields take the defaults listed.
type Config struct {
	// SendQueue is the number of outgoing messages queued per client (a
	// broadcast takes at most one place: a newer one replaces it while it
	// waits). A client whose queue is full is dropped rather than waited
	// for. Default 32.
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
	// small messages, and every idle connection holds it. Default and
	// least 512: gorilla reads through the hub's buffer (which the reader
	// must see, to wait on the socket only when it is empty) only if it is
	// larger than 256 bytes.
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
	c.ReadBufferSize = max(c.ReadBufferSize, DefaultReadBufferSize)
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

// Greeter is a Handler with a first message of its own for each new
// client: a state fresher than the latest broadcast (the line as it is now,
// with the time it was made), which a client that connects a minute after
// the last change should not be given a minute old. The client gets the
// greeting first and never the broadcasts made before Greeting was called;
// if Broadcast was called meanwhile, the latest broadcast replaces the
// greeting while it waits, as a newer broadcast replaces an older one.
type Greeter interface {
	Handler
	// Greeting returns the new client's first message, or nil for the
	// latest broadcast. It is called once, after the upgrade and before
	// the client is registered, on the request's goroutine.
	Greeting() []byte
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

	// pending is the newest broadcast the owner has not taken yet.
	// Broadcast only sets it under a short lock, so it never waits for the
	// owner, however many clients the owner is busy with.
	pendingMu sync.Mutex
	pending   []byte // a frame (textFrame)

	clientCount atomic.Int64
	// broadcasts counts the calls of Broadcast, so that the owner can tell
	// whether a greeting was made after every broadcast it holds.
	broadcasts atomic.Uint64

	// mu orders Serve's pumps.Add against Close's pumps.Wait: once closed
	// is set no new pump can be added.
	mu        sync.Mutex
	closed    bool
	pumps     sync.WaitGroup
	closeOnce sync.Once

	// Owned by the run goroutine. The owner hands latest to the clients in
	// the order of the clients slice, yieldEvery at a time, starting where
	// it stopped: cursor is the next slot, left how many slots are left to
	// visit for latest. A new broadcast replaces latest and makes every
	// slot due again, from the cursor on. Each client remembers which
	// broadcast it was handed last (Client.seq), so none gets one twice.
	clients []*Client // registered clients; nil marks a removed one's slot
	live    int       // non-nil entries of clients
	latest  []byte    // a frame (textFrame)
	seq     uint64    // number of latest: 1 for the first broadcast
	cursor  int
	left    int
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
		// Zero: gorilla then reads through the buffered reader Hijack
		// returns, which hijackWriter makes cfg.ReadBufferSize bytes.
		ReadBufferSize:  0,
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
// client first receives the latest message passed to Broadcast (if any), or
// the handler's greeting (see Greeter), then every later broadcast, in order.
// handler may be nil.
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

	hw := &hijackWriter{ResponseWriter: w, size: h.cfg.ReadBufferSize}
	conn, err := h.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		h.pumps.Add(-2)
		h.logger.Debug("hub: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return err
	}
	c := newClient(h, conn, r, handler)
	c.watchIdle(hw.br)
	if g, ok := handler.(Greeter); ok {
		// Counted before the greeting is made: a broadcast counted by then
		// was made before it, so the greeting supersedes it.
		c.mark = h.broadcasts.Load()
		if data := g.Greeting(); data != nil {
			c.greeting = textFrame(data)
		}
	}

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
// encoded once and the same prepared frame is handed to every client. A
// broadcast supersedes the one before: a client that has not been sent the
// previous one yet gets only this one.
//
// Broadcast never blocks on clients: the owner goroutine does the fan-out.
// data may be reused after Broadcast returns. After Close it does nothing.
func (h *Hub) Broadcast(data []byte) {
	select {
	case <-h.quit:
		return
	default:
	}
	// Counted first: a greeting begun after this count sees it (Serve).
	h.broadcasts.Add(1)
	// textFrame copies data, so the caller may reuse it.
	pm := textFrame(data)
	h.pendingMu.Lock()
	h.pending = pm
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

// run is the owner goroutine: the only code that touches clients, latest,
// seq, cursor and left. While a broadcast is still to be handed out it works
// in steps and yields between them; otherwise it waits.
func (h *Hub) run() {
	defer close(h.ownerDone)
	ready := make(chan struct{})
	close(ready)
	for {
		var work <-chan struct{} // ready while a broadcast is still to be handed out
		if h.left > 0 {
			work = ready
		}
		select {
		case <-h.quit:
			h.shutdownAll()
			return
		case c := <-h.register:
			h.add(c)
		case c := <-h.unregister:
			h.unregistered(c)
		case <-h.wake:
			h.takePending()
		case <-work:
			select {
			case <-h.wake: // a newer broadcast first: it supersedes this one
				h.takePending()
			default:
			}
			h.step()
			runtime.Gosched()
		}
	}
}

func (h *Hub) shutdownAll() {
	h.clientCount.Store(0)
	for _, c := range h.clients {
		if c != nil {
			c.shutdown(goneHubClosed)
		}
	}
	clear(h.clients)
	h.clients, h.live = h.clients[:0], 0
}

// takePending makes the newest broadcast the latest, due to every client.
func (h *Hub) takePending() {
	h.pendingMu.Lock()
	pm := h.pending
	h.pending = nil
	h.pendingMu.Unlock()
	if pm == nil {
		return
	}
	h.latest = pm
	h.seq++
	h.left = len(h.clients)
}

// step hands latest to the next yieldEvery slots.
func (h *Hub) step() {
	for n := 0; n < yieldEvery && h.left > 0; n++ {
		if h.cursor >= len(h.clients) {
			h.cursor = 0
		}
		c := h.clients[h.cursor]
		h.cursor++
		h.left--
		if c == nil || c.seq == h.seq {
			continue
		}
		c.seq = h.seq
		if !c.hand(h.latest) {
			// Dropped for being slow, or already leaving: either way it
			// gets nothing more.
			h.remove(c)
		}
	}
}

// add registers c. It first takes a pending broadcast, so that the latest
// message c starts with is the newest broadcast made before this
// registration, and c then gets the broadcasts after it. A greeting comes
// first, and the latest broadcast after it only if Broadcast was called
// since the greeting was begun; queued as a state, it replaces the
// greeting while that waits.
func (h *Hub) add(c *Client) {
	h.takePending()
	c.seq = h.seq
	if c.greeting != nil {
		c.enqueue(c.greeting, true, true) // the queue is empty: cannot fail
		if h.broadcasts.Load() != c.mark && h.latest != nil {
			c.enqueue(h.latest, true, true)
		}
		c.greeting = nil
	} else if h.latest != nil {
		c.enqueue(h.latest, true, true) // the queue is empty: cannot fail
	}
	c.slot = len(h.clients)
	h.clients = append(h.clients, c)
	if h.left > 0 {
		h.left++ // the new slot lies on the fan-out's way round: count it
	}
	h.live++
	h.clientCount.Store(int64(h.live))
	close(c.registered)
}

// unregistered removes a client whose reader has ended, unless a failed
// hand-off removed it already, and lets the reader go on.
func (h *Hub) unregistered(c *Client) {
	if c.slot >= 0 {
		h.remove(c)
	}
	close(c.unregistered)
}

// remove empties c's slot. Slots are compacted once half of them are empty.
func (h *Hub) remove(c *Client) {
	h.clients[c.slot] = nil
	c.slot = -1
	h.live--
	h.clientCount.Store(int64(h.live))
	if empty := len(h.clients) - h.live; empty >= 64 && empty >= h.live {
		h.compact()
	}
}

// compact drops the empty slots, keeping the order, and moves the cursor
// with the clients. left stays an upper bound of the slots left to visit
// (the clients already handed latest are skipped by their seq).
func (h *Hub) compact() {
	j, cursor := 0, -1
	for i, c := range h.clients {
		if i == h.cursor {
			cursor = j
		}
		if c != nil {
			c.slot = j
			h.clients[j] = c
			j++
		}
	}
	if cursor < 0 {
		cursor = j
	}
	clear(h.clients[j:])
	h.clients, h.cursor = h.clients[:j], cursor
	h.left = min(h.left, j)
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
