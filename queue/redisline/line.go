// Package redisline keeps a ticket line in Redis. Every change is one atomic
// Lua script (lua/*.lua, embedded), safe to run from many replicas at once;
// deadlines are data that the scripts themselves enforce, so no correctness
// rests on Redis key expiry or keyspace notifications.
package redisline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
)

// Options configure a Line. Zero fields take queue.DefaultSettings().
type Options struct {
	Name                string        // line name; keys are "catqms:{Name}:…"
	HeadWindow          time.Duration // time a called ticket has to redeem
	ViewWindow          time.Duration // time a viewing session lasts
	Counters            int           // service slots
	BanDuration         time.Duration // how long a cheater is banned
	MaxTicketsPerClient int           // live tickets one client may hold
	MaxQueue            int64         // longest line
	Keep                time.Duration // how long a finished ticket's record is kept
	Secret              []byte        // token key; empty = one shared key kept in the store
	PreviousSecrets     [][]byte      // retired token keys that still verify, newest first (signing.go)
	// Clock is for tests only: the line's time instead of the store's. Nil
	// (production): every script reads the store's own clock (TIME), one
	// clock for every replica, so no replica's clock can cut a deadline
	// short.
	Clock queue.Clock
	// LocalClock is this process's clock, used only to schedule advances
	// (the line's deadlines are turned into local time by the offset seen in
	// the scripts' answers); nil = the system clock.
	LocalClock queue.Clock
	Logger     *slog.Logger // nil = discard
	// Tick is how often the line is advanced when no deadline is known, a
	// safety net for a change log the replica could not read. Negative disables the background
	// scheduler entirely (tests with a fake clock advance by hand).
	Tick time.Duration
	// LogLength is about how many entries the line's change log keeps
	// (lua/lib.lua); zero = DefaultLogLength. A replica whose reader falls
	// further behind reloads the line.
	LogLength int64
}

// DefaultTick is the Tick of a zero Options.
const DefaultTick = time.Second

// settings are o's line settings.
func (o Options) settings() queue.Settings {
	return queue.Settings{
		Name: o.Name, HeadWindow: o.HeadWindow, ViewWindow: o.ViewWindow, Counters: o.Counters,
		BanDuration: o.BanDuration, MaxTicketsPerClient: o.MaxTicketsPerClient, MaxQueue: o.MaxQueue, Keep: o.Keep,
	}
}

const secretBytes = 32

