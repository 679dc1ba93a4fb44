package main

import (
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/catqms/catqms/queue"
)

// runReport redraws BENCHMARKS.md and the charts from a saved results file.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	in := fs.String("in", "bench-out/all.json", "results of a run")
	out := fs.String("md", "BENCHMARKS.md", "report to write")
	docs := fs.String("docs", "docs", "directory for the charts")
	_ = fs.Parse(args)
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return err
	}
	return writeReport(&res, *out, *docs)
}

// Targets of issue 5, with the owner's decision on S2 and S3 (issue 10):
// S2 is judged against go-redis running the same operations on this 2-core
// box, S3's lookup against the floor (the ZRANK alone, packaged as catqms
// runs its operations: a function, or a script), not a bare ZRANK.
const (
	s1RPSTarget      = 0.7  // × the bare handler's req/s
	s1P99Target      = 3.0  // × the bare handler's p99
	s2Target         = 0.8  // × go-redis running the same operations, no HTTP
	s3Target         = 4.0  // lookup × the floor (s3Level.floor)
	s3SlowUsec       = 1000 // nothing over 1 ms in SLOWLOG
	s3FlatTarget     = 1.5  // 1M vs 1k: "flat" taken as within 1.5×
	s4DelivTarget    = 0.8  // × the bare hub's deliveries/s
	s4MemTargetKB    = 12.0 // per idle connection
	s4P99TargetMs    = 250.0
	s4P99AtWatchers  = 10000
	s4NoDropRate     = 5.0
	s5SlackMs        = 5.0
	s6P99TargetMs    = 150.0
	s4ChartRateIndex = 1
)

