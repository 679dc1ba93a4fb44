package hub

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// goneReason says why a client is leaving; it decides how the writer ends
// the connection.
type goneReason int

const (
	// goneReadEnded: the peer closed, vanished or broke the protocol. There
	// is nobody left to tell (gorilla has already answered a close frame or
	// sent CloseMessageTooBig itself).
	goneReadEnded goneReason = iota + 1
	// goneWriteFailed: a write or ping failed or timed out.
	goneWriteFailed
	// goneSlow: the send queue was full. The connection is closed at once:
	// a client that cannot keep up would not read a close frame promptly
	// either, and closing frees its queue now; it will reconnect and resync.
	goneSlow
	// goneHubClosed: the server is shutting down; the peer gets a
	// CloseGoingAway frame so it knows to reconnect elsewhere or later.
	goneHubClosed
)

func (r goneReason) String() string {
	switch r {
	case goneReadEnded:
		return "read ended"
	case goneWriteFailed:
		return "write failed"
	case goneSlow:
		return "send queue full"
	case goneHubClosed:
		return "hub closed"
	}
	return "unknown"
}

// Client is one WebSocket connection registered with a Hub. Its methods are
// safe for concurrent use.
type Client struct {
	hub     *Hub
	conn    *websocket.Conn
	remote  string // the peer's address, for logs
	handler Handler
	ctx     context.Context
	cancel  context.CancelFunc

	// registered and unregistered are closed by the owner when it has added
	// or removed the client, so Serve returns and OnClose runs only once
	// Clients() agrees.
	registered   chan struct{}
	unregistered chan struct{}
	readDone     chan struct{} // closed when readPump stops reading
	writeDone    chan struct{} // closed when the last writer has closed the connection

	mu     sync.Mutex    // guards reason, queue and the writer state
	reason goneReason    // zero while the client is live
	gone   chan struct{} // closed when reason is set
	// queue holds what the writer has still to send, oldest first, at most
	// SendQueue entries. The message being written is no longer in it, so
	// a queued broadcast can be replaced by a newer one without racing the
	// write.
	queue []outgoing
	// The writer is a goroutine that runs only while there is something to
	// write: an idle connection holds no writer goroutine and no stack for
	// it, which is most of a watcher's memory. At most one runs at a time.
	started bool // Serve has started the connection: writers may run
	writing bool // a writer goroutine is running, or the last one ran
	// companion is called before a broadcast is written (Accompany);
	// accompany: a broadcast has been queued since it was last called,
	// and the writer is to call it.
	companion Companion
	accompany bool
	// deadline is the write deadline last set on the connection; only the
	// writer (one at a time) uses it.
	deadline time.Time
	pinger   *time.Timer // queues a ping every pingPeriod

	// Owned by the reader goroutine: see waitReadable.
	br  *bufio.Reader   // the buffered reader gorilla reads from
	raw syscall.RawConn // the socket, to wait on; nil when it cannot be

	// Set by Serve before registration, then owned by the hub's owner
	// goroutine.
	greeting []byte // the handler's first message as a frame (Greeter)
	mark     uint64 // Hub.broadcasts when the greeting was begun
	slot     int    // index in Hub.clients; -1 once removed
	seq      uint64 // the last broadcast handed to this client

	valueMu sync.Mutex
	value   any
}

func newClient(h *Hub, conn *websocket.Conn, r *http.Request, handler Handler) *Client {
	// The request's context ends when Serve's handler returns, which is
	// right after the upgrade, so the client's context must not derive from
	// it; values are kept, cancellation is not.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	return &Client{
		hub:          h,
		conn:         conn,
		remote:       r.RemoteAddr,
		handler:      handler,
		ctx:          ctx,
		cancel:       cancel,
		slot:         -1,
		registered:   make(chan struct{}),
		unregistered: make(chan struct{}),
		readDone:     make(chan struct{}),
		writeDone:    make(chan struct{}),
		gone:         make(chan struct{}),
	}
}

// Send queues one text message for this client only. It never blocks: it
// returns false if the client is gone or its queue is full, in which case the
// client is dropped (it will reconnect and resync). data may be reused after
// Send returns.
func (c *Client) Send(data []byte) bool {
	return c.put(ownFrame(data), true, false)
}