// Line is a ticket line kept in Redis. It implements every operation of the
// line and the operator's actions; see the server package for the
// interfaces.
type Line struct {
	rdb    redis.UniversalClient
	set    queue.Settings
	opts   Options
	prefix string // "catqms:{name}:"
	verKey string
	logKey string                // the change log (log.go)
	logRDB redis.UniversalClient // reads the change log: a client of its own (logClient)
	ownLog bool                  // logRDB is this Line's to close
	signer *queue.Signer
	keys   keyState // where the signing key comes from (signing.go)
	// functions: the operations run as the function library's functions
	// (FCALL), else as scripts (EVALSHA); scripts.go says why both.
	functions bool
	// args open every script call (ScriptArgs): the settings go with every
	// call so that a store that lost its data still runs the line as
	// configured.
	args  []any
	local queue.Clock
	log   *slog.Logger

	version atomic.Int64 // highest version seen, in an answer or in the change log
	offset  atomic.Int64 // the line's clock minus the local clock, ms, as last seen
	changes chan struct{}
	wake    chan int64 // deadline hints for the scheduler, the line's Unix ms
	feed    *feed      // the change log as the follower read it (follow.go)

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New returns a Line on rdb. Replicas sharing a line must share its
// settings (each sends its own with every operation). Unless opts.Tick < 0
// it starts the goroutines that enforce deadlines and listen for other
// replicas' changes. Close stops them; the caller closes rdb.
func New(ctx context.Context, rdb redis.UniversalClient, opts Options) (*Line, error) {
	set := opts.settings().WithDefaults()
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if opts.Tick == 0 {
		opts.Tick = DefaultTick
	}
	if opts.LocalClock == nil {
		opts.LocalClock = queue.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Line{
		rdb:     rdb,
		set:     set,
		opts:    opts,
		prefix:  keyPrefix(set.Name),
		local:   opts.LocalClock,
		log:     opts.Logger,
		changes: make(chan struct{}, 1),
		feed:    newFeed(),
		wake:    make(chan int64, 64),
		stop:    make(chan struct{}),
	}
	l.verKey = keyOf(l.prefix, "ver")
	l.logKey = keyOf(l.prefix, "log")
	l.args = ScriptArgs(set)
	if opts.LogLength > 0 {
		l.args[argLog] = opts.LogLength
	}

	// Load the operations now, so that the first call of each is one
	// FCALL or EVALSHA; a store that forgets them later (a restart, a
	// wipe) gets them again from the call that finds them missing.
	switch err := loadLibrary(ctx, rdb); {
	case err == nil:
		l.functions = true
		if err := dropOtherLibraries(ctx, rdb); err != nil {
			l.log.Warn("could not drop the function libraries of other catqms versions", "err", err)
		}
	case functionsRefused(err):
		l.log.Info("queue store runs no function library; using scripts", "reason", truncate(err.Error(), 80))
		for name, sc := range scripts {
			if err := sc.Load(ctx, rdb).Err(); err != nil {
				return nil, fmt.Errorf("load script %s: %w", name, err)
			}
		}
	default:
		return nil, fmt.Errorf("load function library %s: %w", library.name, err)
	}

	secret := opts.Secret
	if len(secret) == 0 {
		var err error
		if secret, err = l.sharedSecret(ctx); err != nil {
			return nil, fmt.Errorf("token secret: %w", err)
		}
		l.keys.fromStore, l.keys.secret = true, secret
	}
	var err error
	if l.signer, err = queue.NewSigner(secret, set.Name, opts.PreviousSecrets...); err != nil {
		return nil, err
	}
	l.logRDB, l.ownLog = logClient(rdb)
	if opts.Tick >= 0 {
		l.wg.Add(2)
		go l.follow()
		go l.schedule()
		if l.keys.fromStore {
			l.wg.Add(1)
			go l.syncKey() // signing.go
		}
	}
	return l, nil
}

// The arguments every script takes first (lua/lib.lua), by index.
const (
	argNow   = 1  // '' = the store's clock; a test clock's Unix ms
	argFloor = 9  // the highest version the caller has seen
	argLog   = 10 // how many entries the change log keeps, about
)

// DefaultLogLength is how many entries a line's change log keeps at most
// (about: Redis trims it in whole nodes) when Options.LogLength is zero.
// The log is kept by age for the public record (--history, a day by
// default; record.go trims it and moves the record's anchor); this count
// is only a safety cap on the store's memory, well above a day of a busy
// line: 11 changes a second, held for 24 hours. A cap that cuts first
// leaves the record unanchored (record.ErrUnanchored), so it must stay
// above what --history holds.
const DefaultLogLength = 1_000_000

// ScriptArgs returns the arguments every script takes first, ARGV[1…11] of
// lua/lib.lua, as a Line with settings set sends them: the key prefix, the
// store's clock, the settings, a version floor of 0 and the change log's
// DefaultLogLength. The operation's
// own arguments follow. It is the one place the layout is written; tools
// that run the scripts themselves (the benchmarks' ceilings) use it too.
func ScriptArgs(set queue.Settings) []any {
	return []any{
		keyPrefix(set.Name),
		"", // the line's time: the store's TIME, unless a test clock fills it
		set.Counters,
		set.HeadWindow.Milliseconds(),
		set.ViewWindow.Milliseconds(),
		set.Keep.Milliseconds(),
		set.BanDuration.Milliseconds(),
		set.MaxQueue,
		set.MaxTicketsPerClient,
		int64(0),
		int64(DefaultLogLength),
	}
}

// Settings returns the line's settings, defaults filled in.
func (l *Line) Settings() queue.Settings { return l.set }

// sharedSecret returns the line's token key from the store, creating it
// once, so every replica signs and checks tokens alike.
func (l *Line) sharedSecret(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, secretBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	var r secretReply
	if err := l.call(ctx, "secret", &r, hex.EncodeToString(fresh)); err != nil {
		return nil, err
	}
	if r.Code != "ok" {
		return nil, protocolErr("secret script answered code %q", r.Code)
	}
	return hex.DecodeString(r.Secret)
}

// Close stops the line's goroutines; Changes sends nothing more. It is
// safe to call more than once. The Changes channel is not closed: a request
// still running after a timed-out shutdown may finish a script and signal.
func (l *Line) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		if l.ownLog {
			_ = l.logRDB.Close() // ends the follower's blocking read now
		}
		l.wg.Wait()
	})
	return nil
}

