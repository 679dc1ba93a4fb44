package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// What a visit sets out to do.
const (
	planServe  = "serve"   // wait, redeem, view, end
	planNoShow = "no-show" // wait, then never redeem
	planLeave  = "leave"   // leave the line soon after taking
)

// viewTime is how long a serving visitor looks at the kitty before ending.
const viewTime = 200 * time.Millisecond

// session is one 200 answer to a redeem.
type session struct {
	until, image string
}

// visit is one person's ticket, and everything the service told them.
type visit struct {
	n    int
	ip   string
	plan string

	token, label string
	sessions     []session // every 200 redeem, retries included
	redeemGone   string    // the state of a 410 to a redeem, if any
	left         bool      // a leave was answered 204
	final        string    // the final state GET /api/v1/ticket reported
	lost         bool      // the token answered 410: its record is gone
	err          error     // why the visit could not finish
}

// run plays the visit to its end: a final state, or an error.
func (v *visit) run(ctx context.Context, a *api, poll time.Duration) {
	v.err = v.play(ctx, a, poll)
}

func (v *visit) play(ctx context.Context, a *api, poll time.Duration) error {
	ans, err := a.do(ctx, "GET", "/api/v1/token", v.ip, "")
	if err != nil {
		return fmt.Errorf("take: %w", err)
	}
	if ans.status != http.StatusOK || ans.str("token") == "" {
		return fmt.Errorf("take: %v", ans)
	}
	v.token, v.label = ans.str("token"), ans.str("ticket")

	if v.plan == planLeave {
		if err := sleep(ctx, time.Duration(v.n%5)*100*time.Millisecond); err != nil {
			return err
		}
		ans, err := a.do(ctx, "DELETE", "/api/v1/ticket", v.ip, v.token)
		if err != nil || ans.status != http.StatusNoContent {
			return fmt.Errorf("leave: %v %v", ans, err)
		}
		v.left = true
	}
	redeemed := false
	for {
		ans, err := a.do(ctx, "GET", "/api/v1/ticket", v.ip, v.token)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		if ans.status == http.StatusGone {
			v.lost = true
			return nil
		}
		if ans.status != http.StatusOK {
			return fmt.Errorf("status: %v", ans)
		}
		switch state := ans.str("state"); state {
		case "waiting":
		case "called", "serving":
			if v.plan != planServe || redeemed {
				break
			}
			redeemed = true
			if err := v.redeemAndView(ctx, a); err != nil {
				return err
			}
			continue // straight to the status after the session
		default:
			v.final = state
			return nil
		}
		if err := sleep(ctx, poll); err != nil {
			return fmt.Errorf("not final in time (last %s): %w", ans.body, err)
		}
	}
}

// redeemAndView redeems the ticket, views for a moment and ends the
// session. A redeem lost to a dead replica is retried: the service answers
// the same session again.
func (v *visit) redeemAndView(ctx context.Context, a *api) error {
	ans, err := a.do(ctx, "POST", "/api/v1/kitty", v.ip, v.token)
	if err != nil {
		return fmt.Errorf("redeem: %w", err)
	}
	switch ans.status {
	case http.StatusOK:
		v.sessions = append(v.sessions, session{until: ans.str("until"), image: ans.str("image_url")})
	case http.StatusGone: // it expired while the store was away
		v.redeemGone = ans.str("state")
		return nil
	default:
		return fmt.Errorf("redeem when called: %v", ans)
	}
	if err := sleep(ctx, viewTime); err != nil {
		return err
	}
	// A retry of the redeem must be the same session.
	if ans, err := a.do(ctx, "POST", "/api/v1/kitty", v.ip, v.token); err == nil && ans.status == http.StatusOK {
		v.sessions = append(v.sessions, session{until: ans.str("until"), image: ans.str("image_url")})
	}
	ans, err = a.do(ctx, "DELETE", "/api/v1/kitty", v.ip, v.token)
	switch {
	case err != nil:
		return fmt.Errorf("end viewing: %w", err)
	case ans.status == http.StatusNoContent:
	case ans.status == http.StatusConflict && ans.str("error") == "not_serving":
		// The view window ran out first (the store may have been away).
	default:
		return fmt.Errorf("end viewing: %v", ans)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