// Stage is Send without waking the writer: the message goes out with the
// next one this client is handed, in the same write, and before a
// broadcast still waiting to be written. A companion (Accompany) stages
// the client's own message when a broadcast is handed to it (a ticket
// beside the new snapshot), so the two cost one system call.
// Outside a companion it must be followed by a Broadcast or a Send, or
// the message waits for the next ping.
func (c *Client) Stage(data []byte) bool {
	return c.put(ownFrame(data), false, false)
}

// Companion stages a client's own message to go out with a broadcast
// (Client.Accompany). wait false: it is called by the hub's owner
// goroutine, which every client's broadcasts wait for, so it must not
// block; it reports false when it could not do its work without waiting,
// and is then called again, with wait true, on the client's writer
// goroutine before the broadcast is written. wait true: it may wait
// briefly (only this client's writes wait for it). Its result then
// means nothing.
type Companion func(c *Client, wait bool) bool

// Accompany has fn called before a broadcast (or the greeting) is
// written to this client: fn sends the client a message of its own with
// the broadcast by calling Stage (a watcher's own ticket beside the new
// line), made as the broadcast is handed to this client rather than when
// it was made: making every client's message before the broadcast would
// hold back every write until the last one was made (at 10,000 watchers,
// a whole pass over them), and would touch every client's state once
// more, apart from its write. The hub's owner calls it as it hands the
// broadcast out, once per broadcast handed (Companion: with wait false),
// unless a broadcast handed earlier still waits for the writer to call it;
// the writer calls it before a greeting, and when the owner's call could
// not stage without waiting. The owner calls it, rather than the writer,
// because a writer starts with a small stack, which a companion's work
// (reading the client's state, encoding its message) outgrew, so that
// every write copied it to a larger one. fn runs without the client's
// lock held (it may call Stage, Send, or Accompany(nil) to stop). nil
// stops it; a client without one costs nothing more per broadcast.
func (c *Client) Accompany(fn Companion) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.companion = fn
}

// RemoteAddr returns the network address of the peer that opened the
// connection (the TCP peer, which may be a proxy). The upgrade request
// itself is not kept: every idle connection would hold its headers.
func (c *Client) RemoteAddr() string { return c.remote }

// Context returns a context that is cancelled when the client is gone
// (dropped, disconnected or the hub closed). It carries the upgrade
// request's values.
func (c *Client) Context() context.Context { return c.ctx }

// SetValue stores one application value with the client, such as the ticket
// it watches.
func (c *Client) SetValue(v any) {
	c.valueMu.Lock()
	c.value = v
	c.valueMu.Unlock()
}

// Value returns the value stored by SetValue, or nil.
func (c *Client) Value() any {
	c.valueMu.Lock()
	defer c.valueMu.Unlock()
	return c.value
}

// outgoing is one queued message.
type outgoing struct {
	frame []byte  // the whole WebSocket frame (textFrame); nil: a ping
	state bool    // a broadcast that a newer one may replace
	own   *[]byte // holds frame when it is this client's alone (ownFrame)
}

// ownFrames holds the frames of messages sent to one client (Send, Stage)
// once they are written, for the next ones: a feed that shows every
// watcher its own ticket after every change would otherwise allocate a
// frame per watcher per change, and at 10,000 watchers that garbage set
// off a collection every few seconds, which slowed the fan-outs it fell
// on. A broadcast's frame is shared by every client and is not pooled.
var ownFrames = sync.Pool{New: func() any { return new([]byte) }}

// maxOwnFrame is the largest frame kept in ownFrames: a huge one goes
// back to the collector.
const maxOwnFrame = 1024

// ownFrame is textFrame for one client's message, in a pooled buffer that
// the writer gives back once the frame is written (recycle).
func ownFrame(data []byte) outgoing {
	bp := ownFrames.Get().(*[]byte)
	return outgoing{frame: appendTextFrame((*bp)[:0], data), own: bp}
}

// recycle gives o's frame back to ownFrames, once it is written or will
// not be.
func (o outgoing) recycle() {
	if o.own != nil && cap(o.frame) <= maxOwnFrame {
		*o.own = o.frame[:0]
		ownFrames.Put(o.own)
	}
}

// textFrame is data as one unfragmented, unmasked WebSocket text frame
// (RFC 6455 5.2), the way a server sends it. Frames are built once: a
// broadcast's is shared by every client. The writer hands every frame
// queued for a client to the socket in one Write (writeFrames), so a client
// that is due a snapshot and its own ticket costs one system call, not
// two, while each message stays a frame of its own.
func textFrame(data []byte) []byte {
	return appendTextFrame(make([]byte, 0, 10+len(data)), data)
}