// Changes signals after any change to the line, made by this process or
// another (a version it has not seen). One pending signal stands for any
// number; after Close nothing more is sent.
func (l *Line) Changes() <-chan struct{} { return l.changes }

// Signer returns the line's token signer (for tests and tools).
func (l *Line) Signer() *queue.Signer { return l.signer }

// Now is the line's clock now as this process last saw it: the local
// clock plus the offset the store's last answer showed (the store's own
// clock, TIME, in production; Options.Clock in tests).
func (l *Line) Now() time.Time {
	return time.UnixMilli(l.local.Now().UnixMilli() + l.offset.Load()).UTC()
}

// call runs script name with args after the common ones (lua/lib.lua)
// and decodes its answer into dst. A store that fails to answer is
// queue.CodeUnavailable; an answer that breaks the protocol, or a script
// that fails to run, is a defect: an error that is not a *queue.Error,
// which the server answers as internal.
func (l *Line) call(ctx context.Context, name string, dst any, args ...any) error {
	argv := make([]any, 0, len(l.args)+len(args))
	argv = append(argv, l.args...)
	if l.opts.Clock != nil {
		argv[argNow] = l.opts.Clock.Now().UnixMilli()
	}
	argv[argFloor] = l.version.Load() // versions never go back
	argv = append(argv, args...)
	v, err := l.run(ctx, name, argv)
	if err != nil {
		return l.storeErr(name, err)
	}
	if err := decode(v, dst); err != nil {
		return fmt.Errorf("redisline: %s: %w", name, err)
	}
	if r, ok := dst.(interface{ line() *lineReply }); ok {
		lr := r.line()
		l.saw(lr.Version, lr.Next)
		// The offset includes the round trip, so the scheduler runs a
		// little late, never early; the tick bounds how late.
		l.offset.Store(lr.Now - l.local.Now().UnixMilli())
	}
	return nil
}

// run sends operation name with argv to the store, as a function or a
// script (scripts.go). A store that has lost the function library (a
// restart without persistence, FUNCTION FLUSH, a failover to a replica
// that never had it) gets it again, and the call is sent once more.
func (l *Line) run(ctx context.Context, name string, argv []any) (any, error) {
	keys := []string{l.verKey}
	if !l.functions {
		return script(name).Run(ctx, l.rdb, keys, argv...).Result()
	}
	fn, ok := library.functions[name]
	if !ok {
		panic("redisline: no operation " + name) // a defect in this package
	}
	v, err := l.rdb.FCall(ctx, fn, keys, argv...).Result()
	if err != nil && isNoFunction(err) {
		l.log.Warn("queue store had lost the function library; loading it again", "library", library.name)
		if err := loadLibrary(ctx, l.rdb); err != nil {
			return nil, err
		}
		v, err = l.rdb.FCall(ctx, fn, keys, argv...).Result()
	}
	return v, err
}

// op runs an operation that answers a plain lineReply.
func (l *Line) op(ctx context.Context, name string, args ...any) (lineReply, error) {
	var r lineReply
	err := l.call(ctx, name, &r, args...)
	return r, err
}

