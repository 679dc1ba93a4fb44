package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/catqms/catqms/internal/testenv"
)

// envAxe names axe-core's axe.min.js; scripts/test.sh installs it (npm)
// and sets it. Without it the states are still drawn and checked, and
// only the accessibility audit is left out, unless CATQMS_REQUIRE_INTEGRATION
// is set: then a missing axe fails the test.
const envAxe = "CATQMS_AXE"

// look is one way a page is seen: a screen size and a colour scheme.
type look struct {
	size          string
	width, height int64
	mobile        bool
	scheme        string
}

var looks = []look{
	{"desktop", 1280, 860, false, "light"},
	{"desktop", 1280, 860, false, "dark"},
	{"phone", 390, 844, true, "light"},
	{"phone", 390, 844, true, "dark"},
}

// stateShots draws pages in every look, audits each with axe-core, and
// keeps the screenshots in CATQMS_SCREENSHOTS_DIR (docs/screenshots for
// the committed ones) or a temporary directory.
type stateShots struct {
	t   *testing.T
	dir string
	axe string // axe.min.js source; empty: no audit
}

func newStateShots(t *testing.T) *stateShots {
	dir := os.Getenv("CATQMS_SCREENSHOTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // relative to the repository root
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &stateShots{t: t, dir: dir}
	if path := os.Getenv(envAxe); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s=%s: %v", envAxe, path, err)
		}
		s.axe = string(b)
	} else if testenv.RequireIntegration() {
		t.Fatalf("%s is not set and CATQMS_REQUIRE_INTEGRATION=1: run scripts/test.sh, which installs axe-core, or set it to axe.min.js", envAxe)
	} else {
		t.Logf("%s not set: pages are drawn but not audited with axe-core", envAxe)
	}
	return s
}

// setLook applies a look without reloading the page.
func setLook(b *browser, l look) {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if l.mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	b.run("look "+l.size+" "+l.scheme, 10*time.Second,
		chromedp.EmulateViewport(l.width, l.height, opts...),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: l.scheme},
				// Still pictures: no pulse or flash caught halfway.
				{Name: "prefers-reduced-motion", Value: "reduce"},
			}})
			return err
		}))
}

