package redisline

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
)

// The reads trust facts the changes keep for them (lib.lua): K.facts,
// stamped with the version it describes (the next deadline, the called and
// serving counts, the held time's average, how many left from behind the
// head, the line's length and the latest ban's end), and the older copy in
// cfg (keep_facts), which the reads use when K.facts is not current. A
// read trusts them to decide whether anything is due, where a ticket
// stands and whether its holder may be banned, so they must equal the
// line's own sets after every script that changes the line.

// lineFacts are K.facts, decoded as lib.lua's read_facts does.
type lineFacts struct {
	version, next, called, serving, ewma, gone, length, banUntil int64
}

// readFacts reads K.facts: eight numbers, as text on the embedded store and
// as eight little-endian doubles (Lua's struct) on Redis.
func readFacts(t *testing.T, f *fixture) (lineFacts, bool) {
	t.Helper()
	raw, err := f.rdb.Get(f.ctx, keyOf(f.line.prefix, "facts")).Result()
	if err != nil {
		return lineFacts{}, false
	}
	var v [8]int64
	if words := strings.Fields(raw); len(words) == 8 {
		for i, w := range words {
			n, err := strconv.ParseInt(w, 10, 64)
			if err != nil {
				t.Fatalf("facts %q: %v", raw, err)
			}
			v[i] = n
		}
	} else if len(raw) == 64 {
		for i := range v {
			v[i] = int64(math.Float64frombits(binary.LittleEndian.Uint64([]byte(raw[8*i:]))))
		}
	} else {
		t.Fatalf("facts %q: neither eight numbers nor eight doubles", raw)
	}
	return lineFacts{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}, true
}

// wantFacts fails unless the facts in cfg and in K.facts equal what the
// line's sets say.
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

	facts, ok := readFacts(t, f)
	if !ok {
		t.Fatalf("after %s: no K.facts", step)
	}
	ver, err := f.rdb.Get(f.ctx, f.line.verKey).Int64()
	if err != nil {
		t.Fatal(err)
	}
	ew := int64(-1)
	if ewma != "" {
		ew, _ = strconv.ParseInt(ewma, 10, 64)
	}
	var lastBan int64
	if z := f.rdb.ZRangeWithScores(f.ctx, keyOf(p, "bans"), -1, -1).Val(); len(z) > 0 {
		lastBan = int64(z[0].Score)
	}
	line := lineFacts{
		version: ver, next: next, called: called, serving: serving, ewma: ew,
		gone:   f.rdb.ZCard(f.ctx, keyOf(p, "gone")).Val(),
		length: f.rdb.ZCard(f.ctx, keyOf(p, "line")).Val(),
	}
	banUntil := facts.banUntil
	facts.banUntil = 0
	if facts != line {
		t.Fatalf("after %s: K.facts %+v, the line says %+v", step, facts, line)
	}
	if banUntil < lastBan {
		t.Fatalf("after %s: K.facts' latest ban ends at %d, before a ban in force (%d)", step, banUntil, lastBan)
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
		if _, err := f.line.Status(f.ctx, "cheat", "forged.token"); err == nil {
			t.Fatal("a forged token was taken")
		}
		wantFacts(t, f, "a client is banned")
		_ = f.line.Leave(f.ctx, "b", b.Token) // b's call expired: whatever it answers, the facts hold
		wantFacts(t, f, "b tries to leave")
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

// Facts stamped with another version than the line's are not used:
// something else changed the line since (a release before K.facts, which
// keeps only the facts in cfg; a change made in the store by hand). Here
// the stale facts say nothing is due and nobody is banned; the line says
// otherwise, and the reads must follow the line.
func TestFactsOfAnotherVersionAreNotUsed(t *testing.T) {
	opts := Options{Counters: 1, HeadWindow: 2 * time.Second, BanDuration: time.Hour}
	forEachStore(t, opts, func(t *testing.T, f *fixture) {
		a, b := f.take("a"), f.take("b")
		key := keyOf(f.line.prefix, "facts")
		stale := f.rdb.Get(f.ctx, key).Val()
		if stale == "" {
			t.Fatal("no K.facts after two takes")
		}
		// A forged token bans "b": the facts now know a ban. Put back the
		// facts from before it (stamped with the version before the ban)
		// and bump the version by hand, as a change from elsewhere would:
		// only the stamp tells the reads not to trust them.
		if _, err := f.line.Status(f.ctx, "b", "forged.token"); err == nil {
			t.Fatal("a forged token was taken")
		}
		if _, err := f.line.Status(f.ctx, "b", b.Token); err == nil {
			t.Fatal("a banned client read its ticket")
		}
		if err := f.rdb.Set(f.ctx, key, stale, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := f.rdb.Incr(f.ctx, f.line.verKey).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := f.line.Status(f.ctx, "b", a.Token)
		wantCode(t, err, queue.CodeBanned)
		f.clock.Add(3 * time.Second) // a's call expires; only a read comes
		if got := f.status(a); got.State != queue.StateExpired {
			t.Fatalf("a = %+v after its deadline with stale facts, want expired", got)
		}
		wantFacts(t, f, "the read that found stale facts")
	})
}
