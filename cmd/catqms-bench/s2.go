package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// s2Result: whole visits (take, redeem, DELETE /api/v1/kitty) cycling as
// fast as 64 clients go, and a contention check: 64 clients, half on each of
// two replicas, redeem the same token at the same instant.
type s2Result struct {
	Clients  int     `json:"clients"`
	Counters int     `json:"counters"`
	Duration string  `json:"duration"`
	Reps     []s2Rep `json:"reps"`
	Visits   float64 `json:"visits_per_s_median"`
	Errors   int     `json:"errors"`
	P50ms    float64 `json:"visit_p50_ms"`
	P99ms    float64 `json:"visit_p99_ms"`
	RBTake   float64 `json:"rb_take_rps_median"`
	RBRedeem float64 `json:"rb_redeem_rps_median"`
	RBEnd    float64 `json:"rb_end_rps_median"`
	Ceiling  float64 `json:"rb_visits_per_s_median"`
	Direct   float64 `json:"direct_visits_per_s_median"`
	// Share of one core each process used during the visits (medians):
	// which of them was the limit.
	CatqmsCPU float64  `json:"catqms_cpu"`
	RedisCPU  float64  `json:"redis_cpu"`
	LoadCPU   float64  `json:"load_cpu"`
	RBArgs    []string `json:"rb_command_take"`

	// Exactly one winner per ticket.
	IssuedAll      int64 `json:"issued_total"`      // visits started by the bench, all runs
	RedeemedAll    int64 `json:"redeemed_total"`    // 200s on POST /kitty in the visits
	ServedInStore  int64 `json:"served_in_store"`   // the store's own count of served tickets
	ContestTickets int   `json:"contest_tickets"`   // tickets redeemed by 64 clients at once
	ContestWinners int   `json:"contest_sessions"`  // distinct sessions those redeems started
	ContestOK      int   `json:"contest_200s"`      // 200 answers (a serving ticket answers its session again)
	ContestLate    int   `json:"contest_late_200s"` // 200s to redeems sent after the session ended (must be 0)
	ContestOther   int   `json:"contest_other"`     // answers that were neither 200 nor 410
}

type s2Rep struct {
	Visits   loadResult `json:"visits"`
	RBTake   rbResult   `json:"rb_take"`
	RBRedeem rbResult   `json:"rb_redeem"`
	RBEnd    rbResult   `json:"rb_end"`
	Direct   float64    `json:"direct_visits_per_s"`
	CPU      [3]float64 `json:"cpu_catqms_redis_load"`
}

type takeBody struct {
	Token    string    `json:"token"`
	Ticket   string    `json:"ticket"`
	State    string    `json:"state"`
	Deadline time.Time `json:"deadline"`
}

type sessionBody struct {
	Ticket   string `json:"ticket"`
	ImageURL string `json:"image_url"`
	Until    string `json:"until"`
}

