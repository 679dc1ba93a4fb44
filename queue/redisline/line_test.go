package redisline

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/catqms/catqms/internal/testenv"
	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// store is one kind of Redis the suite runs on.
type store struct {
	name string
	new  func(t *testing.T) redis.UniversalClient
}

func miniStore(t *testing.T) redis.UniversalClient {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func realStore(t *testing.T) redis.UniversalClient {
	r := testenv.RedisServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

var stores = []store{{"miniredis", miniStore}, {"redis-server", realStore}}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	rdb   redis.UniversalClient
	clock *fakeClock
	line  *Line
}

// forEachStore runs test on the embedded store and on a real redis-server,
// with a fake clock and no background scheduler.
func forEachStore(t *testing.T, opts Options, test func(t *testing.T, f *fixture)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := &fixture{t: t, ctx: context.Background(), rdb: s.new(t), clock: newFakeClock()}
			o := opts
			o.Clock = f.clock
			o.Tick = -1
			l, err := New(f.ctx, f.rdb, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			f.line = l
			test(t, f)
		})
	}
}

func (f *fixture) take(client string) queue.Issued {
	f.t.Helper()
	is, err := f.line.Take(f.ctx, client)
	if err != nil {
		f.t.Fatalf("Take(%s): %v", client, err)
	}
	return is
}

func (f *fixture) status(is queue.Issued) queue.Ticket {
	f.t.Helper()
	tk, err := f.line.Status(f.ctx, "watcher", is.Token)
	if err != nil {
		f.t.Fatalf("Status(%s): %v", is.Ticket.Label, err)
	}
	return tk
}

func (f *fixture) advance(d time.Duration) {
	f.t.Helper()
	f.clock.Add(d)
	if err := f.line.Advance(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code queue.Code) *queue.Error {
	t.Helper()
	qe := queue.AsError(err)
	if qe == nil || qe.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	// The words are the server's (server/errors.go); a store gives facts.
	return qe
}

func TestTakeGivesFIFOPositionsAndCallsTheHead(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		var got []queue.Issued
		for i := range 5 {
			got = append(got, f.take(fmt.Sprintf("c%d", i)))
		}
		for i, is := range got {
			if want := queue.Label(uint64(i + 1)); is.Ticket.Label != want {
				t.Errorf("ticket %d label %s, want %s", i, is.Ticket.Label, want)
			}
			if is.Ticket.Position != int64(i+1) {
				t.Errorf("ticket %s position %d, want %d", is.Ticket.Label, is.Ticket.Position, i+1)
			}
		}
		if got[0].Ticket.State != queue.StateCalled || got[0].Ticket.Deadline.IsZero() {
			t.Fatalf("first ticket %+v, want called with a deadline", got[0].Ticket)
		}
		if want := f.clock.Now().Add(60 * time.Second); !got[0].Ticket.Deadline.Equal(want) {
			t.Fatalf("deadline %v, want %v", got[0].Ticket.Deadline, want)
		}
		for _, is := range got[1:] {
			if is.Ticket.State != queue.StateWaiting || is.Ticket.ETA <= 0 {
				t.Errorf("ticket %+v, want waiting with an ETA", is.Ticket)
			}
		}
		if got[2].Ticket.ETA <= got[1].Ticket.ETA {
			t.Errorf("ETA does not grow with position: %v then %v", got[1].Ticket.ETA, got[2].Ticket.ETA)
		}
		if got[0].Token == got[1].Token || len(got[0].Token) < 40 {
			t.Fatalf("tokens look wrong: %q %q", got[0].Token, got[1].Token)
		}
	})
}