// appendTextFrame appends data as a text frame (textFrame) to dst.
func appendTextFrame(dst, data []byte) []byte {
	n := len(data)
	switch {
	case n < 126:
		dst = append(dst, 0x81, byte(n)) // FIN, text; the length
	case n <= 0xffff:
		dst = append(dst, 0x81, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x81, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, data...)
}

// enqueue puts a frame on the send queue without waiting. A state (a broadcast)
// replaces a state still waiting at the tail of the queue: the peer would
// read the newer one right after it anyway, and nothing queued after the old
// one is overtaken. A full queue drops the client. Without wake the writer
// is left alone, and the frame goes before a state waiting at the tail
// (Stage: a client's own message goes out before the broadcast it
// accompanies; only a state is overtaken, which a newer one could replace
// anyway). enqueue reports whether the frame was queued.
func (c *Client) enqueue(frame []byte, state, wake bool) bool {
	return c.put(outgoing{frame: frame, state: state}, wake, false)
}

// hand queues the broadcast frame for c, as the hub's owner hands it out,
// calling c's companion first (Accompany). It reports whether the frame
// was queued.
func (c *Client) hand(frame []byte) bool {
	c.mu.Lock()
	fn, later := c.companion, c.accompany
	// A broadcast handed earlier and not written yet is replaced by this
	// one (put), and so is not accompanied on its own: the writer calls
	// the companion once, before it writes the newest. Called here for
	// each, a writer that stalls would queue a message of the companion's
	// per broadcast, until the client was dropped for being slow.
	n := len(c.queue)
	pending := n > 0 && c.queue[n-1].state
	c.mu.Unlock()
	// A companion the writer is still to call for an earlier broadcast
	// will be called for this one.
	staged := fn != nil && !later && !pending && fn(c, false)
	return c.put(outgoing{frame: frame, state: true}, true, staged)
}

// put is enqueue for a message already made (ownFrame). accompanied: the
// companion has been called for this state already.
func (c *Client) put(o outgoing, wake, accompanied bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != 0 {
		return false
	}
	n := len(c.queue)
	if o.state && c.companion != nil && !accompanied {
		c.accompany = true
	}
	if o.state && n > 0 && c.queue[n-1].state {
		c.queue[n-1].frame = o.frame
		return true
	}
	if n >= c.hub.cfg.SendQueue {
		c.shutdownLocked(goneSlow)
		return false
	}
	c.queue = append(c.queue, o)
	if !wake && n > 0 && c.queue[n-1].state {
		c.queue[n-1], c.queue[n] = c.queue[n], c.queue[n-1]
	}
	if wake {
		c.wakeWriterLocked()
	}
	return true
}

// start lets writers run once Serve has registered the client, and starts
// the pings. c.mu is not held.
func (c *Client) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
	c.pinger = time.AfterFunc(c.hub.cfg.pingPeriod(), c.ping)
	if c.reason != 0 || len(c.queue) > 0 {
		c.wakeWriterLocked()
	}
}

// wakeWriterLocked starts a writer unless one is running. c.mu is held.
func (c *Client) wakeWriterLocked() {
	if c.started && !c.writing {
		c.writing = true
		go c.write()
	}
}

// ping queues a ping, unless the queue is full: then the connection is
// busy and the writes already show whether the peer is there.
func (c *Client) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != 0 {
		return
	}
	if len(c.queue) < c.hub.cfg.SendQueue {
		c.queue = append(c.queue, outgoing{})
		c.wakeWriterLocked()
	}
	c.pinger.Reset(c.hub.cfg.pingPeriod())
}

// shutdown marks the client gone (the first reason wins) and wakes the
// writer, which ends the connection.
func (c *Client) shutdown(reason goneReason) {
	c.mu.Lock()
	c.shutdownLocked(reason)
	c.mu.Unlock()
}

func (c *Client) shutdownLocked(reason goneReason) {
	if c.reason != 0 {
		return
	}
	c.reason = reason
	close(c.gone)
	c.cancel()
	if reason == goneSlow {
		// Close may be called concurrently with the writer; it unblocks a
		// write stuck on a full TCP buffer at once.
		_ = c.conn.Close()
		c.hub.logger.Info("hub: dropped slow client", "remote", c.remote)
	}
	c.wakeWriterLocked() // the writer ends the connection
}

