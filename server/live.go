package server

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/queue"
)

// Timing of the live feed.
const (
	// feedMinInterval is the least time between two snapshot reads: a burst
	// of changes becomes one snapshot, and the read after the burst's last
	// signal shows the line as it ended. It bounds the store reads of each
	// replica (20 a second) and what a browser must render; the hub hands
	// each snapshot out in steps and skips the ones a client has not been
	// sent yet, so a short rest costs little even with many watchers.
	feedMinInterval = 50 * time.Millisecond
	// feedResync is the longest time between two snapshot reads. Pub/sub
	// can lose a message; this bounds how long a board can lag behind.
	feedResync = 5 * time.Second
	// watchBatch is how many watched tickets one store call re-reads after
	// a snapshot: the most the store reads in one step.
	watchBatch = queue.StatusBatch
)

// staleMessage tells browsers that the board may be out of date because
// the store does not answer; staleDefectMessage, because of a defect.
const (
	staleMessage       = "the queue store is not answering; the line shown may be out of date"
	staleDefectMessage = "an internal error stops the line's updates; the line shown may be out of date"
)

// snapshotMessage is a snapshot on the WebSocket.
type snapshotMessage struct {
	Type string `json:"type"` // "snapshot"
	snapshotBody
}

// noticeMessage is a WebSocket message without data: "stale".
type noticeMessage struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// errorMessage is an error on the WebSocket, the same as the API's.
type errorMessage struct {
	Type string `json:"type"` // "error"
	errorBody
}

// inboundMessage is what a browser may send.
type inboundMessage struct {
	Type  string `json:"type"`
	Token string `json:"token"`
}

// liveFeed turns line changes into WebSocket messages. One goroutine, owned
// by the Server, reads the line's change signals, fetches snapshots,
// broadcasts the new ones and refreshes the watched tickets.
type liveFeed struct {
	s      *Server
	resync time.Duration   // feedResync; shorter in tests
	ctx    context.Context // ends when the feed stops, cutting store calls short
	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the feed goroutine.
	version   int64 // version of the last snapshot broadcast
	announced bool  // a snapshot has been broadcast
	stale     bool  // the last read failed and "stale" was broadcast

	mu       sync.Mutex
	watchers map[*wsSession]struct{}
}

func newLiveFeed(s *Server, resync time.Duration) *liveFeed {
	ctx, cancel := context.WithCancel(context.Background())
	return &liveFeed{
		s:        s,
		resync:   resync,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		watchers: make(map[*wsSession]struct{}),
	}
}

func (f *liveFeed) start() { go f.run() }

// stop ends the feed goroutine and waits for it.
func (f *liveFeed) stop() {
	f.cancel()
	<-f.done
}

// run is the feed goroutine. A signal from Changes, or the resync timer,
// triggers one refresh; after it the loop rests feedMinInterval. A signal
// that arrives meanwhile stays pending in the coalescing Changes channel,
// so the last change of a burst is always followed by one more read.
func (f *liveFeed) run() {
	defer close(f.done)
	changes := f.s.board.Changes()
	resync := time.NewTimer(0) // the first refresh is the initial snapshot
	defer resync.Stop()
	rest := time.NewTimer(feedMinInterval)
	defer rest.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				changes = nil // the line closed; resync keeps trying
				continue
			}
		case <-resync.C:
		}
		f.refresh()
		resync.Reset(f.resync)
		rest.Reset(feedMinInterval)
		select {
		case <-f.ctx.Done():
			return
		case <-rest.C:
		}
	}
}

