package redisline

import (
	"strconv"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
)

// The cfg hash keeps facts for the reads (lib.lua keep_facts): the next
// deadline, the called and serving counts and the held time's average. A
// read trusts them to decide whether anything is due, so they must equal
// the line's own sets after every script that changes the line.

// wantFacts fails unless the facts in cfg equal what the line's sets say.
func wantFacts(t *testing.T, f *fixture, step string) {
	t.Helper()
	p := f.line.prefix
	got, err := f.rdb.HMGet(f.ctx, keyOf(p, "cfg"), "next", "called", "serving", "held_ewma").Result()
	if err != nil {
		t.Fatal(err)
	}
	first := func(key string) int64 {
		z, err := f.rdb.ZRangeWithScores(f.ctx, key, 0, 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(z) == 0 {
			return 0
		}
		return int64(z[0].Score)
	}
	next := first(keyOf(p, "called"))
	if s := first(keyOf(p, "serving")); s > 0 && (next == 0 || s < next) {
		next = s
	}
	called := f.rdb.ZCard(f.ctx, keyOf(p, "called")).Val()
	serving := f.rdb.ZCard(f.ctx, keyOf(p, "serving")).Val()
	ewma := f.rdb.HGet(f.ctx, keyOf(p, "stats"), "held_ewma").Val()
	want := []string{strconv.FormatInt(next, 10), strconv.FormatInt(called, 10), strconv.FormatInt(serving, 10), ewma}
	for i, name := range []string{"next", "called", "serving", "held_ewma"} {
		s, _ := got[i].(string)
		if s != want[i] {
			t.Fatalf("after %s: cfg %s = %v, the line says %q", step, name, got[i], want[i])
		}
	}
}

func TestFactsForReadsHoldAfterEveryChange(t *testing.T) {
	opts := Options{Counters: 2, HeadWindow: 2 * time.Second, ViewWindow: 5 * time.Second}
	forEachStore(t, opts, func(t *testing.T, f *fixture) {
		a, b, c, d := f.take("a"), f.take("b"), f.take("c"), f.take("d")
		wantFacts(t, f, "four takes")
		if _, err := f.line.Redeem(f.ctx, "a", a.Token); err != nil {
			t.Fatal(err)
		}
		wantFacts(t, f, "a redeems")
		f.advance(3 * time.Second) // b's call expires; c is called
		wantFacts(t, f, "b expires")
		if got := f.status(b); got.State != queue.StateExpired {
			t.Fatalf("b = %+v, want expired", got)
		}
		if err := f.line.EndViewing(f.ctx, "a", a.Token); err != nil {
			t.Fatal(err)
		}
		wantFacts(t, f, "a ends") // a counter held: the average is known now
		if err := f.line.Leave(f.ctx, "c", c.Token); err != nil {
			t.Fatal(err)
		}
		wantFacts(t, f, "c leaves")
		f.clock.Add(10 * time.Second) // d's call expires, seen first by a read
		if got := f.status(d); got.State != queue.StateExpired {
			t.Fatalf("d = %+v, want expired by the read after its deadline", got)
		}
		wantFacts(t, f, "a read expires d")
	})
}

// A line kept by a release without the facts (or whose facts were lost)
// is read from its sets, and the next change writes the facts.
func TestReadsWithoutFactsReadTheLine(t *testing.T) {
	opts := Options{Counters: 1, HeadWindow: 2 * time.Second}
	forEachStore(t, opts, func(t *testing.T, f *fixture) {
		a, b := f.take("a"), f.take("b")
		if err := f.rdb.HDel(f.ctx, keyOf(f.line.prefix, "cfg"), "next", "called", "serving", "held_ewma").Err(); err != nil {
			t.Fatal(err)
		}
		if got := f.status(b); got.State != queue.StateWaiting || got.Position != 2 {
			t.Fatalf("b = %+v without facts, want waiting at 2", got)
		}
		f.clock.Add(3 * time.Second) // a's call expires: a read must see it
		if got := f.status(b); got.State != queue.StateCalled || got.Position != 1 {
			t.Fatalf("b = %+v after a's deadline, want called at 1", got)
		}
		if got := f.status(a); got.State != queue.StateExpired {
			t.Fatalf("a = %+v, want expired", got)
		}
		wantFacts(t, f, "the read that expired a")
	})
}
