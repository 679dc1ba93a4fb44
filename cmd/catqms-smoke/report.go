package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// report is the outcome of a smoke run.
type report struct {
	visits   int
	byPlan   map[string]map[string]int // plan → final state → visits
	redeems  int                       // 200 answers to redeems
	problems []string

	visitTime  time.Duration
	drained    time.Duration
	lineErr    error
	issued     int
	metricsErr error
	watch      []watchStats // one per watcher
	retries    map[string]int
}

// check accounts for every visit's ticket: a final state of served,
// expired or left that agrees with what the holder did; no record lost; no
// ticket with two sessions; no label given to two tokens.
func check(visits []*visit) *report {
	r := &report{visits: len(visits), byPlan: map[string]map[string]int{}}
	bad := func(v *visit, format string, args ...any) {
		r.problems = append(r.problems, fmt.Sprintf("visit %d (%s, ticket %s): ", v.n, v.plan, v.label)+fmt.Sprintf(format, args...))
	}
	labels := map[string]int{}
	for _, v := range visits {
		if r.byPlan[v.plan] == nil {
			r.byPlan[v.plan] = map[string]int{}
		}
		outcome := v.final
		switch {
		case v.err != nil:
			outcome = "error"
			bad(v, "%v", v.err)
		case v.lost:
			outcome = "LOST"
			bad(v, "the token answers 410: the ticket's record is gone")
		}
		r.byPlan[v.plan][outcome]++
		if v.label != "" {
			if other, dup := labels[v.label]; dup {
				bad(v, "label %s was also given to visit %d", v.label, other)
			}
			labels[v.label] = v.n
		}
		r.redeems += len(v.sessions)
		for _, s := range v.sessions[min(1, len(v.sessions)):] {
			if s != v.sessions[0] {
				bad(v, "served twice: session until %s (%s), and until %s (%s)", v.sessions[0].until, v.sessions[0].image, s.until, s.image)
			}
		}
		if v.err != nil || v.lost {
			continue
		}
		switch {
		case v.final != "served" && v.final != "expired" && v.final != "left":
			bad(v, "final state %q", v.final)
		case len(v.sessions) > 0 && v.final != "served":
			bad(v, "redeemed (until %s) but ended %s", v.sessions[0].until, v.final)
		case v.left && v.final != "left":
			bad(v, "left (204) but ended %s", v.final)
		case v.plan == planNoShow && v.final != "expired":
			bad(v, "never redeemed but ended %s", v.final)
		case v.final == "served" && len(v.sessions) == 0:
			bad(v, "served without a redeem")
		}
	}
	return r
}

// print writes the table and the verdict.
func (r *report) print(w io.Writer) {
	finals := []string{"served", "expired", "left", "LOST", "error"}
	fmt.Fprintf(w, "\ncatqms-smoke: %d visits in %v\n\n", r.visits, r.visitTime.Round(time.Millisecond))
	fmt.Fprintf(w, "%-9s", "plan")
	for _, f := range finals {
		fmt.Fprintf(w, " %8s", f)
	}
	fmt.Fprintf(w, " %8s\n", "total")
	total := map[string]int{}
	for _, plan := range []string{planServe, planNoShow, planLeave} {
		fmt.Fprintf(w, "%-9s", plan)
		sum := 0
		for _, f := range finals {
			n := r.byPlan[plan][f]
			total[f] += n
			sum += n
			fmt.Fprintf(w, " %8d", n)
		}
		fmt.Fprintf(w, " %8d\n", sum)
	}
	fmt.Fprintf(w, "%-9s", "all")
	sum := 0
	for _, f := range finals {
		sum += total[f]
		fmt.Fprintf(w, " %8d", total[f])
	}
	fmt.Fprintf(w, " %8d\n\n", sum)

	fmt.Fprintf(w, "redeem answers 200:    %d (one session per ticket, retries included)\n", r.redeems)
	if r.metricsErr != nil {
		fmt.Fprintf(w, "issued by the line:    ? (%v)\n", r.metricsErr)
	} else {
		fmt.Fprintf(w, "issued by the line:    %d (%d whose answer never reached a visitor, e.g. lost with a killed replica; they expired)\n", r.issued, r.issued-r.visits)
	}
	if r.lineErr != nil {
		fmt.Fprintf(w, "line drained:          NO: %v\n", r.lineErr)
	} else {
		fmt.Fprintf(w, "line drained:          %v after the last visit\n", r.drained.Round(time.Millisecond))
	}
	reasons := make([]string, 0, len(r.retries))
	for k, n := range r.retries {
		reasons = append(reasons, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(reasons)
	fmt.Fprintf(w, "retries:               %s\n", orNone(strings.Join(reasons, ", ")))
	for i, ws := range r.watch {
		fmt.Fprintf(w, "watcher %d (WebSocket): %d snapshots, %d stale notices, %d reconnects, last message %q\n",
			i+1, ws.snapshots, ws.stale, ws.reconnects, ws.last)
	}

	if r.lineErr != nil {
		r.problems = append(r.problems, r.lineErr.Error())
	}
	if r.metricsErr == nil && r.issued < r.visits {
		r.problems = append(r.problems, fmt.Sprintf("the line counts %d tickets issued, fewer than the %d visits were given", r.issued, r.visits))
	}
	for i, ws := range r.watch {
		if ws.versionWentBack != "" {
			r.problems = append(r.problems, fmt.Sprintf("watcher %d: %s", i+1, ws.versionWentBack))
		}
		if ws.last != "snapshot" {
			r.problems = append(r.problems, fmt.Sprintf("watcher %d: the last message is %q, want a fresh snapshot once all is back", i+1, ws.last))
		}
	}
	if len(r.problems) == 0 {
		fmt.Fprintf(w, "\nOK: every ticket is accounted for: served, expired or left; none lost, none served twice.\n")
		return
	}
	fmt.Fprintf(w, "\nFAILED: %d problems\n", len(r.problems))
	for _, p := range r.problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
