package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Targets of issue 11 for S7, each against the line-only ceiling measured
// on the same connections in the same run.
const (
	s7RedisTarget   = 1.5  // Redis ms per move, own tickets × the line only, at every N
	s7P99Target     = 1.25 // delivery p99, own tickets × the line only …
	s7P99AtWatchers = 10000
	s7P99AtRate     = 5.0 // … at 10,000 watchers and 5 moves/s
	// s7PaperRate is the pace the "scaling on paper" figures are drawn at.
	s7PaperRate = 5.0
	// redisCoreMs is what one Redis can spend a second: its commands run on
	// one thread, so one core.
	redisCoreMs = 1000.0
	// serviceCoreMs is what one catqms replica can spend a second here: each
	// runs on a core of its own.
	serviceCoreMs = 1000.0
)

// s7Pair is one (replicas, watchers, rate) cell: the line-only ceiling and
// the own-ticket figures, measured on the same connections, and the
// ratios, from the pairs of windows measured back to back.
type s7Pair struct {
	Replicas, Watchers int
	Rate               float64
	Line, Ticket       s7Cell // each figure the median over every window of the mode
	Pairs              []s7Twin
	// P99Ratio and RedisRatio are the medians of the pairs' own ratios
	// (s7Twin.P99Ratio, s7Twin.RedisRatio): the figures judged.
	P99Ratio, RedisRatio float64
}

// s7Twin is one pair of windows measured back to back on the same
// connections: the same run, pace and pair number.
type s7Twin struct {
	Rep, Pair    int
	LineFirst    bool // the line-only window came first
	Line, Ticket s7Cell
}

// P99Ratio is the pair's own-ticket delivery p99 over its line-only p99.
func (t s7Twin) P99Ratio() float64 { return ratio(t.Ticket.P99ms, t.Line.P99ms) }

// RedisRatio is the pair's own-ticket Redis ms per move over its
// line-only one.
func (t s7Twin) RedisRatio() float64 { return ratio(t.Ticket.RedisMs, t.Line.RedisMs) }

// twins pairs the windows of run at rate: the line-only and the own-ticket
// window with the same pair number (a run measured before pairs were
// numbered has one pair, number 0, per rate). An incomplete pair is left
// out.
func twins(run s7Run, rate float64) []s7Twin {
	var out []s7Twin
	at := map[int]int{} // pair number → its index in out
	bad := map[int]bool{}
	for _, c := range run.Cells {
		if c.Rate != rate {
			continue
		}
		j, ok := at[c.Pair]
		if !ok {
			j = len(out)
			at[c.Pair] = j
			out = append(out, s7Twin{Rep: run.Rep, Pair: c.Pair})
		}
		t := &out[j]
		mine, other := &t.Line, &t.Ticket
		if c.Mode == "ticket" {
			mine, other = other, mine
		}
		if mine.Mode != "" {
			bad[c.Pair] = true // two windows of a mode: not a pair
		}
		*mine = c
		if c.Mode == "line" {
			t.LineFirst = other.Mode == ""
		}
	}
	return slices.DeleteFunc(out, func(t s7Twin) bool {
		return bad[t.Pair] || t.Line.Mode != "line" || t.Ticket.Mode != "ticket"
	})
}

// pairs lists the cells of every run, line-only beside own-ticket, each
// figure the median over the windows of its mode (drops, lost connections
// and out-of-order messages: the worst window's), with every pair of
// windows measured back to back and the medians of their ratios.
func (s *s7Result) pairs() []s7Pair {
	type key struct{ replicas, watchers int }
	var order []key
	runs := map[key][]s7Run{}
	for _, run := range s.Runs {
		k := key{run.Replicas, run.Watchers}
		if runs[k] == nil {
			order = append(order, k)
		}
		runs[k] = append(runs[k], run)
	}
	var out []s7Pair
	for _, k := range order {
		var rates []float64
		for _, c := range runs[k][0].Cells {
			if c.Mode == "ticket" && !slices.Contains(rates, c.Rate) {
				rates = append(rates, c.Rate)
			}
		}
		for _, rate := range rates {
			cells := func(mode string) []s7Cell {
				var cs []s7Cell
				for _, run := range runs[k] {
					for _, c := range run.Cells {
						if c.Mode == mode && c.Rate == rate {
							cs = append(cs, c)
						}
					}
				}
				return cs
			}
			line, ticket := cells("line"), cells("ticket")
			if len(line) == 0 || len(ticket) == 0 {
				continue
			}
			pr := s7Pair{Replicas: k.replicas, Watchers: k.watchers, Rate: rate, Line: medianCell(line), Ticket: medianCell(ticket)}
			for _, run := range runs[k] {
				pr.Pairs = append(pr.Pairs, twins(run, rate)...)
			}
			pr.P99Ratio = midMedianOf(pr.Pairs, s7Twin.P99Ratio)
			pr.RedisRatio = midMedianOf(pr.Pairs, s7Twin.RedisRatio)
			out = append(out, pr)
		}
	}
	return out
}