func TestWholeVisitAndFrozenHead(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		a, b := f.take("a"), f.take("b")
		_, err := f.line.Redeem(f.ctx, "b", b.Token)
		nyt := wantCode(t, err, queue.CodeNotYourTurn)
		if nyt.Position != 2 || nyt.ETA <= 0 || nyt.Ticket != b.Ticket.Label {
			t.Fatalf("not your turn = %+v", nyt)
		}

		sess, err := f.line.Redeem(f.ctx, "a", a.Token)
		if err != nil {
			t.Fatal(err)
		}
		if want := f.clock.Now().Add(60 * time.Second); !sess.Until.Equal(want) || sess.Label != a.Ticket.Label || sess.ImageID == "" {
			t.Fatalf("session %+v, want until %v", sess, want)
		}
		again, err := f.line.Redeem(f.ctx, "a", a.Token)
		if err != nil || again != sess {
			t.Fatalf("retry while serving = %+v, %v; want the same session", again, err)
		}
		if got := f.status(a); got.State != queue.StateServing || got.Position != 0 {
			t.Fatalf("a = %+v, want serving without position", got)
		}

		// The counter is busy: b is first in line but not called, and its
		// clock does not run, however long the viewing takes.
		f.advance(45 * time.Second)
		if got := f.status(b); got.State != queue.StateWaiting || got.Position != 1 {
			t.Fatalf("b = %+v, want waiting at 1 while the counter is busy", got)
		}

		if err := f.line.EndViewing(f.ctx, "a", a.Token); err != nil {
			t.Fatal(err)
		}
		if err := f.line.EndViewing(f.ctx, "a", a.Token); err != nil {
			t.Fatalf("ending twice: %v", err)
		}
		if got := f.status(a); got.State != queue.StateServed {
			t.Fatalf("a = %+v, want served", got)
		}
		got := f.status(b)
		if got.State != queue.StateCalled || !got.Deadline.Equal(f.clock.Now().Add(60*time.Second)) {
			t.Fatalf("b = %+v, want called with a full head window from now", got)
		}
		_, err = f.line.Redeem(f.ctx, "a", a.Token)
		if qe := wantCode(t, err, queue.CodeGone); qe.State != queue.StateServed {
			t.Fatalf("redeem served = %+v", qe)
		}
		st, _ := f.line.Stats(f.ctx)
		if st.Issued != 2 || st.Served != 1 || st.Called != 1 || st.Length != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestViewingEndsByItself(t *testing.T) {
	forEachStore(t, Options{ViewWindow: 10 * time.Second}, func(t *testing.T, f *fixture) {
		a, b := f.take("a"), f.take("b")
		sess, err := f.line.Redeem(f.ctx, "a", a.Token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.line.Viewing(f.ctx, sess.ImageID); err != nil {
			t.Fatalf("viewing during the session: %v", err)
		}
		f.advance(10 * time.Second)
		_, err = f.line.Viewing(f.ctx, sess.ImageID)
		wantCode(t, err, queue.CodeGone)
		if got := f.status(b); got.State != queue.StateCalled {
			t.Fatalf("b = %+v, want called after a's session ended", got)
		}
		_, err = f.line.Viewing(f.ctx, "forged-image-id")
		wantCode(t, err, queue.CodeNotFound)
	})
}

func TestNoShowExpiresAtTheDeadline(t *testing.T) {
	forEachStore(t, Options{HeadWindow: 30 * time.Second}, func(t *testing.T, f *fixture) {
		a, b := f.take("a"), f.take("b")
		f.advance(30*time.Second - time.Millisecond)
		if got := f.status(a); got.State != queue.StateCalled {
			t.Fatalf("a = %+v, want still called 1ms before its deadline", got)
		}
		f.clock.Add(time.Millisecond) // exactly at the deadline: too late
		_, err := f.line.Redeem(f.ctx, "a", a.Token)
		if qe := wantCode(t, err, queue.CodeGone); qe.State != queue.StateExpired {
			t.Fatalf("late redeem = %+v, want gone/expired", qe)
		}
		got := f.status(b)
		if got.State != queue.StateCalled || got.Position != 1 {
			t.Fatalf("b = %+v, want called at position 1", got)
		}
		st, _ := f.line.Stats(f.ctx)
		if st.Expired != 1 {
			t.Fatalf("expired = %d, want 1", st.Expired)
		}
	})
}

func TestSeveralCounters(t *testing.T) {
	forEachStore(t, Options{Counters: 3}, func(t *testing.T, f *fixture) {
		var ts []queue.Issued
		for i := range 5 {
			ts = append(ts, f.take(fmt.Sprintf("c%d", i)))
		}
		for i, is := range ts {
			want := queue.StateWaiting
			if i < 3 {
				want = queue.StateCalled
			}
			if got := f.status(is); got.State != want || got.Position != int64(i+1) {
				t.Fatalf("ticket %d = %+v, want %s at %d", i, got, want, i+1)
			}
		}
		for i := range 2 {
			if _, err := f.line.Redeem(f.ctx, "x", ts[i].Token); err != nil {
				t.Fatal(err)
			}
		}
		// Two serving, one called: every counter is taken, so the 4th waits
		// at position 2 (behind the called 3rd) and its clock is frozen.
		if got := f.status(ts[3]); got.State != queue.StateWaiting || got.Position != 2 {
			t.Fatalf("4th = %+v, want waiting at 2", got)
		}
		snap, err := f.line.Snapshot(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Serving) != 2 || len(snap.Called) != 1 || len(snap.Waiting) != 2 || snap.Length != 3 || snap.Counters != 3 {
			t.Fatalf("snapshot %+v", snap)
		}
		if err := f.line.EndViewing(f.ctx, "x", ts[0].Token); err != nil {
			t.Fatal(err)
		}
		if got := f.status(ts[3]); got.State != queue.StateCalled {
			t.Fatalf("4th = %+v, want called once a counter freed", got)
		}
	})
}

func TestLeave(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		a, b, c := f.take("a"), f.take("b"), f.take("c")
		if err := f.line.Leave(f.ctx, "b", b.Token); err != nil {
			t.Fatal(err)
		}
		if err := f.line.Leave(f.ctx, "b", b.Token); err != nil {
			t.Fatalf("leaving twice: %v", err)
		}
		if got := f.status(c); got.Position != 2 {
			t.Fatalf("c = %+v, want position 2 after b left", got)
		}
		if err := f.line.Leave(f.ctx, "a", a.Token); err != nil { // a was called
			t.Fatal(err)
		}
		if got := f.status(c); got.State != queue.StateCalled || got.Position != 1 {
			t.Fatalf("c = %+v, want called after the called a left", got)
		}
		_, err := f.line.Redeem(f.ctx, "b", b.Token)
		if qe := wantCode(t, err, queue.CodeGone); qe.State != queue.StateLeft {
			t.Fatalf("redeem left = %+v", qe)
		}
		err = f.line.EndViewing(f.ctx, "c", c.Token)
		wantCode(t, err, queue.CodeNotServing)
	})
}