// refresh reads the snapshot and broadcasts it if it is newer than the
// last one, or if it ends a stale spell; then it refreshes the watchers.
func (f *liveFeed) refresh() {
	ctx, cancel := context.WithTimeout(f.ctx, f.s.cfg.RequestTimeout)
	snap, err := f.s.board.Snapshot(ctx)
	cancel()
	if err != nil {
		if f.ctx.Err() != nil {
			return // stopping
		}
		if !f.stale { // once a spell: the feed retries every few milliseconds
			f.stale = true
			msg := staleMessage
			if f.s.backgroundError("live feed: snapshot", err) {
				msg = staleDefectMessage
			}
			f.broadcast(noticeMessage{Type: "stale", Message: msg})
		}
		return
	}
	// A snapshot with the same version goes out again after a stale spell:
	// "stale" is the hub's latest message then, and browsers that connect
	// later must get the line, not the warning.
	if f.announced && !f.stale && snap.Version <= f.version {
		return
	}
	f.stale = false
	f.announced = true
	f.version = snap.Version
	f.broadcast(snapshotMessage{Type: "snapshot", snapshotBody: newSnapshotBody(snap)})
	f.refreshWatchers()
}

// broadcast encodes v once and hands the bytes to every client.
func (f *liveFeed) broadcast(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		f.s.log.Error("live feed: encode", "err", err)
		return
	}
	f.s.hub.Broadcast(data)
}

// refreshWatchers re-reads every watched ticket, watchBatch at a time
// with one store call each, and sends those that changed. The chunks run
// one after another: at most one store call is in flight for the feed.
func (f *liveFeed) refreshWatchers() {
	f.mu.Lock()
	list := make([]*wsSession, 0, len(f.watchers))
	for w := range f.watchers {
		list = append(list, w)
	}
	f.mu.Unlock()
	for len(list) > 0 && f.ctx.Err() == nil {
		n := min(len(list), watchBatch)
		f.refreshBatch(list[:n])
		list = list[n:]
	}
}

// refreshBatch re-reads the tickets of batch with one Statuses call and
// shows each answer as wsSession.refresh would. Every session's lock is
// held from before the read until its answer is sent, as in refresh, so a
// watch request's answer and the feed's never go out of order. Only this
// goroutine holds more than one session lock, and nobody waits for one
// while holding f.mu (which stopLocked takes), so no order is needed.
func (f *liveFeed) refreshBatch(batch []*wsSession) {
	held := make([]*wsSession, 0, len(batch))
	reqs := make([]queue.StatusRequest, 0, len(batch))
	for _, w := range batch {
		w.mu.Lock()
		if w.token == "" || w.client == nil {
			w.mu.Unlock()
			continue
		}
		held = append(held, w)
		reqs = append(reqs, queue.StatusRequest{Client: w.key, Token: w.token})
	}
	if len(held) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.s.cfg.RequestTimeout)
	replies, err := f.s.board.Statuses(ctx, reqs)
	cancel()
	for i, w := range held {
		if err != nil {
			w.showLocked(ticketBody{}, err, false)
		} else if replies[i].Err != nil {
			w.showLocked(ticketBody{}, replies[i].Err, false)
		} else {
			w.showLocked(newTicketBody(replies[i].Ticket), nil, false)
		}
		w.mu.Unlock()
	}
}

func (f *liveFeed) watch(w *wsSession) {
	f.mu.Lock()
	f.watchers[w] = struct{}{}
	f.mu.Unlock()
}

func (f *liveFeed) unwatch(w *wsSession) {
	f.mu.Lock()
	delete(f.watchers, w)
	f.mu.Unlock()
}

// websocket is GET /api/v1/ws: the live line, and the holder's own ticket
// once the browser sends {"type":"watch","token":…}.
func (s *Server) websocket(c *gin.Context) {
	key := clientFrom(c).Key
	if !s.reserveWS(key) {
		s.fail(c, &queue.Error{Code: codeTooManyConnections, Limit: int64(s.cfg.MaxWSPerClient)})
		return
	}
	w := &wsSession{s: s, key: key}
	if err := s.hub.Serve(c.Writer, c.Request, w); err != nil {
		// The hub has answered; OnClose never comes for a failed Serve.
		w.release()
		return
	}
	c.Set(ctxUpgraded, true)
}

// reserveWS takes one of key's WebSocket slots, if any is free.
func (s *Server) reserveWS(key string) bool {
	s.wsMu.Lock()
	defer s.wsMu.Unlock()
	if s.wsConns[key] >= s.cfg.MaxWSPerClient {
		return false
	}
	s.wsConns[key]++
	return true
}

