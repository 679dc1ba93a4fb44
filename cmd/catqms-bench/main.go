// Command catqms-bench is catqms's load generator. Every figure it reports
// is measured side by side with a ceiling in the same run (redis-benchmark on
// the same Lua script, a bare net/http handler doing the same go-redis call,
// a bare gorilla/websocket hub, raw pub/sub, Redis keyspace events), because
// absolute numbers on a noisy shared box mean little and ratios hold.
//
// Usage:
//
//	catqms-bench all   [flags]   every scenario, then BENCHMARKS.md and the charts
//	catqms-bench s0…s8 [flags]   one scenario; prints its result as JSON
//	catqms-bench report [flags]  BENCHMARKS.md and charts from saved results
//	catqms-bench bare-http [flags]  the ceiling server of S1 (started by s1)
//	catqms-bench bare-hub  [flags]  the ceiling server of S4 (started by s4)
//	catqms-bench freeport           print a free loopback TCP port
//
// The scenario commands start (and stop) the catqms processes and the
// ceiling servers themselves, pinned with taskset to the service CPU, against
// the redis-server given by --redis. scripts/bench.sh starts that Redis and
// runs "all".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "bare-http":
		err = runBareHTTP(ctx, args)
	case "bare-hub":
		err = runBareHub(ctx, args)
	case "hub-server":
		err = runHubServer(ctx, args)
	case "watch":
		err = runWatch(ctx, args)
	case "freeport":
		var port int
		if port, err = freePort(); err == nil {
			fmt.Println(port)
		}
	case "report":
		err = runReport(args)
	case "all", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8":
		err = runScenarios(ctx, cmd, args)
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "catqms-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: catqms-bench all|s0|s1|s2|s3|s4|s5|s6|s7|s8|report|bare-http|bare-hub|freeport [flags]")
}

// env is what every scenario needs: where Redis is, which binaries to run,
// how to pin them, and how big to make the load.
type env struct {
	redisAddr  string // 127.0.0.1:PORT of the redis-server under test
	catqmsBin  string
	benchBin   string // this binary, for the ceiling servers
	serviceCPU string // taskset list for catqms and the ceiling servers
	clientCPU  string // taskset list for redis-benchmark (the load is on us)
	quick      bool
	reps       int
	outDir     string    // results JSON and logs
	maxWatch   int       // largest S4 watcher count the open-file limit allows
	s4Watchers []int     // S4 watcher counts instead of the default ones
	s4Rates    []float64 // S4 change rates instead of the default ones
	s7Watchers []int     // S7 watcher counts (one replica) instead of the default ones
	s7Waiting  int64     // S7's read-model line length instead of the default
	s7Rates    []float64 // S7 paces (moves/s, of the default ones) instead of all of them
	s7Multi    bool      // S7 runs its multi-replica cell
	s7Pairs    int       // S7 pairs of windows per run at the target pace
	s8Scale    float64   // S8's clock compression instead of the default
	log        func(format string, a ...any)
	catqmsHelp string // catqms --help, for the flags this build has
}

