package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/catqms/catqms/frontend"
)

// openStats loads the stats page and waits until it has drawn its answers.
func (b *browser) openStats(url string) {
	b.t.Helper()
	b.run("open "+url, 15*time.Second, chromedp.Navigate(url))
	b.waitJS("the stats page to draw", 10*time.Second, `document.body.dataset.loaded === 'true'`)
}

// fakeStats is GET /api/v1/stats with three hours of flow, a wait
// distribution, rates and the estimate's accuracy, as the service fills
// them; the verdict is a violation with a long summary.
func fakeStats() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", frontend.Handler())
	start := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	mux.HandleFunc("GET /api/v1/stats", func(w http.ResponseWriter, _ *http.Request) {
		// Later than the first paint, as on a slow phone: the numbers must
		// fill space kept for them.
		time.Sleep(300 * time.Millisecond)
		var series []string
		for i := range 180 {
			series = append(series, fmt.Sprintf(`{"at":%q,"in_line":%d,"called":%d,"served":%d,"no_shows":%d,"left":%d}`,
				start.Add(time.Duration(i)*time.Minute).Format("2006-01-02T15:04:05.000Z"), 40+30*((i/20)%3), 2+i%3, 2+i%2, i%7/6, i%5/4))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"now":"2026-12-05T03:00:00.000Z","issued":900,"served":610,"expired":60,"left":150,
			"mean_wait_seconds":300,"mean_service_seconds":55,"length":80,"counters":2,"serving":1,"called":1,"eta_seconds_per_ticket":30,
			"step_seconds":60,"series":[%s],
			"wait_distribution":[{"from_seconds":0,"to_seconds":60,"count":40},{"from_seconds":60,"to_seconds":300,"count":220},
				{"from_seconds":300,"to_seconds":900,"count":300},{"from_seconds":900,"count":50}],
			"rates":{"window_seconds":3600,"calls":120,"no_shows":12,"taken":150,"left":30,"no_show_rate":0.1,"leave_rate":0.2},
			"accuracy":[{"window_seconds":3600,"calls":120,"median_ape":0.14,"inside":0.84,"naive_median_ape":0.41,"naive_inside":0.31},
				{"window_seconds":86400,"calls":0,"median_ape":null,"inside":null,"naive_median_ape":null,"naive_inside":null}],
			"history":{"retention_seconds":86400,"verify":"/api/v1/history/verify"}}`, strings.Join(series, ","))
	})
	mux.HandleFunc("GET /api/v1/history/verify", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":false,"summary":"VIOLATION (fifo) version 1800000000000007: A004 was called while A002, taken at 1800000000000003, was still waiting","entries":7,"calls":3,"resets":[],"lifts":[]}`)
	})
	return mux
}