// releaseWS gives one of key's WebSocket slots back.
func (s *Server) releaseWS(key string) {
	s.wsMu.Lock()
	defer s.wsMu.Unlock()
	if s.wsConns[key] <= 1 {
		delete(s.wsConns, key)
		return
	}
	s.wsConns[key]--
}

// wsSession is one WebSocket connection's state: its client key and the
// ticket it watches. It is the connection's hub.Handler.
type wsSession struct {
	s           *Server
	key         string
	releaseOnce sync.Once

	// mu is held across reading the ticket and sending it, so that the
	// feed's refresh and a new watch request never send out of order.
	mu     sync.Mutex
	client *hub.Client
	token  string // "" while not watching
	last   []byte // the last ticket message sent
}

func (w *wsSession) release() {
	w.releaseOnce.Do(func() { w.s.releaseWS(w.key) })
}

// OnMessage handles one message from the browser. Nothing a browser sends
// can do more than earn it an error message.
func (w *wsSession) OnMessage(c *hub.Client, data []byte) {
	var msg inboundMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		w.sendError(c, queue.Errorf(queue.CodeBadRequest, `messages are JSON objects like {"type":"watch","token":"…"}`))
		return
	}
	switch msg.Type {
	case "watch":
		if msg.Token == "" {
			w.sendError(c, queue.Errorf(queue.CodeBadRequest, "watch needs a token"))
			return
		}
		w.mu.Lock()
		w.client, w.token, w.last = c, msg.Token, nil
		w.mu.Unlock()
		w.s.live.watch(w)
		w.refresh(c.Context())
	default:
		w.sendError(c, queue.Errorf(queue.CodeBadRequest, "unknown message type %q", truncate(msg.Type, 40)))
	}
}

// OnClose forgets the connection.
func (w *wsSession) OnClose(*hub.Client) {
	w.s.live.unwatch(w)
	w.release()
}

// refresh reads the watched ticket and sends it: the answer to a watch
// request. The live feed re-reads watched tickets in batches
// (liveFeed.refreshBatch) and shows them the same way.
func (w *wsSession) refresh(parent context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.token == "" || w.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(parent, w.s.cfg.RequestTimeout)
	defer cancel()
	body, err := w.s.ticketOf(ctx, w.key, w.token)
	w.showLocked(body, err, true)
}

// showLocked sends the watched ticket if it changed. An error is sent to
// the browser when it is the answer to a watch request (first), or when it
// ends the watch; while the store is down the feed's "stale" notice says
// enough. A ticket that reached a final state, or any refusal, ends the
// watch. w.mu is held.
func (w *wsSession) showLocked(body ticketBody, err error, first bool) {
	if err != nil {
		unavailable := queue.ErrorCode(err) == queue.CodeUnavailable || queue.AsError(err) == nil
		if first || !unavailable {
			w.sendError(w.client, err)
		}
		if !unavailable {
			w.stopLocked()
		}
		return
	}
	body.Type = "ticket"
	data, err := json.Marshal(body)
	if err != nil {
		w.s.log.Error("websocket: encode ticket", "err", err)
		return
	}
	if string(data) != string(w.last) {
		w.last = data
		w.client.Send(data)
	}
	if !body.State.Live() {
		w.stopLocked()
	}
}

// stopLocked ends the watch. w.mu is held.
func (w *wsSession) stopLocked() {
	w.token, w.last = "", nil
	w.s.live.unwatch(w)
}

// sendError sends err as the API would show it.
func (w *wsSession) sendError(c *hub.Client, err error) {
	qe, _, _ := w.s.policy.describe(err)
	if qe.Code == queue.CodeInternal {
		w.s.log.Error("websocket: internal error", "err", err)
		w.s.internalErrors.Inc()
	}
	data, mErr := json.Marshal(errorMessage{Type: "error", errorBody: newErrorBody(qe)})
	if mErr != nil {
		return
	}
	c.Send(data)
}
