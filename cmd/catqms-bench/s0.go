package main

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catqms/catqms/queue"
)

// s0Result: the embedded store (a catqms with no --redis-url) against a
// real redis-server, at several line lengths: a position lookup, a take and
// a whole visit over HTTP, and the memory it takes.
type s0Result struct {
	Workers  int         `json:"workers"`
	Counters int         `json:"counters"`
	Duration string      `json:"duration"`
	Stores   []s0Store   `json:"stores"`
	Limit    s0Limit     `json:"embedded_limit"`
	Levels   []int       `json:"levels"`
	Errors   []string    `json:"errors,omitempty"`
	Fill     []s0FillRun `json:"fill,omitempty"`
}

// s0Store is one store's row of levels.
type s0Store struct {
	Store  string    `json:"store"` // "embedded" or "redis"
	Levels []s0Level `json:"levels"`
}

// s0Level is one line length on one store.
type s0Level struct {
	Waiting int        `json:"waiting"`
	Status  loadResult `json:"status"` // GET /api/v1/ticket, 32 clients
	Take    loadResult `json:"take"`   // GET /api/v1/token, inside the visits of 32 clients
	Visit   loadResult `json:"visit"`  // take at the tail + redeem and end at the head, 32 clients
	// Take1 and Visit1 are the same with one client at a time: a take's
	// own cost at this length, without waiting behind other requests.
	Take1  loadResult `json:"take_one_client"`
	Visit1 loadResult `json:"visit_one_client"`
	Reps   []s0Rep    `json:"reps"`
	// Fill is the takes that brought the line to this length from the
	// previous one, as fast as the workers could: takes only.
	Fill     loadResult `json:"fill"`
	Issued   int        `json:"issued"`       // tickets taken on this store so far: finished ones are kept a day
	RSSKB    int64      `json:"rss_kb"`       // catqms (with the embedded store inside it)
	StoreKB  int64      `json:"store_rss_kb"` // redis-server, 0 for the embedded store
	Finished bool       `json:"finished"`     // false: the level was cut short (see errors)
}

// s0Rep is one repetition of a level's measurements.
type s0Rep struct {
	Status, Take, Visit, Take1, Visit1 loadResult
}

// s0FillRun notes how long each fill took, for the report's footnote.
type s0FillRun struct {
	Store   string `json:"store"`
	Waiting int    `json:"waiting"`
	Took    string `json:"took"`
}

// s0Limit is the longest measured length whose take p99 on the embedded
// store met the bound, and the bound. The take is the one-client one: a
// take's own cost at that length. With 32 clients at once on one core the
// p99 is mostly the wait behind the other 31 requests, whatever the length,
// and on a shared machine it moves with whatever else runs.
type s0Limit struct {
	P99BoundMs  float64 `json:"p99_bound_ms"`
	LongestOK   int     `json:"longest_ok"`    // 0: none
	TakeP99AtOK float64 `json:"take_p99_ms"`   // at LongestOK
	FirstOver   int     `json:"first_over"`    // 0: none measured over the bound
	TakeP99Over float64 `json:"take_p99_over"` // at FirstOver
}

// s0TakeP99BoundMs is the bound on a take's p99 that the embedded store's
// default --max-queue is chosen by (issue 16).
const s0TakeP99BoundMs = 50.0

