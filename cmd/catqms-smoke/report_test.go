package main

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckAccountsForEveryTicket: check passes honest outcomes and names
// every way a ticket can be unaccounted for.
func TestCheckAccountsForEveryTicket(t *testing.T) {
	s1 := session{until: "2026-11-27T10:00:01Z", image: "/api/v1/images/a"}
	s2 := session{until: "2026-11-27T10:00:05Z", image: "/api/v1/images/a"}
	for _, tc := range []struct {
		name string
		v    visit
		want string // a problem must contain this; "" = no problem
	}{
		{"served", visit{plan: planServe, label: "A000", sessions: []session{s1, s1}, final: "served"}, ""},
		{"missed during an outage", visit{plan: planServe, label: "A000", redeemGone: "expired", final: "expired"}, ""},
		{"no-show", visit{plan: planNoShow, label: "A000", final: "expired"}, ""},
		{"left", visit{plan: planLeave, label: "A000", left: true, final: "left"}, ""},
		{"served twice", visit{plan: planServe, label: "A000", sessions: []session{s1, s2}, final: "served"}, "served twice"},
		{"lost", visit{plan: planServe, label: "A000", lost: true}, "record is gone"},
		{"redeemed, not served", visit{plan: planServe, label: "A000", sessions: []session{s1}, final: "expired"}, "redeemed"},
		{"left, not left", visit{plan: planLeave, label: "A000", left: true, final: "expired"}, "left (204)"},
		{"no-show served", visit{plan: planNoShow, label: "A000", final: "left"}, "never redeemed"},
		{"served unredeemed", visit{plan: planServe, label: "A000", final: "served"}, "without a redeem"},
		{"not final", visit{plan: planServe, label: "A000", final: "waiting"}, "final state"},
		{"error", visit{plan: planServe, err: errors.New("take: boom")}, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check([]*visit{&tc.v})
			got := strings.Join(r.problems, "\n")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q, want one containing %q", got, tc.want)
			}
		})
	}
	r := check([]*visit{{plan: planServe, label: "A000", final: "expired"}, {n: 1, plan: planServe, label: "A000", final: "expired"}})
	if len(r.problems) != 1 || !strings.Contains(r.problems[0], "also given to visit 0") {
		t.Fatalf("one label for two tokens: %q", r.problems)
	}
}

func TestPlanFor(t *testing.T) {
	cfg := config{noShowEvery: 10, leaveEvery: 7}
	count := map[string]int{}
	for i := range 100 {
		count[planFor(cfg, i)]++
	}
	if count[planNoShow] != 10 || count[planLeave] != 13 || count[planServe] != 77 {
		t.Fatalf("plans of 100 visits: %v", count)
	}
}
