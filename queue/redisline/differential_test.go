package redisline

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/memline"
	"github.com/catqms/catqms/queue/readmodel"
)

var (
	diffSeed  = flag.Uint64("diff.seed", 0, "run TestModelAndStoreAgree with this seed only (it prints the seeds it ran)")
	diffSteps = flag.Int("diff.steps", 1000, "operations per run of TestModelAndStoreAgree")
)

// diffSettings are small, so that every limit and every deadline is met
// often: three tickets a client, ten in line, two counters.
var diffOptions = Options{
	HeadWindow: 4 * time.Second, ViewWindow: 6 * time.Second, Counters: 2,
	BanDuration: 8 * time.Second, MaxTicketsPerClient: 3, MaxQueue: 10,
	Secret: []byte("differential-secret-0123456789"),
}

// TestModelAndStoreAgree drives the Go model of the line (queue/memline)
// and the store's scripts with the same random operations and clock jumps
// — many clients, two counters, no-shows, leaves, forged tokens, admin
// actions, resent takes — and requires the same answer to every operation
// and the same snapshot after every step. It runs three fixed seeds and a fresh
// one on every store; a failure names its seed, which -diff.seed replays.
//
// What it does not compare, and where that is tested instead: what runs
// on the store's own timers, which the test clock does not move — a take
// resent after its replay time (REPLAY_MS), a finished ticket's record
// purged after Keep (TestTokenFromAWipedStoreIsGone shows the answer when a
// record is gone), an admin action resent with its operation id
// (TestAdminReplayDoesNotActTwice); the version floor, which needs a second
// replica (TestVersionsSurviveAFailoverToALaggingReplica); statuses read in
// more than one chunk (TestStatusesChunks); and the store's TIME, as every
// step passes the test clock (internal/e2e's TestOneClockForEveryReplica).
func TestModelAndStoreAgree(t *testing.T) {
	seeds := []uint64{1, 2, 3, uint64(time.Now().UnixNano())}
	if *diffSeed != 0 {
		seeds = []uint64{*diffSeed}
	}
	steps := *diffSteps
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			forEachStore(t, diffOptions, func(t *testing.T, f *fixture) {
				d := newDiff(t, f, seed)
				for i := range steps {
					d.step(i)
				}
				t.Logf("seed %d: %d steps, %d tickets, final %s", seed, steps, len(d.holders), d.summary())
			})
		})
	}
}

// holder is one ticket taken in both lines: its token in each.
type holder struct {
	client       string
	store, model string
	seq          uint64
}

type diff struct {
	t       *testing.T
	f       *fixture
	model   *memline.Line
	rng     *rand.Rand
	seed    uint64
	holders []holder
	trace   []string
	last    queue.Snapshot // after the last step
	// The change log: a read model following the store's, and the version
	// up to which the two logs were compared.
	replica *readmodel.Replica
	logged  int64
}

func newDiff(t *testing.T, f *fixture, seed uint64) *diff {
	m, err := memline.New(f.line.Settings(), diffOptions.Secret, f.clock)
	if err != nil {
		t.Fatal(err)
	}
	// Small pages and batches, so that loads and reads take many steps.
	rep := readmodel.New(f.line, readmodel.Options{Clock: f.clock, PageSize: 2, Batch: 3, ImageID: f.line.Signer().ImageID})
	return &diff{t: t, f: f, model: m, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed, replica: rep}
}

var clients = []string{"c0", "c1", "c2", "c3", "c4"}

func (d *diff) client() string { return clients[d.rng.IntN(len(clients))] }

// some returns a holder, or false when nobody took a ticket yet.
func (d *diff) some() (holder, bool) {
	if len(d.holders) == 0 {
		return holder{}, false
	}
	// Mostly the recent tickets: the old ones are long finished.
	n := len(d.holders)
	return d.holders[max(0, n-1-d.rng.IntN(min(n, 12)))], true
}

// label is a label to name to the admin API: a ticket's, or none at all.
func (d *diff) label() string {
	if h, ok := d.some(); ok && d.rng.IntN(6) > 0 {
		return queue.Label(h.seq)
	}
	return []string{"Z999", "A000", "garbage"}[d.rng.IntN(3)]
}

