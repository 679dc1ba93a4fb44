package client_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catqms/catqms/client"
)

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://h", "http://", "://x"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// TestErrorsCarryTheirFields: each refusal comes back as an *Error with the
// status, the code and the fields docs/api.md gives it.
func TestErrorsCarryTheirFields(t *testing.T) {
	svc := startService(time.Minute)
	defer svc.Close()
	ctx := t.Context()
	c := newClient(t, svc.URL)
	a, err := c.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Take(ctx)

	var e *client.Error
	_, err = c.Redeem(ctx, b.Token)
	if !errors.As(err, &e) || e.Status != 409 || e.Code != client.CodeNotYourTurn ||
		e.Position != 2 || e.ETA <= 0 || e.ETALow > e.ETA || e.ETA > e.ETAHigh ||
		e.RetryAfter != 30*time.Second || !e.Temporary() || e.Message == "" {
		t.Fatalf("not your turn: %#v", err)
	}
	if err := c.End(ctx, b.Token); !errors.As(err, &e) || e.Code != client.CodeNotServing || e.Temporary() {
		t.Fatalf("end while waiting: %#v", err)
	}
	if err := c.Leave(ctx, b.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Redeem(ctx, b.Token); !errors.As(err, &e) || e.Status != 410 || e.Code != client.CodeGone || e.State != client.StateLeft {
		t.Fatalf("redeem after leaving: %#v", err)
	}
	if err := c.Leave(ctx, b.Token); err != nil {
		t.Fatalf("leaving twice: %v", err)
	}
	st, err := c.Status(ctx, b.Token)
	if err != nil || st.State != client.StateLeft || st.Position != 0 || st.Token != "" {
		t.Fatalf("status after leaving: %+v, %v", st, err)
	}

	// The called ticket: its deadline is about a minute away.
	st, err = c.Status(ctx, a.Token)
	if err != nil || st.State != client.StateCalled || time.Until(st.Deadline) < 50*time.Second {
		t.Fatalf("called ticket: %+v, %v", st, err)
	}
	snap, err := c.Snapshot(ctx)
	if err != nil || snap.Length != 1 || len(snap.Called) != 1 || snap.Called[0].Label != a.Label ||
		!snap.Called[0].Deadline.Equal(st.Deadline) || snap.Counters != 1 || snap.ETAPerTicket != time.Minute {
		t.Fatalf("snapshot: %+v, %v", snap, err)
	}

	// The picture, both ways.
	pic, err := c.RedeemPicture(ctx, a.Token)
	if err != nil || !strings.HasPrefix(pic.ContentType, "image/") || len(pic.Data) < 100 {
		t.Fatalf("RedeemPicture: %s %d bytes, %v", pic.ContentType, len(pic.Data), err)
	}
	s, err := c.Redeem(ctx, a.Token)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Picture(ctx, s)
	if err != nil || !bytes.Equal(again.Data, pic.Data) {
		t.Fatalf("Picture: %d bytes, %v", len(again.Data), err)
	}
	if err := c.End(ctx, a.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Picture(ctx, s); !errors.As(err, &e) || e.Code != client.CodeGone {
		t.Fatalf("picture after the session: %v", err)
	}

	// A forged token bans: not temporary, and the ban's Retry-After.
	if _, err := c.Redeem(ctx, "not-a-token"); !errors.As(err, &e) || e.Code != client.CodeForbidden || e.Temporary() {
		t.Fatalf("forged: %#v", err)
	}
	if _, err := c.Take(ctx); !errors.As(err, &e) || e.Code != client.CodeBanned || e.RetryAfter < 59*time.Minute || e.Temporary() {
		t.Fatalf("banned: %#v", err)
	}
	// WaitAndRedeem gives up at once on a ban.
	if _, err := c.WaitAndRedeem(ctx, a.Token); !errors.As(err, &e) || e.Code != client.CodeBanned {
		t.Fatalf("WaitAndRedeem while banned: %v", err)
	}
}

// TestErrorFromSomethingElse: an answer that is not the API's JSON (a proxy's
// page) is still an *Error with the status and a message.
func TestErrorFromSomethingElse(t *testing.T) {
	svc := startService(time.Minute)
	defer svc.Close()
	c := newClient(t, svc.URL+"/not-the-api")
	_, err := c.Take(t.Context())
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 404 || e.Code != "not_found" {
		t.Fatalf("%#v", err)
	}
}

// TestWatchReconnectsAndWatchesAgain: when the connection is cut, Watch
// reconnects by itself, gets the line again, and sends the watch again, so
// the ticket's state arrives on the new connection too.
func TestWatchReconnectsAndWatchesAgain(t *testing.T) {
	svc := startService(time.Minute)
	defer svc.Close()
	proxy := newCutter(t, strings.TrimPrefix(svc.URL, "http://"))
	c := newClient(t, proxy.URL(), client.WithReconnect(20*time.Millisecond, 100*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	first, err := c.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := c.Take(ctx)

	var (
		mu     sync.Mutex
		events []string
	)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, mine.Token, func(ev client.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Kind {
			case client.EventSnapshot:
				events = append(events, "snapshot")
			case client.EventTicket:
				events = append(events, "ticket "+string(ev.Ticket.State))
			case client.EventDisconnected:
				events = append(events, "disconnected")
			default:
				events = append(events, "other")
			}
		})
	}()
	count := func(what string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, e := range events {
			if e == what {
				n++
			}
		}
		return n
	}
	waitFor(t, "the watched ticket", func() bool { return count("ticket waiting") == 1 })
	proxy.cut()
	waitFor(t, "the ticket again after the reconnect", func() bool { return count("ticket waiting") == 2 })
	if count("disconnected") < 1 || count("snapshot") < 2 {
		t.Fatalf("events %v: want a disconnect and a snapshot on each connection", events)
	}

	// The watch goes on: the ticket is called when the first one leaves.
	if err := c.Leave(ctx, first.Token); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the call", func() bool { return count("ticket called") == 1 })

	// A ticket that reached a final state is not watched again after a
	// reconnect: the service would only repeat its end.
	if err := c.Leave(ctx, mine.Token); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the end", func() bool { return count("ticket left") == 1 })
	proxy.cut()
	snaps := count("snapshot")
	waitFor(t, "a snapshot after the second reconnect", func() bool { return count("snapshot") > snaps })
	time.Sleep(200 * time.Millisecond)
	if n := count("ticket left"); n != 1 {
		t.Fatalf("the ended watch was sent again: %d left messages; events %v", n, events)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v, want context.Canceled", err)
	}
}

// TestWatchWaitsRetryAfter: a refused handshake (429, too many connections)
// is reported with its Retry-After, which Watch waits before trying again.
func TestWatchWaitsRetryAfter(t *testing.T) {
	svc := startService(time.Minute)
	defer svc.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The service allows 20 WebSockets per client: hold them all.
	c := newClient(t, svc.URL, client.WithReconnect(10*time.Millisecond, 10*time.Millisecond))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	opened := make(chan struct{}, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			_ = c.Watch(ctx, "", func(ev client.Event) {
				if ev.Kind == client.EventSnapshot {
					once.Do(func() { opened <- struct{}{} })
				}
			})
		}()
	}
	for range 20 {
		select {
		case <-opened:
		case <-time.After(10 * time.Second):
			t.Fatal("20 watches did not open")
		}
	}
	got := make(chan client.Event, 1)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() {
		_ = c.Watch(wctx, "", func(ev client.Event) {
			select {
			case got <- ev:
			default:
			}
			wcancel()
		})
	}()
	select {
	case ev := <-got:
		var e *client.Error
		if ev.Kind != client.EventDisconnected || !errors.As(ev.Err, &e) ||
			e.Code != client.CodeTooManyConnections || ev.Wait != e.RetryAfter || e.RetryAfter < time.Second {
			t.Fatalf("21st watch: %+v (%v)", ev, ev.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event for the 21st watch")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