func runS2(ctx context.Context, e *env) (*s2Result, error) {
	const clients = 64
	counters := clients // every client's ticket is called at once: the visits measure the store, not the polling
	dur, warm, rbN, contest := 5*time.Second, 500*time.Millisecond, 50000, 20
	if e.quick {
		dur, warm, rbN, contest = 1500*time.Millisecond, 300*time.Millisecond, 10000, 5
	}
	if err := e.flush(ctx); err != nil {
		return nil, err
	}
	opts := catqmsOpts{counters: counters}
	a, err := e.startCatqms(ctx, "s2-catqms-a", opts)
	if err != nil {
		return nil, err
	}
	defer a.stop()

	client := httpClient(clients * 2)
	res := &s2Result{Clients: clients, Counters: counters, Duration: dur.String()}
	var issued, redeemed atomic.Int64
	r := e.rdb(clients)
	defer r.Close()
	rb, err := prepareRBVisit(ctx, e, r, opts)
	if err != nil {
		return nil, err
	}
	res.RBArgs = rb.take
	for i := range e.reps {
		var rep s2Rep
		pids := []int{a.pid(), redisPID(ctx, r), os.Getpid()}
		lean := make([]*rawClient, clients)
		for w := range lean {
			lean[w] = newRawClient(a.addr, sourceAddr(w))
		}
		cpu0, t0 := cpuSeconds(pids), time.Now()
		rep.Visits = closedLoop(ctx, clients, warm, dur, func(ctx context.Context, w int) bool {
			return leanVisit(lean[w], fmt.Sprintf("10.2.0.%d", w), &issued, &redeemed)
		})
		for _, c := range lean {
			c.close()
		}
		cpu1, wall := cpuSeconds(pids), time.Since(t0).Seconds()
		for k := range rep.CPU {
			rep.CPU[k] = (cpu1[k] - cpu0[k]) / wall
		}
		if rep.RBTake, _, err = e.redisBenchmark(ctx, clients, rbN, rb.take...); err != nil {
			return nil, err
		}
		if rep.RBRedeem, _, err = e.redisBenchmark(ctx, clients, rbN, rb.redeem...); err != nil {
			return nil, err
		}
		if rep.RBEnd, _, err = e.redisBenchmark(ctx, clients, rbN, rb.end...); err != nil {
			return nil, err
		}
		if rep.Direct, err = directVisits(ctx, e, r, opts, clients, dur); err != nil {
			return nil, err
		}
		res.Reps = append(res.Reps, rep)
		e.log("s2 rep %d: %.0f visits/s (p99 %.1fms, errors %d; CPU catqms %.0f%%, redis %.0f%%, load %.0f%%) | redis-benchmark take %.0f redeem %.0f end %.0f /s → %.0f visits/s | direct scripts %.0f visits/s",
			i+1, rep.Visits.RPS, rep.Visits.P99ms, rep.Visits.Errors, 100*rep.CPU[0], 100*rep.CPU[1], 100*rep.CPU[2],
			rep.RBTake.RPS, rep.RBRedeem.RPS, rep.RBEnd.RPS, harmonic(rep.RBTake.RPS, rep.RBRedeem.RPS, rep.RBEnd.RPS), rep.Direct)
	}
	res.Visits = medianOf(res.Reps, func(r s2Rep) float64 { return r.Visits.RPS })
	res.P50ms = medianOf(res.Reps, func(r s2Rep) float64 { return r.Visits.P50ms })
	res.P99ms = medianOf(res.Reps, func(r s2Rep) float64 { return r.Visits.P99ms })
	res.RBTake = medianOf(res.Reps, func(r s2Rep) float64 { return r.RBTake.RPS })
	res.RBRedeem = medianOf(res.Reps, func(r s2Rep) float64 { return r.RBRedeem.RPS })
	res.RBEnd = medianOf(res.Reps, func(r s2Rep) float64 { return r.RBEnd.RPS })
	res.Ceiling = medianOf(res.Reps, func(r s2Rep) float64 { return harmonic(r.RBTake.RPS, r.RBRedeem.RPS, r.RBEnd.RPS) })
	res.Direct = medianOf(res.Reps, func(r s2Rep) float64 { return r.Direct })
	res.CatqmsCPU = medianOf(res.Reps, func(r s2Rep) float64 { return r.CPU[0] })
	res.RedisCPU = medianOf(res.Reps, func(r s2Rep) float64 { return r.CPU[1] })
	res.LoadCPU = medianOf(res.Reps, func(r s2Rep) float64 { return r.CPU[2] })
	for _, rep := range res.Reps {
		res.Errors += rep.Visits.Errors
	}

	// The second replica starts for the contention check, which needs two,
	// not before: during the visits it would follow the change log on
	// catqms's core (about 12 % of it), which a replica of its own
	// machine would not take from the one measured.
	b, err := e.startCatqms(ctx, "s2-catqms-b", opts)
	if err != nil {
		return nil, err
	}
	defer b.stop()

	// Contention: for each ticket, 64 clients (32 on each replica, each
	// its own address) redeem the same token at once. One session may
	// start; every 200 must be that same session. After it ends, 64 more
	// redeems at once must all answer 410.
	bases := []string{"http://" + a.addr, "http://" + b.addr}
	for t := range contest {
		tb, err := takeTicket(ctx, client, bases[0], "10.3.0.1")
		if err != nil {
			return nil, fmt.Errorf("contest take: %w", err)
		}
		issued.Add(1)
		sessions, oks, other := raceRedeem(ctx, client, bases, tb.Token, clients)
		res.ContestTickets++
		res.ContestWinners += len(sessions)
		res.ContestOK += oks
		res.ContestOther += other
		if oks > 0 {
			redeemed.Add(1)
		}
		code, _, err := kitty(ctx, client, http.MethodDelete, bases[t%2], tb.Token, "10.3.0.1")
		if err != nil || code != http.StatusNoContent {
			return nil, fmt.Errorf("contest end: %d %v", code, err)
		}
		_, late, other2 := raceRedeem(ctx, client, bases, tb.Token, clients)
		res.ContestLate += late
		res.ContestOther += other2 // 410 is the expected answer
	}
	res.IssuedAll, res.RedeemedAll = issued.Load(), redeemed.Load()
	served, err := r.HGet(ctx, linePrefix+"stats", "served").Int64()
	if err != nil && err != redis.Nil {
		return nil, err
	}
	res.ServedInStore = served
	e.log("s2 winners: issued %d, redeemed %d, served in store %d; contest: %d tickets, %d sessions, %d×200, %d late 200s, %d other",
		res.IssuedAll, res.RedeemedAll, res.ServedInStore, res.ContestTickets, res.ContestWinners, res.ContestOK, res.ContestLate, res.ContestOther)
	return res, nil
}

