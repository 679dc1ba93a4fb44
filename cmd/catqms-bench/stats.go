package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// results is everything one run measured; the report is drawn from it.
type results struct {
	Command   string      `json:"command"`
	Quick     bool        `json:"quick"`
	Reps      int         `json:"reps"`
	Started   time.Time   `json:"started"`
	Finished  time.Time   `json:"finished"`
	Machine   machineInfo `json:"machine"`
	NoFile    uint64      `json:"nofile"`
	Durations []stepTime  `json:"durations"`
	S0        *s0Result   `json:"s0,omitempty"`
	S1        *s1Result   `json:"s1,omitempty"`
	S2        *s2Result   `json:"s2,omitempty"`
	S3        *s3Result   `json:"s3,omitempty"`
	S4        *s4Result   `json:"s4,omitempty"`
	S5        *s5Result   `json:"s5,omitempty"`
	S6        *s6Result   `json:"s6,omitempty"`
	S7        *s7Result   `json:"s7,omitempty"`
	S8        *s8Result   `json:"s8,omitempty"`
}

type stepTime struct {
	Step string `json:"step"`
	Took string `json:"took"`
}

// percentile of xs (any order) at p in [0,100], nearest rank; NaN if empty.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return sortedPct(s, p)
}

func sortedPct(s []float64, p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// median of the repetitions' values: the middle one, or with an even
// count the mean of the two middle ones (the nearest-rank percentile at 50
// would take the lower and lean low). NaN if empty.
func median(xs []float64) float64 {
	n := len(xs)
	if n == 0 || n%2 == 1 {
		return percentile(xs, 50)
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return (s[n/2-1] + s[n/2]) / 2
}

// medianOf applies f to every repetition and takes the median.
func medianOf[T any](reps []T, f func(T) float64) float64 {
	xs := make([]float64, 0, len(reps))
	for _, r := range reps {
		xs = append(xs, f(r))
	}
	return median(xs)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rbResult is one redis-benchmark run (its --csv line).
type rbResult struct {
	RPS   float64 `json:"rps"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

// redisBenchmark runs redis-benchmark with n requests from c clients, the
// command args (with __rand_int__ placeholders), pinned to e.clientCPU.
func (e *env) redisBenchmark(ctx context.Context, c, n int, args ...string) (rbResult, []string, error) {
	host, port, _ := strings.Cut(e.redisAddr, ":")
	argv := []string{"redis-benchmark", "-h", host, "-p", port, "-c", strconv.Itoa(c), "-n", strconv.Itoa(n),
		"-r", "1000000000000", "--csv", "--precision", "3"}
	argv = append(argv, args...)
	if e.clientCPU != "" {
		argv = append([]string{"taskset", "-c", e.clientCPU}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return rbResult{}, argv, fmt.Errorf("redis-benchmark: %v: %s", err, errb.String())
	}
	recs, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil || len(recs) < 2 {
		return rbResult{}, argv, fmt.Errorf("redis-benchmark output %q: %v", out.String(), err)
	}
	head, row := recs[0], recs[len(recs)-1]
	col := func(name string) float64 {
		for i, h := range head {
			if h == name && i < len(row) {
				v, _ := strconv.ParseFloat(row[i], 64)
				return v
			}
		}
		return math.NaN()
	}
	return rbResult{RPS: col("rps"), P50ms: col("p50_latency_ms"), P99ms: col("p99_latency_ms")}, argv, nil
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct {
	Calls        int64
	UsecPerCall  float64
	FailedCalls  int64
	RejectedCall int64
}

// commandStats reads INFO commandstats.
func commandStats(ctx context.Context, r *redis.Client) (map[string]cmdStat, error) {
	info, err := r.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	m := map[string]cmdStat{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var s cmdStat
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				s.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec_per_call":
				s.UsecPerCall, _ = strconv.ParseFloat(v, 64)
			case "failed_calls":
				s.FailedCalls, _ = strconv.ParseInt(v, 10, 64)
			case "rejected_calls":
				s.RejectedCall, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		m[strings.TrimPrefix(name, "cmdstat_")] = s
	}
	return m, nil
}

// slowEntry is one SLOWLOG entry, trimmed for the report.
type slowEntry struct {
	Usec    int64  `json:"usec"`
	Command string `json:"command"`
}

// slowlog returns entries slower than the configured threshold.
func slowlog(ctx context.Context, r *redis.Client) ([]slowEntry, error) {
	logs, err := r.SlowLogGet(ctx, 128).Result()
	if err != nil {
		return nil, err
	}
	var out []slowEntry
	for _, l := range logs {
		args := l.Args
		if len(args) > 3 {
			args = args[:3]
		}
		out = append(out, slowEntry{Usec: l.Duration.Microseconds(), Command: strings.Join(args, " ")})
	}
	return out, nil
}

// ratioOK reports whether got meets a target: got ≥ want when higher is
// better, got ≤ want otherwise.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}