func (c *Client) goneReason() goneReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// write is the writer: the only goroutine that writes messages to the
// connection (besides gorilla's own control replies and Close, which are
// safe concurrently: each is one write of whole frames, as each of ours
// is). It drains the queue, writing every frame queued up to the next ping
// in one go, and returns when it is empty; the next enqueue starts
// another. Once the client is gone, the writer that sees it ends the
// connection, and no writer runs after it.
func (c *Client) write() {
	h := c.hub
	var b writeBatch
	for {
		var err error
		switch c.next(&b) {
		case stepIdle:
			return
		case stepAccompany:
			// Called from here, not from next: this is the shallowest
			// place (see next), and fn runs without c.mu (it takes its
			// own locks, and Stage takes c.mu).
			b.companion(c, true)
			b.companion = nil
			continue
		case stepLeave:
			// Leaving wins over writing what is still queued: the
			// client resyncs from a snapshot anyway.
			c.finish()
			c.pinger.Stop()
			_ = c.conn.Close()
			close(c.writeDone)
			h.pumps.Done()
			return
		case stepPing:
			err = c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.cfg.WriteWait))
		case stepFrames:
			nc := c.conn.NetConn()
			// Moving a deadline moves a runtime timer: a busy client's is
			// moved once a tenth of WriteWait (a second by default), so a
			// write may be cut after nine tenths of WriteWait.
			if dl := time.Now().Add(h.cfg.WriteWait); dl.Sub(c.deadline) > h.cfg.WriteWait/10 {
				_ = nc.SetWriteDeadline(dl)
				c.deadline = dl
			}
			err = writeFrames(nc, b.frames)
		}
		if err != nil {
			h.logger.Debug("hub: write failed", "remote", c.remote, "err", err)
			c.shutdown(goneWriteFailed)
		}
	}
}

// writeStep is what the writer does next.
type writeStep int

const (
	stepIdle      writeStep = iota // the queue is empty: the writer ends
	stepAccompany                  // call writeBatch.companion, then look again
	stepFrames                     // write writeBatch.frames
	stepPing                       // write a ping
	stepLeave                      // end the connection
)

// writeBatch is what one write takes from the queue.
type writeBatch struct {
	frames    net.Buffers
	own       []outgoing // those of frames that are the client's own (ownFrame)
	companion Companion  // to call before the frames are taken
}

// next takes what the writer does next from the queue, every frame up to
// the next ping at once. It first gives the client's own frames of the
// last write back to the pool (the socket has copied them), and has the
// companion called first if a broadcast waits (Accompany). It is a
// function of its own, never inlined, so that write's frame, which lies
// under every write(2) and every companion call on the writer's stack,
// stays small: a writer starts with a small stack, and one that outgrows
// it on the way copies it at every start.
//
//go:noinline
func (c *Client) next(b *writeBatch) writeStep {
	for _, o := range b.own {
		o.recycle()
	}
	clear(b.own)
	b.frames, b.own = b.frames[:0], b.own[:0]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accompany && c.companion != nil && c.reason == 0 {
		// The companion stages the client's own message now, beside the
		// broadcast about to be written.
		c.accompany = false
		b.companion = c.companion
		return stepAccompany
	}
	if c.reason != 0 {
		return stepLeave
	}
	if len(c.queue) == 0 {
		c.writing = false
		return stepIdle
	}
	n := 0
	for n < len(c.queue) && c.queue[n].frame != nil {
		b.frames = append(b.frames, c.queue[n].frame)
		if c.queue[n].own != nil {
			b.own = append(b.own, c.queue[n])
		}
		n++
	}
	step := stepFrames
	if n == 0 { // a ping heads the queue
		step, n = stepPing, 1
	}
	rest := copy(c.queue, c.queue[n:]) // at most SendQueue entries
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	return step
}

// joinPool holds the buffers writeFrames joins frames in.
var joinPool = sync.Pool{New: func() any { return new([]byte) }}

// writeFrames writes frames to nc in one Write. They are joined in a
// pooled buffer first: the connection is usually wrapped (the server's
// connection limits), and net.Buffers writes to a wrapped connection with
// one Write, one system call, per buffer.
func writeFrames(nc net.Conn, frames net.Buffers) error {
	if len(frames) == 1 {
		_, err := nc.Write(frames[0])
		return err
	}
	bp := joinPool.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, f := range frames {
		buf = append(buf, f...)
	}
	_, err := nc.Write(buf)
	if cap(buf) <= 64<<10 { // a huge one goes back to the collector
		*bp = buf
		joinPool.Put(bp)
	}
	return err
}

