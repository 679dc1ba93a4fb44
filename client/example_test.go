package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/catqms/catqms/client"
)

// A visit: take a ticket, find it is not your turn yet, redeem when called.
func Example() {
	svc := startService(time.Minute)
	defer svc.Close()
	ctx := context.Background()
	c, err := client.New(svc.URL)
	if err != nil {
		panic(err)
	}

	a, _ := c.Take(ctx) // first in an empty line: called at once
	b, _ := c.Take(ctx)
	fmt.Println(a.Label, a.State, a.Position)
	fmt.Println(b.Label, b.State, b.Position)

	// b is not called yet: the error says where it stands and when to ask again.
	_, err = c.Redeem(ctx, b.Token)
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, e.Position, e.RetryAfter)
	}

	s, _ := c.Redeem(ctx, a.Token)
	fmt.Println(s.Label, strings.HasPrefix(s.ImageURL, svc.URL+"/api/v1/images/"))
	_ = c.End(ctx, a.Token) // done viewing: the counter frees and b is called

	t, _ := c.Status(ctx, b.Token)
	fmt.Println(t.Label, t.State, t.Position)
	// Output:
	// A000 called 1
	// A001 waiting 2
	// 409 not_your_turn 2 30s
	// A000 true
	// A001 called 1
}

// WaitAndRedeem asks again as Retry-After says until the ticket is called.
func ExampleClient_WaitAndRedeem() {
	svc := startService(2 * time.Second)
	defer svc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _ := client.New(svc.URL)

	first, _ := c.Take(ctx)
	mine, _ := c.Take(ctx)
	go func() {
		// The first holder views for a moment, then ends.
		_, _ = c.Redeem(ctx, first.Token)
		time.Sleep(100 * time.Millisecond)
		_ = c.End(ctx, first.Token)
	}()

	s, err := c.WaitAndRedeem(ctx, mine.Token)
	if err != nil {
		panic(err)
	}
	pic, _ := c.Picture(ctx, s)
	fmt.Println(s.Label, strings.HasPrefix(pic.ContentType, "image/"))
	// Output: A001 true
}

// Watch follows the line and the holder's ticket over the WebSocket.
func ExampleClient_Watch() {
	svc := startService(time.Minute)
	defer svc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _ := client.New(svc.URL)
	t, _ := c.Take(ctx)

	_ = c.Watch(ctx, t.Token, func(ev client.Event) {
		switch ev.Kind {
		case client.EventTicket:
			fmt.Println("ticket", ev.Ticket.Label, ev.Ticket.State, ev.Ticket.Position)
			if ev.Ticket.State == client.StateCalled {
				_ = c.Leave(ctx, t.Token)
			}
			if ev.Ticket.State.Final() {
				cancel() // stop watching
			}
		case client.EventDisconnected:
			fmt.Println("disconnected:", ev.Err)
		}
	})
	// Output:
	// ticket A000 called 1
	// ticket A000 left 0
}

// An *Error carries what a client needs to act on a refusal.
func ExampleError() {
	svc := startService(time.Minute)
	defer svc.Close()
	ctx := context.Background()
	c, _ := client.New(svc.URL)

	// A label is not a token: presenting one bans the address.
	_, err := c.Status(ctx, "A000")
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, e.Temporary())
	}
	_, err = c.Take(ctx)
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, e.RetryAfter)
	}
	// Output:
	// 403 forbidden false
	// 403 banned 1h0m0s
}
