package e2e

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestBrowserKeepsItsPlaceAcrossRestart: a page holds a ticket on the
// embedded store with no --secret. The service restarts cleanly, then is
// killed and started again: each time the page reconnects with its ticket at
// its place. Then the data folder is lost: the page hears that its ticket is
// no longer in the line and can take a new one; nobody is banned.
func TestBrowserKeepsItsPlaceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	svc := startService(t, "--data-dir", dir, "--save-interval", "200ms", "--head-window", "10m")
	svc.client("").take() // someone ahead, so the page's ticket waits at place 2
	b := newBrowser(t)
	b.open(svc.URL + "/")
	b.click("#take")
	b.waitJS("my ticket", 5*time.Second, `/^[A-Z]+[0-9]{3}$/.test(document.querySelector('#my-ticket').textContent.trim())`)
	label := b.text("#my-ticket")
	atPlace := fmt.Sprintf(`document.querySelector('#my-ticket').textContent.trim() === %q &&
		document.querySelector('#me').dataset.state === 'waiting' &&
		document.querySelector('#my-position').textContent.trim() === 'You are 2nd in line'`, label)
	b.waitJS("my ticket at place 2", 5*time.Second, atPlace)

	restarted := func(what string, stop func()) {
		t.Helper()
		stop()
		b.waitJS("the page to notice "+what, 10*time.Second,
			`!document.querySelector('#conn').textContent.toLowerCase().includes('live')`)
		svc.Restart()
		late := svc.client("").take() // a change after the restart, for the page to show
		b.waitJS("the page to reconnect after "+what, 20*time.Second,
			`document.querySelector('#conn').textContent.toLowerCase().includes('live')`)
		b.waitJS("the new ticket on the board after "+what, 5*time.Second, onBoard(late.str("ticket")))
		b.waitJS("my ticket at its place after "+what, 5*time.Second, atPlace)
	}
	restarted("a clean restart", func() {
		if err := svc.stop(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	})
	time.Sleep(time.Second) // a few save intervals: the SIGKILL comes after a save
	restarted("a SIGKILL", svc.Kill)

	// The page's own connection (127.0.0.1) is not banned: the page still
	// offers to take a ticket, and the API agrees.
	if r := svc.client("").do("GET", "/api/v1/queue", nil); r.Status != 200 {
		t.Fatalf("queue after the restarts: %v", r)
	}

	if err := svc.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	svc.Restart()
	svc.client("").take() // the line moves on: the page compares its ticket with the board
	b.waitJS("the page to say its ticket is no longer in the line", 20*time.Second,
		`document.querySelector('#message').textContent.includes('no longer in the line') &&
		 document.querySelector('#me').dataset.state !== 'waiting'`)
	b.waitJS("the take button usable", 5*time.Second, `!document.querySelector('#take').disabled`)
	b.click("#take")
	// The new line numbers from the start again, so the label may repeat:
	// the state shows the new ticket.
	b.waitJS("a new ticket", 5*time.Second,
		`/^[A-Z]+[0-9]{3}$/.test(document.querySelector('#my-ticket').textContent.trim()) &&
		 document.querySelector('#me').dataset.state === 'waiting'`)
	if n := forgeriesLogged(svc); n != 0 {
		t.Fatalf("%d bans for forged tokens:\n%s", n, svc.Log())
	}
}
