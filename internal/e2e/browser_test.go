package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium process with its own profile: separate
// browsers share nothing (no localStorage, no cookies), like separate people.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := testenv.Chromium(t)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	for _, f := range testenv.ChromiumFlags() {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if hasValue {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// Start the browser now, so that a broken install fails here.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("starting chromium (%s): %v", path, err)
	}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	return &browser{t: t, ctx: ctx}
}

// run runs actions with a timeout, failing the test with what.
func (b *browser) run(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	b.t.Fatalf("%s: %v\npage text:\n%s", what, err, page)
}

// eval returns the value of a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}

// text returns the trimmed text content of the element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(eval[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, sel)))
}

// waitJS waits until the JavaScript expression is true.
func (b *browser) waitJS(what string, timeout time.Duration, expr string) {
	b.t.Helper()
	b.run(what, timeout+time.Second, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
}

// click clicks the element matching the CSS selector.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.run("click "+sel, 10*time.Second, chromedp.Click(chromedp.CSS(sel)))
}

// open loads the page and waits until its WebSocket shows the line.
func (b *browser) open(url string) {
	b.t.Helper()
	b.run("open "+url, 15*time.Second,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#take")),
	)
	b.waitJS("the page to go live", 10*time.Second,
		`document.querySelector('#conn').textContent.toLowerCase().includes('live') && document.body.dataset.version !== undefined`)
}

func onBoard(label string) string {
	return fmt.Sprintf(`!!document.querySelector('#board-serving [data-ticket="%[1]s"], #board-called [data-ticket="%[1]s"], #board-waiting [data-ticket="%[1]s"]')`, label)
}

// TestBrowsersSeeATicketTogether: three separate browsers watch one
// service; one takes a ticket; its label appears on all three within a
// second.
func TestBrowsersSeeATicketTogether(t *testing.T) {
	svc := startService(t)
	var bs []*browser
	for range 3 {
		b := newBrowser(t)
		b.open(svc.URL + "/")
		bs = append(bs, b)
	}
	// Someone else is first, so the browser's own ticket waits on the board.
	svc.client("").take()
	bs[0].click("#take")
	bs[0].waitJS("my ticket shown", 5*time.Second, `/^[A-Z]+[0-9]{3}$/.test(document.querySelector('#my-ticket').textContent.trim())`)
	label := bs[0].text("#my-ticket")
	start := time.Now()
	for i, b := range bs {
		b.waitJS(fmt.Sprintf("ticket %s on browser %d's board", label, i+1), time.Second, onBoard(label))
	}
	t.Logf("ticket %s reached all three boards %v after it was shown", label, time.Since(start))
}

// TestBrowserWholeVisit: take → called → get the kitty → the picture is
// loaded → done → the next ticket is called.
func TestBrowserWholeVisit(t *testing.T) {
	svc := startService(t, "--head-window", "30s", "--view-window", "30s")
	b := newBrowser(t)
	b.open(svc.URL + "/")
	b.click("#take")
	b.waitJS("the call", 5*time.Second, `document.querySelector('#me').dataset.state === 'called'`)
	b.waitJS("the get-kitty button", 5*time.Second, `(() => { const e = document.querySelector('#get-kitty'); return e && !e.disabled && e.offsetParent !== null })()`)

	next := svc.client("").take() // the next person in line, over the API
	if next.str("state") != "waiting" {
		t.Fatalf("second ticket: %s", next.Body)
	}

	b.click("#get-kitty")
	b.waitJS("the kitty picture to load", 10*time.Second,
		`(() => { const i = document.querySelector('#kitty-img'); return i && i.complete && i.naturalWidth > 0 })()`)
	width := eval[int](b, `document.querySelector('#kitty-img').naturalWidth`)
	if width < 100 {
		t.Fatalf("kitty picture is %dpx wide", width)
	}
	b.click("#done")
	waitFor(t, 5*time.Second, "the next ticket to be called", func() bool {
		r := svc.client("").do("GET", "/api/v1/ticket", nil, bearer(next.str("token"))...)
		return r.str("state") == "called"
	})
	b.waitJS("the next ticket called on the board", 3*time.Second,
		fmt.Sprintf(`!!document.querySelector('#board-called [data-ticket="%s"]')`, next.str("ticket")))
}

// TestBrowserReloadAndServerRestart: a reload keeps the ticket; a service
// restarted under the page is reconnected to, and the page shows the
// current line.
func TestBrowserReloadAndServerRestart(t *testing.T) {
	store, _ := storeArgs(t, "redis-server") // the line must outlive the process
	svc := startService(t, store...)
	svc.client("").take() // someone ahead, so our ticket waits
	b := newBrowser(t)
	b.open(svc.URL + "/")
	b.click("#take")
	b.waitJS("my ticket", 5*time.Second, `/^[A-Z]+[0-9]{3}$/.test(document.querySelector('#my-ticket').textContent.trim())`)
	label := b.text("#my-ticket")

	b.run("reload", 15*time.Second, chromedp.Reload())
	b.waitJS("my ticket after the reload", 10*time.Second,
		fmt.Sprintf(`document.querySelector('#my-ticket').textContent.trim() === %q`, label))

	svc.Kill() // a crash: no goodbye to the page
	b.waitJS("the page to notice the lost connection", 10*time.Second,
		`!document.querySelector('#conn').textContent.toLowerCase().includes('live')`)
	svc.Restart()
	late := svc.client("").take() // a change made while the page was away
	b.waitJS("the page to reconnect", 20*time.Second,
		`document.querySelector('#conn').textContent.toLowerCase().includes('live')`)
	b.waitJS("the current line on the page", 5*time.Second, onBoard(late.str("ticket")))
	b.waitJS("my ticket still shown", 2*time.Second,
		fmt.Sprintf(`document.querySelector('#my-ticket').textContent.trim() === %q`, label))
}