// saw notes a version and the next deadline, from a script or from another
// replica's publication: a newer version signals Changes, and the deadline
// goes to the scheduler.
func (l *Line) saw(version, next int64) {
	for {
		cur := l.version.Load()
		if version <= cur {
			break
		}
		if l.version.CompareAndSwap(cur, version) {
			l.signal()
			break
		}
	}
	if next > 0 {
		select {
		case l.wake <- next:
		default: // the scheduler is behind; its tick catches up
		}
	}
}

// signal tells the consumer of Changes to look at the line again.
func (l *Line) signal() {
	select {
	case <-l.stop:
		return // closed: nobody listens any more
	default:
	}
	select {
	case l.changes <- struct{}{}:
	default: // a signal is pending already: it stands for this one too
	}
}

// unavailablePrefixes start the error replies of a store that cannot serve
// this service now (loading, read-only after a failover, busy, moved, out
// of memory, or refusing its credentials), as opposed to a script that ran
// and failed.
var unavailablePrefixes = []string{
	"LOADING", "READONLY", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN",
	"MOVED", "ASK", "OOM", "NOREPLICAS", "NOTREADY", "ERR max number of clients",
	"NOAUTH", "WRONGPASS", "NOPERM",
}

// storeErr sorts a failed script call. No connection, a timeout, the
// caller's own deadline, or an error reply of a store that cannot serve
// now is the store not answering (queue.CodeUnavailable). Every other
// error reply — a Lua error, a command failing inside a script (WRONGTYPE),
// a nil answer — means the scripts or their data are wrong: a defect,
// reported as a protocol error (internal), never as an outage.
func (l *Line) storeErr(name string, err error) error {
	var re redis.Error
	if errors.As(err, &re) && !hasAnyPrefix(re.Error(), unavailablePrefixes) {
		return fmt.Errorf("redisline: %s: %w: %w", name, errProtocol, err)
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up (a client hung up): not the store's failure,
		// and nothing anyone can make the log shout about at will.
		l.log.Debug("queue store call cancelled", "script", name, "err", err)
	} else {
		l.log.Warn("queue store failed", "script", name, "err", err)
	}
	return &queue.Error{Code: queue.CodeUnavailable}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Ping reports whether the store answers.
func (l *Line) Ping(ctx context.Context) error {
	if err := l.rdb.Ping(ctx).Err(); err != nil {
		l.log.Warn("queue store ping failed", "err", err)
		return &queue.Error{Code: queue.CodeUnavailable} // whatever it said: not ready
	}
	return nil
}

func ms(t int64) time.Time { return time.UnixMilli(t).UTC() }

// ticket builds the holder's view of a ticket from a script's answer.
func (l *Line) ticket(t ticketReply, version, called, share int64) queue.Ticket {
	seq := uint64(t.Seq)
	out := queue.Ticket{Seq: seq, Label: queue.Label(seq), State: queue.State(t.State), Version: version}
	switch out.State {
	case queue.StateWaiting:
		out.Position = t.Position
		out.ETA = queue.WaitETA(t.Position, called, time.Duration(share)*time.Millisecond)
	case queue.StateCalled:
		out.Position = t.Position
		out.Deadline = ms(t.Deadline)
	case queue.StateServing:
		out.Until = ms(t.Until)
		out.ImageID = l.signer.ImageID(seq)
	}
	return out
}

// refusal turns a script's refusal into the facts of a domain error; an
// unknown code is a protocol error.
func (l *Line) refusal(name string, r lineReply) error {
	label := ""
	if r.Seq != 0 {
		label = queue.Label(uint64(r.Seq))
	}
	state := queue.State(r.State)
	msDur := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	switch r.Code {
	case "banned":
		return queue.ErrBanned(msDur(r.Ban))
	case "forbidden":
		return &queue.Error{Code: queue.CodeForbidden, BanLeft: msDur(r.Ban)}
	case "unknown":
		return &queue.Error{Code: queue.CodeGone, State: queue.StateExpired}
	case "not_your_turn":
		t := l.ticket(r.ticketReply, r.Version, r.Called, r.Share)
		return &queue.Error{Code: queue.CodeNotYourTurn, Ticket: label, State: state, Position: t.Position, ETA: t.ETA}
	case "not_serving":
		return &queue.Error{Code: queue.CodeNotServing, Ticket: label, State: state}
	case "gone":
		return &queue.Error{Code: queue.CodeGone, Ticket: label, State: state}
	case "too_many":
		return &queue.Error{Code: queue.CodeTooManyTickets, Limit: r.Limit, Share: msDur(r.Share)}
	case "full":
		return &queue.Error{Code: queue.CodeLineFull, Limit: r.Limit, Share: msDur(r.Share)}
	case "paused":
		return &queue.Error{Code: queue.CodePaused}
	}
	return fmt.Errorf("redisline: %s: %w", name, protocolErr("unknown code %q", r.Code))
}

// parse checks a token. A forged one bans the client.
func (l *Line) parse(ctx context.Context, client, token string) (uint64, string, error) {
	if strings.TrimSpace(token) == "" {
		return 0, "", queue.Errorf(queue.CodeBadRequest, "a token is required")
	}
	seq, nonce, err := l.signer.Parse(token)
	if errors.Is(err, queue.ErrUnknownKey) {
		seq, nonce, err = l.unknownKey(ctx, token) // signing.go: no ban
	}
	if err == nil {
		return seq, hex.EncodeToString(nonce[:]), nil
	}
	if !errors.Is(err, queue.ErrForgedToken) {
		return 0, "", err // the line was reset, or the store failed: no ban (signing.go)
	}
	r, err := l.op(ctx, "ban", client)
	if err != nil {
		return 0, "", err
	}
	if r.Code == "forbidden" { // a new ban; repeats from a banned client are not news
		l.log.Warn("forged token: client banned", "client", client, "ban", l.set.BanDuration)
	}
	return 0, "", l.refusal("ban", r)
}

// Take issues a new ticket at the end of the line.
func (l *Line) Take(ctx context.Context, client string) (queue.Issued, error) {
	return l.take(ctx, client, queue.NewNonce())
}

// take is Take with the token's nonce given; a take resent with the same
// nonce answers the ticket the first one issued.
func (l *Line) take(ctx context.Context, client string, nonce [16]byte) (queue.Issued, error) {
	r, err := l.op(ctx, "take", client, hex.EncodeToString(nonce[:]))
	if err != nil {
		return queue.Issued{}, err
	}
	if r.Code != "ok" {
		return queue.Issued{}, l.refusal("take", r)
	}
	if r.Seq <= 0 {
		return queue.Issued{}, fmt.Errorf("redisline: take: %w", protocolErr("ok without a ticket"))
	}
	return queue.Issued{Token: l.signer.Token(uint64(r.Seq), nonce), Ticket: l.ticket(r.ticketReply, r.Version, r.Called, r.Share)}, nil
}

// holderOp runs a script that a ticket's holder asks for (redeem, end,
// leave, status): the token is checked first, and a forged one bans.
func (l *Line) holderOp(ctx context.Context, name, client, token string) (lineReply, error) {
	seq, nonce, err := l.parse(ctx, client, token)
	if err != nil {
		return lineReply{}, err
	}
	r, err := l.op(ctx, name, client, seq, nonce)
	if err != nil {
		return lineReply{}, err
	}
	if r.Code != "ok" {
		return lineReply{}, l.refusal(name, r)
	}
	if r.Seq <= 0 {
		return lineReply{}, fmt.Errorf("redisline: %s: %w", name, protocolErr("ok without a ticket"))
	}
	return r, nil
}

// Redeem turns a called ticket into a viewing session; an already serving
// ticket returns its session again. A token this service did not issue
// bans the client (CodeForbidden).
func (l *Line) Redeem(ctx context.Context, client, token string) (queue.Session, error) {
	r, err := l.holderOp(ctx, "redeem", client, token)
	if err != nil {
		return queue.Session{}, err
	}
	return l.session(r.ticketReply), nil
}

func (l *Line) session(t ticketReply) queue.Session {
	seq := uint64(t.Seq)
	return queue.Session{Seq: seq, Label: queue.Label(seq), ImageID: l.signer.ImageID(seq), Until: ms(t.Until)}
}

// EndViewing ends a serving ticket's session now and frees its counter.
func (l *Line) EndViewing(ctx context.Context, client, token string) error {
	_, err := l.holderOp(ctx, "end", client, token)
	return err
}

// Leave takes a waiting or called ticket out of the line; a serving one
// ends its session.
func (l *Line) Leave(ctx context.Context, client, token string) error {
	_, err := l.holderOp(ctx, "leave", client, token)
	return err
}

// Status reports a ticket's state and position.
func (l *Line) Status(ctx context.Context, client, token string) (queue.Ticket, error) {
	r, err := l.holderOp(ctx, "status", client, token)
	if err != nil {
		return queue.Ticket{}, err
	}
	return l.ticket(r.ticketReply, r.Version, r.Called, r.Share), nil
}

// Statuses reports many tickets at once: reply i is what Status would
// answer for reqs[i], its refusals included. Tokens are checked first: a
// forged one bans its client, as Status does, before any ticket is read.
// The others are read queue.StatusBatch at a time, one script each, which
// advances the line once and then reads every ticket as status.lua would.
// The error is for the whole call (the store failed): then no replies.
func (l *Line) Statuses(ctx context.Context, reqs []queue.StatusRequest) ([]queue.StatusReply, error) {
	replies := make([]queue.StatusReply, len(reqs))
	type parsed struct {
		i     int
		seq   uint64
		nonce string
	}
	valid := make([]parsed, 0, len(reqs))
	for i, rq := range reqs {
		seq, nonce, err := l.parse(ctx, rq.Client, rq.Token)
		if err != nil {
			replies[i].Err = err
			continue
		}
		valid = append(valid, parsed{i, seq, nonce})
	}
	for len(valid) > 0 {
		chunk := valid[:min(len(valid), queue.StatusBatch)]
		valid = valid[len(chunk):]
		args := make([]any, 0, 3*len(chunk))
		for _, p := range chunk {
			args = append(args, reqs[p.i].Client, p.seq, p.nonce)
		}
		var r statusesReply
		if err := l.call(ctx, "statuses", &r, args...); err != nil {
			return nil, err
		}
		if len(r.Tickets) != len(chunk) {
			return nil, fmt.Errorf("redisline: %s: %w", "statuses",
				protocolErr("%d tickets answered for %d asked", len(r.Tickets), len(chunk)))
		}
		for k, p := range chunk {
			item := r.Tickets[k]
			if item.Code == "ok" {
				replies[p.i].Ticket = l.ticket(item.ticketReply, r.Version, r.Called, r.Share)
				continue
			}
			one := r.lineReply
			one.Code, one.Ban, one.ticketReply = item.Code, item.Ban, item.ticketReply
			replies[p.i].Err = l.refusal("statuses", one)
		}
	}
	return replies, nil
}

// Viewing returns the live session behind an image id, or CodeGone.
func (l *Line) Viewing(ctx context.Context, imageID string) (queue.Session, error) {
	seq, err := l.signer.ParseImageID(imageID)
	if err != nil {
		return queue.Session{}, queue.Errorf(queue.CodeNotFound, "no such picture")
	}
	r, err := l.op(ctx, "view", seq)
	if err != nil {
		return queue.Session{}, err
	}
	if r.Code != "ok" {
		return queue.Session{}, l.refusal("view", r)
	}
	if state := queue.State(r.State); state != queue.StateServing {
		if state == "" {
			state = queue.StateExpired
		}
		return queue.Session{}, &queue.Error{Code: queue.CodeGone, Ticket: queue.Label(seq), State: state}
	}
	return l.session(r.ticketReply), nil
}

// BanRemaining returns how long client stays banned; 0 when not banned.
func (l *Line) BanRemaining(ctx context.Context, client string) (time.Duration, error) {
	r, err := l.op(ctx, "ban_left", client)
	if err != nil {
		return 0, err
	}
	if r.Code != "ok" {
		return 0, l.refusal("ban_left", r)
	}
	return time.Duration(r.Ban) * time.Millisecond, nil
}

// Advance brings the line up to now: expires no-shows and finished
// sessions and calls the next tickets. The scheduler runs it at every
// deadline; tests with a fake clock call it by hand.
func (l *Line) Advance(ctx context.Context) error {
	_, err := l.advance(ctx)
	return err
}

func (l *Line) advance(ctx context.Context) (lineReply, error) {
	r, err := l.op(ctx, "advance")
	if err == nil && r.Code != "ok" {
		err = l.refusal("advance", r)
	}
	return r, err
}

// Snapshot returns the visible line, at one version and the line's time.
func (l *Line) Snapshot(ctx context.Context) (queue.Snapshot, error) {
	var r snapshotReply
	if err := l.call(ctx, "snapshot", &r, queue.SnapshotWaiting); err != nil {
		return queue.Snapshot{}, err
	}
	if r.Code != "ok" {
		return queue.Snapshot{}, l.refusal("snapshot", r.lineReply)
	}
	if len(r.Serving)%2 != 0 || len(r.Calls)%2 != 0 {
		return queue.Snapshot{}, fmt.Errorf("redisline: %s: %w", "snapshot", protocolErr("odd seq/time lists"))
	}
	snap := queue.Snapshot{
		Version:         r.Version,
		Now:             ms(r.Now),
		Length:          r.Length,
		Counters:        int(r.Counters),
		Paused:          r.Paused,
		ETAPerTicketSec: int64(math.Ceil(float64(r.Share) / 1000)),
		Serving:         []queue.Slot{},
		Called:          []queue.Slot{},
		Waiting:         []queue.Waiter{},
	}
	for i := 0; i < len(r.Serving); i += 2 {
		at := ms(r.Serving[i+1])
		snap.Serving = append(snap.Serving, queue.Slot{Ticket: queue.Label(uint64(r.Serving[i])), Until: &at})
	}
	for i := 0; i < len(r.Calls); i += 2 {
		at := ms(r.Calls[i+1])
		snap.Called = append(snap.Called, queue.Slot{Ticket: queue.Label(uint64(r.Calls[i])), Deadline: &at})
	}
	for _, seq := range r.Waiting {
		snap.Waiting = append(snap.Waiting, queue.Waiter{Ticket: queue.Label(uint64(seq))})
	}
	return snap, nil
}

// Stats returns the running totals.
func (l *Line) Stats(ctx context.Context) (queue.Stats, error) {
	st, err := l.stats(ctx)
	return st.Stats, err
}

func (l *Line) stats(ctx context.Context) (queue.AdminStats, error) {
	var r statsReply
	if err := l.call(ctx, "stats", &r); err != nil {
		return queue.AdminStats{}, err
	}
	if r.Code != "ok" {
		return queue.AdminStats{}, l.refusal("stats", r.lineReply)
	}
	mean := func(sum, n int64) time.Duration {
		if n == 0 {
			return 0
		}
		return time.Duration(sum/n) * time.Millisecond
	}
	return queue.AdminStats{Paused: r.Paused, Stats: queue.Stats{
		Issued:       r.Issued,
		Served:       r.Served,
		Expired:      r.Expired,
		Left:         r.Left,
		Bans:         r.Bans,
		Length:       r.Length,
		Serving:      r.Serving,
		Called:       r.Called,
		Counters:     int(r.Counters),
		MeanWait:     mean(r.WaitSum, r.WaitN),
		MeanService:  mean(r.HeldSum, r.HeldN),
		ETAPerTicket: time.Duration(r.Share) * time.Millisecond,
	}}, nil
}