// runS0 measures, for each store and each length: the fill (takes only),
// position lookups of tickets spread over the line, then whole visits in
// the steady state where the line neither grows nor shrinks — each visit
// takes a ticket at the tail and redeems and ends the ticket at the head,
// which calls the next one. catqms runs with as many counters as there are
// workers, so each worker's head ticket is called; the head window and the
// viewing time are a day, so nothing expires by itself.
func runS0(ctx context.Context, e *env) (*s0Result, error) {
	const workers = 32
	levels := []int{100, 1_000, 10_000, 50_000}
	dur, warm := 3*time.Second, 300*time.Millisecond
	if e.quick {
		levels = []int{100, 1_000, 10_000}
		dur, warm = 1500*time.Millisecond, 200*time.Millisecond
	}
	res := &s0Result{Workers: workers, Counters: workers, Duration: dur.String(), Levels: levels,
		Limit: s0Limit{P99BoundMs: s0TakeP99BoundMs}}
	opts := catqmsOpts{counters: workers, headWindow: "24h", viewWindow: "24h"}
	for _, store := range []string{"embedded", "redis"} {
		if err := e.flush(ctx); err != nil {
			return nil, err
		}
		o := opts
		o.embedded = store == "embedded"
		cq, err := e.startCatqms(ctx, "s0-catqms-"+store, o)
		if err != nil {
			return nil, err
		}
		row, errs := s0Store{Store: store}, []string(nil)
		row.Levels, res.Fill, errs = s0Levels(ctx, e, cq, store, levels, workers, warm, dur, res.Fill)
		cq.stop()
		res.Errors = append(res.Errors, errs...)
		res.Stores = append(res.Stores, row)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	for _, l := range res.Stores[0].Levels {
		if !l.Finished {
			break
		}
		if l.Take1.P99ms <= s0TakeP99BoundMs {
			res.Limit.LongestOK, res.Limit.TakeP99AtOK = l.Waiting, l.Take1.P99ms
		} else if res.Limit.FirstOver == 0 {
			res.Limit.FirstOver, res.Limit.TakeP99Over = l.Waiting, l.Take1.P99ms
		}
	}
	return res, nil
}

// s0Levels runs every level on one catqms. A level whose fill or visits
// fail ends the store's run: its row says how far it got.
func s0Levels(ctx context.Context, e *env, cq *proc, store string, levels []int, workers int, warm, dur time.Duration, fills []s0FillRun) ([]s0Level, []s0FillRun, []string) {
	client := httpClient(workers * 2)
	base := "http://" + cq.addr
	line := &s0Line{}
	var out []s0Level
	var storePID int
	if store == "redis" {
		r := e.rdb(1)
		storePID = redisPID(ctx, r)
		r.Close()
	}
	fail := func(n int, format string, a ...any) []string {
		msg := fmt.Sprintf("%s at %d waiting: %s", store, n, fmt.Sprintf(format, a...))
		e.log("s0 %s", msg)
		return []string{msg}
	}
	for _, n := range levels {
		lv := s0Level{Waiting: n}
		// Fill: takes only, from the current length to n.
		start, need := time.Now(), n-line.Len()
		lv.Fill = s0Fill(ctx, workers, need, func(ctx context.Context) bool {
			t, err := s0Take(ctx, client, base)
			if err != nil {
				return false
			}
			line.Push(t)
			return true
		})
		took := time.Since(start)
		lv.Fill.RPS = float64(need) / took.Seconds()
		fills = append(fills, s0FillRun{Store: store, Waiting: n, Took: took.Round(100 * time.Millisecond).String()})
		if lv.Fill.Errors > 0 || line.Len() != n {
			out = append(out, lv)
			return out, fills, fail(n, "fill: %d errors, %d tickets held", lv.Fill.Errors, line.Len())
		}
		e.log("s0 %s %d waiting: filled in %s (%.0f takes/s, p99 %.2f ms)", store, n, took.Round(time.Millisecond), lv.Fill.RPS, lv.Fill.P99ms)

		// Position lookups of random tickets of the line, then whole visits
		// by one client and by all of them, reps times.
		bad := 0
		for range e.reps {
			var rep s0Rep
			tokens := line.Tokens() // the visits of the last repetition served some
			rep.Status = closedLoop(ctx, workers, warm, dur, func(ctx context.Context, _ int) bool {
				return s0Status(ctx, client, base, tokens[rand.IntN(len(tokens))])
			})
			rep.Visit1, rep.Take1 = s0Visits(ctx, client, base, line, 1, warm, dur)
			rep.Visit, rep.Take = s0Visits(ctx, client, base, line, workers, warm, dur)
			bad += rep.Status.Errors + rep.Visit1.Errors + rep.Visit.Errors
			lv.Reps = append(lv.Reps, rep)
		}
		medLoad := func(f func(s0Rep) loadResult) loadResult {
			out := loadResult{
				RPS:   medianOf(lv.Reps, func(r s0Rep) float64 { return f(r).RPS }),
				P50ms: medianOf(lv.Reps, func(r s0Rep) float64 { return f(r).P50ms }),
				P99ms: medianOf(lv.Reps, func(r s0Rep) float64 { return f(r).P99ms }),
			}
			for _, r := range lv.Reps {
				out.Requests += f(r).Requests
				out.Errors += f(r).Errors
			}
			return out
		}
		lv.Status = medLoad(func(r s0Rep) loadResult { return r.Status })
		lv.Take = medLoad(func(r s0Rep) loadResult { return r.Take })
		lv.Visit = medLoad(func(r s0Rep) loadResult { return r.Visit })
		lv.Take1 = medLoad(func(r s0Rep) loadResult { return r.Take1 })
		lv.Visit1 = medLoad(func(r s0Rep) loadResult { return r.Visit1 })
		lv.Issued = line.Issued()
		if kb, err := rssKB(cq.pid()); err == nil {
			lv.RSSKB = kb
		}
		if storePID > 0 {
			if kb, err := rssKB(storePID); err == nil {
				lv.StoreKB = kb
			}
		}
		lv.Finished = bad == 0
		e.log("s0 %s %d waiting: status %.0f/s p99 %.2f ms | take p50 %.2f p99 %.2f ms (one client: p99 %.2f ms) | visits %.0f/s p99 %.2f ms | RSS %d KB (+store %d KB) | errors %d",
			store, n, lv.Status.RPS, lv.Status.P99ms, lv.Take.P50ms, lv.Take.P99ms, lv.Take1.P99ms, lv.Visit.RPS, lv.Visit.P99ms, lv.RSSKB, lv.StoreKB, bad)
		out = append(out, lv)
		if !lv.Finished {
			return out, fills, fail(n, "%d lookups or visits failed", bad)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return out, fills, nil
}

// s0Client is the client that looks tickets up and redeems them (catqms
// runs without per-client limits).
const s0Client = "10.255.0.1"

// s0Takers numbers the addresses takes come from.
var s0Takers atomic.Uint32

// s0Fill makes need calls of do from workers goroutines, each timed.
func s0Fill(ctx context.Context, workers, need int, do func(ctx context.Context) bool) loadResult {
	var (
		mu    sync.Mutex
		lats  []float64
		errs  int
		wg    sync.WaitGroup
		left  atomic.Int64
		start = time.Now()
	)
	left.Store(int64(need))
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && left.Add(-1) >= 0 {
				t0 := time.Now()
				ok := do(ctx)
				d := ms(time.Since(t0))
				mu.Lock()
				if ok {
					lats = append(lats, d)
				} else {
					errs++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return loadResult{Requests: len(lats), Errors: errs, RPS: float64(len(lats)) / time.Since(start).Seconds(),
		P50ms: percentile(lats, 50), P99ms: percentile(lats, 99)}
}

// s0Visits runs whole visits from workers clients for dur after warm, at a
// steady length: each takes a ticket at the tail, then redeems and ends the
// ticket at the head, which calls the next. It returns the visits and,
// apart, the takes among them.
func s0Visits(ctx context.Context, client *http.Client, base string, line *s0Line, workers int, warm, dur time.Duration) (visit, take loadResult) {
	var mu sync.Mutex
	var takes, visits []float64
	counting := time.Now().Add(warm)
	visit = closedLoop(ctx, workers, warm, dur, func(ctx context.Context, _ int) bool {
		t0 := time.Now()
		t, err := s0Take(ctx, client, base)
		t1 := time.Now()
		if err != nil {
			return false
		}
		line.Push(t)
		head, ok := line.Pop()
		if !ok || !s0Serve(ctx, client, base, head.token) {
			return false
		}
		if t0.After(counting) {
			mu.Lock()
			takes = append(takes, ms(t1.Sub(t0)))
			visits = append(visits, ms(time.Since(t0)))
			mu.Unlock()
		}
		return true
	})
	take = loadResult{Requests: len(takes), RPS: float64(len(takes)) / dur.Seconds(),
		P50ms: percentile(takes, 50), P99ms: percentile(takes, 99)}
	visit.P50ms, visit.P99ms = percentile(visits, 50), percentile(visits, 99)
	return visit, take
}

// s0Ticket is a ticket the bench holds.
type s0Ticket struct {
	seq   uint64
	token string
}

// s0Line is the tickets the bench holds, the lowest seq first: the head of
// the line. The visits serve from it; with a counter per worker, the lowest
// ticket no worker holds is always called.
type s0Line struct {
	mu     sync.Mutex
	h      s0Heap
	issued int // every ticket ever pushed
}

func (l *s0Line) Push(t s0Ticket) {
	l.mu.Lock()
	heap.Push(&l.h, t)
	l.issued++
	l.mu.Unlock()
}

func (l *s0Line) Issued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.issued
}

func (l *s0Line) Pop() (s0Ticket, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.h) == 0 {
		return s0Ticket{}, false
	}
	return heap.Pop(&l.h).(s0Ticket), true
}

func (l *s0Line) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.h)
}

func (l *s0Line) Tokens() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.h))
	for i, t := range l.h {
		out[i] = t.token
	}
	return out
}