func TestForgedTokenBansTheClient(t *testing.T) {
	forEachStore(t, Options{BanDuration: time.Hour}, func(t *testing.T, f *fixture) {
		other := f.take("honest")
		mine1, mine2 := f.take("cheat"), f.take("cheat")
		forged := []string{"A001", "garbage", mine1.Token[:len(mine1.Token)-1] + "x"}
		_, err := f.line.Redeem(f.ctx, "cheat", forged[0])
		if qe := wantCode(t, err, queue.CodeForbidden); qe.BanLeft != time.Hour {
			t.Fatalf("forbidden = %+v", qe)
		}
		for _, is := range []queue.Issued{mine1, mine2} {
			if got := f.status(is); got.State != queue.StateLeft {
				t.Fatalf("cheater's ticket = %+v, want left", got)
			}
		}
		for _, tok := range append(forged, mine1.Token) {
			_, err := f.line.Redeem(f.ctx, "cheat", tok)
			if qe := wantCode(t, err, queue.CodeBanned); qe.BanLeft <= 0 || qe.BanLeft > time.Hour {
				t.Fatalf("banned = %+v", qe)
			}
		}
		_, err = f.line.Take(f.ctx, "cheat")
		wantCode(t, err, queue.CodeBanned)
		if left, err := f.line.BanRemaining(f.ctx, "cheat"); err != nil || left != time.Hour {
			t.Fatalf("BanRemaining = %v, %v", left, err)
		}
		if got := f.status(other); got.State != queue.StateCalled {
			t.Fatalf("honest ticket = %+v, want untouched and called", got)
		}
		f.advance(time.Hour)
		if left, _ := f.line.BanRemaining(f.ctx, "cheat"); left != 0 {
			t.Fatalf("ban left after it ended: %v", left)
		}
		f.take("cheat")
		if st, _ := f.line.Stats(f.ctx); st.Bans != 1 || st.Left != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestEmptyTokenIsBadRequestNotABan(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		_, err := f.line.Redeem(f.ctx, "c", " ")
		wantCode(t, err, queue.CodeBadRequest)
		if left, _ := f.line.BanRemaining(f.ctx, "c"); left != 0 {
			t.Fatal("an empty token banned the client")
		}
	})
}

func TestLimits(t *testing.T) {
	forEachStore(t, Options{MaxTicketsPerClient: 2, MaxQueue: 3}, func(t *testing.T, f *fixture) {
		a := f.take("a")
		f.take("a")
		_, err := f.line.Take(f.ctx, "a")
		if qe := wantCode(t, err, queue.CodeTooManyTickets); qe.Share < time.Second || qe.Limit != 2 {
			t.Fatalf("too many = %+v", qe)
		}
		f.take("b")
		_, err = f.line.Take(f.ctx, "c")
		if qe := wantCode(t, err, queue.CodeLineFull); qe.Share < time.Second || qe.Limit < 1 {
			t.Fatalf("line full = %+v", qe)
		}
		if err := f.line.Leave(f.ctx, "a", a.Token); err != nil {
			t.Fatal(err)
		}
		f.take("a") // a place freed in both limits
	})
}

func TestConcurrentRedeemsMakeOneSession(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		a := f.take("a")
		f.take("b")
		before, _ := f.line.Snapshot(f.ctx)
		const n = 50
		sessions := make(chan queue.Session, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := f.line.Redeem(f.ctx, "a", a.Token)
				if err != nil {
					errs <- err
					return
				}
				sessions <- s
			}()
		}
		wg.Wait()
		close(sessions)
		close(errs)
		for err := range errs {
			t.Fatalf("a concurrent redeem failed: %v", err)
		}
		var first queue.Session
		for s := range sessions {
			if first.Label == "" {
				first = s
			}
			if s != first {
				t.Fatalf("two different sessions: %+v and %+v", first, s)
			}
		}
		after, _ := f.line.Snapshot(f.ctx)
		if len(after.Serving) != 1 || after.Version != before.Version+1 {
			t.Fatalf("serving %v, version %d→%d: want one session made by one change",
				after.Serving, before.Version, after.Version)
		}
	})
}

