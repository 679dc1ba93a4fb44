package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// s4Result: WebSocket fan-out of catqms against a bare gorilla/websocket hub
// on the same clients, at several watcher counts and change rates.
type s4Result struct {
	Watchers []int      `json:"watchers"`
	Rates    []float64  `json:"rates"`
	Windows  []string   `json:"windows"`
	Skipped  string     `json:"skipped,omitempty"`
	Points   []s4Point  `json:"points"` // medians over reps
	Memory   []s4Memory `json:"memory"` // medians over reps
	Raw      []s4Run    `json:"raw"`
}

// s4Point is one (watchers, rate) cell: catqms and the bare hub.
type s4Point struct {
	Watchers int         `json:"watchers"`
	Rate     float64     `json:"rate"`
	Catqms   windowStats `json:"catqms"`
	Bare     windowStats `json:"bare"`
}

type s4Memory struct {
	Watchers   int     `json:"watchers"`
	CatqmsKB   float64 `json:"catqms_kb_per_conn"`
	BareKB     float64 `json:"bare_kb_per_conn"`
	CatqmsBase float64 `json:"catqms_base_kb"`
	BareBase   float64 `json:"bare_base_kb"`
}

// s4Run is one server's run with n watchers.
type s4Run struct {
	Target   string        `json:"target"` // catqms or bare
	Rep      int           `json:"rep"`
	Watchers int           `json:"watchers"`
	BaseKB   int64         `json:"rss_before_kb"`
	IdleKB   int64         `json:"rss_idle_kb"`
	PerConn  float64       `json:"kb_per_idle_conn"`
	Connect  string        `json:"connect_time"`
	Windows  []windowStats `json:"windows"`
}

// prefill is how many tickets the line holds before watchers connect, so
// that a snapshot lists its full 64 waiting tickets from the start and the
// bare hub's messages can be the same size.
const prefill = 70

func runS4(ctx context.Context, e *env) (*s4Result, error) {
	counts := []int{1000, 5000, 10000, 15000}
	rates := []float64{1, 5, 20}
	windows := []time.Duration{5 * time.Second, 3 * time.Second, 3 * time.Second}
	if e.quick {
		counts = []int{1000}
		windows = []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}
	}
	if len(e.s4Watchers) > 0 {
		counts = e.s4Watchers
	}
	if len(e.s4Rates) > 0 {
		rates = e.s4Rates
		windows = windows[:0]
		for range rates {
			windows = append(windows, 5*time.Second)
		}
	}
	res := &s4Result{Rates: rates}
	for _, w := range windows {
		res.Windows = append(res.Windows, w.String())
	}
	for _, n := range counts {
		if n > e.maxWatch {
			res.Skipped += fmt.Sprintf("%d watchers skipped: the open-file limit is %d per process. ", n, e.maxWatch+200)
			continue
		}
		res.Watchers = append(res.Watchers, n)
	}
	snapSize := 0
	for rep := 1; rep <= e.reps; rep++ {
		for _, n := range res.Watchers {
			for _, target := range []string{"catqms", "bare"} {
				run, size, err := s4Once(ctx, e, target, n, rep, rates, windows, snapSize)
				if err != nil {
					return nil, fmt.Errorf("%s with %d watchers: %w", target, n, err)
				}
				if size > 0 {
					snapSize = size
				}
				res.Raw = append(res.Raw, run)
			}
		}
	}
	// Medians over the repetitions, per cell.
	for _, n := range res.Watchers {
		runs := map[string][]s4Run{}
		for _, r := range res.Raw {
			if r.Watchers == n {
				runs[r.Target] = append(runs[r.Target], r)
			}
		}
		res.Memory = append(res.Memory, s4Memory{
			Watchers:   n,
			CatqmsKB:   medianOf(runs["catqms"], func(r s4Run) float64 { return r.PerConn }),
			BareKB:     medianOf(runs["bare"], func(r s4Run) float64 { return r.PerConn }),
			CatqmsBase: medianOf(runs["catqms"], func(r s4Run) float64 { return float64(r.BaseKB) }),
			BareBase:   medianOf(runs["bare"], func(r s4Run) float64 { return float64(r.BaseKB) }),
		})
		for i, rate := range rates {
			res.Points = append(res.Points, s4Point{Watchers: n, Rate: rate,
				Catqms: medianWindow(runs["catqms"], i), Bare: medianWindow(runs["bare"], i)})
		}
	}
	return res, nil
}

// medianWindow is the median of each figure of window i over runs; drops
// and lost connections are the worst run's.
func medianWindow(runs []s4Run, i int) windowStats {
	ws := make([]windowStats, 0, len(runs))
	for _, r := range runs {
		if i < len(r.Windows) {
			ws = append(ws, r.Windows[i])
		}
	}
	if len(ws) == 0 {
		return windowStats{}
	}
	m := ws[0]
	f := func(g func(windowStats) float64) float64 { return medianOf(ws, g) }
	m.MsgsPerS = f(func(w windowStats) float64 { return w.MsgsPerS })
	m.DelivPerS = f(func(w windowStats) float64 { return w.DelivPerS })
	m.P50ms = f(func(w windowStats) float64 { return w.P50ms })
	m.P99ms = f(func(w windowStats) float64 { return w.P99ms })
	m.MaxMs = f(func(w windowStats) float64 { return w.MaxMs })
	m.FanP50ms = f(func(w windowStats) float64 { return w.FanP50ms })
	m.FanP99ms = f(func(w windowStats) float64 { return w.FanP99ms })
	for _, w := range ws {
		m.Drops = max(m.Drops, w.Drops)
		m.Down = max(m.Down, w.Down)
	}
	return m
}

