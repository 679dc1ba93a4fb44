// Command catqms-smoke drives visits through a running catqms (usually
// nginx in front of several replicas, see scripts/cluster-smoke.sh) while
// someone else kills and restarts parts of it, and then checks that every
// ticket it was given is accounted for: served, expired or left, none lost,
// none served twice. It prints a table and exits 1 when a check fails.
//
//	catqms-smoke -url http://127.0.0.1:18080 -visits 100
//	catqms-smoke -free-ports 5     # print 5 free loopback ports, for scripts
//
// Every visit comes from its own X-Forwarded-For address (the replicas must
// trust the proxy), and retries on 502/503/504 and on connection errors, so
// a dead replica or a dead store only slows it down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	url         string
	visits      int
	concurrency int
	noShowEvery int           // every n-th visit never redeems
	leaveEvery  int           // every n-th visit leaves the line
	poll        time.Duration // between status polls
	visitLimit  time.Duration // one visit's longest life
	drain       time.Duration // how long the line may take to empty at the end
	progress    string        // a file to write the finished-visit count to
	watchers    int           // WebSocket watchers; nginx's least_conn spreads them over the replicas
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "catqms-smoke:", err)
		os.Exit(1)
	}
}

// run parses args and runs the smoke; a failed check is an error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("catqms-smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.url, "url", "http://127.0.0.1:8080", "base URL of the service (the proxy)")
	fs.IntVar(&cfg.visits, "visits", 100, "visits to drive")
	fs.IntVar(&cfg.concurrency, "concurrency", 12, "visits at once")
	fs.IntVar(&cfg.noShowEvery, "no-show-every", 10, "every n-th visit takes a ticket and never redeems it (0 = none)")
	fs.IntVar(&cfg.leaveEvery, "leave-every", 7, "every n-th visit leaves the line (0 = none)")
	fs.DurationVar(&cfg.poll, "poll", 150*time.Millisecond, "time between status polls")
	fs.DurationVar(&cfg.visitLimit, "visit-timeout", 90*time.Second, "longest time one visit may take")
	fs.DurationVar(&cfg.drain, "drain-timeout", 30*time.Second, "longest time the line may take to empty after the visits")
	fs.StringVar(&cfg.progress, "progress", "", "file to keep the count of finished visits in (for scripts)")
	fs.IntVar(&cfg.watchers, "watchers", 3, "WebSocket watchers that reconnect like a page (one per replica behind a least_conn proxy)")
	freePorts := fs.Int("free-ports", 0, "print this many free loopback TCP ports and exit")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the service's /healthz first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *freePorts > 0 {
		return printFreePorts(stdout, *freePorts)
	}
	if cfg.visits < 1 || cfg.concurrency < 1 {
		return errors.New("-visits and -concurrency must be at least 1")
	}
	cfg.url = strings.TrimSuffix(cfg.url, "/")
	api := newAPI(cfg.url)
	if err := api.waitHealthy(ctx, *wait); err != nil {
		return err
	}
	return smoke(ctx, cfg, api, stdout)
}

// smoke runs the visits and the watcher, then checks and reports.
func smoke(ctx context.Context, cfg config, api *api, stdout io.Writer) error {
	start := time.Now()
	watchers := make([]*watcher, cfg.watchers)
	for i := range watchers {
		w, err := newWatcher(cfg.url, fmt.Sprintf("10.78.0.%d", i+1))
		if err != nil {
			return err
		}
		watchers[i] = w
		w.start(ctx)
		defer watchers[i].stop()
	}

	visits := make([]*visit, cfg.visits)
	for i := range visits {
		visits[i] = &visit{n: i, ip: fmt.Sprintf("10.77.%d.%d", i/250, i%250+1), plan: planFor(cfg, i)}
	}
	work := make(chan *visit)
	var wg sync.WaitGroup
	var doneMu sync.Mutex
	done := 0
	for range cfg.concurrency {
		wg.Go(func() {
			for v := range work {
				vctx, cancel := context.WithTimeout(ctx, cfg.visitLimit)
				v.run(vctx, api, cfg.poll)
				cancel()
				doneMu.Lock()
				done++
				if cfg.progress != "" {
					_ = os.WriteFile(cfg.progress, fmt.Appendf(nil, "%d\n", done), 0o644)
				}
				doneMu.Unlock()
			}
		})
	}
	for _, v := range visits {
		select {
		case work <- v:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	visitTime := time.Since(start)

	// Tickets the driver never heard of (a take whose answer was lost to a
	// killed replica) wait in line too; the line must still empty by itself.
	drained, lineErr := api.waitDrained(ctx, cfg.drain)
	issued, metricsErr := api.issuedTotal(ctx)
	r := check(visits)
	r.visitTime, r.drained, r.lineErr = visitTime, drained, lineErr
	r.issued, r.metricsErr = issued, metricsErr
	for _, w := range watchers {
		r.watch = append(r.watch, w.stats())
	}
	r.retries = api.retries()
	r.print(stdout)
	if len(r.problems) > 0 {
		return fmt.Errorf("%d problems", len(r.problems))
	}
	return nil
}

// planFor decides what visit i does.
func planFor(cfg config, i int) string {
	switch {
	case cfg.noShowEvery > 0 && i%cfg.noShowEvery == cfg.noShowEvery-1:
		return planNoShow
	case cfg.leaveEvery > 0 && i%cfg.leaveEvery == cfg.leaveEvery-1:
		return planLeave
	}
	return planServe
}

// printFreePorts prints n distinct loopback ports that were free a moment ago.
func printFreePorts(w io.Writer, n int) error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Fprintln(w, l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
