package redisline

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/catqms/catqms/internal/testenv"
	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
)

// scriptCounter counts the operations a client runs (scripts or functions).
type scriptCounter struct{ n atomic.Int64 }

func (c *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := strings.ToLower(cmd.Name()); name == "evalsha" || name == "eval" || name == "fcall" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestStatusesAnswerAsStatusDoes puts tickets in every state, and refusals
// of every kind, in one batch and checks each reply against Status.
func TestStatusesAnswerAsStatusDoes(t *testing.T) {
	forEachStore(t, Options{Counters: 2, HeadWindow: 30 * time.Second, BanDuration: time.Hour}, func(t *testing.T, f *fixture) {
		// Two counters: a and b are called at once, the rest wait.
		served, servedLater := f.take("a"), f.take("b")
		serving, expired := f.take("c"), f.take("d")
		waiting1, waiting2 := f.take("e"), f.take("e")
		left := f.take("f")
		bannedOwn := f.take("g")
		for _, is := range []queue.Issued{served, servedLater} {
			if _, err := f.line.Redeem(f.ctx, "x", is.Token); err != nil {
				t.Fatalf("redeem %s: %v", is.Ticket.Label, err)
			}
		}
		if err := f.line.EndViewing(f.ctx, "a", served.Token); err != nil {
			t.Fatal(err) // c is called
		}
		if err := f.line.Leave(f.ctx, "f", left.Token); err != nil {
			t.Fatal(err)
		}
		// A forged token bans g, and g's ticket leaves the line.
		if _, err := f.line.Redeem(f.ctx, "g", "forged"); queue.ErrorCode(err) != queue.CodeForbidden {
			t.Fatalf("forging: %v", err)
		}
		f.advance(20 * time.Second)
		if err := f.line.EndViewing(f.ctx, "b", servedLater.Token); err != nil {
			t.Fatal(err) // d is called, its deadline 30s from now
		}
		if _, err := f.line.Redeem(f.ctx, "c", serving.Token); err != nil {
			t.Fatal(err)
		}
		f.advance(31 * time.Second) // d's call lapses; the first e is called
		never := f.line.Signer().Token(999, queue.NewNonce())

		reqs := []queue.StatusRequest{
			{Client: "watcher", Token: served.Token},
			{Client: "watcher", Token: serving.Token},
			{Client: "watcher", Token: expired.Token},
			{Client: "e", Token: waiting1.Token},
			{Client: "e", Token: waiting2.Token},
			{Client: "watcher", Token: left.Token},
			{Client: "g", Token: bannedOwn.Token},      // banned client
			{Client: "watcher", Token: never},          // valid, never issued
			{Client: "watcher", Token: " "},            // empty
			{Client: "watcher", Token: waiting2.Token}, // same ticket twice
		}
		got, err := f.line.Statuses(f.ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(reqs) {
			t.Fatalf("%d replies for %d requests", len(got), len(reqs))
		}
		for i, rq := range reqs {
			tk, err := f.line.Status(f.ctx, rq.Client, rq.Token)
			want := queue.StatusReply{Ticket: tk, Err: err}
			if !reflect.DeepEqual(got[i], want) {
				t.Errorf("request %d (%s): batch %+v (%v), Status %+v (%v)", i, rq.Client, got[i].Ticket, got[i].Err, tk, err)
			}
		}
		// The cases above are the ones meant.
		states := []queue.State{queue.StateServed, queue.StateServing, queue.StateExpired,
			queue.StateCalled, queue.StateWaiting, queue.StateLeft}
		for i, s := range states {
			if got[i].Err != nil || got[i].Ticket.State != s {
				t.Errorf("request %d = %+v (%v), want %s", i, got[i].Ticket, got[i].Err, s)
			}
		}
		if g := got[4].Ticket; g.Position != 2 || g.ETA <= 0 {
			t.Errorf("waiting ticket = %+v, want position 2 with an ETA", g)
		}
		if g := got[3].Ticket; g.Position != 1 || g.Deadline.IsZero() {
			t.Errorf("called ticket = %+v, want position 1 with a deadline", g)
		}
		if g := got[1].Ticket; g.Until.IsZero() || g.ImageID == "" {
			t.Errorf("serving ticket = %+v, want until and image", g)
		}
		wantCode(t, got[6].Err, queue.CodeBanned)
		if qe := wantCode(t, got[7].Err, queue.CodeGone); qe.State != queue.StateExpired {
			t.Errorf("never-issued ticket = %+v", qe)
		}
		wantCode(t, got[8].Err, queue.CodeBadRequest)
	})
}

// TestStatusesForgedTokenBansFirst: a forged token in a batch bans its
// client, as Status would, and that client's other tickets in the same
// batch answer banned; nobody else is touched.
func TestStatusesForgedTokenBansFirst(t *testing.T) {
	forEachStore(t, Options{BanDuration: time.Hour}, func(t *testing.T, f *fixture) {
		honest, mine := f.take("honest"), f.take("cheat")
		got, err := f.line.Statuses(f.ctx, []queue.StatusRequest{
			{Client: "honest", Token: honest.Token},
			{Client: "cheat", Token: mine.Token},
			{Client: "cheat", Token: "A001"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Err != nil || got[0].Ticket.State != queue.StateCalled {
			t.Fatalf("honest = %+v (%v)", got[0].Ticket, got[0].Err)
		}
		if qe := wantCode(t, got[1].Err, queue.CodeBanned); qe.BanLeft != time.Hour {
			t.Fatalf("cheat's own ticket = %+v", qe)
		}
		if qe := wantCode(t, got[2].Err, queue.CodeForbidden); qe.BanLeft != time.Hour {
			t.Fatalf("forged = %+v", qe)
		}
		if got := f.status(mine); got.State != queue.StateLeft {
			t.Fatalf("the cheat's ticket = %+v, want left", got)
		}
	})
}

// TestStatusesChunks reads more tickets than one script takes: the answers
// stay in order and each chunk is one script.
func TestStatusesChunks(t *testing.T) {
	forEachStore(t, Options{MaxTicketsPerClient: 5000}, func(t *testing.T, f *fixture) {
		n := 2*queue.StatusBatch + 3
		reqs := make([]queue.StatusRequest, n)
		for i := range reqs {
			reqs[i] = queue.StatusRequest{Client: "c", Token: f.take("c").Token}
		}
		var count scriptCounter
		f.rdb.AddHook(&count)
		got, err := f.line.Statuses(f.ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if c := count.n.Load(); c != 3 {
			t.Fatalf("%d scripts for %d tickets, want 3", c, n)
		}
		for i, r := range got {
			if r.Err != nil || r.Ticket.Position != int64(i+1) || r.Ticket.Label != queue.Label(uint64(i+1)) {
				t.Fatalf("reply %d = %+v (%v)", i, r.Ticket, r.Err)
			}
		}
		count.n.Store(0)
		if got, err := f.line.Statuses(f.ctx, nil); err != nil || len(got) != 0 || count.n.Load() != 0 {
			t.Fatalf("empty batch: %v, %v, %d scripts", got, err, count.n.Load())
		}
	})
}

// TestStatusesAdvanceTheLine: the batch brings the line up to now, as every
// operation does, and announces the change.
func TestStatusesAdvanceTheLine(t *testing.T) {
	forEachStore(t, Options{HeadWindow: 10 * time.Second}, func(t *testing.T, f *fixture) {
		first, second := f.take("a"), f.take("b")
		v0 := f.line.version.Load()
		select {
		case <-f.line.Changes():
		default:
		}
		f.clock.Add(11 * time.Second) // no Advance: the batch must do it
		got, err := f.line.Statuses(f.ctx, []queue.StatusRequest{
			{Client: "a", Token: first.Token}, {Client: "b", Token: second.Token},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Ticket.State != queue.StateExpired || got[1].Ticket.State != queue.StateCalled || got[1].Ticket.Position != 1 {
			t.Fatalf("after the deadline: %+v, %+v", got[0].Ticket, got[1].Ticket)
		}
		if f.line.version.Load() <= v0 {
			t.Fatal("the version did not grow")
		}
		select {
		case <-f.line.Changes():
		default:
			t.Fatal("no change signal")
		}
	})
}

// benchLine is a line on rdb holding n waiting tickets, and their requests.
func benchLine(b *testing.B, rdb redis.UniversalClient, n int) (*Line, []queue.StatusRequest) {
	ctx := context.Background()
	l, err := New(ctx, rdb, Options{Tick: -1, MaxTicketsPerClient: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	reqs := make([]queue.StatusRequest, n)
	for i := range reqs {
		client := fmt.Sprintf("c%d", i%100)
		is, err := l.Take(ctx, client)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = queue.StatusRequest{Client: client, Token: is.Token}
	}
	return l, reqs
}

// BenchmarkWatchers reads 1000 watched tickets with one Status call each,
// and with one Statuses call (two scripts of up to StatusBatch), on the
// embedded store and on a real redis-server.
func BenchmarkWatchers(b *testing.B) {
	const n = 1000
	stores := []struct {
		name string
		new  func(b *testing.B) redis.UniversalClient
	}{
		{"miniredis", func(b *testing.B) redis.UniversalClient {
			return redis.NewClient(&redis.Options{Addr: miniredis.RunT(b).Addr()})
		}},
		{"redis-server", func(b *testing.B) redis.UniversalClient {
			return redis.NewClient(&redis.Options{Addr: testenv.RedisServer(b).Addr})
		}},
	}
	for _, st := range stores {
		b.Run(st.name+"/Status-each", func(b *testing.B) {
			rdb := st.new(b)
			defer rdb.Close()
			l, reqs := benchLine(b, rdb, n)
			ctx := context.Background()
			for b.Loop() {
				for _, rq := range reqs {
					if _, err := l.Status(ctx, rq.Client, rq.Token); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(st.name+"/Statuses", func(b *testing.B) {
			rdb := st.new(b)
			defer rdb.Close()
			l, reqs := benchLine(b, rdb, n)
			ctx := context.Background()
			for b.Loop() {
				if _, err := l.Statuses(ctx, reqs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