// finish ends the connection according to why the client is gone.
func (c *Client) finish() {
	if c.goneReason() != goneHubClosed {
		return // the Close after finish is all that is needed
	}
	h := c.hub
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
	if err := c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(h.cfg.WriteWait)); err != nil {
		return
	}
	// Give the peer a moment to answer the close frame (the reader then
	// stops) so the frame is not lost to an early TCP reset.
	t := time.NewTimer(h.cfg.closeGrace())
	defer t.Stop()
	select {
	case <-c.readDone:
	case <-t.C:
	}
}

// readPump reads inbound messages and hands text messages to the handler. On
// the way out it unregisters the client, waits for the writer to close the
// connection and then calls OnClose, once.
func (c *Client) readPump() {
	h := c.hub
	defer h.pumps.Done()
	defer func() {
		c.shutdown(goneReadEnded)
		close(c.readDone)
		<-c.writeDone
		select {
		case h.unregister <- c:
			<-c.unregistered
		case <-h.quit:
			<-h.ownerDone // the owner drops every client itself
		}
		h.logger.Debug("hub: client gone", "remote", c.remote, "reason", c.goneReason().String())
		c.handler.OnClose(c)
	}()

	c.conn.SetReadLimit(h.cfg.MaxMessageSize)
	_ = c.conn.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	})
	for {
		if err := c.waitReadable(); err != nil {
			c.logReadError(err)
			return
		}
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			c.logReadError(err)
			return
		}
		if kind != websocket.TextMessage {
			continue // the protocol is JSON text; binary frames mean nothing
		}
		c.handler.OnMessage(c, data)
	}
}

// logReadError logs why reading stopped: normal departures at debug level,
// protocol trouble one level higher so that it can be noticed.
func (c *Client) logReadError(err error) {
	log := c.hub.logger
	var ce *websocket.CloseError
	switch {
	case c.goneReason() != 0:
		log.Debug("hub: read ended", "remote", c.remote, "err", err) // we ended it
	case errors.Is(err, websocket.ErrReadLimit):
		log.Info("hub: inbound message too big", "remote", c.remote, "limit", c.hub.cfg.MaxMessageSize)
	case errors.As(err, &ce) && ce.Code != websocket.CloseNormalClosure &&
		ce.Code != websocket.CloseGoingAway && ce.Code != websocket.CloseNoStatusReceived &&
		ce.Code != websocket.CloseAbnormalClosure: // 1006: the TCP connection just ended
		log.Info("hub: peer closed with error", "remote", c.remote, "code", ce.Code, "text", ce.Text)
	default:
		// A goodbye, or the network went away: routine for browsers.
		log.Debug("hub: read ended", "remote", c.remote, "err", err)
	}
}

// An idle connection's reader is parked waiting for the peer, and the
// runtime halves a goroutine's stack (at a GC) only while it uses less than a
// quarter of it. Parked deep inside gorilla's ReadMessage the reader keeps a
// 4 KB stack; so
// the reader first waits for the socket to become readable, from a shallow
// frame, and calls ReadMessage only when there is something to read. At
// 10,000 idle watchers that is 20 MB. It needs the buffered reader gorilla
// reads from (hijackWriter provides it), because bytes already in it would
// not make the socket readable again, and the socket itself.

// hijackWriter gives the upgrade a buffered reader of the hub's own, of the
// configured size, instead of net/http's 4 KB one, and keeps it for the
// client. Gorilla reads through the hijacked reader when its own
// ReadBufferSize is zero.
type hijackWriter struct {
	http.ResponseWriter
	size int
	br   *bufio.Reader
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		// Gorilla refuses a client that sent data before the handshake
		// finished; it must see that data to do so.
		return conn, brw, err
	}
	w.br = bufio.NewReaderSize(conn, w.size)
	return conn, bufio.NewReadWriter(w.br, brw.Writer), nil
}

// watchIdle lets waitReadable wait on the socket under br, when it can.
func (c *Client) watchIdle(br *bufio.Reader) {
	sc, ok := c.conn.NetConn().(syscall.Conn)
	if br == nil || !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.br, c.raw = br, raw
}

// waitReadable returns once the peer has sent something (or the connection
// failed, or the read deadline passed), without reading it.
func (c *Client) waitReadable() error {
	if c.raw == nil || c.br.Buffered() > 0 {
		return nil
	}
	return c.raw.Read(readable)
}