// midMedianOf is the median of f over xs: with an even count, the mean of
// the two middle values. S7 has an even count of windows and pairs (two
// pairs a run), where the nearest-rank median (stats.go's, the lower of
// the two) would always lean low. NaN for none.
func midMedianOf[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		v = append(v, f(x))
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// medianCell is the median (midMedianOf) of each figure of cs; drops,
// lost connections and out-of-order messages are the worst one's.
func medianCell(cs []s7Cell) s7Cell {
	m := cs[0]
	f := func(g func(s7Cell) float64) float64 { return midMedianOf(cs, g) }
	m.Moves = int64(f(func(c s7Cell) float64 { return float64(c.Moves) }))
	m.Achieved = f(func(c s7Cell) float64 { return c.Achieved })
	m.Seconds = f(func(c s7Cell) float64 { return c.Seconds })
	m.P50ms = f(func(c s7Cell) float64 { return c.P50ms })
	m.P99ms = f(func(c s7Cell) float64 { return c.P99ms })
	m.MaxMs = f(func(c s7Cell) float64 { return c.MaxMs })
	m.Deliveries = int64(f(func(c s7Cell) float64 { return float64(c.Deliveries) }))
	m.Messages = int64(f(func(c s7Cell) float64 { return float64(c.Messages) }))
	m.RedisMs = f(func(c s7Cell) float64 { return c.RedisMs })
	m.RedisBusy = f(func(c s7Cell) float64 { return c.RedisBusy })
	m.ServiceMs = f(func(c s7Cell) float64 { return c.ServiceMs })
	m.ServiceBsy = f(func(c s7Cell) float64 { return c.ServiceBsy })
	for _, c := range cs {
		m.Drops = max(m.Drops, c.Drops)
		m.Lost = max(m.Lost, c.Lost)
		m.Backwards = max(m.Backwards, c.Backwards)
	}
	return m
}

// pair is the cell of replicas and watchers at rate, or nil.
func (s *s7Result) pair(replicas, watchers int, rate float64) *s7Pair {
	for _, p := range s.pairs() {
		if p.Replicas == replicas && p.Watchers == watchers && p.Rate == rate {
			return &p
		}
	}
	return nil
}

// summaryS7 is S7's rows of the summary table.
func summaryS7(b *strings.Builder, s *s7Result, quick bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	var worst *s7Pair
	drops, lineDrops := 0, 0
	for _, pr := range s.pairs() {
		if pr.Replicas != 1 {
			continue
		}
		drops += pr.Ticket.Drops
		lineDrops += pr.Line.Drops
		// A NaN ratio (no pair) is the worst: it cannot be judged met.
		if worst == nil || math.IsNaN(pr.RedisRatio) || (!math.IsNaN(worst.RedisRatio) && pr.RedisRatio > worst.RedisRatio) {
			pr := pr
			worst = &pr
		}
	}
	if worst != nil {
		r := worst.RedisRatio
		p("| S7 | Redis ms per move, watchers on their own tickets, worst cell (%d watchers, %g moves/s; ratio: median over %d back-to-back pairs) | %s ms | %s ms (the same watchers on the line only) | %s× | ≤ %.1f× at every N | %s |\n",
			worst.Watchers, worst.Rate, len(worst.Pairs), f2(worst.Ticket.RedisMs), f2(worst.Line.RedisMs), f2(r), s7RedisTarget, verdict(r <= s7RedisTarget))
	}
	if pr := s.pair(1, s7P99AtWatchers, s7P99AtRate); pr != nil {
		r := pr.P99Ratio
		p("| S7 | delivery p99 of the new position, %d watchers, %g moves/s (ratio: median over %d back-to-back pairs) | %s ms | %s ms (line only) | %s× | ≤ %.2f× | %s |\n",
			s7P99AtWatchers, s7P99AtRate, len(pr.Pairs), f1(pr.Ticket.P99ms), f1(pr.Line.P99ms), f2(r), s7P99Target, verdict(r <= s7P99Target))
	} else {
		p("| S7 | delivery p99 of the new position, %d watchers, %g moves/s | not measured in this run | | | ≤ %.2f× | %s |\n",
			s7P99AtWatchers, s7P99AtRate, s7P99Target, map[bool]string{true: "not checked (quick)", false: "**missed**"}[quick])
	}
	if worst != nil {
		p("| S7 | drops, watchers on their own tickets, every cell | %d | %d (line only) | | 0 | %s |\n", drops, lineDrops, verdict(drops == 0))
	}
	for _, pr := range s.pairs() {
		if pr.Replicas == 1 {
			continue
		}
		rr, rp := pr.RedisRatio, pr.P99Ratio
		p("| S7 | %d replicas × %d watchers, %g moves/s: Redis ms per move (ratio: median over %d back-to-back pairs) | %s ms | %s ms (line only) | %s× | ≤ %.1f× | %s |\n",
			pr.Replicas, pr.Watchers/pr.Replicas, pr.Rate, len(pr.Pairs), f2(pr.Ticket.RedisMs), f2(pr.Line.RedisMs), f2(rr), s7RedisTarget, verdict(rr <= s7RedisTarget))
		p("| S7 | %d replicas × %d watchers, %g moves/s: delivery p99, drops (ratio: median over %d back-to-back pairs) | %s ms, %d drops | %s ms, %d drops (line only) | %s× | ≤ %.2f×, 0 drops | %s |\n",
			pr.Replicas, pr.Watchers/pr.Replicas, pr.Rate, len(pr.Pairs), f1(pr.Ticket.P99ms), pr.Ticket.Drops, f1(pr.Line.P99ms), pr.Line.Drops, f2(rp), s7P99Target,
			verdict(rp <= s7P99Target && pr.Ticket.Drops == 0))
	}
}

// reportS7 is S7's section: how it runs, the table, the charts and the
// scaling on paper.
func reportS7(b *strings.Builder, s *s7Result, docsDir string) error {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## S7 — the waiting room\n\n")
	p("Everyone in line has the page open on their own ticket. For each watcher count, fresh catqms processes (`--counters 1 --head-window 24h --view-window 24h`, ")
	p("and, so the bench's load is allowed, `%s` (N: the watchers per replica) on top of the common `--take-rate off --max-ws-per-ip 100000` and `--max-tickets-per-ip`: ", strings.Join(s.Flags, " "))
	p("every WebSocket comes from loopback, a trusted proxy, so the per-address cap does not apply to it and the total cap must hold them all; `scripts/bench.sh` raises the open-file limit to its hard limit). ")
	p("The line is filled over HTTP: first the head's tickets, which the moves go through, then one ticket per watcher, each taken with an `X-Forwarded-For` of its own; ")
	p("each watcher opens `/api/v1/ws` as that address, one WebSocket per ticket, spread evenly over the replicas. ")
	p("A *move* is what the head does when a visitor comes: the called ticket is redeemed (`POST /api/v1/kitty`), then ended (`DELETE /api/v1/kitty`), which calls the next. ")
	p("The redeem takes the called ticket out of the line, so every waiting ticket's position drops by one, and the snapshot's length too. ")
	p("The bench records the time just before it sends the redeem, then makes the moves at a fixed pace (all to the first replica); each watcher's position after k moves is known (its position when taken, less k).\n\n")
	p("The same connections are measured in two modes. *Line only* is the ceiling, what the feed costs when no ticket has to be shown: the connection watches nothing (it has sent nothing, or its watch has ended) and gets the line's snapshots. ")
	p("*Own ticket*: each watcher has sent `{\"type\":\"watch\",\"token\":…}` with its own ticket's token. ")
	p("The protocol has no message that stops a watch, so to go back to the line only each watcher sends a watch with the token of the head ticket the last move ended: ")
	p("the service answers with that ticket's final state (`served`) and ends the watch, as it ends every watch of a finished ticket, which leaves the session as one that never watched. ")
	p("A switch is made while the head stands still; the bench waits for every watcher's answer, and for every watcher to show every move made in the new mode, before it goes on. ")
	if s.Pairs > 0 {
		p("The two modes are measured in *pairs*: a line-only window and an own-ticket window back to back, at the same pace. ")
		p("For each pace in turn a run makes %s at the target pace (%g moves/s) and one at the others; each pair starts in the mode the window before it ended in, ", map[bool]string{true: "one pair", false: fmt.Sprintf("%d pairs", s.Pairs)}[s.Pairs == 1], s7P99AtRate)
		p("so the watchers switch once per pair and the order alternates (line, own | own, line | line, own …; two pairs at a pace are ABBA, which cancels a drift of the box's load that is linear in time), ")
		p("and every other repetition starts with the own-ticket mode, so that each order comes about as often. ")
	} else {
		p("(This run predates the pairs: each run measured every line-only window, then every own-ticket one; its one pair per pace and run is those two windows.) ")
	}
	p("*Delivery* of move k to a watcher is the arrival of the first message that shows it — a `snapshot` whose `length` shows it (line only), a `ticket` message about its own ticket whose `position` shows it (own ticket) — minus the move's trigger; ")
	p("a coalesced message delivers several moves. A *drop* is a watcher whose last message did not show the window's last move %s after it was made, or that lost its connection; ", s.Grace)
	p("*out of order* counts messages that showed an older line than one before. ")
	p("*Redis ms per move* is Redis's own CPU time (INFO cpu, `used_cpu_user` + `used_cpu_sys`) from just before the window's first move until every watcher showed its last one (or the grace ended), over the moves: ")
	p("the moves' scripts, every replica's snapshot reads and whatever the feed reads per watcher. *catqms* is the same for the catqms processes (`/proc/PID/stat` utime + stime, summed over the replicas); ")
	p("*busy* is that CPU time over the window's wall time, as a share of one core. Windows: %s at %v moves/s; the multi-replica run at %v moves/s. ", strings.Join(s.Windows, ", "), s.Rates, s.RepRates)
	p("A move is made only after the one before was answered; when the service cannot keep the pace the window stops making moves at twice its length, and *made* shows the pace it kept. ")
	p("Every window opens with %s of unmeasured moves at its pace (at least two), then waits until every watcher shows them: the first moves after a quiet spell or a switch are not the pace's. Each run is repeated %d times with fresh processes, going round every count in turn. ", s7LeadIn, s.reps())
	p("In the table each figure of a mode is the median over every window of that mode in the cell (drops, lost connections and out-of-order messages: the worst window's). ")
	p("The two *ratios* are not the quotients of those medians: each is the median, over every pair of the cell (repetitions × pairs per run), of the pair's own ratio, its own-ticket figure over its line-only figure. ")
	p("Every median here is the middle value, or with an even count the mean of the two middle ones. ")
	p("The two windows of a pair run seconds apart on the same processes and connections, so a busy spell of this shared 2-core box that outlasts a pair weighs on both and cancels in its ratio, ")
	p("and the median keeps a spell that falls on one window of one pair from moving the result; the quotient of the medians compares windows measured up to minutes apart, and is given beside it in the list of pairs. ")
	p("catqms runs on CPU 1 — in the multi-replica run all %d replicas share it, as they share the one Redis — and Redis and the load generator (which reads every watcher's messages) share CPU 0.\n\n", s.Replicas)
	if s.Skipped != "" {
		p("%s\n\n", s.Skipped)
	}
	p("| replicas | watchers | moves/s (made: line / own) | line only p50 / p99 ms | own ticket p50 / p99 ms | p99 ratio (median of pairs) | Redis ms per move, line / own | Redis ratio (median of pairs) | Redis busy, line / own | catqms ms per move, line / own | catqms busy, line / own | drops (lost), line / own | out of order |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, pr := range s.pairs() {
		l, t := pr.Line, pr.Ticket
		p("| %d | %d | %g (%s / %s) | %s / %s | %s / %s | **%s×** | %s / %s | **%s×** | %.0f %% / %.0f %% | %s / %s | %.0f %% / %.0f %% | %d (%d) / %d (%d) | %d / %d |\n",
			pr.Replicas, pr.Watchers, pr.Rate, f1(l.Achieved), f1(t.Achieved),
			f1(l.P50ms), f1(l.P99ms), f1(t.P50ms), f1(t.P99ms), f2(pr.P99Ratio),
			f2(l.RedisMs), f2(t.RedisMs), f2(pr.RedisRatio), 100*l.RedisBusy, 100*t.RedisBusy,
			f1(l.ServiceMs), f1(t.ServiceMs), 100*l.ServiceBsy, 100*t.ServiceBsy,
			l.Drops, l.Lost, t.Drops, t.Lost, l.Backwards, t.Backwards)
	}
	pairsS7(b, s)
	p("\nSet-up of each run (taking the tickets over HTTP; opening the WebSockets; the first switch to own tickets and the first back to the line only, each from the first watch message to the last one's answer; the switches in all) and catqms's RSS growth per watcher: ")
	var setup []string
	for _, run := range s.Runs {
		setup = append(setup, fmt.Sprintf("%d×%d (rep %d): %s, %s, %s, %s, %d switches, %s KB line only, %s KB own ticket",
			run.Replicas, run.Watchers, run.Rep, run.Fill, run.Connect, orDash(run.Watch), orDash(run.Unwatch), run.Switches, f1(run.LineKB), f1(run.TicketKB)))
	}
	p("%s.\n\n", strings.Join(setup, "; "))
	if err := chartS7Redis(s, filepath.Join(docsDir, "bench-s7-redis.png")); err != nil {
		return err
	}
	if err := chartS7Delivery(s, filepath.Join(docsDir, "bench-s7-delivery.png")); err != nil {
		return err
	}
	p("![Redis CPU per move vs watchers](docs/bench-s7-redis.png)\n\n")
	p("![delivery p99 of the new position vs watchers](docs/bench-s7-delivery.png)\n\n")
	if m := s.Memory; m != nil {
		p("### The read model's memory and load time\n\n")
		p("%d tickets are taken through the take script by 64 clients of the same `redisline.Line` catqms runs, in this process, and every tenth (%d) leaves as soon as taken, ", m.Taken, m.Left)
		p("so that %d wait and the load also reads the list of departed seqs, as in a line people leave (%s, %s takes/s); ", m.Waiting, m.Fill, f0(m.FillRate))
		p("then loaded %s into a fresh `readmodel.Replica` (`Sync`: the line read in pages, then the log applied)", map[bool]string{true: "once", false: fmt.Sprintf("%d times, each", len(m.Loads))}[len(m.Loads) == 1])
		if m.LoadCPU != "" {
			p(", the loader on CPU %s, a core of its own as a replica's, Redis on the other", m.LoadCPU)
		}
		p(". Memory is the live heap (`runtime.MemStats.HeapAlloc` after a GC) after the load less before, over the tickets.\n\n")
		p("| tickets in line | load time (median) | pages | heap per ticket | the model's own count of its waiting set, per ticket | Redis per ticket (used_memory growth over the fill) |\n|---|---|---|---|---|---|\n")
		p("| %d | %s ms | %d | %s bytes | %s bytes | %s bytes |\n\n", m.Waiting, f0(m.LoadMs), m.Pages, f1(m.HeapBytes), f1(m.SetBytes), f0(m.RedisBytes))
		var loads []string
		for _, l := range m.Loads {
			loads = append(loads, fmt.Sprintf("%s ms, %s MB", f0(l.Ms), f1(float64(l.HeapBytes)/(1<<20))))
		}
		p("Each load: %s.\n\n", strings.Join(loads, "; "))
	}
	paperS7(b, s)
	return nil
}

// s7Costs are the per-move costs the scaling on paper is drawn from, at
// one pace, from one run's figures.
type s7Costs struct {
	Rate           float64
	RedisLine      float64 // Redis ms per move, one replica, line only (median over N)
	RedisPerWatch  float64 // Redis ms per move per watcher on its own ticket, over the line only
	RedisPerRep    float64 // Redis ms per move each replica beyond the first adds (line only)
	SvcLineBase    float64 // catqms ms per move, line only: fixed part …
	SvcLinePerW    float64 // … and per watcher
	SvcTicketBase  float64 // the same, own tickets
	SvcTicketPerW  float64
	KBPerWatcher   float64 // catqms RSS per watcher on its own ticket (largest N)
	Counts         []int
	ReplicaMeasure bool // RedisPerRep comes from a multi-replica run
}

// costsS7 draws the per-move costs at rate from the one-replica cells
// (and the multi-replica one, for what a replica adds).
func costsS7(s *s7Result, rate float64) (s7Costs, bool) {
	c := s7Costs{Rate: rate}
	var ns, lineRedis, perW, svcLine, svcTicket []float64
	for _, pr := range s.pairs() {
		if pr.Replicas != 1 || pr.Rate != rate {
			continue
		}
		n := float64(pr.Watchers)
		c.Counts = append(c.Counts, pr.Watchers)
		ns = append(ns, n)
		lineRedis = append(lineRedis, pr.Line.RedisMs)
		perW = append(perW, max(pr.Ticket.RedisMs-pr.Line.RedisMs, 0)/n)
		svcLine = append(svcLine, pr.Line.ServiceMs)
		svcTicket = append(svcTicket, pr.Ticket.ServiceMs)
	}
	if len(ns) == 0 {
		return c, false
	}
	c.RedisLine = median(lineRedis)
	c.RedisPerWatch = median(perW)
	c.SvcLineBase, c.SvcLinePerW = fitLine(ns, svcLine)
	c.SvcTicketBase, c.SvcTicketPerW = fitLine(ns, svcTicket)
	largest := 0
	for _, run := range s.Runs {
		if run.Replicas == 1 && run.Watchers > largest {
			largest = run.Watchers
		}
	}
	var kb []float64
	for _, run := range s.Runs {
		if run.Replicas == 1 && run.Watchers == largest {
			kb = append(kb, run.TicketKB)
		}
	}
	c.KBPerWatcher = median(kb)
	for _, pr := range s.pairs() {
		if pr.Replicas > 1 && pr.Rate == rate {
			c.RedisPerRep = max(pr.Line.RedisMs-c.RedisLine, 0) / float64(pr.Replicas-1)
			c.ReplicaMeasure = true
		}
	}
	return c, true
}

// fitLine is the least-squares line y = a + b·x; with one point, the line
// through the origin (all of the cost taken as per-x: an upper bound).
func fitLine(xs, ys []float64) (a, b float64) {
	if len(xs) == 1 {
		return 0, ys[0] / xs[0]
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(xs))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0, my / mx
	}
	b = max(sxy/sxx, 0)
	return max(my-b*mx, 0), b
}