func writeReport(res *results, mdPath, docsDir string) error {
	if err := os.MkdirAll(docsDir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := res.Machine
	p("# Benchmarks\n\n")
	p("Written by `scripts/bench.sh%s` (the load generator is `cmd/catqms-bench`); do not edit by hand. ", map[bool]string{true: " --quick", false: ""}[res.Quick])
	p("Every figure is a ratio against a ceiling measured in the same run on the same box, because the box is shared and noisy: ")
	p("absolute numbers move from run to run, ratios much less.\n\n")
	if res.Quick {
		p("> **Quick mode**: a reduced version of every scenario, one repetition each. Use the full run's numbers.\n\n")
	}
	p("| | |\n|---|---|\n")
	p("| run | %s → %s UTC |\n", res.Started.Format("2006-01-02 15:04:05"), res.Finished.Format("15:04:05"))
	p("| CPU | %s, %d cores |\n", m.CPU, m.Cores)
	p("| memory | %d MB |\n| kernel | Linux %s |\n| Go | %s |\n| Redis | %s |\n", m.MemMB, m.Kernel, m.Go, m.Redis)
	p("| open files | %d per process (hard limit; not raisable here) |\n", res.NoFile)
	p("| repetitions | %d of each measured pair, medians reported |\n", res.Reps)
	var steps []string
	for _, d := range res.Durations {
		steps = append(steps, d.Step+" "+d.Took)
	}
	p("| time per scenario | %s |\n\n", strings.Join(steps, ", "))

	p("## How it runs\n\n")
	p("```sh\n%s\n```\n\n", orDefault(res.Command, "scripts/bench.sh"))
	p("`scripts/bench.sh` builds `catqms` and `catqms-bench`, raises `ulimit -n` to the hard limit, starts its own `redis-server` ")
	p("(free port, temp dir, no persistence, pinned to CPU 0, stopped on exit) and runs `catqms-bench all`, pinned to CPU 0 as well. ")
	p("The tool starts every server itself, pinned with `taskset -c 1`: the `catqms` processes ")
	p("(`--redis-url` to that Redis, `--log-level warn`, `--trusted-proxies 127.0.0.0/8`, `--max-tickets-per-ip %d`, `--max-queue %d`, a fixed `--secret`) ", maxTicketsPerIP, maxQueue)
	p("and the ceiling servers (`catqms-bench bare-http`, `catqms-bench bare-hub`). `redis-benchmark` runs on CPU 1 too, so it never shares a core with Redis. ")
	p("Client sockets are spread over 127.0.0.2–127.0.0.%d; WebSocket clients each send their own `X-Forwarded-For` (catqms caps WebSocket connections per client address at %d). ", 1+sourceIPs, 20)
	p("Every load is on loopback and bounded in count and time. With one core each, catqms and the ceilings run with GOMAXPROCS=1.\n\n")

	summary(&b, res)
	if res.S0 != nil {
		reportS0(&b, res.S0)
		if err := chartS0(res.S0, filepath.Join(docsDir, "bench-s0-embedded.png")); err != nil {
			return err
		}
		p("![take p99 vs line length, embedded store and Redis](docs/bench-s0-embedded.png)\n\n")
	}
	if res.S1 != nil {
		reportS1(&b, res.S1)
	}
	if res.S2 != nil {
		reportS2(&b, res.S2)
	}
	if res.S3 != nil {
		reportS3(&b, res.S3)
		if err := chartS3(res.S3, filepath.Join(docsDir, "bench-s3-latency.png")); err != nil {
			return err
		}
		p("![µs per call vs line length](docs/bench-s3-latency.png)\n\n")
	}
	if res.S4 != nil {
		reportS4(&b, res.S4)
		if err := chartS4(res.S4, filepath.Join(docsDir, "bench-s4-delivery.png")); err != nil {
			return err
		}
		p("![delivery latency vs watchers](docs/bench-s4-delivery.png)\n\n")
	}
	if res.S5 != nil {
		reportS5(&b, res.S5)
	}
	if res.S6 != nil {
		reportS6(&b, res.S6)
	}
	if res.S7 != nil {
		if err := reportS7(&b, res.S7, docsDir); err != nil {
			return err
		}
	}
	if res.S8 != nil {
		reportS8(&b, res.S8)
	}
	b.WriteString(profileNotes)
	return os.WriteFile(mdPath, []byte(b.String()), 0o644)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func f0(x float64) string { return fmtNum(x, 0) }
func f1(x float64) string { return fmtNum(x, 1) }
func f2(x float64) string { return fmtNum(x, 2) }

func fmtNum(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// summary is the one table of every target.
func summary(b *strings.Builder, res *results) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Summary\n\n| # | figure | catqms | ceiling | ratio | target | |\n|---|---|---|---|---|---|---|\n")
	if s := res.S0; s != nil {
		lim := queue.EmbeddedStore.MaxQueue
		emb, red := s.level("embedded", int(lim)), s.level("redis", int(lim))
		if emb != nil && red != nil {
			p("| S0 | take p99, one client, embedded store at its default limit (%d waiting) | %s ms (32 clients: %s ms) | %s ms (redis-server; 32 clients: %s ms) | %s× | ≤ %.0f ms | %s |\n",
				lim, f2(emb.Take1.P99ms), f2(emb.Take.P99ms), f2(red.Take1.P99ms), f2(red.Take.P99ms), f2(ratio(emb.Take1.P99ms, red.Take1.P99ms)),
				s0TakeP99BoundMs, verdict(emb.Finished && emb.Take1.P99ms <= s0TakeP99BoundMs))
		} else {
			// A quick run stops short of the default limit: nothing was checked.
			p("| S0 | take p99, embedded store at its default limit (%d waiting) | not measured in this run | | | ≤ %.0f ms | %s |\n",
				lim, s0TakeP99BoundMs, map[bool]string{true: "not checked (quick)", false: "**missed**"}[res.Quick])
		}
	}
	if s := res.S1; s != nil {
		r := ratio(s.Catqms.RPS, s.Bare.RPS)
		p("| S1 | take over HTTP, req/s | %s | %s (bare handler) | %s× | ≥ %.1f× | %s |\n", f0(s.Catqms.RPS), f0(s.Bare.RPS), f2(r), s1RPSTarget, verdict(r >= s1RPSTarget))
		r = ratio(s.Catqms.P99ms, s.Bare.P99ms)
		p("| S1 | take over HTTP, p99 | %s ms | %s ms (bare handler) | %s× | ≤ %.0f× | %s |\n", f2(s.Catqms.P99ms), f2(s.Bare.P99ms), f2(r), s1P99Target, verdict(r <= s1P99Target))
	}
	if s := res.S2; s != nil {
		r := ratio(s.Visits, s.Direct)
		p("| S2 | whole visits/s | %s | %s (go-redis, same operations; redis-benchmark: %s) | %s× | ≥ %.1f× | %s |\n", f0(s.Visits), f0(s.Direct), f0(s.Ceiling), f2(r), s2Target, verdict(r >= s2Target))
		ok := s.ContestWinners == s.ContestTickets && s.ContestLate == 0 && s.ContestOther == 0 && s.RedeemedAll == s.ServedInStore
		p("| S2 | winners per ticket, 64 contending clients | %d sessions for %d tickets, %d late 200s | | | exactly 1 | %s |\n",
			s.ContestWinners, s.ContestTickets, s.ContestLate, verdict(ok))
	}
	if s := res.S3; s != nil && len(s.Levels) > 0 {
		worst, slow := 0.0, 0
		var at s3Level
		for _, l := range s.Levels {
			if r := ratio(l.StatusUsec, l.floor()); r > worst {
				worst, at = r, l
			}
			slow += len(l.Slow)
		}
		last, first := s.Levels[len(s.Levels)-1], s.Levels[0]
		floorIs := "a script doing only the ZRANK"
		if at.floor() != at.FloorUsec {
			floorIs = fmt.Sprintf("a function doing only the ZRANK; as a script %s µs", f1(at.FloorUsec))
		}
		least := ""
		if at.LeastUsec > 0 {
			least = fmt.Sprintf("; the least lookup %s µs, %s× the floor", f1(at.LeastUsec), f1(ratio(at.LeastUsec, at.floor())))
		}
		p("| S3 | µs per lookup in Redis, worst length, vs the floor | %s µs (at %d; take %s µs) | %s µs (%s; bare ZRANK %s µs%s) | %s× | ≤ %.0f× | %s |\n",
			f1(at.StatusUsec), at.Waiting, f1(at.TakeUsec), f1(at.floor()), floorIs, f2(at.ZRankUsec), least, f1(worst), s3Target, verdict(worst <= s3Target))
		p("| S3 | SLOWLOG entries over 1 ms | %d | | | 0 | %s |\n", slow, verdict(slow == 0))
		flat := math.Max(ratio(last.StatusUsec, first.StatusUsec), ratio(last.TakeUsec, first.TakeUsec))
		p("| S3 | flat: µs at %d vs %d waiting | %s× | ZRANK: %s× | | ≤ %.1f× | %s |\n", last.Waiting, first.Waiting, f2(flat),
			f2(ratio(last.ZRankUsec, first.ZRankUsec)), s3FlatTarget, verdict(flat <= s3FlatTarget))
	}
	if s := res.S4; s != nil {
		worst, drops, mem := math.Inf(1), int64(0), 0.0
		var at10k *s4Point
		for i := range s.Points {
			pt := &s.Points[i]
			worst = math.Min(worst, ratio(pt.Catqms.DelivPerS, pt.Bare.DelivPerS))
			if pt.Rate <= s4NoDropRate {
				drops += pt.Catqms.Drops
			}
			if pt.Watchers == s4P99AtWatchers && (at10k == nil || pt.Catqms.P99ms > at10k.Catqms.P99ms) {
				at10k = pt
			}
		}
		for _, mm := range s.Memory {
			mem = math.Max(mem, mm.CatqmsKB)
		}
		p("| S4 | change deliveries/s, worst cell | | | %s× | ≥ %.1f× | %s |\n", f2(worst), s4DelivTarget, verdict(worst >= s4DelivTarget))
		if at10k != nil {
			p("| S4 | p99 change → watcher at %d watchers, worst rate (%g/s) | %s ms | %s ms (bare hub) | %s× | ≤ %.0f ms | %s |\n",
				s4P99AtWatchers, at10k.Rate, f1(at10k.Catqms.P99ms), f1(at10k.Bare.P99ms), f2(ratio(at10k.Catqms.P99ms, at10k.Bare.P99ms)), s4P99TargetMs, verdict(at10k.Catqms.P99ms <= s4P99TargetMs))
		}
		bareMem := 0.0
		for _, mm := range s.Memory {
			bareMem = math.Max(bareMem, mm.BareKB)
		}
		p("| S4 | RSS per idle connection, worst count | %s KB | %s KB (bare hub) | %s× | ≤ %.0f KB | %s |\n", f1(mem), f1(bareMem), f2(ratio(mem, bareMem)), s4MemTargetKB, verdict(mem <= s4MemTargetKB))
		p("| S4 | drops at ≤ %g changes/s | %d | | | 0 | %s |\n", s4NoDropRate, drops, verdict(drops == 0))
	}
	if s := res.S5; s != nil {
		p("| S5 | p99 replica A → watcher on B | %s ms | %s ms (PUBLISH → subscriber) | +%s ms | ≤ +%.0f ms | %s |\n",
			f2(s.P99ms), f2(s.RawP99ms), f2(s.P99ms-s.RawP99ms), s5SlackMs, verdict(s.P99ms <= s.RawP99ms+s5SlackMs && s.Drops == 0))
	}
	if s := res.S6; s != nil {
		p("| S6 | expiry lateness p99 | %s ms | %s ms (keyspace events; %s of %d missing after %s) | %s× | ≤ %.0f ms | %s |\n",
			f1(s.P99ms), f0(s.KSP99ms), f0(s.KSMissing), s.Tickets, s.KSWait, f2(ratio(s.P99ms, s.KSP99ms)), s6P99TargetMs, verdict(s.P99ms <= s6P99TargetMs))
		p("| S6 | redemptions accepted after their deadline | %d of %d tries | | | 0 | %s |\n", s.Late, s.Attempts, verdict(s.Late == 0 && s.Unenforced == 0))
	}
	if s := res.S7; s != nil {
		summaryS7(b, s, res.Quick)
	}
	if s := res.S8; s != nil {
		summaryS8(p, s)
	}
	p("\n")
}

func reportS0(b *strings.Builder, s *s0Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S0 — the embedded store and Redis\n\n")
	p("Two catqms processes, one after the other, alike but for the store: one with no `--redis-url` (the embedded store, inside the process) ")
	p("and one on the bench's redis-server; `--counters %d --head-window 24h --view-window 24h`. ", s.Counters)
	p("For each length the line is filled by takes over HTTP (%d clients, each take from an address of its own), then, %s each after a warm-up: ", s.Workers, s.Duration)
	p("*lookups* — `GET /api/v1/ticket` of random tickets of the line, %d clients; ", s.Workers)
	p("*visits* — each takes a ticket at the tail (`GET /api/v1/token`), then redeems and ends the ticket at the head (`POST`, `DELETE /api/v1/kitty`), ")
	p("which calls the next, so the length holds; by one client, then by %d at once (as many as counters, so each one's head ticket is called). ", s.Workers)
	p("*take* is the takes within those visits. RSS is catqms's VmRSS after the level (the embedded store lives in it) and redis-server's; ")
	p("it holds every ticket issued so far on that store (*issued*), since finished tickets are kept a day, as they would be over a day. ")
	p("Medians of the repetitions.\n\n")
	p("| store | waiting | lookups/s | lookup p50 / p99 ms | take p50 / p99 ms, %d clients | take p99 ms, one client | visits/s | visit p50 / p99 ms | fill takes/s | issued | catqms RSS MB | redis-server RSS MB |\n", s.Workers)
	p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, st := range s.Stores {
		for _, l := range st.Levels {
			mark := ""
			if !l.Finished {
				mark = " (cut short)"
			}
			storeMB := "–"
			if l.StoreKB > 0 {
				storeMB = f0(float64(l.StoreKB) / 1024)
			}
			p("| %s | %d%s | %s | %s / %s | %s / %s | %s | %s | %s / %s | %s | %d | %s | %s |\n", st.Store, l.Waiting, mark,
				f0(l.Status.RPS), f2(l.Status.P50ms), f2(l.Status.P99ms), f2(l.Take.P50ms), f2(l.Take.P99ms), f2(l.Take1.P99ms),
				f0(l.Visit.RPS), f2(l.Visit.P50ms), f2(l.Visit.P99ms), f0(l.Fill.RPS), l.Issued, f0(float64(l.RSSKB)/1024), storeMB)
		}
	}
	p("\n")
	for _, e := range s.Errors {
		p("- %s\n", e)
	}
	lim := s.Limit
	p("**The embedded store's limit.** The longest length measured here at which a take's p99, one client at a time, stayed within %.0f ms: ", lim.P99BoundMs)
	if lim.LongestOK > 0 {
		p("%d (p99 %s ms)", lim.LongestOK, f2(lim.TakeP99AtOK))
	} else {
		p("none")
	}
	if lim.FirstOver > 0 {
		p("; at %d it was %s ms", lim.FirstOver, f2(lim.TakeP99Over))
	}
	m := queue.EmbeddedStore
	p(". The one-client take is a take's own cost at that length; with %d clients at once on one core the p99 is mostly the wait behind the others' requests, ", s.Workers)
	p("at any length, and it moves with whatever else the shared machine runs. ")
	p("catqms defaults `--max-queue` on the embedded store to %d and warns at start-up when given more (`queue.EmbeddedStore`: take p99 %v, %d MB, from a run of S0). ",
		m.MaxQueue, m.TakeP99, m.RSSMB)
	p("S0 measures no longer line: beyond it the process's memory keeps growing with the line, and so does the Go garbage collector's work on each cycle.\n\n")
}

// level is store's measurement at n waiting, or nil.
func (s *s0Result) level(store string, n int) *s0Level {
	for i := range s.Stores {
		if s.Stores[i].Store != store {
			continue
		}
		for j := range s.Stores[i].Levels {
			if l := &s.Stores[i].Levels[j]; l.Waiting == n {
				return l
			}
		}
	}
	return nil
}

func reportS1(b *strings.Builder, s *s1Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S1 — take a ticket over HTTP\n\n")
	p("%d client connections in a closed loop for %s each (after a warm-up), `GET /api/v1/token`. ", s.Workers, s.Duration)
	p("Ceilings: a bare `net/http` handler making the same go-redis call (`FCALL` of the take function of catqms's function library with redisline's KEYS and ARGV: prefix, now, 7 settings, version floor, log length, client, nonce) and answering a small JSON; ")
	p("`redis-benchmark` calling the same function with the same argument shape (fixed \"now\", a random nonce per call), %d clients:\n\n", s.Workers)
	p("```\n%s\n```\n\n", shellJoin(s.RBCommand))
	p("| | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|\n")
	p("| catqms | %s | %s | %s | %d |\n", f0(s.Catqms.RPS), f2(s.Catqms.P50ms), f2(s.Catqms.P99ms), s.Catqms.Errors)
	p("| bare net/http + go-redis | %s | %s | %s | %d |\n", f0(s.Bare.RPS), f2(s.Bare.P50ms), f2(s.Bare.P99ms), s.Bare.Errors)
	p("| redis-benchmark FCALL take | %s | %s | %s | |\n", f0(s.RB.RPS), f2(s.RB.P50ms), f2(s.RB.P99ms))
	p("| **catqms / bare** | **%s×** | %s× | **%s×** | |\n", f2(ratio(s.Catqms.RPS, s.Bare.RPS)), f2(ratio(s.Catqms.P50ms, s.Bare.P50ms)), f2(ratio(s.Catqms.P99ms, s.Bare.P99ms)))
	p("| catqms / redis-benchmark | %s× | | | |\n\n", f2(ratio(s.Catqms.RPS, s.RB.RPS)))
	p("Repetitions (catqms, bare, redis-benchmark req/s): ")
	var reps []string
	for _, r := range s.Reps {
		reps = append(reps, fmt.Sprintf("%s / %s / %s", f0(r.Catqms.RPS), f0(r.Bare.RPS), f0(r.RB.RPS)))
	}
	p("%s.\n\n", strings.Join(reps, "; "))
}

func reportS2(b *strings.Builder, s *s2Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S2 — whole visits\n\n")
	p("%d clients each cycle visits for %s: `GET /api/v1/token`, `POST /api/v1/kitty`, `DELETE /api/v1/kitty`, as fast as they go. ", s.Clients, s.Duration)
	p("catqms runs with `--counters %d` so a client's ticket is called at once and the visit measures the service, not the wait in line; ", s.Counters)
	p("one replica serves the visits, and a second starts after them for the contention check below. ")
	p("Each client is the bench's lean HTTP/1.1 client (`rawhttp.go`: one keep-alive connection, the request written from a reused buffer, the answer's status and body read back, as wrk does), ")
	p("since the load generator shares CPU 0 with Redis and every microsecond it spends is one Redis does not get. ")
	p("Ceiling: `redis-benchmark` on the same three operations (functions of catqms's library, `FCALL`) with %d clients (take on fresh nonces; redeem on a serving ticket and end on a served one, ", s.Clients)
	p("their retry paths, which write nothing, so that ceiling is if anything too high), combined as 1 / (1/take + 1/redeem + 1/end). ")
	p("A second reference runs the same three functions back to back from go-redis with real tickets, without HTTP.\n\n")
	p("| | visits/s | visit p50 ms | visit p99 ms |\n|---|---|---|---|\n")
	p("| catqms (3 HTTP requests per visit) | %s | %s | %s |\n", f0(s.Visits), f2(s.P50ms), f2(s.P99ms))
	p("| redis-benchmark: take %s/s, redeem %s/s, end %s/s → | %s | | |\n", f0(s.RBTake), f0(s.RBRedeem), f0(s.RBEnd), f0(s.Ceiling))
	p("| go-redis, the 3 operations per visit, 64 goroutines | %s | | |\n", f0(s.Direct))
	p("| **catqms / redis-benchmark** | **%s×** | | |\n", f2(ratio(s.Visits, s.Ceiling)))
	p("| catqms / go-redis operations | %s× | | |\n\n", f2(ratio(s.Visits, s.Direct)))
	if s.CatqmsCPU > 0 && s.Visits > 0 {
		p("CPU used during the visits, as a share of one core (medians): catqms %.0f %% (it has CPU 1 to itself), ", 100*s.CatqmsCPU)
		p("Redis %.0f %% and the load generator %.0f %%, which share CPU 0: %.0f %% of it. ", 100*s.RedisCPU, 100*s.LoadCPU, 100*(s.RedisCPU+s.LoadCPU))
		p("Per visit: catqms %s µs of CPU, Redis %s µs, the load generator %s µs. ", f0(1e6*s.CatqmsCPU/s.Visits), f0(1e6*s.RedisCPU/s.Visits), f0(1e6*s.LoadCPU/s.Visits))
		p("Whichever core is full is the limit; redis-benchmark's ceiling runs with Redis alone on CPU 0.\n\n")
	}
	p("**Exactly one winner per ticket.** Over the run the bench started %d visits and got %d successful redeems; the store counts %d tickets served (every redeemed ticket was served exactly once: %s). ",
		s.IssuedAll, s.RedeemedAll, s.ServedInStore, map[bool]string{true: "yes", false: "**no**"}[s.RedeemedAll == s.ServedInStore])
	p("Then, for each of %d tickets, 64 clients (each its own address, half on each of two replicas) redeemed the same token at the same instant: ", s.ContestTickets)
	p("%d sessions started in all (one per ticket is right: the other 200s, %d in all, are the safe retry answering the same session), ", s.ContestWinners, s.ContestOK)
	p("and after the holder ended viewing, 64 more simultaneous redeems per ticket got %d × 200 (must be 0) and %d answers other than 410.\n\n", s.ContestLate, s.ContestOther)
}

func reportS3(b *strings.Builder, s *s3Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S3 — position lookup and take at any length\n\n")
	p("The line's sorted set is filled to each length; a sample of tickets spread over it gets a record and a token. ")
	p("Position lookups are `GET /api/v1/ticket`'s store call (the status operation, through the same `redisline.Line` catqms uses, in process: a function of catqms's function library, `FCALL`, on a Redis that has functions); ")
	p("takes are the take operation the same way; ZRANK runs on the same members of the same sorted set. ")
	p("The *floor* is the same ZRANK inside a function that does nothing else (`return redis.call('ZRANK', keys[1], args[1])`): ")
	p("what any lookup written as a function costs at least; the same as a script (EVALSHA) is shown beside it, and a lookup run as a script is judged against that. ")
	p("Each figure is INFO commandstats `usec_per_call` (reset before each phase), median of the repetitions. SLOWLOG threshold: 1 ms. ")
	p("No service runs during S3, so the load generator runs on the service CPU and Redis has its CPU to itself.\n\n")
	p("The *least lookup* is a yardstick beside the floor, measured in the same run: a function called with the status operation's keys and arguments that makes only the two reads no lookup can skip ")
	p("(the version with the line's facts and head, one `MGET`; the ticket's record, one `HMGET`) and returns the same 18-value reply, with no clock, no operator's settings, no ban check and no catch-up ")
	p("(`leastLibrary` in `cmd/catqms-bench/s3.go`; its answers are checked against the status operation's before measuring). ")
	p("What lies between it and the lookup is what those cost; what lies between the floor and it, the reads and the reply themselves.\n\n")
	p("| waiting | run as | lookup (status) µs | least lookup µs | take µs | ZRANK µs | function floor µs | script floor µs | lookup / floor | least / floor | lookup / least | take / ZRANK | floor / ZRANK | SLOWLOG > 1 ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range s.Levels {
		as := l.Command
		if as == "" {
			as = "evalsha"
		}
		least, leastRatio, overLeast := "–", "–", "–"
		if l.LeastUsec > 0 {
			least, leastRatio, overLeast = f1(l.LeastUsec), f1(ratio(l.LeastUsec, l.floor()))+"×", f2(ratio(l.StatusUsec, l.LeastUsec))+"×"
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s× | %s | %s | %s× | %s× | %d |\n", l.Waiting, strings.ToUpper(as), f1(l.StatusUsec), least, f1(l.TakeUsec), f2(l.ZRankUsec), f2(l.FnFloor), f2(l.FloorUsec),
			f1(ratio(l.StatusUsec, l.floor())), leastRatio, overLeast, f1(ratio(l.TakeUsec, l.ZRankUsec)), f1(ratio(l.floor(), l.ZRankUsec)), len(l.Slow))
	}
	p("\n")
	for _, l := range s.Levels {
		for _, e := range l.Slow {
			p("- slow at %d waiting: %d µs `%s`\n", l.Waiting, e.Usec, e.Command)
		}
	}
}

func reportS4(b *strings.Builder, s *s4Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S4 — WebSocket fan-out on one replica\n\n")
	p("For each watcher count, a fresh catqms (`--counters 1 --head-window 24h`, %d tickets already in line so every snapshot lists 64 waiting) ", prefill)
	p("and a fresh bare hub each get the same clients. Each change is a ticket taken over HTTP (catqms) or a `POST /change` (bare hub, which broadcasts a message of the same size as catqms's snapshot); ")
	p("the bench records the time just before it sends the request. A change is *delivered* to a watcher when the first message showing it arrives ")
	p("(a catqms snapshot of length L shows every change up to L, so a coalesced snapshot delivers several); latency is that arrival minus the trigger time. ")
	p("*Drops* are (watcher, change) pairs never delivered within 3 s of the window's last change. Windows: %s at %v changes/s. ", strings.Join(s.Windows, ", "), s.Rates)
	p("RSS per idle connection: VmRSS of the server after the watchers connected and sat idle 2 s, minus before, over the count.\n\n")
	if s.Skipped != "" {
		p("%s\n\n", s.Skipped)
	}
	p("| watchers | changes/s | catqms p50 / p99 ms | bare p50 / p99 ms | catqms fan-out p99 ms (snapshot `now` → arrival) | catqms msgs/s | catqms deliveries/s | bare deliveries/s | ratio | drops catqms / bare |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, pt := range s.Points {
		p("| %d | %g | %s / %s | %s / %s | %s | %s | %s | %s | **%s×** | %d / %d |\n", pt.Watchers, pt.Rate,
			f1(pt.Catqms.P50ms), f1(pt.Catqms.P99ms), f1(pt.Bare.P50ms), f1(pt.Bare.P99ms), f1(pt.Catqms.FanP99ms),
			f0(pt.Catqms.MsgsPerS), f0(pt.Catqms.DelivPerS), f0(pt.Bare.DelivPerS), f2(ratio(pt.Catqms.DelivPerS, pt.Bare.DelivPerS)),
			pt.Catqms.Drops, pt.Bare.Drops)
	}
	p("\n| watchers | catqms KB per idle connection | bare hub KB per idle connection | catqms RSS before, KB | bare RSS before, KB |\n|---|---|---|---|---|\n")
	for _, mm := range s.Memory {
		p("| %d | %s | %s | %s | %s |\n", mm.Watchers, f1(mm.CatqmsKB), f1(mm.BareKB), f0(mm.CatqmsBase), f0(mm.BareBase))
	}
	p("\nConnect times (each run): ")
	var ct []string
	for _, r := range s.Raw {
		ct = append(ct, fmt.Sprintf("%s %d: %s", r.Target, r.Watchers, r.Connect))
	}
	p("%s.\n\n", strings.Join(ct, ", "))
}

func reportS5(b *strings.Builder, s *s5Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S5 — cross-replica propagation\n\n")
	p("Two catqms replicas on the same Redis; %d WebSocket watchers on replica B; %d tickets taken on replica A per repetition at %g/s (125 ms apart, so the feed's 50 ms rest between snapshot reads never holds one back), after 5 unmeasured ones to warm up. ", s.Watchers, s.Changes, s.Rate)
	p("Latency is from just before the take request is sent to A until a watcher on B receives the snapshot that shows it: A's HTTP handling, the take script, PUBLISH, B's subscriber, B's snapshot script and B's WebSocket write. ")
	p("Ceiling: go-redis PUBLISH → go-redis subscriber on the same Redis, the same number of messages at the same pace.\n\n")
	p("| | p50 ms | p99 ms |\n|---|---|---|\n")
	p("| catqms A → watcher on B | %s | %s |\n| raw PUBLISH → subscriber | %s | %s |\n", f2(s.P50ms), f2(s.P99ms), f2(s.RawP50ms), f2(s.RawP99ms))
	p("| **difference** | +%s | **+%s** |\n\nDrops: %d.\n\n", f2(s.P50ms-s.RawP50ms), f2(s.P99ms-s.RawP99ms), s.Drops)
}

func reportS6(b *strings.Builder, s *s6Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S6 — deadline enforcement\n\n")
	p("Redis holds %d unrelated keys with a 1 h TTL. catqms runs with `--head-window %s`; its line's live counters setting (the cfg hash an operator changes) is raised so every ticket is called the moment it is taken: ", s.TTLKeys, s.HeadWindow)
	p("%d tickets are taken over %s, so their deadlines are spread over %s. Nobody redeems them, except every tenth holder, who tries once between 3 ms before and 5 ms after the deadline. ", s.Tickets, s.Spread, s.Spread)
	p("Lateness is what the script recorded in the ticket's hash: finish time `f` − deadline `dl`. ")
	p("Ceiling: %d keys set to expire on the same schedule, in the same Redis, watched through keyspace events (`notify-keyspace-events Ex`); lateness is the event's arrival minus the expiry time; ", s.Tickets)
	p("an event that has not come %s after the last expiry is counted as missing, at %s.\n\n", s.KSWait, s.KSWait)
	p("| | p50 ms | p99 ms | max ms | missing |\n|---|---|---|---|---|\n")
	p("| catqms (script-recorded) | %s | %s | %s | %d not expired |\n", f1(s.P50ms), f1(s.P99ms), f1(s.MaxMs), s.Unenforced)
	p("| Redis key expiry (keyspace events) | %s | %s | | %s of %d (median) |\n\n", f0(s.KSP50ms), f0(s.KSP99ms), f0(s.KSMissing), s.Tickets)
	p("Redeem attempts around the deadline: %d, accepted %d (all before the deadline), **accepted at or after the deadline: %d** ", s.Attempts, s.Accepted, s.Late)
	p("(counted both from the client side — sent at or after the deadline and answered 200 — and in the store — a session start `rs` ≥ `dl`).\n\n")
}

// chartS3 draws µs per call against line length.
func chartS3(s *s3Result, file string) error {
	pl := plot.New()
	pl.Title.Text = "S3: µs per call in Redis vs line length"
	pl.X.Label.Text = "tickets waiting"
	pl.Y.Label.Text = "µs per call (INFO commandstats)"
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	var status, take, zrank plotter.XYs
	for _, l := range s.Levels {
		status = append(status, plotter.XY{X: float64(l.Waiting), Y: l.StatusUsec})
		take = append(take, plotter.XY{X: float64(l.Waiting), Y: l.TakeUsec})
		zrank = append(zrank, plotter.XY{X: float64(l.Waiting), Y: l.ZRankUsec})
	}
	if err := plotutil.AddLinePoints(pl, "position lookup (status)", status, "take", take, "ZRANK (ceiling)", zrank); err != nil {
		return err
	}
	pl.Y.Min = 0
	pl.Legend.Top = true
	pl.Legend.Left = true
	return pl.Save(7*vg.Inch, 4*vg.Inch, file)
}

// chartS0 draws a take's p99 against line length, on each store, by one
// client and by many, with the bound the embedded default is chosen by.
func chartS0(s *s0Result, file string) error {
	pl := plot.New()
	pl.Title.Text = "S0: a take's p99, embedded store vs redis-server"
	pl.X.Label.Text = "tickets waiting"
	pl.Y.Label.Text = "ms"
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	var args []any
	for _, st := range s.Stores {
		var one, many plotter.XYs
		for _, l := range st.Levels {
			if l.Finished {
				one = append(one, plotter.XY{X: float64(l.Waiting), Y: l.Take1.P99ms})
				many = append(many, plotter.XY{X: float64(l.Waiting), Y: l.Take.P99ms})
			}
		}
		args = append(args, st.Store+", one client", one, fmt.Sprintf("%s, %d clients", st.Store, s.Workers), many)
	}
	if err := plotutil.AddLinePoints(pl, args...); err != nil {
		return err
	}
	bound := plotter.NewFunction(func(float64) float64 { return s0TakeP99BoundMs })
	bound.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	pl.Add(bound)
	pl.Legend.Add(fmt.Sprintf("bound for the embedded default, %.0f ms", s0TakeP99BoundMs), bound)
	pl.Y.Min = 0
	pl.Legend.Top = true
	pl.Legend.Left = true
	return pl.Save(7*vg.Inch, 4*vg.Inch, file)
}

// chartS4 draws delivery latency against watchers.
func chartS4(s *s4Result, file string) error {
	pl := plot.New()
	pl.Title.Text = "S4: change → watcher latency vs watchers (one replica)"
	pl.X.Label.Text = "watchers"
	pl.Y.Label.Text = "ms"
	var args []any
	for _, rate := range s.Rates {
		var cq, bare plotter.XYs
		for _, pt := range s.Points {
			if pt.Rate == rate {
				cq = append(cq, plotter.XY{X: float64(pt.Watchers), Y: pt.Catqms.P99ms})
				bare = append(bare, plotter.XY{X: float64(pt.Watchers), Y: pt.Bare.P99ms})
			}
		}
		args = append(args, fmt.Sprintf("catqms p99 @ %g/s", rate), cq, fmt.Sprintf("bare hub p99 @ %g/s", rate), bare)
	}
	if err := plotutil.AddLinePoints(pl, args...); err != nil {
		return err
	}
	target := plotter.NewFunction(func(float64) float64 { return s4P99TargetMs })
	target.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	pl.Add(target)
	pl.Legend.Add(fmt.Sprintf("target p99 %.0f ms", s4P99TargetMs), target)
	pl.Y.Min = 0
	pl.Legend.Top = true
	pl.Legend.Left = true
	return pl.Save(8*vg.Inch, 4.5*vg.Inch, file)
}

// profileNotes is what profiling found, and what was changed because of
// it: written by hand, with the probes and figures named in it.
//
//go:embed profiles.md
var profileNotes string
