package server

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/readmodel"
)

// Timing of the live feed.
const (
	// feedMinInterval is the least time between two refreshes: a burst of
	// changes becomes one snapshot, and the refresh after the burst's last
	// signal shows the line as it ended. It bounds what a browser must
	// render; the hub hands each snapshot out in steps and skips the ones
	// a client has not been sent yet, so a short rest costs little even
	// with many watchers.
	feedMinInterval = 50 * time.Millisecond
	// feedResync is the longest time between two refreshes. The view
	// signals every change it applies; the resync notices a view that went
	// stale without one.
	feedResync = time.Second
	// watchBatch is how many watched tickets one store call re-reads: the
	// tickets the view cannot show (finished, or serving without a
	// picture), and every watched ticket after a ban.
	watchBatch = queue.StatusBatch
	// feedBanRecheck is the least time between two re-reads of every
	// watched ticket from the store after bans. A ban is a client's, which
	// the view does not know, so after one every watcher is asked for
	// again (a banned watcher hears "banned" and its watch ends); at most
	// this often, so that bans cannot make the feed read the store at
	// will.
	feedBanRecheck = time.Second
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
// by the Server, waits for the view's change signals and broadcasts the new
// snapshots; each watcher is shown its ticket beside every snapshot, as the
// hub hands the snapshot to it (wsSession.accompany). Both come from the
// view (the replica's read model): no store call per watcher per change.
// Only a ticket the view cannot show is read from the store, by this
// goroutine: one that finished (how, as the store tells its holder), one
// being served when the view cannot sign its picture, and, after a ban,
// every watched ticket (checkBans).
type liveFeed struct {
	s      *Server
	resync time.Duration   // feedResync; shorter in tests
	ctx    context.Context // ends when the feed stops, cutting store calls short
	cancel context.CancelFunc
	done   chan struct{}
	// spoken is closed at the first broadcast (a snapshot, or "stale" if
	// the view's first load failed): from then on the hub has a latest
	// message for every newcomer. Greetings wait for it (wsSession.Greeting).
	spoken chan struct{}

	// Owned by the feed goroutine.
	version    int64     // version of the last snapshot broadcast
	said       bool      // spoken is closed
	announced  bool      // a snapshot has been broadcast
	stale      bool      // the view failed and "stale" was broadcast
	bans       int64     // the view's Bans when every watcher was last asked for
	banChecked time.Time // when that was

	mu       sync.Mutex
	watchers map[*wsSession]struct{}
	// fromStore holds the watchers whose ticket the view could not show
	// when their snapshot was written; storeDue (capacity 1) tells the
	// feed goroutine there are some.
	fromStore map[*wsSession]struct{}
	storeDue  chan struct{}
}

func newLiveFeed(s *Server, resync time.Duration) *liveFeed {
	ctx, cancel := context.WithCancel(context.Background())
	return &liveFeed{
		s:         s,
		resync:    resync,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		spoken:    make(chan struct{}),
		watchers:  make(map[*wsSession]struct{}),
		fromStore: make(map[*wsSession]struct{}),
		storeDue:  make(chan struct{}, 1),
	}
}

func (f *liveFeed) start() { go f.run() }

// stop ends the feed goroutine and waits for it.
func (f *liveFeed) stop() {
	f.cancel()
	<-f.done
}

// run is the feed goroutine. A signal from the view, or the resync timer,
// triggers one refresh; after it the loop rests feedMinInterval. A signal
// that arrives meanwhile stays pending in the coalescing Changes channel,
// so the last change of a burst is always followed by one more refresh.
// Between refreshes it asks the store for the tickets the view could not
// show (askLater).
func (f *liveFeed) run() {
	defer close(f.done)
	changes := f.s.view.Changes()
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
				changes = nil // the view closed; resync keeps looking
				continue
			}
		case <-resync.C:
		case <-f.storeDue:
			f.askStore(f.takeFromStore())
			continue
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

// refresh takes the view's snapshot and broadcasts it if it is newer than
// the last one, or if it ends a stale spell; then it shows the watchers
// their tickets.
func (f *liveFeed) refresh() {
	snap, err := f.s.view.Snapshot(queue.SnapshotWaiting)
	if err != nil {
		if f.ctx.Err() != nil {
			return // stopping
		}
		// The view's first load is under way: it signals when done.
		var stale *readmodel.StaleError
		if errors.As(err, &stale) {
			if stale.Cause == nil {
				return
			}
			err = stale.Cause
		}
		if !f.stale { // once a spell
			f.stale = true
			msg := staleMessage
			if f.s.backgroundError("live feed: snapshot", err) {
				msg = staleDefectMessage
			}
			f.broadcast(noticeMessage{Type: "stale", Message: msg})
		}
		return
	}
	f.checkBans()
	// A snapshot with the same version goes out again after a stale spell:
	// "stale" is the hub's latest message then, and browsers that connect
	// later must get the line, not the warning.
	if f.announced && !f.stale && snap.Version <= f.version {
		return
	}
	f.stale = false
	f.announced = true
	f.version = snap.Version
	// Each watcher's ticket goes with it, made as the hub hands it to
	// that watcher (wsSession.accompany): the first writes start now,
	// not after every watcher's ticket has been made.
	f.broadcast(snapshotMessage{Type: "snapshot", snapshotBody: f.s.snapshotBody(snap)})
}

// checkBans asks the store for every watched ticket after the view saw a
// ban (see feedBanRecheck); the resync brings it back if it is too soon.
func (f *liveFeed) checkBans() {
	b := f.s.view.Bans()
	if b == f.bans || time.Since(f.banChecked) < feedBanRecheck {
		return
	}
	f.bans, f.banChecked = b, time.Now()
	f.mu.Lock()
	list := make([]*wsSession, 0, len(f.watchers))
	for w := range f.watchers {
		list = append(list, w)
	}
	f.mu.Unlock()
	f.askStore(list)
}

// broadcast encodes v once and hands the bytes to every client.
func (f *liveFeed) broadcast(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		f.s.log.Error("live feed: encode", "err", err)
		return
	}
	f.s.hub.Broadcast(data)
	if !f.said {
		f.said = true
		close(f.spoken)
	}
}