// capacity is how many watchers a budget of ms per second holds at rate
// moves/s when a move costs base + perW·N ms (∞ when nothing grows with N).
func capacity(budget, rate, base, perW float64) float64 {
	if perW <= 0 {
		return math.Inf(1)
	}
	return math.Max((budget/rate-base)/perW, 0)
}

// fmtCount writes a count of people for the paper section.
func fmtCount(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "no limit from this part"
	case math.IsNaN(x):
		return "–"
	case x >= 1e6:
		return fmt.Sprintf("%.1f million", x/1e6)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}

// paperS7 is "scaling on paper": what the measured costs add up to for
// one line on one Redis, and for a line of a million people.
func paperS7(b *strings.Builder, s *s7Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	c, ok := costsS7(s, s7PaperRate)
	if !ok {
		return
	}
	p("### Scaling on paper\n\n")
	p("Drawn from this run's costs, one replica (watcher counts %v), extended in straight lines: a sketch of where the limits are, not a measurement of them. ", c.Counts)
	p("Redis runs commands on one thread, so one Redis can spend at most %.0f ms of CPU a second on the line; a replica here has one core, %.0f ms a second. ", redisCoreMs, serviceCoreMs)
	p("Nothing is left for headroom: plan for about half. Each pace uses the costs measured at that pace (a faster head coalesces more moves into one refresh, so a move costs less). ")
	p("Redis's cost per watcher is the own-ticket cell's Redis time over the line-only cell's, per watcher (median over the counts); ")
	p("where catqms's core is full it refreshes its watchers less often than the moves come, which lowers that cost, so at large counts it is if anything too low. ")
	p("catqms's cost is a least-squares line over the counts: a fixed part per move and a part per watcher.\n\n")
	p("| moves/s | Redis per move, line only | Redis per move per watcher on its own ticket | Redis holds, own tickets | catqms per move, line only | catqms per move, own tickets | one replica holds, line only | one replica holds, own tickets |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range s.Rates {
		cr, ok := costsS7(s, r)
		if !ok {
			continue
		}
		p("| %g | %s ms | %s µs | %s | %s ms + %s µs × N | %s ms + %s µs × N | %s | %s |\n", r,
			f2(cr.RedisLine), f2(1000*cr.RedisPerWatch), fmtCount(capacity(redisCoreMs, r, cr.RedisLine, cr.RedisPerWatch)),
			f1(cr.SvcLineBase), f2(1000*cr.SvcLinePerW), f1(cr.SvcTicketBase), f2(1000*cr.SvcTicketPerW),
			fmtCount(capacity(serviceCoreMs, r, cr.SvcLineBase, cr.SvcLinePerW)),
			fmtCount(capacity(serviceCoreMs, r, cr.SvcTicketBase, cr.SvcTicketPerW)))
	}
	p("\n")
	if c.ReplicaMeasure {
		p("Each replica beyond the first adds %s ms of Redis per move at %g moves/s (its own snapshot reads: the %d-replica line-only cell over the one-replica ones). ", f2(c.RedisPerRep), c.Rate, s.Replicas)
	} else {
		p("What a replica beyond the first adds to Redis was not measured in this run (taken as 0 below). ")
	}
	p("**One line on one Redis**, then: on the line only, Redis's cost per move does not grow with the watchers, so Redis alone allows %s moves/s with one replica; ",
		f0(redisCoreMs/c.RedisLine))
	p("with every watcher on its own ticket, Redis fills at the counts in the table, and the head can move at most %s times a second with 10,000 such watchers, %s with 100,000.\n\n",
		f1(redisCoreMs/(c.RedisLine+c.RedisPerWatch*1e4)), f2(redisCoreMs/(c.RedisLine+c.RedisPerWatch*1e5)))

	const people = 1e6
	perReplica := capacity(serviceCoreMs, c.Rate, c.SvcTicketBase, c.SvcTicketPerW)
	p("**A million people in line**, each watching their own ticket, the head moving %g times a second. ", c.Rate)
	if perReplica < 1 || math.IsInf(perReplica, 1) {
		p("This run's catqms cost at that pace does not give a replica count.\n\n")
		return
	}
	replicas := math.Ceil(people / perReplica)
	redisLine := c.RedisLine + (replicas-1)*c.RedisPerRep
	redisPerMove := redisLine + c.RedisPerWatch*people
	p("At this run's catqms cost a replica (one core) holds %s of them, so %.0f replicas", fmtCount(perReplica), replicas)
	if c.KBPerWatcher > 0 {
		p(" (%s GB of catqms memory in all at %s KB each)", f1(people*c.KBPerWatcher/1024/1024), f1(c.KBPerWatcher))
	}
	p(". Redis would spend %s ms on each move — %s ms for the line and the replicas' snapshots, %s ms for the watchers' own tickets — ",
		f0(redisPerMove), f1(redisLine), f0(c.RedisPerWatch*people))
	if busy := c.Rate * redisPerMove / redisCoreMs; busy <= 1 {
		p("%.0f %% of its core at %g moves/s: it holds.", 100*busy, c.Rate)
	} else {
		p("%.1f× its core at %g moves/s: it cannot; the most the head could move is %s times a second.", busy, c.Rate, f2(redisCoreMs/redisPerMove))
	}
	if m := s.Memory; m != nil && m.HeapBytes > 0 {
		p(" Each replica's read model holds the whole line: %s MB at %s bytes per ticket", f1(people*m.HeapBytes/(1<<20)), f1(m.HeapBytes))
		if m.Waiting == int64(people) {
			p(", loaded in %s ms.", f0(m.LoadMs))
		} else {
			p(" (measured at %d), loaded in about %s ms (%s ms at %d, in proportion).", m.Waiting, f0(m.LoadMs*people/float64(m.Waiting)), f0(m.LoadMs), m.Waiting)
		}
	}
	p(" Were the watchers to cost Redis nothing beyond the line-only ceiling, Redis would spend %s ms a move (%.0f %% of its core at %g moves/s, or at most %s moves/s), ",
		f1(redisLine), 100*c.Rate*redisLine/redisCoreMs, c.Rate, f1(redisCoreMs/redisLine))
	p("and the replicas' CPU — which more replicas raise — would be the limit.\n\n")
}