// forged returns the same forged token for both lines: garbage, a token
// with a changed letter, or a well-signed token for a ticket never issued.
func (d *diff) forged() string {
	switch d.rng.IntN(4) {
	case 0:
		return "garbage"
	case 1:
		if h, ok := d.some(); ok {
			b := []byte(h.store)
			b[len(b)/2] ^= 1
			return string(b)
		}
		return "x"
	case 2:
		var nonce [16]byte
		return d.f.line.Signer().Token(uint64(d.rng.IntN(30)+1), nonce)
	}
	return "   "
}

func (d *diff) step(i int) {
	f, m, ctx := d.f, d.model, d.f.ctx
	var what string
	var store, model any
	// Every third step's admin action gives a reason, which both logs must
	// keep with the entry (drawn from the step, not the generator, so a
	// seed runs the same operations as before reasons were added).
	actx := ctx
	if i%3 == 0 {
		actx = queue.WithReason(ctx, fmt.Sprintf("step %d: the counter's printer jammed — ¿otra vez?", i))
	}
	switch r := d.rng.IntN(100); {
	case r < 18:
		c := d.client()
		what = "take " + c
		si, serr := f.line.Take(ctx, c)
		mi, merr := m.Take(ctx, c)
		store, model = answer(si.Ticket, serr), answer(mi.Ticket, merr)
		if serr == nil && merr == nil {
			d.holders = append(d.holders, holder{c, si.Token, mi.Token, si.Ticket.Seq})
		}
	case r < 23:
		c, nonce := d.client(), queue.NewNonce()
		what = "take twice with one nonce, " + c
		s1, e1 := f.line.take(ctx, c, nonce)
		s2, e2 := f.line.take(ctx, c, nonce)
		m1, f1 := m.TakeNonce(ctx, c, nonce)
		m2, f2 := m.TakeNonce(ctx, c, nonce)
		store = []any{answer(s1.Ticket, e1), answer(s2.Ticket, e2), s1.Token == s2.Token}
		model = []any{answer(m1.Ticket, f1), answer(m2.Ticket, f2), m1.Token == m2.Token}
		if e1 == nil && f1 == nil {
			d.holders = append(d.holders, holder{c, s1.Token, m1.Token, s1.Ticket.Seq})
		}
	case r < 33:
		h, ok := d.some()
		if c, found := d.calledOne(); found && d.rng.IntN(3) > 0 {
			h = c // most redemptions come when called, as they would
		}
		if !ok {
			return
		}
		c := d.presenter(h)
		what = fmt.Sprintf("redeem %s by %s", queue.Label(h.seq), c)
		ss, serr := f.line.Redeem(ctx, c, h.store)
		ms, merr := m.Redeem(ctx, c, h.model)
		store, model = answer(ss, serr), answer(ms, merr)
	case r < 39:
		h, ok := d.some()
		if !ok {
			return
		}
		c := d.presenter(h)
		what = fmt.Sprintf("end %s by %s", queue.Label(h.seq), c)
		store, model = answer(nil, f.line.EndViewing(ctx, c, h.store)), answer(nil, m.EndViewing(ctx, c, h.model))
	case r < 44:
		h, ok := d.some()
		if !ok {
			return
		}
		c := d.presenter(h)
		what = fmt.Sprintf("leave %s by %s", queue.Label(h.seq), c)
		store, model = answer(nil, f.line.Leave(ctx, c, h.store)), answer(nil, m.Leave(ctx, c, h.model))
	case r < 50:
		h, ok := d.some()
		if !ok {
			return
		}
		c := d.presenter(h)
		what = fmt.Sprintf("status %s by %s", queue.Label(h.seq), c)
		st, serr := f.line.Status(ctx, c, h.store)
		mt, merr := m.Status(ctx, c, h.model)
		store, model = answer(st, serr), answer(mt, merr)
	case r < 54:
		var sreq, mreq []queue.StatusRequest
		for range d.rng.IntN(6) + 1 {
			c := d.client()
			if h, ok := d.some(); ok && d.rng.IntN(15) > 0 {
				sreq = append(sreq, queue.StatusRequest{Client: c, Token: h.store})
				mreq = append(mreq, queue.StatusRequest{Client: c, Token: h.model})
			} else {
				tok := d.forged()
				sreq = append(sreq, queue.StatusRequest{Client: c, Token: tok})
				mreq = append(mreq, queue.StatusRequest{Client: c, Token: tok})
			}
		}
		what = fmt.Sprintf("statuses of %d", len(sreq))
		sr, serr := f.line.Statuses(ctx, sreq)
		mr, merr := m.Statuses(ctx, mreq)
		store, model = answer(replies(sr), serr), answer(replies(mr), merr)
	case r < 56:
		c, tok := d.client(), d.forged()
		if h, ok := d.calledOne(); ok && d.rng.IntN(2) == 0 {
			c = h.client // a cheater whose own ticket is called
		}
		what = fmt.Sprintf("redeem forged %q by %s", tok, c)
		ss, serr := f.line.Redeem(ctx, c, tok)
		ms, merr := m.Redeem(ctx, c, tok)
		store, model = answer(ss, serr), answer(ms, merr)
	case r < 60:
		h, ok := d.some()
		if !ok {
			return
		}
		id := f.line.Signer().ImageID(h.seq)
		what = "view " + queue.Label(h.seq)
		ss, serr := f.line.Viewing(ctx, id)
		ms, merr := m.Viewing(ctx, id)
		store, model = answer(ss, serr), answer(ms, merr)
	case r < 62:
		c := d.client()
		what = "ban left " + c
		sb, serr := f.line.BanRemaining(ctx, c)
		mb, merr := m.BanRemaining(ctx, c)
		store, model = answer(sb, serr), answer(mb, merr)
	case r < 64:
		what = "advance"
		store, model = answer(nil, f.line.Advance(ctx)), answer(nil, m.Advance(ctx))
	case r < 68:
		// To a boundary exactly: the next deadline, or a ban's end.
		var to time.Time
		if c := d.client(); r < 66 {
			sb, serr := f.line.BanRemaining(ctx, c)
			mb, merr := m.BanRemaining(ctx, c)
			store, model = answer(sb, serr), answer(mb, merr)
			to = f.clock.Now().Add(sb)
		} else {
			for _, sl := range append(slices.Clone(d.last.Called), d.last.Serving...) {
				for _, at := range []*time.Time{sl.Deadline, sl.Until} {
					if at != nil && (to.IsZero() || at.Before(to)) {
						to = *at
					}
				}
			}
		}
		what = "clock to a boundary, " + to.Format("15:04:05.000")
		if !to.After(f.clock.Now()) {
			return
		}
		f.clock.Add(to.Sub(f.clock.Now()))
	case r < 82:
		jumps := []time.Duration{time.Millisecond, 500 * time.Millisecond, time.Second, 3 * time.Second,
			diffOptions.HeadWindow, diffOptions.HeadWindow + time.Millisecond, diffOptions.ViewWindow, 11 * time.Second}
		j := jumps[d.rng.IntN(len(jumps))]
		if d.rng.IntN(40) == 0 {
			j = diffOptions.BanDuration // bans lapse
		}
		what = "clock +" + j.String()
		f.clock.Add(j)
		store, model = "", ""
	case r < 84:
		what = "pause"
		so, serr := f.line.Pause(actx)
		mo, merr := m.Pause(actx)
		store, model = answer(so, serr), answer(mo, merr)
	case r < 86:
		what = "resume"
		so, serr := f.line.Resume(actx)
		mo, merr := m.Resume(actx)
		store, model = answer(so, serr), answer(mo, merr)
	case r < 89:
		what = "call next"
		so, serr := f.line.CallNext(actx)
		mo, merr := m.CallNext(actx)
		store, model = answer(so, serr), answer(mo, merr)
	case r < 92:
		label := ""
		if d.rng.IntN(2) == 0 {
			label = d.label()
		}
		what = fmt.Sprintf("skip %q", label)
		so, serr := f.line.Skip(actx, label)
		mo, merr := m.Skip(actx, label)
		store, model = answer(so, serr), answer(mo, merr)
	case r < 94:
		n := d.rng.IntN(4) // 0 is refused
		what = fmt.Sprintf("counters %d", n)
		so, serr := f.line.SetCounters(actx, n)
		mo, merr := m.SetCounters(actx, n)
		store, model = answer(so, serr), answer(mo, merr)
	case r < 96:
		label := d.label()
		what = "end session " + label
		so, serr := f.line.EndSession(actx, label)
		mo, merr := m.EndSession(actx, label)
		store, model = answer(so, serr), answer(mo, merr)
	case r < 98:
		c := d.client()
		what = "unban " + c
		so, serr := f.line.Unban(actx, c)
		mo, merr := m.Unban(actx, c)
		store, model = answer(so, serr), answer(mo, merr)
	case r < 99:
		what = "bans"
		sb, stotal, serr := f.line.Bans(ctx, 3)
		mb, mtotal, merr := m.Bans(ctx, 3)
		store, model = answer([]any{sb, stotal}, serr), answer([]any{mb, mtotal}, merr)
	default:
		what = "admin stats"
		ss, serr := f.line.AdminStats(ctx)
		ms, merr := m.AdminStats(ctx)
		store, model = answer(ss, serr), answer(ms, merr)
	}
	d.trace = append(d.trace, fmt.Sprintf("%d: %s → %v", i, what, store))
	if !reflect.DeepEqual(store, model) {
		d.fail(i, what, store, model)
	}
	ssnap, serr := f.line.Snapshot(ctx)
	msnap, merr := m.Snapshot(ctx)
	if serr != nil || merr != nil || !reflect.DeepEqual(ssnap, msnap) {
		d.fail(i, what+", then the snapshot", answer(show(ssnap), serr), answer(show(msnap), merr))
	}
	d.last = ssnap
	d.checkLog(i, what)
	d.checkReplica(i, what, ssnap)
}