// leanVisit is one visit over c, a lean HTTP client (rawClient): take a
// ticket, redeem it, end the viewing; it counts the tickets issued and
// redeemed. xff is the client's address, which catqms trusts from the
// bench's loopback.
func leanVisit(c *rawClient, xff string, issued, redeemed *atomic.Int64) bool {
	code, body, err := c.do("GET", "/api/v1/token", "X-Forwarded-For", xff)
	if err != nil || code != http.StatusOK {
		return false
	}
	var tb struct {
		Token string `json:"token"`
		State string `json:"state"`
	}
	if json.Unmarshal(body, &tb) != nil || tb.State != "called" || tb.Token == "" {
		return false
	}
	issued.Add(1)
	bearer := "Bearer " + tb.Token
	code, _, err = c.do("POST", "/api/v1/kitty", "Authorization", bearer, "Accept", "application/json", "X-Forwarded-For", xff)
	if err != nil || code != http.StatusOK {
		return false
	}
	redeemed.Add(1)
	code, _, err = c.do("DELETE", "/api/v1/kitty", "Authorization", bearer, "Accept", "application/json", "X-Forwarded-For", xff)
	return err == nil && code == http.StatusNoContent
}

func harmonic(rates ...float64) float64 {
	var s float64
	for _, r := range rates {
		s += 1 / r
	}
	return 1 / s
}

func takeTicket(ctx context.Context, c *http.Client, base, xff string) (takeBody, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/token", nil)
	req.Header.Set("X-Forwarded-For", xff)
	body, err := must200(c.Do(req))
	if err != nil {
		return takeBody{}, err
	}
	var tb takeBody
	err = json.Unmarshal(body, &tb)
	return tb, err
}

// kitty sends POST or DELETE /api/v1/kitty with the token as a bearer.
func kitty(ctx context.Context, c *http.Client, method, base, token, xff string) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, method, base+"/api/v1/kitty", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf [2048]byte
	n, _ := resp.Body.Read(buf[:])
	return resp.StatusCode, buf[:n], nil
}

// raceRedeem fires n redeems of token at once, alternating replicas, each
// from its own client address. It returns the distinct sessions (by until
// and image) the 200s carried, the number of 200s, and the answers that
// were neither 200 nor 410.
func raceRedeem(ctx context.Context, c *http.Client, bases []string, token string, n int) (map[string]bool, int, int) {
	var (
		mu       sync.Mutex
		sessions = map[string]bool{}
		oks      int
		other    int
		wg       sync.WaitGroup
		gate     = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-gate
			code, body, err := kitty(ctx, c, http.MethodPost, bases[i%len(bases)], token, fmt.Sprintf("10.4.%d.%d", i/200, i%200))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && code == http.StatusOK:
				oks++
				var sb sessionBody
				_ = json.Unmarshal(body, &sb)
				sessions[sb.Until+" "+sb.ImageURL] = true
			case err == nil && code == http.StatusGone:
			default:
				other++
			}
		})
	}
	close(gate)
	wg.Wait()
	return sessions, oks, other
}