// chartS7Redis draws Redis CPU per move against watchers, own tickets and
// line only, at each pace.
func chartS7Redis(s *s7Result, file string) error {
	return chartS7(s, file, "S7: Redis CPU per move vs watchers (one replica)", "Redis ms per move (INFO cpu)",
		func(c s7Cell) float64 { return c.RedisMs }, s7RedisTarget)
}

// chartS7Delivery draws the delivery p99 against watchers.
func chartS7Delivery(s *s7Result, file string) error {
	return chartS7(s, file, "S7: move → new position shown, p99 vs watchers (one replica)", "ms",
		func(c s7Cell) float64 { return c.P99ms }, s7P99Target)
}

// chartS7 draws y of the own-ticket and line-only cells against watchers
// at each pace, and the target: target × the line only at s7P99AtRate.
func chartS7(s *s7Result, file, title, ylabel string, y func(s7Cell) float64, target float64) error {
	pl := plot.New()
	pl.Title.Text = title
	pl.X.Label.Text = "watchers"
	pl.Y.Label.Text = ylabel
	var args []any
	for _, rate := range s.Rates {
		var own, line plotter.XYs
		for _, pr := range s.pairs() {
			if pr.Replicas == 1 && pr.Rate == rate {
				own = append(own, plotter.XY{X: float64(pr.Watchers), Y: y(pr.Ticket)})
				line = append(line, plotter.XY{X: float64(pr.Watchers), Y: y(pr.Line)})
			}
		}
		args = append(args, fmt.Sprintf("own ticket @ %g moves/s", rate), own, fmt.Sprintf("line only @ %g moves/s", rate), line)
	}
	if err := plotutil.AddLinePoints(pl, args...); err != nil {
		return err
	}
	var bound plotter.XYs
	for _, pr := range s.pairs() {
		if pr.Replicas == 1 && pr.Rate == s7P99AtRate {
			bound = append(bound, plotter.XY{X: float64(pr.Watchers), Y: target * y(pr.Line)})
		}
	}
	if len(bound) > 0 {
		l, err := plotter.NewLine(bound)
		if err != nil {
			return err
		}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
		pl.Add(l)
		pl.Legend.Add(fmt.Sprintf("target: %g × line only @ %g moves/s", target, s7P99AtRate), l)
	}
	pl.Y.Min = 0
	pl.Legend.Top = true
	pl.Legend.Left = true
	return pl.Save(8*vg.Inch, 4.5*vg.Inch, file)
}