// s4Once starts a fresh server, measures its RSS before and after n idle
// watchers connect, then runs one window per rate.
func s4Once(ctx context.Context, e *env, target string, n, rep int, rates []float64, windows []time.Duration, snapSize int) (s4Run, int, error) {
	run := s4Run{Target: target, Rep: rep, Watchers: n}
	var (
		srv     *proc
		wsURL   string
		trigger func(ctx context.Context, length int64) error
		err     error
		size    int
	)
	client := httpClient(4)
	switch target {
	case "catqms":
		if err := e.flush(ctx); err != nil {
			return run, 0, err
		}
		srv, err = e.startCatqms(ctx, fmt.Sprintf("s4-catqms-%d", n), catqmsOpts{counters: 1, headWindow: "24h"})
		if err != nil {
			return run, 0, err
		}
		base := "http://" + srv.addr
		wsURL = "ws://" + srv.addr + "/api/v1/ws"
		trigger = func(ctx context.Context, _ int64) error {
			_, err := takeTicket(ctx, client, base, "10.9.9.9")
			return err
		}
		for i := int64(1); i <= prefill; i++ {
			if err := trigger(ctx, i); err != nil {
				srv.stop()
				return run, 0, err
			}
		}
		time.Sleep(300 * time.Millisecond) // the feed's snapshot of the prefill
		resp, err := client.Get(base + "/api/v1/queue")
		if body, err2 := must200(resp, err); err2 == nil {
			size = len(body) + len(`"type":"snapshot",`)
		}
	case "bare":
		port, err := freePort()
		if err != nil {
			return run, 0, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if snapSize == 0 {
			snapSize = 1400
		}
		srv, err = e.start(fmt.Sprintf("s4-bare-hub-%d", n), e.serviceCPU, e.benchBin, "bare-hub", "--addr", addr, "--size", fmt.Sprint(snapSize))
		if err != nil {
			return run, 0, err
		}
		srv.addr = addr
		if err := srv.waitHTTP(ctx, "http://"+addr+"/readyz"); err != nil {
			srv.stop()
			return run, 0, err
		}
		wsURL = "ws://" + addr + "/ws"
		trigger = func(ctx context.Context, length int64) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://%s/change?length=%d", addr, length), nil)
			_, err := must200(client.Do(req))
			return err
		}
		if err := trigger(ctx, prefill); err != nil {
			srv.stop()
			return run, 0, err
		}
	}
	defer srv.stop()

	time.Sleep(time.Second)
	if run.BaseKB, err = rssKB(srv.pid()); err != nil {
		return run, 0, err
	}
	total := int64(prefill + 1)
	for i, r := range rates {
		total += int64(r*windows[i].Seconds()) + 2
	}
	cl := newChangeLog(int(total))
	t0 := time.Now()
	ws, err := connectWatchers(ctx, wsURL, n, cl)
	if err != nil {
		return run, 0, err
	}
	defer ws.close()
	run.Connect = time.Since(t0).Round(time.Millisecond).String()
	time.Sleep(2 * time.Second) // idle: only the feed's resync, which sends nothing new
	if run.IdleKB, err = rssKB(srv.pid()); err != nil {
		return run, 0, err
	}
	run.PerConn = float64(run.IdleKB-run.BaseKB) / float64(n)

	length := int64(prefill)
	for i, rate := range rates {
		count := max(int64(rate*windows[i].Seconds()), 3)
		interval := time.Duration(float64(time.Second) / rate)
		first := length + 1
		start := time.Now()
		ws.collect(0, -1, 1) // forget what came before the window
		for k := int64(0); k < count; k++ {
			if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
				time.Sleep(d)
			}
			length++
			cl.at[length].Store(time.Now().UnixNano())
			if err := trigger(ctx, length); err != nil {
				return run, 0, fmt.Errorf("trigger change %d: %w", length, err)
			}
		}
		ws.waitSeen(length, 3*time.Second)
		st := ws.collect(first, length, float64(count)/rate)
		run.Windows = append(run.Windows, st)
		e.log("s4 %s rep %d: %d watchers, %g changes/s: p50 %.1fms p99 %.1fms (fan-out p99 %.1fms), %.0f msgs/s, %.0f deliveries/s, drops %d, lost %d",
			target, rep, n, rate, st.P50ms, st.P99ms, st.FanP99ms, st.MsgsPerS, st.DelivPerS, st.Drops, st.Down)
		if ctx.Err() != nil {
			return run, 0, ctx.Err()
		}
	}
	e.log("s4 %s rep %d: %d watchers connected in %s; RSS %d → %d kB: %.1f kB per idle connection",
		target, rep, n, run.Connect, run.BaseKB, run.IdleKB, run.PerConn)
	return run, size, nil
}
