package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// attackPage is a page of another site that tries to act for its visitor
// on svc: twelve <img> tags that would each take a ticket, then a form
// that posts a made-up token to the redeem route (which would ban the
// visitor's address and drop their tickets).
func attackPage(svc string) string {
	var b strings.Builder
	b.WriteString("<!doctype html><title>free kittens</title>\n")
	for i := range 12 {
		fmt.Fprintf(&b, "<img src=%q>\n", fmt.Sprintf("%s/api/v1/token?n=%d", svc, i))
	}
	fmt.Fprintf(&b, `<form id="f" method="POST" action="%s/api/v1/kitty" enctype="application/x-www-form-urlencoded">
<input name="token" value="anything"></form>
<script>
let left = document.images.length;
const go = () => { if (--left === 0) document.getElementById('f').submit(); };
for (const img of document.images) { if (img.complete) go(); else { img.onload = go; img.onerror = go; } }
</script>`, svc)
	return b.String()
}

// serveAttack serves attackPage on addr (host:0) and returns its URL.
func serveAttack(t *testing.T, host, svc string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	page := attackPage(svc)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// TestCrossSitePagesActForNobody: a visitor holds a ticket, then opens
// another site's page (on another loopback address: cross-site; on another
// port of the same address: same-site) that fires twelve ticket-taking
// <img> requests and auto-submits a form with a made-up token. Nothing is
// taken, nobody is banned, and the visitor's ticket is still in line.
func TestCrossSitePagesActForNobody(t *testing.T) {
	svc := startService(t, "--head-window", "10m")
	svc.client("").take() // someone ahead, so the visitor's ticket waits
	b := newBrowser(t)
	b.open(svc.URL + "/")
	b.click("#take")
	b.waitJS("my ticket", 5*time.Second, `/^[A-Z]+[0-9]{3}$/.test(document.querySelector('#my-ticket').textContent.trim())`)
	label := b.text("#my-ticket")

	for _, site := range []struct{ name, host string }{
		{"cross-site", "127.0.0.2"},
		{"same-site", "127.0.0.1"},
	} {
		before := strings.Count(svc.Log(), "route=/api/v1/kitty status=403")
		attack := serveAttack(t, site.host, svc.URL)
		b.run("open the "+site.name+" page", 15*time.Second, chromedp.Navigate(attack))
		waitFor(t, 10*time.Second, "the "+site.name+" form post to reach the service", func() bool {
			return strings.Count(svc.Log(), "route=/api/v1/kitty status=403") > before
		})
		log := svc.Log()
		if n := strings.Count(log, "route=/api/v1/token status=403"); n < 12 {
			t.Fatalf("%s: %d refused takes logged; want the 12 images' at least\n%s", site.name, n, log)
		}
		if strings.Contains(log, "route=/api/v1/token status=200") && strings.Count(log, "route=/api/v1/token status=200") != 2 {
			t.Fatalf("%s: a ticket was taken by the other site's page\n%s", site.name, log)
		}
		if forgeriesLogged(svc) != 0 {
			t.Fatalf("%s: the other site's page got someone banned\n%s", site.name, log)
		}
		snap := svc.client("").do("GET", "/api/v1/queue", nil)
		if snap.num("length") != 2 {
			t.Fatalf("%s: the line holds %v tickets; want the 2 taken before", site.name, snap.num("length"))
		}
	}

	// Back on the service's page, the visitor still has their ticket and is
	// not banned: the page's own requests work.
	b.run("back to the service's page", 15*time.Second, chromedp.Navigate(svc.URL+"/"))
	b.waitJS("my ticket still in line", 10*time.Second, fmt.Sprintf(
		`document.querySelector('#my-ticket').textContent.trim() === %q && document.querySelector('#me').dataset.state === 'waiting'`, label))
	if r := svc.client("").do("GET", "/api/v1/token", nil); r.Status != http.StatusOK {
		t.Fatalf("the visitor's address after the attacks: %v", r)
	}
}