// reps is how many times each run was made.
func (s *s7Result) reps() int {
	n := 0
	for _, run := range s.Runs {
		n = max(n, run.Rep)
	}
	return n
}

// orDash is s, or "–" when it is empty (a switch a run did not make).
func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// pairsS7 lists every pair of every cell: the figures the ratios are the
// medians of, in the order measured.
func pairsS7(b *strings.Builder, s *s7Result) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("\nEvery pair, in the order measured: repetition.pair, the order of its windows (LO: line only first; OL: own ticket first), delivery p99 line only / own ticket in ms and their ratio, then the pair's Redis ratio (and the pace each window made, where one fell short of the pace asked by more than 5 %%). ")
	p("Beside them, the medians of the pairs' ratios (the table's) and the quotients of the medians.\n\n")
	p("| replicas | watchers | moves/s | pairs | p99 ratio: median of pairs / of medians | Redis ratio: median of pairs / of medians |\n|---|---|---|---|---|---|\n")
	for _, pr := range s.pairs() {
		var list []string
		for _, t := range pr.Pairs {
			order := "OL"
			if t.LineFirst {
				order = "LO"
			}
			made := ""
			if min(t.Line.Achieved, t.Ticket.Achieved) < 0.95*pr.Rate {
				made = fmt.Sprintf(", made %s / %s moves/s", f1(t.Line.Achieved), f1(t.Ticket.Achieved))
			}
			list = append(list, fmt.Sprintf("%d.%d %s %s / %s = %s× (Redis %s×%s)", t.Rep, t.Pair, order,
				f0(t.Line.P99ms), f0(t.Ticket.P99ms), f2(t.P99Ratio()), f2(t.RedisRatio()), made))
		}
		p("| %d | %d | %g | %s | %s× / %s× | %s× / %s× |\n", pr.Replicas, pr.Watchers, pr.Rate, strings.Join(list, "; "),
			f2(pr.P99Ratio), f2(ratio(pr.Ticket.P99ms, pr.Line.P99ms)), f2(pr.RedisRatio), f2(ratio(pr.Ticket.RedisMs, pr.Line.RedisMs)))
	}
}