// checkLog: the store and the model wrote the same log entries since the
// last step, one per version.
func (d *diff) checkLog(i int, what string) {
	ctx := d.f.ctx
	s, serr := d.f.line.ReadLog(ctx, d.logged, 10_000, 0)
	m, merr := d.model.ReadLog(ctx, d.logged, 10_000, 0)
	if serr != nil || merr != nil || !reflect.DeepEqual(s, m) {
		d.fail(i, what+", then the change log", answer(s, serr), answer(m, merr))
	}
	for k, c := range s {
		prev := d.logged
		if k > 0 {
			prev = s[k-1].Version
		}
		if c.Version != prev+1 && d.logged != 0 {
			d.fail(i, what+", then the change log's versions", answer(s, nil), fmt.Sprintf("one entry per version after %d", d.logged))
		}
	}
	if len(s) > 0 {
		d.logged = s[len(s)-1].Version
	}
}

// checkReplica: a read model following the store's log shows the store's
// snapshot, and every recent ticket as the store's status answers it.
func (d *diff) checkReplica(i int, what string, want queue.Snapshot) {
	if err := d.replica.Sync(d.f.ctx); err != nil {
		d.fail(i, what+", then the read model", "synced", err.Error())
	}
	got, err := d.replica.Snapshot(queue.SnapshotWaiting)
	if err != nil || !reflect.DeepEqual(got, want) {
		d.fail(i, what+", then the read model's snapshot", answer(show(want), nil), answer(show(got), err))
	}
	if i%37 == 0 {
		// A replica loading now, one departed seq a page, shows the same.
		fresh := readmodel.New(d.f.line, readmodel.Options{Clock: d.f.clock, PageSize: 1})
		if err := fresh.Sync(d.f.ctx); err != nil {
			d.fail(i, what+", then a fresh read model", "loaded", err.Error())
		}
		got, err := fresh.Snapshot(queue.SnapshotWaiting)
		if err != nil || !reflect.DeepEqual(got, want) {
			d.fail(i, what+", then a fresh read model's snapshot", answer(show(want), nil), answer(show(got), err))
		}
	}
	var reqs []queue.StatusRequest
	var seqs []uint64
	for _, h := range d.holders[max(0, len(d.holders)-24):] {
		reqs = append(reqs, queue.StatusRequest{Client: "watcher", Token: h.store})
		seqs = append(seqs, h.seq)
	}
	replies, err := d.f.line.Statuses(d.f.ctx, reqs)
	if err != nil {
		d.fail(i, what+", then the statuses", "answered", err.Error())
	}
	for k, r := range replies {
		tk, live, err := d.replica.Ticket(seqs[k])
		if err != nil {
			d.fail(i, what+", then the read model's ticket", "answered", err.Error())
		}
		if r.Err != nil {
			// Only a record purged after Keep has no state; the test
			// clock never gets that far.
			d.fail(i, what+", then the status of "+queue.Label(seqs[k]), answer(nil, r.Err), "a ticket")
		}
		wantT := r.Ticket
		if live != wantT.State.Live() || (live || tk.State != "") && !reflect.DeepEqual(tk, wantT) {
			d.fail(i, what+", then the read model's "+queue.Label(seqs[k]), answer(wantT, nil), answer(fmt.Sprintf("%+v live=%v", tk, live), nil))
		}
	}
}

