package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestS8ReadsTheRangeWhenTheAPIHasIt: a take's answer with the bounds
// gives them; one without leaves them nil (S8's local mode).
func TestS8ReadsTheRangeWhenTheAPIHasIt(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		wantRange  bool
	}{
		{"naive only", `{"token":"x","ticket":"A005","state":"waiting","position":5,"eta_seconds":12}`, false},
		{"with the range", `{"token":"x","ticket":"A005","state":"waiting","position":5,"eta_seconds":12,"eta_low_seconds":9,"eta_high_seconds":16}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			tk, status, err := s8TakeTicket(context.Background(), srv.Client(), srv.URL, "10.8.0.1")
			if err != nil || status != http.StatusOK || tk.Position != 5 || tk.ETASeconds == nil || secs(*tk.ETASeconds) != 12*time.Second {
				t.Fatalf("take: %+v %d %v", tk, status, err)
			}
			if got := tk.ETALow != nil && tk.ETAHigh != nil; got != tc.wantRange {
				t.Fatalf("range read: %v, want %v", got, tc.wantRange)
			}
			if tc.wantRange && (secs(*tk.ETALow) != 9*time.Second || secs(*tk.ETAHigh) != 16*time.Second) {
				t.Fatalf("range %v–%v", *tk.ETALow, *tk.ETAHigh)
			}
		})
	}
}

func TestS8Summary(t *testing.T) {
	s := s8Summary([]s8Sample{{0.1, true}, {0.3, false}, {0.2, true}, {0.5, true}})
	if s.Calls != 4 || s.MdAPE != 0.25 || s.Inside != 0.75 {
		t.Fatalf("summary %+v", s)
	}
	if s := s8Summary(nil); s.Calls != 0 || s.MdAPE != 0 {
		t.Fatalf("empty summary %+v", s)
	}
}