type s0Heap []s0Ticket

func (h s0Heap) Len() int           { return len(h) }
func (h s0Heap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h s0Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *s0Heap) Push(x any)        { *h = append(*h, x.(s0Ticket)) }
func (h *s0Heap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// s0Take takes a ticket: GET /api/v1/token.
func s0Take(ctx context.Context, c *http.Client, base string) (s0Ticket, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/token", nil)
	// Each take from an address of its own, as people in a line are: a
	// client's own tickets are a set the embedded store sorts to count.
	i := s0Takers.Add(1)
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", byte(i>>16), byte(i>>8), byte(i)))
	body, err := must200(c.Do(req))
	if err != nil {
		return s0Ticket{}, err
	}
	var tb takeBody
	if err := json.Unmarshal(body, &tb); err != nil {
		return s0Ticket{}, err
	}
	seq, ok := queue.ParseLabel(tb.Ticket)
	if !ok || tb.Token == "" {
		return s0Ticket{}, fmt.Errorf("take answered ticket %q", tb.Ticket)
	}
	return s0Ticket{seq: seq, token: tb.Token}, nil
}

// s0Status looks a ticket up: GET /api/v1/ticket.
func s0Status(ctx context.Context, c *http.Client, base, token string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/ticket", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Forwarded-For", s0Client)
	body, err := must200(c.Do(req))
	if err != nil {
		return false
	}
	var t struct {
		Position *int64 `json:"position"`
	}
	return json.Unmarshal(body, &t) == nil && t.Position != nil && *t.Position >= 1
}

// s0Serve redeems the head ticket and ends its session. The ticket was
// called by the end that freed its counter, which may still be on its way
// back to another worker: a refusal as not yet called is tried again.
func s0Serve(ctx context.Context, c *http.Client, base, token string) bool {
	for try := 0; ; try++ {
		code, _, err := kitty(ctx, c, http.MethodPost, base, token, s0Client)
		if err != nil {
			return false
		}
		if code == http.StatusOK {
			break
		}
		if code != http.StatusConflict || try == 100 {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	code, _, err := kitty(ctx, c, http.MethodDelete, base, token, s0Client)
	return err == nil && code == http.StatusNoContent
}