// calledOne returns a holder whose ticket the last snapshot shows called.
func (d *diff) calledOne() (holder, bool) {
	if len(d.last.Called) == 0 {
		return holder{}, false
	}
	label := d.last.Called[d.rng.IntN(len(d.last.Called))].Ticket
	for _, h := range d.holders {
		if queue.Label(h.seq) == label {
			return h, true
		}
	}
	return holder{}, false
}

// presenter is who presents h's token: mostly its holder, sometimes
// another client (a token is a bearer token; the presenter's ban counts).
func (d *diff) presenter(h holder) string {
	if d.rng.IntN(5) == 0 {
		return d.client()
	}
	return h.client
}

func (d *diff) fail(i int, what string, store, model any) {
	d.t.Helper()
	from := max(0, len(d.trace)-25)
	d.t.Fatalf("seed %d (replay: go test ./queue/redisline -run TestModelAndStoreAgree -diff.seed=%d), step %d, %s:\n store: %v\n model: %v\nthe last steps:\n%s",
		d.seed, d.seed, i, what, store, model, strings.Join(d.trace[from:], "\n"))
}

func (d *diff) summary() string {
	s, _ := d.model.Stats(d.f.ctx)
	return fmt.Sprintf("%+v", s)
}

// answer is what an operation answered, comparable with reflect.DeepEqual:
// its value and its error, a *queue.Error by its facts.
func answer(v any, err error) any {
	if err == nil {
		return fmt.Sprintf("%+v", v)
	}
	if qe := queue.AsError(err); qe != nil {
		return fmt.Sprintf("error %+v", *qe)
	}
	return "defect: " + err.Error()
}

