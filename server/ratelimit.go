package server

import (
	"container/list"
	"math"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/catqms/catqms/queue"
)

// Defaults of the take rate limit: a person takes one ticket now and then,
// a client may grab its whole allowance of live tickets at once, but no one
// churns tickets (take, leave, take…) faster than one a second.
const (
	DefaultTakeRate  rate.Limit = 1
	DefaultTakeBurst int        = 10
)

// maxRateKeys bounds the clients a rate limiter remembers: about 20 MB of
// buckets at most, however many addresses a flood comes from.
const maxRateKeys = 100_000

// minIdle is the shortest time a bucket is kept after its last use.
const minIdle = time.Second

// rateLimiter is a token bucket per client key, in this process only.
//
// Its memory is bounded two ways. A bucket that has been idle long enough
// to be full again is the same as a new one, so it is dropped the next time
// the limiter is used. And past maxKeys buckets the least recently used is
// dropped, which at worst hands that client a fresh, full bucket: the
// limiter then fails open for that one client, never closed for everyone.
// Buckets are kept in a list ordered by last use, so both take O(1) per
// call and no goroutine is needed.
type rateLimiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	idle    time.Duration // after this long unused, a bucket is full again

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently used
}

type bucket struct {
	key      string
	limiter  *rate.Limiter
	lastUsed time.Time
}

// newRateLimiter returns a limiter of limit events a second with burst, for
// at most maxKeys clients at once. A limit of rate.Inf allows everything.
func newRateLimiter(limit rate.Limit, burst, maxKeys int) *rateLimiter {
	idle := minIdle
	if limit > 0 && limit != rate.Inf {
		refill := float64(burst) / float64(limit) * float64(time.Second)
		idle = max(idle, time.Duration(math.Min(refill, float64(365*24*time.Hour))))
	}
	return &rateLimiter{
		limit:   limit,
		burst:   burst,
		maxKeys: maxKeys,
		idle:    idle,
		buckets: make(map[string]*list.Element),
	}
}

// allow takes one token from key's bucket at now. When the bucket is empty
// it takes nothing and returns false with the time until a token is there.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l.limit == rate.Inf {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evict(now)

	var b *bucket
	if el, ok := l.buckets[key]; ok {
		b = el.Value.(*bucket)
		l.lru.MoveToFront(el)
	} else {
		b = &bucket{key: key, limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = l.lru.PushFront(b)
		if l.lru.Len() > l.maxKeys {
			l.remove(l.lru.Back())
		}
	}
	b.lastUsed = now

	r := b.limiter.ReserveN(now, 1)
	if !r.OK() { // burst 0: never
		return false, time.Duration(math.MaxInt64)
	}
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now) // a refused request costs nothing
		return false, delay
	}
	return true, 0
}

// evict drops the buckets that are full again: they hold no state.
func (l *rateLimiter) evict(now time.Time) {
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		if now.Sub(el.Value.(*bucket).lastUsed) < l.idle {
			return
		}
		l.remove(el)
	}
}

func (l *rateLimiter) remove(el *list.Element) {
	delete(l.buckets, el.Value.(*bucket).key)
	l.lru.Remove(el)
}

// size is the number of buckets kept.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// rateLimitTakes refuses GET /api/v1/token with 429 rate_limited when the
// client takes tickets faster than Config.TakeRate allows. It runs before
// the store is asked anything: shedding a flood is its point. The limit is
// per process, so N replicas allow up to N times the rate; the live ticket
// cap (--max-tickets-per-ip) is in the store and holds across replicas.
func (s *Server) rateLimitTakes(c *gin.Context) {
	key := clientFrom(c).Key
	if ok, wait := s.takes.allow(key, s.now()); !ok {
		// SPEC: a banned client taking a ticket hears 403 banned, whatever
		// else it did wrong; only the refused requests pay for the lookup.
		left, err := s.tickets.BanRemaining(c.Request.Context(), key)
		if err != nil {
			s.fail(c, err)
			return
		}
		if left > 0 {
			s.fail(c, queue.ErrBanned(left))
			return
		}
		s.fail(c, &queue.Error{Code: queue.CodeRateLimited, Wait: wait})
		return
	}
	c.Next()
}