// rbVisit are the redis-benchmark command lines of S2's ceiling.
type rbVisit struct{ take, redeem, end []string }

// prepareRBVisit sets up a line of its own for redis-benchmark: the take
// script on fresh nonces, the redeem script on a serving ticket (its safe
// retry path) and the end script on a served ticket (its idempotent path).
// The last two write nothing, so this ceiling is if anything too high.
func prepareRBVisit(ctx context.Context, e *env, r *redis.Client, o catqmsOpts) (rbVisit, error) {
	p := "catqms:{rbv}:"
	var v rbVisit
	base := func(s script) []string {
		a := append(s.command(), p+"ver", p, lineNow)
		for _, x := range o.settings() {
			a = append(a, fmt.Sprint(x))
		}
		return a
	}
	for _, name := range []string{"take", "redeem", "end"} {
		s, err := loadScript(name)
		if err != nil {
			return v, err
		}
		if err := s.load(ctx, r); err != nil {
			return v, err
		}
		switch name {
		case "take":
			v.take = append(base(s), "rb-client", "__rand_int__")
		case "redeem":
			v.redeem = append(base(s), "rb-client", "1", "n1")
		case "end":
			v.end = append(base(s), "rb-client", "2", "n2")
		}
	}
	far := time.Now().Add(time.Hour).UnixMilli()
	pipe := r.TxPipeline()
	pipe.HSet(ctx, p+"t:1", "s", "serving", "n", "n1", "c", "rb-client", "un", far, "rs", time.Now().UnixMilli())
	pipe.ZAdd(ctx, p+"serving", redis.Z{Score: float64(far), Member: "1"})
	pipe.HSet(ctx, p+"t:2", "s", "served", "n", "n2", "c", "rb-client")
	pipe.Set(ctx, p+"seq", 2, 0)
	_, err := pipe.Exec(ctx)
	return v, err
}

// directVisits is a second ceiling: the same three scripts run back to back
// by go-redis from 64 goroutines, with real tickets, without HTTP.
func directVisits(ctx context.Context, e *env, r *redis.Client, o catqmsOpts, workers int, dur time.Duration) (float64, error) {
	p := "catqms:{direct}:"
	scripts := map[string]script{}
	for _, name := range []string{"take", "redeem", "end"} {
		s, err := loadScript(name)
		if err != nil {
			return 0, err
		}
		if err := s.load(ctx, r); err != nil {
			return 0, err
		}
		scripts[name] = s
	}
	settings := o.settings()
	run := func(name string, args ...any) (any, error) {
		argv := append([]any{p, lineNow}, settings...)
		argv = append(argv, args...)
		v, err := scripts[name].run(ctx, r, []string{p + "ver"}, argv...).Result()
		if err == nil && !replyOK(v) {
			err = fmt.Errorf("%s answered %v", name, v)
		}
		return v, err
	}
	var done atomic.Int64
	var firstErr atomic.Value
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			client := fmt.Sprintf("direct-%d", w)
			var nonce [16]byte
			for time.Now().Before(end) && ctx.Err() == nil {
				_, _ = rand.Read(nonce[:])
				n := hex.EncodeToString(nonce[:])
				t, err := run("take", client, n)
				if err != nil {
					firstErr.Store(err)
					return
				}
				seq, _ := replyField(t, "seq")
				if _, err := run("redeem", client, seq, n); err != nil {
					firstErr.Store(err)
					return
				}
				if _, err := run("end", client, seq, n); err != nil {
					firstErr.Store(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(done.Load()) / dur.Seconds(), nil
}

// cpuSeconds is the CPU time (user + system) each process has used so far;
// 0 for one that cannot be read.
func cpuSeconds(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may
		// hold spaces: state is the first, utime the 12th, stime the 13th.
		_, rest, ok := bytes.Cut(data, []byte(") "))
		f := strings.Fields(string(rest))
		if !ok || len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (ut + st) / clockTicks
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on Linux.
const clockTicks = 100

// redisPID asks Redis for its process id (0 if it will not say).
func redisPID(ctx context.Context, r *redis.Client) int {
	info, err := r.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	return 0
}