func runScenarios(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	e := &env{}
	fs.StringVar(&e.redisAddr, "redis", "", "address of the redis-server under test (required)")
	fs.StringVar(&e.catqmsBin, "catqms", "catqms", "catqms binary")
	fs.StringVar(&e.serviceCPU, "service-cpu", "1", "taskset CPU list for catqms and the ceiling servers (empty: no pinning)")
	fs.StringVar(&e.clientCPU, "client-cpu", "1", "taskset CPU list for redis-benchmark (empty: no pinning)")
	fs.BoolVar(&e.quick, "quick", false, "a reduced version of every scenario")
	fs.IntVar(&e.reps, "reps", 0, "repetitions of each measured pair (default 3, 1 with --quick)")
	fs.StringVar(&e.outDir, "out", "bench-out", "directory for results and logs")
	out := fs.String("md", "BENCHMARKS.md", "report to write (all only)")
	docs := fs.String("docs", "docs", "directory for the charts (all only)")
	cmdline := fs.String("cmdline", "", "the command that ran this, for the report")
	fs.Func("s4-watchers", "S4 watcher counts, comma-separated (for profiling one cell)", func(v string) error {
		return parseList(v, func(s string) error {
			n, err := strconv.Atoi(s)
			e.s4Watchers = append(e.s4Watchers, n)
			return err
		})
	})
	fs.Func("s4-rates", "S4 changes per second, comma-separated (for profiling one cell)", func(v string) error {
		return parseList(v, func(s string) error {
			r, err := strconv.ParseFloat(s, 64)
			e.s4Rates = append(e.s4Rates, r)
			return err
		})
	})
	fs.Func("s7-watchers", "S7 watcher counts on one replica, comma-separated (for developing with small counts; 0: none, only the multi-replica run)", func(v string) error {
		return parseList(v, func(s string) error {
			n, err := strconv.Atoi(s)
			e.s7Watchers = append(e.s7Watchers, n)
			return err
		})
	})
	fs.Int64Var(&e.s7Waiting, "s7-waiting", 0, "tickets waiting when S7 measures the read model (default 1000000, 100000 with --quick; negative: not measured)")
	fs.Func("s7-rates", "S7 paces on one replica, moves/s of the default ones (2,5,20), comma-separated (for profiling one cell)", func(v string) error {
		return parseList(v, func(s string) error {
			r, err := strconv.ParseFloat(s, 64)
			e.s7Rates = append(e.s7Rates, r)
			return err
		})
	})
	fs.BoolVar(&e.s7Multi, "s7-multi", true, "S7 runs its multi-replica cell (false: one replica only, for profiling)")
	fs.IntVar(&e.s7Pairs, "s7-pairs", 2, "S7 pairs of a line-only and an own-ticket window each run makes at the target pace (5 moves/s); one at the other paces")
	fs.Float64Var(&e.s8Scale, "s8-scale", 0, "how many times faster than real S8 plays its day (default 30, 120 with --quick)")
	_ = fs.Parse(args)
	if e.redisAddr == "" {
		return fmt.Errorf("--redis is required")
	}
	if e.reps == 0 {
		e.reps = 3
		if e.quick {
			e.reps = 1
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	e.benchBin = self
	if err := os.MkdirAll(e.outDir, 0o755); err != nil {
		return err
	}
	var rl syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	e.maxWatch = int(rl.Cur) - 200
	e.log = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}

	res := &results{Quick: e.quick, Reps: e.reps, Started: time.Now().UTC(), Machine: machine(), NoFile: rl.Cur}
	if *cmdline != "" {
		res.Command = *cmdline
	}
	type step struct {
		name string
		run  func() error
	}
	steps := []step{
		{"s0", func() (err error) { res.S0, err = runS0(ctx, e); return err }},
		{"s1", func() (err error) { res.S1, err = runS1(ctx, e); return err }},
		{"s2", func() (err error) { res.S2, err = runS2(ctx, e); return err }},
		{"s3", func() (err error) { res.S3, err = runS3(ctx, e); return err }},
		{"s4", func() (err error) { res.S4, err = runS4(ctx, e); return err }},
		{"s5", func() (err error) { res.S5, err = runS5(ctx, e); return err }},
		{"s6", func() (err error) { res.S6, err = runS6(ctx, e); return err }},
		{"s7", func() (err error) { res.S7, err = runS7(ctx, e); return err }},
		{"s8", func() (err error) { res.S8, err = runS8(ctx, e); return err }},
	}
	for _, s := range steps {
		if cmd != "all" && cmd != s.name {
			continue
		}
		start := time.Now()
		e.log("=== %s", s.name)
		if err := s.run(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		res.Durations = append(res.Durations, stepTime{s.name, time.Since(start).Round(time.Second).String()})
		e.log("=== %s done in %s", s.name, time.Since(start).Round(time.Second))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	res.Finished = time.Now().UTC()
	// JSON has no NaN or infinity: an undefined figure (a ratio over
	// nothing) is saved as 0, and named, rather than losing the whole file.
	for _, path := range zeroNonFinite(reflect.ValueOf(res).Elem(), "results") {
		e.log("saved as 0 in the JSON: %s was not a number", path)
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		// A figure JSON cannot write (an infinite or undefined ratio) must
		// not cost the run's report; say so instead of writing nothing.
		e.log("the results cannot be saved as JSON (%v); the report is still written", err)
	} else if err := os.WriteFile(filepath.Join(e.outDir, cmd+".json"), data, 0o644); err != nil {
		return err
	}
	if cmd != "all" {
		fmt.Println(string(data))
		return nil
	}
	if e.quick {
		// A quick run's figures are not the ones to quote: it never
		// replaces the committed full run's report and charts.
		full := *out
		*out, *docs = filepath.Join(e.outDir, "BENCHMARKS.md"), filepath.Join(e.outDir, "docs")
		e.log("quick run: the report is %s (%s is left alone)", *out, full)
	}
	return writeReport(res, *out, *docs)
}

// parseList calls f on each comma-separated item of v.
func parseList(v string, f func(string) error) error {
	for _, s := range strings.Split(v, ",") {
		if err := f(strings.TrimSpace(s)); err != nil {
			return err
		}
	}
	return nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// zeroNonFinite sets every NaN or infinite float reachable from v (structs,
// pointers, slices, arrays) to 0 and returns where it found them.
func zeroNonFinite(v reflect.Value, path string) []string {
	var found []string
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); (math.IsNaN(f) || math.IsInf(f, 0)) && v.CanSet() {
			v.SetFloat(0)
			found = append(found, path)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			found = append(found, zeroNonFinite(v.Elem(), path)...)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				found = append(found, zeroNonFinite(v.Field(i), path+"."+v.Type().Field(i).Name)...)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			found = append(found, zeroNonFinite(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return found
}