func TestReplayedTakeIssuesOneTicket(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		nonce := queue.NewNonce()
		arg := hex.EncodeToString(nonce[:])
		r1, err := f.line.op(f.ctx, "take", "a", arg)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := f.line.op(f.ctx, "take", "a", arg) // the reply was "lost"
		if err != nil {
			t.Fatal(err)
		}
		if r1.Seq != r2.Seq || r1.Code != "ok" || r2.Code != "ok" {
			t.Fatalf("replay gave %+v after %+v", r2, r1)
		}
		st, _ := f.line.Stats(f.ctx)
		if st.Issued != 1 || st.Length != 1 {
			t.Fatalf("a replayed take issued %d tickets (line %d)", st.Issued, st.Length)
		}
	})
}

func TestSnapshotAndVersions(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		s0, err := f.line.Snapshot(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s0.Length != 0 || s0.Waiting == nil || s0.Serving == nil || s0.Called == nil {
			t.Fatalf("empty snapshot %+v", s0)
		}
		for i := range 70 {
			f.take(fmt.Sprintf("c%d", i%7))
		}
		s1, _ := f.line.Snapshot(f.ctx)
		if s1.Version <= s0.Version || s1.Length != 70 || len(s1.Called) != 1 || len(s1.Waiting) != queue.SnapshotWaiting {
			t.Fatalf("snapshot: version %d→%d, length %d, called %d, waiting %d",
				s0.Version, s1.Version, s1.Length, len(s1.Called), len(s1.Waiting))
		}
		if s1.Called[0].Ticket != "A000" || s1.Waiting[0].Ticket != "A001" || s1.Waiting[63].Ticket != "A064" {
			t.Fatalf("order: called %v, waiting[0] %v, waiting[63] %v", s1.Called, s1.Waiting[0], s1.Waiting[63])
		}
		if s1.ETAPerTicketSec != 60 {
			t.Fatalf("eta per ticket %d, want the view window (60) before any sample", s1.ETAPerTicketSec)
		}
		s2, _ := f.line.Snapshot(f.ctx)
		if s2.Version != s1.Version {
			t.Fatalf("reading a snapshot changed the version: %d→%d", s1.Version, s2.Version)
		}
		select {
		case <-f.line.Changes():
		default:
			t.Fatal("no change signalled after takes")
		}
	})
}