// TestStatsPage draws /stats with every chart full (from a fake of the
// API), in every look and in Russian, audited by axe-core like the other
// pages; then on a real service, where only the totals are measured.
func TestStatsPage(t *testing.T) {
	shots := newStateShots(t)
	fake := httptest.NewServer(fakeStats())
	t.Cleanup(fake.Close)
	b := newBrowser(t)

	// Lighthouse's phone: at this width a table that widened the page
	// reflowed the totals once the numbers came (a shift of 0.25).
	b.run("Lighthouse's phone", 10*time.Second, chromedp.EmulateViewport(412, 823, chromedp.EmulateScale(1.75), chromedp.EmulateMobile))
	b.openStats(fake.URL + "/stats?lang=en")
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 412 {
		t.Errorf("the stats page is %dpx wide on a 412px phone", w)
	}
	if cls, sources := pageShift(b); cls > 0.02 {
		t.Errorf("the stats page shifts by %.3f on a phone when its numbers arrive (want ≤ 0.02): %s", cls, sources)
	}
	if n := eval[int](b, `document.querySelectorAll('#flow-chart rect.bar').length`); n != 180 {
		t.Errorf("the flow chart has %d bars, want one a minute for 3 hours (180)", n)
	}
	if n := eval[int](b, `document.querySelectorAll('#flow-table tbody tr').length`); n != 180 {
		t.Errorf("the flow table has %d rows, want 180", n)
	}
	if d := eval[string](b, `document.querySelector('#flow-chart path.trend').getAttribute('d')`); strings.Count(d, "L") != 179 {
		t.Errorf("the people-in-line line has %d segments, want 179", strings.Count(d, "L"))
	}
	if n := eval[int](b, `document.querySelectorAll('#wait-chart rect.bar').length`); n != 4 {
		t.Errorf("the wait chart has %d bars, want 4", n)
	}
	if got := b.text("#wait-table"); !strings.Contains(got, "over 15 minutes") || !strings.Contains(got, "300") {
		t.Errorf("the wait table says %q", got)
	}
	if got := b.text("#accuracy-table"); !strings.Contains(got, "14%") || !strings.Contains(got, "84%") || !strings.Contains(got, "41%") {
		t.Errorf("the accuracy table says %q; want 14%%, 84%% and the naive 41%%", got)
	}
	if got := b.text("#rates"); !strings.Contains(got, "10%") || !strings.Contains(got, "20%") {
		t.Errorf("the rates say %q", got)
	}
	if got, state := b.text("#verdict-detail"), eval[string](b, `document.querySelector('#verdict').dataset.state`); state != "violation" || !strings.Contains(got, "A004") {
		t.Errorf("the verdict is %s: %q", state, got)
	}
	shots.capture(b, "stats", "charts")
	b.openStats(fake.URL + "/stats?lang=ru")
	if got := b.text("#verdict"); !strings.Contains(got, "журнал") {
		t.Errorf("in Russian the verdict says %q", got)
	}
	shots.capture(b, "stats", "charts-ru")

	// A real service: the totals are its own; the page says what is not measured.
	svc := startService(t, "--trusted-proxies", "127.0.0.1/32", "--counters", "1")
	for i := range 3 {
		if r := svc.client(fmt.Sprintf("192.0.2.%d", 1+i)).take(); r.Status != 200 {
			t.Fatalf("take %d: %v", i, r)
		}
	}
	b.openStats(svc.URL + "/stats?lang=en")
	if got := b.text("#stats-totals"); !strings.Contains(got, "Tickets taken3") {
		t.Errorf("the totals say %q; want the 3 tickets taken", got)
	}
	// The service keeps its record (the change log) and draws its charts
	// from it.
	if got := b.text("#verdict"); !strings.Contains(got, "checks out") {
		t.Errorf("the verdict on the service's own record says %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('#flow-chart rect.bar').length`); n != 180 {
		t.Errorf("the live flow chart has %d bars, want 180", n)
	}
	if got := b.text("#rates"); !strings.Contains(got, "3") {
		t.Errorf("the live rates say %q; want the 3 tickets taken", got)
	}
	shots.capture(b, "stats", "live")
	b.open(svc.URL + "/")
	if n := eval[int](b, `document.querySelectorAll('a[href="/stats"]').length`); n != 1 {
		t.Errorf("the ticket page links to /stats %d times, want 1", n)
	}
	b.openBoard(svc.URL + "/board")
	if n := eval[int](b, `document.querySelectorAll('a[href="/stats"]').length`); n != 1 {
		t.Errorf("the board links to /stats %d times, want 1", n)
	}
}

// pageShift is the sum of every layout shift of the page so far, and the
// elements that moved. Unlike layoutShift it counts shifts marked as after
// input: under chromedp's phone emulation Chrome marks them all so (a
// shift of 0.28 read as 0 there).
func pageShift(b *browser) (float64, string) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Sum     float64
		Sources string
	}](`new Promise((resolve) => {
		let sum = 0;
		const out = [];
		new PerformanceObserver((list) => {
			for (const e of list.getEntries()) {
				sum += e.value;
				for (const s of e.sources || []) out.push(e.value.toFixed(3) + ' ' + (s.node ? (s.node.id || s.node.nodeName + '.' + s.node.className) : '?'));
			}
		}).observe({type: 'layout-shift', buffered: true});
		setTimeout(() => resolve({Sum: sum, Sources: out.join('; ')}), 100);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("layout shift", err)
	}
	return v.Sum, v.Sources
}