// askLater has the feed goroutine ask the store for w's ticket, which the
// view could not show (see liveFeed). It is called from w's writer, which
// must not wait for the store.
func (f *liveFeed) askLater(w *wsSession) {
	f.mu.Lock()
	f.fromStore[w] = struct{}{}
	f.mu.Unlock()
	select {
	case f.storeDue <- struct{}{}:
	default: // the feed is already due to look
	}
}

// takeFromStore returns the watchers askLater listed, and forgets them.
func (f *liveFeed) takeFromStore() []*wsSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := make([]*wsSession, 0, len(f.fromStore))
	for w := range f.fromStore {
		list = append(list, w)
	}
	clear(f.fromStore)
	return list
}

// askStore re-reads the tickets of list from the store, watchBatch at a
// time with one call each, one call in flight.
func (f *liveFeed) askStore(list []*wsSession) {
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
			w.showLocked(queue.Ticket{}, err, false, false)
		} else {
			w.showLocked(replies[i].Ticket, replies[i].Err, false, false)
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
	delete(f.fromStore, w)
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
	token  string      // "" while not watching
	seq    uint64      // the watched ticket's, once the store has answered for it
	floor  int64       // the version of the last answer shown: none older is shown
	state  queue.State // the state last shown
	shown  ticketShown // what the last ticket message sent showed; zero: none
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
		w.client, w.token, w.shown, w.seq, w.floor, w.state = c, msg.Token, ticketShown{}, 0, 0, ""
		c.Accompany(w.accompany)
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

// Greeting is a new connection's first message: the line as the view
// holds it now, with the time it was made, rather than the last broadcast,
// which may be a minute old (the page sets its clock from it). While the
// view's first load is under way there is neither, and a watch's answer,
// which the store gives, would come first (docs/api.md: a snapshot at once
// on connecting): so the greeting waits for the feed's first broadcast,
// up to the request timeout, and asks the store, as GET /api/v1/queue
// does, only for a load that takes longer still. Waiting, rather than
// asking the store at once, keeps a replica that restarts under many
// reconnecting pages from making one store call per page. Nil, once the
// view lost the store, leaves the hub's latest broadcast: the line before
// the outage, or the "stale" notice.
func (w *wsSession) Greeting() []byte {
	snap, err := w.s.view.Snapshot(queue.SnapshotWaiting)
	if loading(err) {
		wait, cancel := context.WithTimeout(w.s.live.ctx, w.s.cfg.RequestTimeout)
		select {
		case <-w.s.live.spoken:
		case <-wait.Done():
		}
		cancel()
		snap, err = w.s.view.Snapshot(queue.SnapshotWaiting)
	}
	if loading(err) && w.s.live.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(w.s.live.ctx, w.s.cfg.RequestTimeout)
		snap, err = w.s.board.Snapshot(ctx)
		cancel()
	}
	if err != nil {
		return nil
	}
	data, err := json.Marshal(snapshotMessage{Type: "snapshot", snapshotBody: w.s.snapshotBody(snap)})
	if err != nil {
		return nil
	}
	return data
}

