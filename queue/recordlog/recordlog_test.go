package recordlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/internal/testenv"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/record"
	"github.com/catqms/catqms/queue/recordlog"
	"github.com/catqms/catqms/queue/redisline"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var stores = []struct {
	name string
	new  func(t *testing.T) redis.UniversalClient
}{
	{"miniredis", func(t *testing.T) redis.UniversalClient {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}},
	{"redis-server", func(t *testing.T) redis.UniversalClient {
		rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisServer(t).Addr})
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}},
}

// fill makes n versions over n seconds of the line's clock: takes, calls,
// redeems, a leave, no-shows.
func fill(t *testing.T, ctx context.Context, l *redisline.Line, c *clock, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		c.Add(time.Second)
		is, err := l.Take(ctx, fmt.Sprintf("client-%d", i%50))
		if err != nil {
			t.Fatal(err)
		}
		switch i % 7 {
		case 1:
			if err := l.Leave(ctx, fmt.Sprintf("client-%d", i%50), is.Token); err != nil {
				t.Fatal(err)
			}
		case 3:
			c.Add(2 * time.Minute) // calls expire, sessions end
			if err := l.Advance(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// all reads the whole record oldest first, in pages of size.
func all(t *testing.T, ctx context.Context, rl *recordlog.Log, size int) []record.Entry {
	t.Helper()
	var out []record.Entry
	after := int64(0)
	for {
		p, err := rl.Page(ctx, recordlog.Query{After: after, Limit: size})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p...)
		if len(p) < size {
			return out
		}
		after = p[len(p)-1].Version
	}
}

func byVersion(es []record.Entry) map[int64]string {
	m := make(map[int64]string, len(es))
	for _, e := range es {
		m[e.Version] = e.Hash
	}
	return m
}

// TestRecordOnTheRealLog: the record read from a real change log is one
// chain the verifier accepts; pages newest first (through the marks) and a
// fresh reader agree on every hash; trimming by age moves the anchor so
// the kept entries keep their hashes, also with two trimmers at once; a
// wiped store starts a new chain with a visible reset.
func TestRecordOnTheRealLog(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := s.new(t)
			c := &clock{t: time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)}
			l, err := redisline.New(ctx, rdb, redisline.Options{Name: "r", Clock: c, Tick: -1, Counters: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			start := c.Now()
			fill(t, ctx, l, c, 700)

			rl := recordlog.New(l)
			full := all(t, ctx, rl, 1000)
			if len(full) < 700 {
				t.Fatalf("record has %d entries, want ≥ 700", len(full))
			}
			// A new store's first step finds no line: a reset, the chain's start.
			if v := record.Verify(full); !v.OK || len(v.Resets) != 1 || v.Resets[0] != full[0].Version {
				t.Fatalf("verdict on the real log: %+v", v)
			}
			if full[0].PrevHash != record.Genesis {
				t.Fatalf("first entry follows %s, want genesis", full[0].PrevHash)
			}
			want := byVersion(full)

			// Newest first in small pages, from a reader that has marks now
			// and from a fresh one: the same hashes.
			for _, r := range []*recordlog.Log{rl, recordlog.New(l)} {
				before, n := int64(0), 0
				for {
					p, err := r.Page(ctx, recordlog.Query{NewestFirst: true, Before: before, Limit: 37})
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range p {
						if want[e.Version] != e.Hash {
							t.Fatalf("version %d hash %s, want %s", e.Version, e.Hash, want[e.Version])
						}
						n++
					}
					if len(p) < 37 {
						break
					}
					before = p[len(p)-1].Version
				}
				if n != len(full) {
					t.Fatalf("newest first read %d entries, want %d", n, len(full))
				}
			}

			// Trim the first 300 seconds' worth, twice at once.
			cutoff := start.Add(300 * time.Second)
			var wg sync.WaitGroup
			dropped := make([]int, 2)
			errs := make([]error, 2)
			for i := range 2 {
				wg.Go(func() { dropped[i], errs[i] = l.TrimRecord(ctx, cutoff) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatal(errs)
			}
			wantDropped := 0
			for _, e := range full {
				if e.Time.Time().Before(cutoff) {
					wantDropped++
				}
			}
			if dropped[0]+dropped[1] != wantDropped || wantDropped == 0 {
				t.Fatalf("trimmers dropped %v, want %d in all", dropped, wantDropped)
			}
			anchor, err := l.RecordAnchor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			last := full[wantDropped-1]
			if anchor.Version != last.Version || anchor.Hash != last.Hash {
				t.Fatalf("anchor %+v, want the last dropped entry %d %s", anchor, last.Version, last.Hash)
			}
			for _, r := range []*recordlog.Log{rl, recordlog.New(l)} {
				kept := all(t, ctx, r, 100)
				if len(kept) != len(full)-wantDropped || kept[0].PrevHash != anchor.Hash {
					t.Fatalf("kept %d entries after %s, want %d after the anchor", len(kept), kept[0].PrevHash, len(full)-wantDropped)
				}
				for _, e := range kept {
					if want[e.Version] != e.Hash {
						t.Fatalf("after the trim version %d hash %s, want %s", e.Version, e.Hash, want[e.Version])
					}
				}
				if v := record.Verify(kept); !v.OK {
					t.Fatalf("verdict after the trim: %+v", v)
				}
			}
			// Nothing older than the cutoff left: a second trim drops none.
			if n, err := l.TrimRecord(ctx, cutoff); n != 0 || err != nil {
				t.Fatalf("second trim dropped %d, %v", n, err)
			}

			// A count cap that cuts before the age: no anchor to follow, so
			// the record is unavailable (503), not guessed.
			if err := rdb.XTrimMaxLen(ctx, "catqms:{r}:log", 10).Err(); err != nil {
				t.Fatal(err)
			}
			_, err = recordlog.New(l).Page(ctx, recordlog.Query{NewestFirst: true, Limit: 5})
			if qe := queue.AsError(err); qe == nil || qe.Code != queue.CodeUnavailable {
				t.Fatalf("an unanchored log answered %v, want unavailable", err)
			}
			if _, err := l.TrimRecord(ctx, c.Now()); !errors.Is(err, record.ErrUnanchored) {
				t.Fatalf("trimming an unanchored log: %v", err)
			}

			// The store loses everything: the next entry is a reset, a new
			// chain the verifier accepts and reports.
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			fill(t, ctx, l, c, 20)
			after := all(t, ctx, recordlog.New(l), 100)
			if len(after) == 0 || !record.IsReset(after[0]) || after[0].PrevHash != record.Genesis {
				t.Fatalf("after a wipe the record starts %+v, want a reset", after[:min(len(after), 1)])
			}
			if v := record.Verify(after); !v.OK || len(v.Resets) != 1 {
				t.Fatalf("verdict after a wipe: %+v", v)
			}
		})
	}
}
