package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// s1Result: take a ticket over HTTP, against redis-benchmark running the
// same take script and a bare net/http handler doing the same go-redis call.
type s1Result struct {
	Workers   int        `json:"workers"`
	Duration  string     `json:"duration"`
	Reps      []s1Rep    `json:"reps"`
	RBCommand []string   `json:"rb_command"`
	Catqms    loadResult `json:"catqms_median"`
	Bare      loadResult `json:"bare_median"`
	RB        rbResult   `json:"rb_median"`
}

type s1Rep struct {
	Catqms loadResult `json:"catqms"`
	Bare   loadResult `json:"bare"`
	RB     rbResult   `json:"rb"`
}

func runS1(ctx context.Context, e *env) (*s1Result, error) {
	workers, dur, warm, rbN := 32, 5*time.Second, 500*time.Millisecond, 100000
	if e.quick {
		dur, warm, rbN = 1500*time.Millisecond, 300*time.Millisecond, 20000
	}
	if err := e.flush(ctx); err != nil {
		return nil, err
	}
	opts := catqmsOpts{counters: 1}
	cq, err := e.startCatqms(ctx, "s1-catqms", opts)
	if err != nil {
		return nil, err
	}
	defer cq.stop()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	bareAddr := fmt.Sprintf("127.0.0.1:%d", port)
	bare, err := e.start("s1-bare-http", e.serviceCPU, e.benchBin, "bare-http", "--addr", bareAddr,
		"--redis", e.redisAddr, "--counters", strconv.Itoa(opts.counters))
	if err != nil {
		return nil, err
	}
	defer bare.stop()
	if err := bare.waitHTTP(ctx, "http://"+bareAddr+"/readyz"); err != nil {
		return nil, err
	}

	// redis-benchmark: the take function with redisline's KEYS/ARGV,
	// on a line of its own so it does not disturb the others. "now" is
	// fixed (redis-benchmark cannot compute it); a random nonce per call.
	take, err := loadScript("take")
	if err != nil {
		return nil, err
	}
	r := e.rdb(2)
	defer r.Close()
	if err := take.load(ctx, r); err != nil {
		return nil, err
	}
	rbPrefix := "catqms:{rb}:"
	rbArgs := append(take.command(), rbPrefix+"ver", rbPrefix, lineNow)
	for _, s := range opts.settings() {
		rbArgs = append(rbArgs, fmt.Sprint(s))
	}
	rbArgs = append(rbArgs, "rb-client", "__rand_int__")

	client := httpClient(workers)
	takeURL := "http://" + cq.addr + "/api/v1/token"
	bareURL := "http://" + bareAddr + "/api/v1/token"
	res := &s1Result{Workers: workers, Duration: dur.String()}
	for i := range e.reps {
		var rep s1Rep
		rep.Catqms = closedLoop(ctx, workers, warm, dur, func(ctx context.Context, _ int) bool {
			return get(ctx, client, takeURL, 200)
		})
		rep.Bare = closedLoop(ctx, workers, warm, dur, func(ctx context.Context, _ int) bool {
			return get(ctx, client, bareURL, 200)
		})
		rb, argv, err := e.redisBenchmark(ctx, workers, rbN, rbArgs...)
		if err != nil {
			return nil, err
		}
		rep.RB = rb
		res.RBCommand = argv
		res.Reps = append(res.Reps, rep)
		e.log("s1 rep %d: catqms %.0f req/s p99 %.2fms (errors %d) | bare %.0f req/s p99 %.2fms | redis-benchmark %.0f/s p99 %.2fms",
			i+1, rep.Catqms.RPS, rep.Catqms.P99ms, rep.Catqms.Errors, rep.Bare.RPS, rep.Bare.P99ms, rep.RB.RPS, rep.RB.P99ms)
	}
	med := func(f func(s1Rep) float64) float64 { return medianOf(res.Reps, f) }
	res.Catqms = loadResult{RPS: med(func(r s1Rep) float64 { return r.Catqms.RPS }),
		P50ms: med(func(r s1Rep) float64 { return r.Catqms.P50ms }), P99ms: med(func(r s1Rep) float64 { return r.Catqms.P99ms })}
	res.Bare = loadResult{RPS: med(func(r s1Rep) float64 { return r.Bare.RPS }),
		P50ms: med(func(r s1Rep) float64 { return r.Bare.P50ms }), P99ms: med(func(r s1Rep) float64 { return r.Bare.P99ms })}
	res.RB = rbResult{RPS: med(func(r s1Rep) float64 { return r.RB.RPS }),
		P50ms: med(func(r s1Rep) float64 { return r.RB.P50ms }), P99ms: med(func(r s1Rep) float64 { return r.RB.P99ms })}
	for _, rep := range res.Reps {
		res.Catqms.Errors += rep.Catqms.Errors
		res.Bare.Errors += rep.Bare.Errors
	}
	return res, nil
}

// shellJoin quotes argv for the report.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " {}\"'$*") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