// loading reports whether err is the view's answer during its first load.
func loading(err error) bool {
	var stale *readmodel.StaleError
	return errors.As(err, &stale) && stale.Cause == nil
}

// refresh asks the store for the watched ticket and sends it: the answer
// to a watch request, which checks the token and the holder's ban. Later
// answers come from the view (accompany).
func (w *wsSession) refresh(parent context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.token == "" || w.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(parent, w.s.cfg.RequestTimeout)
	defer cancel()
	t, err := w.s.tickets.Status(ctx, w.key, w.token)
	w.showLocked(t, err, true, false)
}

// accompany stages the watched ticket as the view holds it, to go out with
// the broadcast the hub is handing to c (hub.Client.Accompany), or has
// the feed ask the store for it instead (liveFeed.askLater): the view
// knows a finished ticket no more, and a serving one without its picture.
// An answer older than the last one shown (the view is a moment behind
// the store that answered the watch request) waits for the next change.
// A watch request holds w.mu while it asks the store: the hub's owner
// (wait false) does not wait for it, and leaves the ticket to this
// client's writer (wait true), whose write may then wait for that answer;
// no other client's does.
func (w *wsSession) accompany(c *hub.Client, wait bool) bool {
	if wait {
		w.mu.Lock()
	} else if !w.mu.TryLock() {
		return false
	}
	defer w.mu.Unlock()
	if w.token == "" || w.client != c || w.seq == 0 {
		return true
	}
	t, live, err := w.s.view.Ticket(w.seq)
	switch {
	case err != nil: // the feed's "stale" notice says enough
		return true
	case t.Version < w.floor:
		return true
	case !live: // finished: the store tells how
		w.s.live.askLater(w)
		return true
	case t.State == queue.StateServing && t.ImageID == "":
		if w.state != queue.StateServing { // the store signs its picture
			w.s.live.askLater(w)
		}
		return true
	}
	w.showLocked(t, nil, false, true)
	return true
}

// showLocked sends the watched ticket if it changed. An error is sent to
// the browser when it is the answer to a watch request (first), or when it
// ends the watch; while the store is down the feed's "stale" notice says
// enough. A ticket that reached a final state, or any refusal, ends the
// watch. A staged message goes out with the broadcast the hub is about to
// write (accompany). w.mu is held.
func (w *wsSession) showLocked(t queue.Ticket, err error, first, stage bool) {
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
	if t.Version < w.floor {
		return // older than what was shown
	}
	w.seq, w.floor, w.state = t.Seq, t.Version, t.State
	t = w.s.estimated(t)
	// Compared in fields kept in the session, not as the message sent
	// last: that was a buffer of each watcher's own, which the feed,
	// going through 10,000 watchers, found out of the cache every time.
	if shown := shownOf(t); shown != w.shown {
		w.shown = shown
		// Encoded in a pooled buffer, and the hub frames it in a pooled
		// buffer too: at 10,000 watchers a ticket per watcher per change
		// made enough garbage to set off a collection every few seconds,
		// which slowed the fan-out it fell on.
		bp := ticketBufs.Get().(*[]byte)
		data := appendTicketMessage((*bp)[:0], t)
		if stage {
			w.client.Stage(data)
		} else {
			w.client.Send(data)
		}
		*bp = data
		ticketBufs.Put(bp)
	}
	if !t.State.Live() {
		w.stopLocked()
	}
}

// ticketBufs holds the buffers showLocked encodes tickets in.
var ticketBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// stopLocked ends the watch. w.mu is held.
func (w *wsSession) stopLocked() {
	if w.client != nil {
		w.client.Accompany(nil)
	}
	w.token, w.shown, w.seq, w.floor, w.state = "", ticketShown{}, 0, 0, ""
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
