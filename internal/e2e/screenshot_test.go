package e2e

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPagesRenderAtDesktopAndPhoneWidths renders / and /board with a busy
// line at a desktop and a phone width, checks that nothing overflows the
// phone's width and that the screenshots are real pictures. With
// CATQMS_SCREENSHOTS_DIR set it keeps them there (the README's come from
// `CATQMS_SCREENSHOTS_DIR=docs go test ./internal/e2e -run TestPagesRender`).
func TestPagesRenderAtDesktopAndPhoneWidths(t *testing.T) {
	dir := os.Getenv("CATQMS_SCREENSHOTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // relative to the repository root
	}
	svc := startService(t, "--trusted-proxies", "127.0.0.1/32", "--counters", "2",
		"--head-window", "5m", "--view-window", "5m")
	// A line in full swing: one viewing, one called, many waiting.
	first := svc.client("192.0.2.1").take()
	svc.client("192.0.2.1").redeem(first.str("token"))
	for i := range 40 {
		svc.client(fmt.Sprintf("192.0.2.%d", 10+i/5)).take()
	}
	sizes := []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"desktop", 1280, 860, false},
		{"phone", 390, 844, true},
	}
	for _, size := range sizes {
		for _, page := range []string{"index", "board"} {
			t.Run(page+"-"+size.name, func(t *testing.T) {
				b := newBrowser(t)
				opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
				if size.mobile {
					opts = append(opts, chromedp.EmulateMobile)
				}
				b.run("viewport", 10*time.Second, chromedp.EmulateViewport(size.width, size.height, opts...))
				if page == "index" {
					b.open(svc.URL + "/")
					b.click("#take") // the visitor's own ticket, waiting in line
					b.waitJS("my ticket", 5*time.Second, `document.querySelector('#my-state').textContent.trim() === 'waiting'`)
				} else {
					b.run("open the board", 15*time.Second, chromedp.Navigate(svc.URL+"/board"))
					b.waitJS("the board to go live", 10*time.Second,
						`document.querySelector('#conn').textContent.toLowerCase().includes('live') && document.querySelectorAll('#board-waiting [data-ticket]').length > 0`)
					// The sound overlay asks for a click; dismiss it as a person would.
					b.run("dismiss the sound overlay", 5*time.Second, chromedp.Evaluate[chromedp.Void](
						`(() => { const b = document.querySelector('#no-sound') || document.querySelector('#enable-sound'); if (b) b.click() })()`))
				}
				time.Sleep(300 * time.Millisecond) // let transitions settle
				if size.mobile {
					overflow := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`)
					if overflow > 0 {
						t.Fatalf("%s overflows a %dpx phone by %dpx", page, size.width, overflow)
					}
				}
				shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(bytes.NewReader(shot))
				if err != nil {
					t.Fatalf("screenshot is not a PNG: %v", err)
				}
				if bounds := img.Bounds(); bounds.Dx() < int(size.width) || bounds.Dy() < 200 {
					t.Fatalf("screenshot is %v", bounds)
				}
				name := filepath.Join(dir, fmt.Sprintf("screenshot-%s-%s.png", page, size.name))
				if err := os.WriteFile(name, shot, 0o644); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