func replies(rs []queue.StatusReply) []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = answer(r.Ticket, r.Err)
	}
	return out
}

func show(s queue.Snapshot) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBanRemovesTicketsInOrder: a ban takes the cheater's called tickets
// out in ticket order, as the model does. Each removal moves the average
// of held counters, so the order shows in the line's estimate; a set has
// no order of its own (miniredis lists "10" before "9").
func TestBanRemovesTicketsInOrder(t *testing.T) {
	opts := diffOptions
	opts.MaxTicketsPerClient = 10
	forEachStore(t, opts, func(t *testing.T, f *fixture) {
		d := newDiff(t, f, 0)
		m := d.model
		both := func(what string, store, model error) {
			t.Helper()
			if store != nil || model != nil {
				t.Fatalf("%s: store %v, model %v", what, store, model)
			}
		}
		var toks [][2]string
		take := func(c string) {
			si, serr := f.line.Take(f.ctx, c)
			mi, merr := m.Take(f.ctx, c)
			both("take", serr, merr)
			toks = append(toks, [2]string{si.Token, mi.Token})
		}
		leave := func(i int) {
			both("leave", f.line.Leave(f.ctx, "o", toks[i][0]), m.Leave(f.ctx, "o", toks[i][1]))
		}
		for range 8 {
			take("o") // A001…A008
		}
		take("x")
		take("x") // A009 and A010, the cheater's
		for i := 2; i < 8; i++ {
			leave(i)
		}
		f.clock.Add(time.Second)
		leave(0) // A009 is called
		f.clock.Add(time.Second)
		leave(1) // A010 is called, a second later: the two held counters differ
		f.clock.Add(time.Second)
		_, serr := f.line.Status(f.ctx, "x", "forged")
		_, merr := m.Status(f.ctx, "x", "forged")
		if queue.ErrorCode(serr) != queue.CodeForbidden || queue.ErrorCode(merr) != queue.CodeForbidden {
			t.Fatalf("forged: store %v, model %v", serr, merr)
		}
		ss, _ := f.line.Stats(f.ctx)
		ms, _ := m.Stats(f.ctx)
		if ss.ETAPerTicket != ms.ETAPerTicket || ss.MeanService != ms.MeanService {
			t.Fatalf("after the ban: store %+v, model %+v", ss, ms)
		}
	})
}
