package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/queue"
)

// s6Result: deadline enforcement. Tickets are called with deadlines spread
// over a few seconds while 1M unrelated keys with a TTL sit in the same
// Redis; the lateness of each expiry is what the script recorded (finish
// time f − deadline dl, in the ticket's hash). Some holders try to redeem
// right around their deadline; none may be accepted after it. The ceiling
// is Redis's own key expiry, seen through keyspace events, on the same
// number of keys with the same deadlines.
type s6Result struct {
	Tickets    int     `json:"tickets"`
	TTLKeys    int     `json:"ttl_keys"`
	HeadWindow string  `json:"head_window"`
	Spread     string  `json:"spread"`
	Reps       []s6Rep `json:"reps"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	Late       int     `json:"late_redemptions"` // must be 0
	Attempts   int     `json:"redeem_attempts"`
	Accepted   int     `json:"redeems_accepted"`
	Unenforced int     `json:"not_expired"` // tickets neither redeemed nor expired after the wait
	KSP50ms    float64 `json:"keyspace_p50_ms"`
	KSP99ms    float64 `json:"keyspace_p99_ms"`
	KSMissing  float64 `json:"keyspace_missing_median"`
	KSWait     string  `json:"keyspace_wait"`
}

type s6Rep struct {
	P50, P99, Max   float64
	Late, Attempts  int
	Accepted        int
	Expired         int
	Unenforced      int
	KSP50, KSP99    float64
	KSGot, KSMissed int
}

func runS6(ctx context.Context, e *env) (*s6Result, error) {
	tickets, ttlKeys, rate := 10000, 1_000_000, 2000.0
	head, ksWait := 3*time.Second, 5*time.Second
	if e.quick {
		tickets, ttlKeys, ksWait = 2000, 100_000, 2*time.Second
	}
	if err := e.flush(ctx); err != nil {
		return nil, err
	}
	r := e.rdb(32)
	defer r.Close()
	e.log("s6: loading %d unrelated keys with a 1h TTL", ttlKeys)
	if err := loadTTLKeys(ctx, r, ttlKeys); err != nil {
		return nil, err
	}
	cq, err := e.startCatqms(ctx, "s6-catqms", catqmsOpts{counters: 1000, headWindow: head.String(), viewWindow: "1s"})
	if err != nil {
		return nil, err
	}
	defer cq.stop()
	// Every ticket is called the moment it is taken, so deadlines follow
	// the takes. --counters stops at 1000; the line's live setting in its
	// cfg hash (what an operator changes for every replica) goes higher.
	if err := r.HSet(ctx, linePrefix+"cfg", "counters", tickets*2).Err(); err != nil {
		return nil, err
	}
	signer, err := queue.NewSigner([]byte(benchSecret), lineName)
	if err != nil {
		return nil, err
	}
	res := &s6Result{Tickets: tickets, TTLKeys: ttlKeys, HeadWindow: head.String(),
		Spread: (time.Duration(float64(tickets)/rate) * time.Second).String(), KSWait: ksWait.String()}
	res.Spread = time.Duration(float64(tickets) / rate * float64(time.Second)).String()
	client := httpClient(32)
	base := "http://" + cq.addr
	for i := range e.reps {
		rep, err := s6Once(ctx, e, r, client, signer, base, tickets, rate)
		if err != nil {
			return nil, err
		}
		if err := keyspaceExpiry(ctx, r, tickets, rate, head, ksWait, &rep); err != nil {
			return nil, err
		}
		res.Reps = append(res.Reps, rep)
		e.log("s6 rep %d: lateness p50 %.1fms p99 %.1fms max %.1fms over %d expiries; redeems %d tried, %d accepted, %d after the deadline; %d not enforced | keyspace events p50 %.0fms p99 %.0fms, %d of %d missing after %s",
			i+1, rep.P50, rep.P99, rep.Max, rep.Expired, rep.Attempts, rep.Accepted, rep.Late, rep.Unenforced, rep.KSP50, rep.KSP99, rep.KSMissed, tickets, ksWait)
	}
	res.P50ms = medianOf(res.Reps, func(r s6Rep) float64 { return r.P50 })
	res.P99ms = medianOf(res.Reps, func(r s6Rep) float64 { return r.P99 })
	res.MaxMs = medianOf(res.Reps, func(r s6Rep) float64 { return r.Max })
	res.KSP50ms = medianOf(res.Reps, func(r s6Rep) float64 { return r.KSP50 })
	res.KSP99ms = medianOf(res.Reps, func(r s6Rep) float64 { return r.KSP99 })
	res.KSMissing = medianOf(res.Reps, func(r s6Rep) float64 { return float64(r.KSMissed) })
	for _, rep := range res.Reps {
		res.Late += rep.Late
		res.Attempts += rep.Attempts
		res.Accepted += rep.Accepted
		res.Unenforced += rep.Unenforced
	}
	return res, nil
}

func loadTTLKeys(ctx context.Context, r *redis.Client, n int) error {
	const batch = 10000
	var wg sync.WaitGroup
	errs := make(chan error, n/batch+1)
	sem := make(chan struct{}, 4)
	for start := 0; start < n; start += batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			pipe := r.Pipeline()
			for i := start; i < min(start+batch, n); i++ {
				pipe.Set(ctx, "unrelated:"+strconv.Itoa(i), "x", time.Hour)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// s6Once takes tickets at rate (each is called at once and gets its
// deadline), has every tenth holder try to redeem within a few ms of the
// deadline, waits for every deadline to pass, then reads the tickets back.
func s6Once(ctx context.Context, e *env, r *redis.Client, client *http.Client, signer *queue.Signer, base string, tickets int, rate float64) (s6Rep, error) {
	var rep s6Rep
	type attempt struct {
		sent time.Time
		dl   time.Time
		code int
	}
	var (
		mu       sync.Mutex
		seqs     = make([]uint64, 0, tickets)
		attempts []attempt
		lastDL   time.Time
		wg       sync.WaitGroup
		firstErr error
		next     = make(chan int)
	)
	for w := range 16 {
		wg.Go(func() {
			for i := range next {
				tb, err := takeTicket(ctx, client, base, fmt.Sprintf("10.6.%d.%d", w, i%250))
				if err == nil && tb.State != "called" {
					err = fmt.Errorf("ticket %s is %s, not called", tb.Ticket, tb.State)
				}
				var dl time.Time
				var seq uint64
				if err == nil {
					seq, _, err = signer.Parse(tb.Token)
				}
				if err == nil {
					dl = tb.Deadline
				}
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				seqs = append(seqs, seq)
				if dl.After(lastDL) {
					lastDL = dl
				}
				mu.Unlock()
				if i%10 != 0 {
					continue
				}
				// Redeem from 3 ms before to 5 ms after the deadline.
				at := dl.Add(time.Duration(i/10%9-3) * time.Millisecond)
				token := tb.Token
				wg.Add(1)
				time.AfterFunc(time.Until(at), func() {
					defer wg.Done()
					sent := time.Now()
					code, _, err := kitty(ctx, client, http.MethodPost, base, token, "10.7.0.1")
					if err != nil {
						code = 0
					}
					mu.Lock()
					attempts = append(attempts, attempt{sent, dl, code})
					mu.Unlock()
				})
			}
		})
	}
	start := time.Now()
	for i := range tickets {
		if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return rep, firstErr
	}
	time.Sleep(time.Until(lastDL.Add(time.Second)))

	// What the scripts recorded.
	pipe := r.Pipeline()
	cmds := make([]*redis.SliceCmd, len(seqs))
	for i, seq := range seqs {
		cmds[i] = pipe.HMGet(ctx, fmt.Sprintf("%st:%d", linePrefix, seq), "s", "f", "dl", "rs")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return rep, err
	}
	var late []float64
	for _, c := range cmds {
		v := c.Val()
		state, _ := v[0].(string)
		f, _ := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
		dl, _ := strconv.ParseInt(fmt.Sprint(v[2]), 10, 64)
		rs, _ := strconv.ParseInt(fmt.Sprint(v[3]), 10, 64)
		switch {
		case state == "expired":
			late = append(late, float64(f-dl))
		case rs > 0:
			if rs >= dl {
				rep.Late++ // a session that started at or after the deadline
			}
		default:
			rep.Unenforced++
		}
	}
	rep.Expired = len(late)
	rep.P50, rep.P99, rep.Max = percentile(late, 50), percentile(late, 99), percentile(late, 100)
	for _, a := range attempts {
		rep.Attempts++
		if a.code == http.StatusOK {
			rep.Accepted++
			if !a.sent.Before(a.dl) {
				rep.Late++ // sent at or after the deadline, and accepted
			}
		}
	}
	return rep, nil
}

// keyspaceExpiry is the ceiling: tickets keys set to expire on the same
// schedule (head after each take, takes at rate), watched through keyspace
// events; lateness is the event's arrival minus the key's expiry time.
func keyspaceExpiry(ctx context.Context, r *redis.Client, n int, rate float64, head, wait time.Duration, rep *s6Rep) error {
	if err := r.ConfigSet(ctx, "notify-keyspace-events", "Ex").Err(); err != nil {
		return err
	}
	defer r.ConfigSet(ctx, "notify-keyspace-events", "")
	sub := r.Subscribe(ctx, "__keyevent@0__:expired")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return err
	}
	expect := make(map[string]time.Time, n)
	var lat []float64
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range sub.Channel() {
			now := time.Now()
			mu.Lock()
			if at, ok := expect[m.Payload]; ok {
				lat = append(lat, ms(now.Sub(at)))
				delete(expect, m.Payload)
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	pipe := r.Pipeline()
	batch := max(int(rate/100), 1) // 10 ms of keys per round trip
	var last time.Time
	for i := range n {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if i%batch == 0 {
			if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
				return err
			}
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
		}
		key := "deadline:" + strconv.Itoa(i)
		exp := time.Now().Add(head).Truncate(time.Millisecond)
		mu.Lock()
		expect[key] = exp
		mu.Unlock()
		pipe.Set(ctx, key, "x", 0)
		pipe.PExpireAt(ctx, key, exp)
		last = exp
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return err
	}
	time.Sleep(time.Until(last.Add(wait)))
	_ = sub.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	rep.KSGot, rep.KSMissed = len(lat), len(expect)
	// Missing events count as at least the wait: they had not come by then.
	for range expect {
		lat = append(lat, ms(wait))
	}
	rep.KSP50, rep.KSP99 = percentile(lat, 50), percentile(lat, 99)
	// Clean up what did not expire yet, so the next round starts alike.
	keys := make([]string, 0, len(expect))
	for k := range expect {
		keys = append(keys, k)
	}
	for len(keys) > 0 {
		m := min(len(keys), 1000)
		if err := r.Unlink(ctx, keys[:m]...).Err(); err != nil {
			return err
		}
		keys = keys[m:]
	}
	return nil
}