// axeViolation is the part of an axe-core result a failure message needs.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// capture draws the page in every look: no horizontal overflow on a phone,
// no axe-core violation (WCAG 2.1 A/AA and best practices), and a screenshot
// named page-state-size-scheme.png.
func (s *stateShots) capture(b *browser, page, state string) {
	s.t.Helper()
	for _, l := range looks {
		setLook(b, l)
		time.Sleep(250 * time.Millisecond) // a relayout and a tick of the countdowns
		name := fmt.Sprintf("%s-%s-%s-%s", page, state, l.size, l.scheme)
		if l.mobile {
			if overflow := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
				s.t.Errorf("%s overflows a %dpx phone by %dpx", name, l.width, overflow)
			}
		}
		s.audit(b, name)
		shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			s.t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			s.t.Fatalf("%s: screenshot is not a PNG: %v", name, err)
		}
		if bounds := img.Bounds(); bounds.Dx() < int(l.width) || bounds.Dy() < 200 {
			s.t.Fatalf("%s: screenshot is %v", name, bounds)
		}
		if err := os.WriteFile(filepath.Join(s.dir, name+".png"), shot, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

// audit runs axe-core on the page as it is now.
func (s *stateShots) audit(b *browser, name string) {
	s.t.Helper()
	if s.axe == "" {
		return
	}
	if !eval[bool](b, `typeof window.axe === 'object'`) {
		// DevTools evaluation is not bound by the page's CSP.
		eval[any](b, s.axe+"\n;0")
		// The audit must be able to fail: an image without alt text is caught.
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async () => {
			const probe = document.createElement('img');
			probe.src = '/assets/icon.svg';
			document.body.append(probe);
			try {
				return (await axe.run(probe, {runOnly: ['image-alt']})).violations.length;
			} finally {
				probe.remove();
			}
		})()`, chromedp.EvalAwaitPromise))
		if err != nil || n != 1 {
			s.t.Fatalf("axe-core does not catch an image without alt text (%d violations, %v)", n, err)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {
		runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
		resultTypes: ['violations'],
	}).then((r) => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("axe-core on "+name, err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		s.t.Fatalf("%s: axe-core answered %q: %v", name, out, err)
	}
	for _, v := range violations {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " ")))
		}
		s.t.Errorf("%s: axe %s (%s): %s\n    %s", name, v.ID, v.Impact, v.Help, strings.Join(where, "\n    "))
	}
}

// layoutShift is the page's cumulative layout shift so far (the score
// Lighthouse reports as CLS), from the browser's own layout-shift entries.
func layoutShift(b *browser) float64 {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`new Promise((resolve) => {
		let sum = 0;
		new PerformanceObserver((list) => {
			for (const e of list.getEntries()) if (!e.hadRecentInput) sum += e.value;
		}).observe({type: 'layout-shift', buffered: true});
		setTimeout(() => resolve(sum), 100);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("layout shift", err)
	}
	return v
}

// openBoard loads the TV board and waits for its first snapshot.
func (b *browser) openBoard(url string) {
	b.t.Helper()
	b.run("open the board", 15*time.Second, chromedp.Navigate(url))
	b.waitJS("the board to go live", 10*time.Second,
		`document.body.dataset.health === 'live' && document.body.dataset.version !== ''`)
}

// meState waits until the ticket panel shows state.
func (b *browser) meState(state string, timeout time.Duration) {
	b.t.Helper()
	b.waitJS("the ticket panel to show "+state, timeout, fmt.Sprintf(`document.querySelector('#me').dataset.state === %q`, state))
}

// countChanges starts (or starts again) recording the text of the element
// matching sel each time it changes.
func (b *browser) countChanges(sel string) {
	b.t.Helper()
	eval[any](b, fmt.Sprintf(`(() => {
		window.__changes = window.__changes || {};
		const watching = %[1]q in window.__changes;
		window.__changes[%[1]q] = [];
		if (watching) return; // one observer per element, or each change counts twice
		const el = document.querySelector(%[1]q);
		new MutationObserver(() => window.__changes[%[1]q].push(el.textContent))
			.observe(el, {childList: true, characterData: true, subtree: true});
	})()`, sel))
}

func (b *browser) changes(sel string) []string {
	b.t.Helper()
	return eval[[]string](b, fmt.Sprintf(`window.__changes[%q]`, sel))
}

// TestVisitorStatesBusyLine walks the states of a busy line: the empty page
// and board, a board with people called, viewing and waiting, a visitor
// beyond the 64 listed ("you are 81st, 16 after the last one shown"), the
// same page in Russian, and a banned visitor whose page shows only the ban.
func TestVisitorStatesBusyLine(t *testing.T) {
	shots := newStateShots(t)
	svc := startService(t, "--trusted-proxies", "127.0.0.1/32", "--counters", "2",
		"--head-window", "5m", "--view-window", "5m", "--public-url", "https://kitties.example.org/")
	b := newBrowser(t)

	b.open(svc.URL + "/")
	shots.capture(b, "index", "empty")
	b.openBoard(svc.URL + "/board")
	if got := b.text("#site-url"); !strings.Contains(got, "kitties.example.org") {
		t.Errorf("the board names %q, not the public URL", got)
	}
	shots.capture(b, "board", "empty")

	// A line in full swing: one viewing, one called, eighty waiting.
	first := svc.client("192.0.2.1").take()
	svc.client("192.0.2.1").redeem(first.str("token"))
	for i := range 80 {
		if r := svc.client(fmt.Sprintf("192.0.2.%d", 10+i/8)).take(); r.Status != 200 {
			t.Fatalf("take %d: %v", i, r)
		}
	}
	// The board as a wall TV sees it: phone-sized first, for the layout shift.
	setLook(b, looks[2])
	b.openBoard(svc.URL + "/board")
	b.waitJS("the busy line on the board", 5*time.Second, `document.querySelectorAll('#board-waiting [data-ticket]').length === 64`)
	if cls := layoutShift(b); cls > 0.02 {
		t.Errorf("the board shifts by %.3f when its first snapshot arrives (want ≤ 0.02)", cls)
	}
	b.waitJS("the QR code", 5*time.Second, `document.querySelector('#qr').naturalWidth > 0`)
	// The wait of a ticket taken now, in words: "about 1–7 h" (a range
	// from the line's flow; at its start a wide one).
	if got := b.text("#board-take-wait"); !strings.ContainsAny(got, "0123456789") || got == "…" {
		t.Errorf("the board says a new ticket waits %q; want a wait in words", got)
	}
	shots.capture(b, "board", "busy")
	// Read across a room: on a 1080p screen the called ticket is about 135 px
	// tall type and its countdown about 70 px; on 4K, twice that.
	var called [2]float64
	for i, l := range []look{{"1080p", 1920, 1080, false, "light"}, {"4k", 3840, 2160, false, "light"}} {
		setLook(b, l)
		called[i] = eval[float64](b, `parseFloat(getComputedStyle(document.querySelector('#board-called .label')).fontSize)`)
		countdown := eval[float64](b, `parseFloat(getComputedStyle(document.querySelector('#board-called .countdown')).fontSize)`)
		next := eval[float64](b, `parseFloat(getComputedStyle(document.querySelector('#board-waiting .label')).fontSize)`)
		t.Logf("%s: called %.0f px, its countdown %.0f px, next in line %.0f px", l.size, called[i], countdown, next)
		if scale := float64(l.height) / 1080; called[i] < 120*scale || countdown < 60*scale || next < 30*scale {
			t.Errorf("%s: type too small to read across a room: called %.0f px, countdown %.0f px, next %.0f px", l.size, called[i], countdown, next)
		}
	}
	b.openBoard(svc.URL + "/board?lang=es")
	shots.capture(b, "board", "busy-es")

	b.open(svc.URL + "/")
	if cls := layoutShift(b); cls > 0.02 {
		t.Errorf("the ticket page shifts by %.3f on a phone when its first snapshot arrives (want ≤ 0.02)", cls)
	}
	if got := b.text("#take-estimate"); !strings.Contains(got, "80") || !strings.Contains(got, "wait") {
		t.Errorf("before taking, the page says %q; want the line's length and a wait", got)
	}
	b.click("#take")
	b.meState("waiting", 5*time.Second)
	b.waitJS("where the ticket is, beyond the listed ones", 5*time.Second, `!document.querySelector('#board-beyond').hidden`)
	if got := b.text("#board-beyond"); !strings.Contains(got, "81st") || !strings.Contains(got, "16 after the last one shown") {
		t.Errorf("#board-beyond = %q", got)
	}
	if got := b.text("#my-position"); got != "You are 81st in line" {
		t.Errorf("#my-position = %q", got)
	}
	// The wait is a range from the line's flow ("about 6–9 min"), not one figure.
	if got := b.text("#my-eta"); !regexp.MustCompile(`about \d+–\d+ (min|h)`).MatchString(got) {
		t.Errorf("#my-eta = %q, want the wait as a range", got)
	}
	shots.capture(b, "index", "waiting")

	b.run("choose Russian", 5*time.Second, chromedp.SetValue(chromedp.CSS("#lang"), "ru"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#lang').dispatchEvent(new Event('change'))`))
	b.waitJS("Russian", 3*time.Second, `document.documentElement.lang === 'ru'`)
	if got := b.text("#my-position"); got != "Вы 81-й в очереди" {
		t.Errorf("#my-position in Russian = %q", got)
	}
	shots.capture(b, "index", "waiting-ru")
	b.run("reload", 15*time.Second, chromedp.Reload())
	b.waitJS("the choice kept", 5*time.Second, `document.documentElement.lang === 'ru' && document.querySelector('#lang').value === 'ru'`)
	eval[any](b, `localStorage.removeItem('catqms.lang')`)
	b.run("reload", 15*time.Second, chromedp.Reload())
	b.waitJS("English again", 5*time.Second, `document.documentElement.lang === 'en'`)
	b.meState("waiting", 5*time.Second)

	// This browser's address sends a ticket the service never issued: it is
	// banned, and its own ticket leaves the line.
	if r := svc.client("").redeem("A000"); r.Status != 403 {
		t.Fatalf("forged redeem: %v", r)
	}
	b.waitJS("the ticket gone or the ban shown", 10*time.Second, `['left', 'banned'].includes(document.querySelector('#me').dataset.state)`)
	if eval[string](b, `document.querySelector('#me').dataset.state`) == "left" {
		b.click("#take")
	}
	b.meState("banned", 5*time.Second)
	for _, sel := range []string{"#ticket-box", "#leave", "#waiting-info", "#call-banner"} {
		if eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!(e.offsetWidth || e.offsetHeight) })()`, sel)) {
			t.Errorf("banned: %s is still shown", sel)
		}
	}
	if !eval[bool](b, `document.querySelector('#take').disabled`) {
		t.Error("banned: the take button is enabled")
	}
	shots.capture(b, "index", "banned")
}

// TestVisitorStatesOneVisit walks one visitor through a quiet line: called
// at once (focus on "Get my kitty"), viewing, done, a missed turn
// (expired), and an outage while called, which the page and the board
// mark, announcing it once however long it lasts, and announce again once
// when it ends; then the store alone fails (a stale line), likewise. The board, sound off, captions every call in its live region.
func TestVisitorStatesOneVisit(t *testing.T) {
	shots := newStateShots(t)
	store, redis := storeArgs(t, "redis-server") // the line and its key outlive the process
	svc := startService(t, append(store, "--head-window", "5m", "--view-window", "5m", "--admin-token", adminToken)...)
	admin := func(path string) {
		if r := svc.client("").do("POST", "/api/v1/admin/"+path, nil, bearer(adminToken)...); r.Status != 200 {
			t.Fatalf("admin %s: %v", path, r)
		}
	}
	board := newBrowser(t)
	board.openBoard(svc.URL + "/board")
	board.countChanges("#announce")
	b := newBrowser(t)
	b.open(svc.URL + "/")

	b.click("#take")
	b.meState("called", 5*time.Second)
	b.waitJS("the focus on Get my kitty", 3*time.Second, `document.activeElement === document.querySelector('#get-kitty')`)
	label := b.text("#my-ticket")
	board.waitJS("the call captioned on the board", 3*time.Second,
		fmt.Sprintf(`window.__changes['#announce'].some((t) => t.includes(%q))`, label))
	shots.capture(b, "index", "called")
	shots.capture(board, "board", "called")

	b.click("#get-kitty")
	b.meState("serving", 5*time.Second)
	b.waitJS("the kitty picture", 10*time.Second, `(() => { const i = document.querySelector('#kitty-img'); return i.complete && i.naturalWidth > 0 })()`)
	shots.capture(b, "index", "viewing")

	b.click("#done")
	b.meState("served", 5*time.Second)
	shots.capture(b, "index", "done")

	b.click("#take")
	b.meState("called", 5*time.Second)
	admin("skip")
	b.meState("expired", 5*time.Second)
	shots.capture(b, "index", "expired")

	b.click("#take")
	b.meState("called", 5*time.Second)
	for _, p := range []*browser{b, board} {
		p.countChanges("#health-announce")
		p.countChanges("#conn")
	}
	svc.Kill()
	for _, p := range []*browser{b, board} {
		p.waitJS("the outage shown", 10*time.Second, `document.body.dataset.health === 'offline' && !document.querySelector('#offline-banner').hidden`)
	}
	if !strings.HasPrefix(b.text("#call-countdown"), "≈") {
		t.Errorf("while offline the call countdown reads %q; want it marked as an estimate", b.text("#call-countdown"))
	}
	shots.capture(b, "index", "unreachable")
	shots.capture(board, "board", "unreachable")
	time.Sleep(3 * time.Second) // retries go on: nothing more is announced
	for _, p := range []*browser{b, board} {
		if got := p.changes("#health-announce"); len(got) != 1 || !strings.Contains(got[0], "out of date") {
			t.Errorf("during the outage the health region changed %d times: %q; want one announcement", len(got), got)
		}
		if got := p.changes("#conn"); len(got) > 1 {
			t.Errorf("the status pill changed %d times during the outage: %q", len(got), got)
		}
	}
	svc.Restart()
	for _, p := range []*browser{b, board} {
		p.waitJS("live again", 20*time.Second, `document.body.dataset.health === 'live' && document.querySelector('#offline-banner').hidden`)
		if got := p.changes("#health-announce"); len(got) != 2 || !strings.Contains(got[1], "Connected again") {
			t.Errorf("after the outage the health region says %q; want one more announcement", got)
		}
	}
	b.meState("called", 5*time.Second)

	// The service is up but its store is not: the line is stale, said once.
	for _, p := range []*browser{b, board} {
		p.countChanges("#health-announce")
	}
	redis.Kill(t)
	for _, p := range []*browser{b, board} {
		p.waitJS("the stale line shown", 15*time.Second, `document.body.dataset.health === 'stale' && !document.querySelector('#offline-banner').hidden`)
	}
	shots.capture(b, "index", "stale")
	shots.capture(board, "board", "stale")
	for _, p := range []*browser{b, board} {
		if got := p.changes("#health-announce"); len(got) != 1 || !strings.Contains(got[0], "out of date") {
			t.Errorf("with the store down the health region changed %d times: %q; want one announcement", len(got), got)
		}
	}
	redis.Restart(t)
	for _, p := range []*browser{b, board} {
		p.waitJS("live again after the store is back", 30*time.Second, `document.body.dataset.health === 'live'`)
	}
}
