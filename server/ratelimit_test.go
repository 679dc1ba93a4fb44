package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

func TestRateLimiterBucket(t *testing.T) {
	l := newRateLimiter(2, 3, 100) // two a second, three at once
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("take %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("past the burst: ok=%v wait=%v, want refused for 500ms", ok, wait)
	}
	// A refused request costs nothing: the wait does not grow.
	if ok, again := l.allow("a", now); ok || again != wait {
		t.Fatalf("refused again: ok=%v wait=%v, want %v", ok, again, wait)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("another client was refused")
	}
	if ok, _ := l.allow("a", now.Add(499*time.Millisecond)); ok {
		t.Fatal("allowed before a token came back")
	}
	if ok, _ := l.allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused once a token came back")
	}
}

func TestRateLimiterOff(t *testing.T) {
	l := newRateLimiter(rate.Inf, 1, 1)
	now := time.Unix(1_800_000_000, 0)
	for i := range 1000 {
		if ok, _ := l.allow(fmt.Sprint(i%3), now); !ok {
			t.Fatalf("request %d refused with the limit off", i)
		}
	}
	if l.size() != 0 {
		t.Fatalf("an unlimited limiter keeps %d buckets", l.size())
	}
}

// TestRateLimiterBounded checks that the limiter's memory stays bounded:
// buckets that are full again are dropped, and never more than maxKeys are
// kept, whatever number of addresses a flood comes from.
func TestRateLimiterBounded(t *testing.T) {
	l := newRateLimiter(1, 5, 100) // full again 5s after the last use
	now := time.Unix(1_800_000_000, 0)
	for i := range 10_000 {
		l.allow(fmt.Sprintf("198.18.%d.%d", i/256, i%256), now)
		if n := l.size(); n > 100 {
			t.Fatalf("after %d clients the limiter keeps %d buckets, cap 100", i+1, n)
		}
	}

	// The most recent client keeps its (empty) bucket through the flood.
	for range 5 {
		l.allow("203.0.113.7", now)
	}
	for i := range 50 {
		l.allow(fmt.Sprintf("192.0.2.%d", i), now)
	}
	if ok, _ := l.allow("203.0.113.7", now); ok {
		t.Fatal("a recently used bucket was dropped while under the cap")
	}

	// Idle buckets go once they would be full again.
	if ok, _ := l.allow("late", now.Add(4*time.Second)); !ok {
		t.Fatal("refused a new client")
	}
	if n := l.size(); n != 100 {
		t.Fatalf("4s later: %d buckets, want 100 (not yet full again)", n)
	}
	l.allow("later", now.Add(5*time.Second))
	if n := l.size(); n != 2 {
		t.Fatalf("5s later: %d buckets, want the 2 used since", n)
	}
}

func TestTakeRateLimited(t *testing.T) {
	// One ticket every 2.5s, two at once: the third waits 2.5s → Retry-After 3.
	e := newTestServer(t, testOptions{
		cfg:  Config{TakeRate: 0.4, TakeBurst: 2},
		line: redisline.Options{MaxTicketsPerClient: 100},
	})
	e.srv.now = e.clock.Now

	e.take()
	e.take()
	w := e.do(http.MethodGet, "/api/v1/token", nil)
	wantError(t, w, http.StatusTooManyRequests, queue.CodeRateLimited, true)
	if got := w.Header().Get("Retry-After"); got != "3" {
		t.Fatalf("Retry-After = %q, want 3 (2.5s rounded up)", got)
	}
	snap := decode(t, e.do(http.MethodGet, "/api/v1/queue", nil))
	if snap["length"] != 2.0 {
		t.Fatalf("a rate-limited request reached the line: length %v", snap["length"])
	}

	// Others are not limited by this client, but the whole IPv6 /64 is one client.
	e.take(from("198.51.100.1"))
	e.take(from("2001:db8:0:1::1"))
	e.take(from("2001:db8:0:1::2"))
	wantError(t, e.do(http.MethodGet, "/api/v1/token", nil, from("2001:db8:0:1::3")),
		http.StatusTooManyRequests, queue.CodeRateLimited, true)

	// Only taking is limited.
	for range 5 {
		if w := e.do(http.MethodGet, "/api/v1/queue", nil); w.Code != http.StatusOK {
			t.Fatalf("GET /api/v1/queue = %d", w.Code)
		}
	}

	e.clock.Advance(2500 * time.Millisecond)
	e.take()
	wantError(t, e.do(http.MethodGet, "/api/v1/token", nil), http.StatusTooManyRequests, queue.CodeRateLimited, true)

	// A banned client over its rate hears that it is banned (SPEC), not 429.
	wantError(t, e.redeem("forged", from("203.0.113.50")), http.StatusForbidden, queue.CodeForbidden, false)
	for range 3 {
		wantError(t, e.do(http.MethodGet, "/api/v1/token", nil, from("203.0.113.50")), http.StatusForbidden, queue.CodeBanned, true)
	}

	t.Run("off", func(t *testing.T) {
		e := newTestServer(t, testOptions{cfg: Config{TakeRate: rate.Inf}, line: redisline.Options{MaxTicketsPerClient: 100}})
		for range 30 {
			e.take()
		}
	})
}

func TestTakeRateDefaults(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TakeRate != DefaultTakeRate || cfg.TakeBurst != DefaultTakeBurst {
		t.Fatalf("defaults: rate %v burst %d", cfg.TakeRate, cfg.TakeBurst)
	}
	for _, bad := range []Config{{TakeRate: -1}, {TakeBurst: -1}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