func TestTokenFromAWipedStoreIsGone(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		old := f.take("a")
		// The store loses its data (a restart without persistence); ticket
		// 1 is issued again to someone else. The old token must not redeem it.
		keys, _ := f.rdb.Keys(f.ctx, "catqms:{kitties}:*").Result()
		for _, k := range keys {
			if k != f.line.prefix+"secret" && k != f.line.prefix+"cfg" {
				f.rdb.Del(f.ctx, k)
			}
		}
		fresh := f.take("b")
		if fresh.Ticket.Label != old.Ticket.Label {
			t.Fatalf("test setup: labels %s and %s differ", fresh.Ticket.Label, old.Ticket.Label)
		}
		_, err := f.line.Redeem(f.ctx, "a", old.Token)
		wantCode(t, err, queue.CodeGone)
		if _, err := f.line.Redeem(f.ctx, "b", fresh.Token); err != nil {
			t.Fatalf("the new holder cannot redeem: %v", err)
		}
	})
}

func TestStoreDownIsUnavailable(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	ctx := context.Background()
	l, err := New(ctx, rdb, Options{Tick: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	is, err := l.Take(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	batch := []queue.StatusRequest{{Client: "a", Token: is.Token}}
	mr.Close()
	checks := map[string]func() error{
		"take":     func() error { _, err := l.Take(ctx, "a"); return err },
		"redeem":   func() error { _, err := l.Redeem(ctx, "a", is.Token); return err },
		"end":      func() error { return l.EndViewing(ctx, "a", is.Token) },
		"leave":    func() error { return l.Leave(ctx, "a", is.Token) },
		"status":   func() error { _, err := l.Status(ctx, "a", is.Token); return err },
		"statuses": func() error { _, err := l.Statuses(ctx, batch); return err },
		"snapshot": func() error { _, err := l.Snapshot(ctx); return err },
		"stats":    func() error { _, err := l.Stats(ctx); return err },
		"ban":      func() error { _, err := l.BanRemaining(ctx, "a"); return err },
		"ping":     func() error { return l.Ping(ctx) },
		"forged":   func() error { _, err := l.Redeem(ctx, "a", "forged"); return err },
	}
	for name, call := range checks {
		t.Run(name, func(t *testing.T) {
			wantCode(t, call(), queue.CodeUnavailable)
		})
	}
}

func TestReplicasShareTheSecret(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			rdb := s.new(t)
			ctx := context.Background()
			l1, err := New(ctx, rdb, Options{Tick: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer l1.Close()
			l2, err := New(ctx, rdb, Options{Tick: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			is, err := l1.Take(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l2.Redeem(ctx, "a", is.Token); err != nil {
				t.Fatalf("a token from replica 1 does not redeem on replica 2: %v", err)
			}
		})
	}
}

// TestDeadlinesPassInRealTime runs the background scheduler on a real clock:
// a called ticket expires and the next is called with nobody touching the
// API, on the embedded store (no FastForward) and on redis-server.
func TestDeadlinesPassInRealTime(t *testing.T) {
	clients := map[string]func(t *testing.T) redis.UniversalClient{
		"embedded": func(t *testing.T) redis.UniversalClient {
			rdb, stop, err := Embedded()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rdb.Close(); stop(); stop() })
			return rdb
		},
		"redis-server": realStore,
	}
	for name, newClient := range clients {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rdb := newClient(t)
			taker, err := New(ctx, rdb, Options{HeadWindow: time.Second, Tick: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer taker.Close()
			a, _ := taker.Take(ctx, "a")
			b, _ := taker.Take(ctx, "b")
			// Only this replica runs a scheduler: it learns the deadline from
			// the published change, like a replica that did not issue it.
			watcher, err := New(ctx, rdb, Options{HeadWindow: time.Second, Tick: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer watcher.Close()
			taker.Take(ctx, "c") // publishes the current deadline
			deadline := time.Now().Add(5 * time.Second)
			for {
				snap, err := rdb.ZRange(ctx, taker.prefix+"called", 0, -1).Result()
				if err == nil && len(snap) == 1 && snap[0] == fmt.Sprint(b.Ticket.Seq) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("b not called 5s after a's 1s window: called=%v", snap)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := taker.Redeem(ctx, "a", a.Token); queue.ErrorCode(err) != queue.CodeGone {
				t.Fatalf("a after expiry: %v", err)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	rdb := miniStore(t)
	for name, o := range map[string]Options{
		"name":     {Name: "Bad Name!"},
		"counters": {Counters: -1},
		"window":   {HeadWindow: -time.Second},
		"secret":   {Secret: []byte("short")},
	} {
		t.Run(name, func(t *testing.T) {
			o.Tick = -1
			if l, err := New(context.Background(), rdb, o); err == nil {
				l.Close()
				t.Fatal("accepted")
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	rdb := miniStore(t)
	l, err := New(context.Background(), rdb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(l.Close(), l.Close()); err != nil {
		t.Fatal(err)
	}
	// A signal may still be buffered; after it, nothing more comes.
	select {
	case <-l.Changes():
	default:
	}
	l.signal()
	select {
	case <-l.Changes():
		t.Fatal("a signal after Close")
	default:
	}
}

// TestStoreWipeKeepsVersionsGrowingAndSettings: a store that loses every
// key (a restart without persistence) goes on with versions above the old
// ones and with the configured windows.
func TestStoreWipeKeepsVersionsGrowingAndSettings(t *testing.T) {
	forEachStore(t, Options{HeadWindow: 7 * time.Second, Counters: 2}, func(t *testing.T, f *fixture) {
		for range 5 {
			f.take("a")
		}
		before, _ := f.line.Snapshot(f.ctx)
		if err := f.rdb.FlushAll(f.ctx).Err(); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(time.Millisecond)
		empty, err := f.line.Snapshot(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if empty.Version <= before.Version || empty.Length != 0 || empty.Counters != 2 {
			t.Fatalf("after the wipe: version %d (before %d), length %d, counters %d",
				empty.Version, before.Version, empty.Length, empty.Counters)
		}
		is := f.take("b")
		if is.Ticket.State != queue.StateCalled || !is.Ticket.Deadline.Equal(f.clock.Now().Add(7*time.Second)) {
			t.Fatalf("ticket after the wipe: %+v, want called with the configured 7s window", is.Ticket)
		}
		after, _ := f.line.Snapshot(f.ctx)
		if after.Version <= empty.Version {
			t.Fatalf("version %d after a change, was %d", after.Version, empty.Version)
		}
	})
}

// TestReplicasHearEachOtherAtOnce: a change made through one Line reaches
// another Line on the same store through pub/sub, well before its tick or
// any resync would.
func TestReplicasHearEachOtherAtOnce(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := s.new(t)
			listener, err := New(ctx, rdb, Options{Tick: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer listener.Close()
			taker, err := New(ctx, rdb, Options{Tick: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer taker.Close()
			for range 3 {
				is, err := taker.Take(ctx, "a")
				if err != nil {
					t.Fatal(err)
				}
				want, _ := taker.Snapshot(ctx)
				deadline := time.Now().Add(time.Second)
				for listener.version.Load() < want.Version {
					if time.Now().After(deadline) {
						t.Fatalf("listener at version %d, %s taken at %d: no notice within 1s",
							listener.version.Load(), is.Ticket.Label, want.Version)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}

// TestVersionsSurviveAFailoverToALaggingReplica: a new master that lags
// holds a lower version than the replicas saw; the next operation lifts it
// past what the caller saw and announces it.
func TestVersionsSurviveAFailoverToALaggingReplica(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		for range 5 {
			f.take("a")
		}
		seen, _ := f.line.Snapshot(f.ctx)
		// The promoted replica missed the last three changes.
		if err := f.rdb.Set(f.ctx, f.line.verKey, seen.Version-3, 0).Err(); err != nil {
			t.Fatal(err)
		}
		after, err := f.line.Snapshot(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.Version <= seen.Version {
			t.Fatalf("version %d after the failover, %d seen before: it went back", after.Version, seen.Version)
		}
		is := f.take("b")
		next, _ := f.line.Snapshot(f.ctx)
		if next.Version <= after.Version {
			t.Fatalf("version %d after taking %s, was %d", next.Version, is.Ticket.Label, after.Version)
		}
	})
}

// TestReadsCatchUpOnlyWhenSomethingIsDue: status, statuses and snapshot
// write nothing while nothing is due, and still enforce every deadline and
// fill every free counter as a write would, with no scheduler running.
func TestReadsCatchUpOnlyWhenSomethingIsDue(t *testing.T) {
	forEachStore(t, Options{HeadWindow: 30 * time.Second}, func(t *testing.T, f *fixture) {
		a, b, c := f.take("a"), f.take("b"), f.take("c")
		version := func() int64 {
			t.Helper()
			s, err := f.line.Snapshot(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return s.Version
		}
		v0 := version()
		f.clock.Add(30*time.Second - time.Millisecond)
		for range 3 {
			if got := f.status(b); got.State != queue.StateWaiting || got.Position != 2 {
				t.Fatalf("b = %+v, want waiting at 2", got)
			}
			if _, err := f.line.Statuses(f.ctx, []queue.StatusRequest{{Client: "w", Token: c.Token}}); err != nil {
				t.Fatal(err)
			}
		}
		if v := version(); v != v0 {
			t.Fatalf("version %d → %d after reads with nothing due", v0, v)
		}

		// a's deadline passes; only a read comes.
		f.clock.Add(time.Millisecond)
		if got := f.status(c); got.State != queue.StateWaiting || got.Position != 2 {
			t.Fatalf("c = %+v after a's deadline, want waiting at 2", got)
		}
		if got := f.status(a); got.State != queue.StateExpired {
			t.Fatalf("a = %+v, want expired by the read after its deadline", got)
		}
		if got := f.status(b); got.State != queue.StateCalled || got.Position != 1 {
			t.Fatalf("b = %+v, want called at 1", got)
		}
		v1 := version()
		if v1 <= v0 {
			t.Fatalf("version %d → %d: the read that expired a did not announce it", v0, v1)
		}

		// A counter freed without anyone calling the next ticket (the
		// setting raised in the store by hand): the next read calls c.
		if err := f.rdb.HSet(f.ctx, keyOf(f.line.prefix, "cfg"), "counters", 2).Err(); err != nil {
			t.Fatal(err)
		}
		snap, err := f.line.Snapshot(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Called) != 2 || snap.Version <= v1 {
			t.Fatalf("snapshot after a counter freed: called %v at version %d (was %d), want b and c called at a newer version", snap.Called, snap.Version, v1)
		}
	})
}

// TestNowIsTheLinesClock: Now tells the line's clock (the fake one here,
// a week behind this process's), as the store's answers show it, not the
// process's: the public record's age is measured by it.
func TestNowIsTheLinesClock(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		f.clock.Add(-7 * 24 * time.Hour)
		if _, err := f.line.Take(f.ctx, "c"); err != nil {
			t.Fatal(err)
		}
		if d := f.line.Now().Sub(f.clock.Now()); d < 0 || d > 5*time.Second {
			t.Fatalf("Now is %v, the line's clock %v", f.line.Now(), f.clock.Now())
		}
	})
}
