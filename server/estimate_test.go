package server

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/readmodel"
)

// wantRange checks that m shows the wait of a ticket at position as the
// server's view estimates it: eta_seconds its middle, eta_low_seconds and
// eta_high_seconds its bounds, whole seconds, a real range (low < high).
func wantRange(t *testing.T, e *testEnv, what string, m map[string]any) {
	t.Helper()
	pos, ok := m["position"].(float64)
	if !ok {
		t.Fatalf("%s: no position: %v", what, m)
	}
	est, err := e.srv.view.Estimate(int64(pos))
	if err != nil {
		t.Fatalf("%s: the view's estimate: %v", what, err)
	}
	mid, low, high := etaRange(est.Mid, est.Low, est.High)
	got := [3]any{m["eta_low_seconds"], m["eta_seconds"], m["eta_high_seconds"]}
	if want := [3]any{float64(low), float64(mid), float64(high)}; got != want {
		t.Fatalf("%s: low, eta, high = %v, want %v (the view's %+v)", what, got, want, est)
	}
	if low >= high || low > mid || mid > high {
		t.Fatalf("%s: %d ≤ %d ≤ %d is not a range", what, low, mid, high)
	}
}

// serveOne redeems token, lets the session run for d and ends it: one
// hold of d for the line's flow.
func serveOne(t *testing.T, e *testEnv, token string, d time.Duration) {
	t.Helper()
	if w := e.redeem(token); w.Code != http.StatusOK {
		t.Fatalf("redeem = %d %s", w.Code, w.Body)
	}
	e.clock.Advance(d)
	if w := e.do(http.MethodDelete, "/api/v1/kitty", nil, bearer(token)); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE /api/v1/kitty = %d %s", w.Code, w.Body)
	}
}

// TestWaitAsARange: every answer that shows a waiting ticket's wait —
// GET /api/v1/token, GET /api/v1/ticket, the WebSocket's ticket message,
// not_your_turn — shows the view's range from the line's flow, and a
// waiting ticket's call is scored in the estimate's histograms.
func TestWaitAsARange(t *testing.T) {
	e := newTestServer(t, testOptions{})
	first, _ := e.take() // called at once: one counter
	serveOne(t, e, first, 20*time.Second)
	second, _ := e.take() // called at once
	e.syncView()

	third, body := e.take() // waiting at 2, behind the called one
	if body["state"] != string(queue.StateWaiting) {
		t.Fatalf("third ticket: %v, want waiting", body)
	}
	e.syncView()
	wantRange(t, e, "GET /api/v1/token", body)

	w := e.do(http.MethodGet, "/api/v1/ticket", nil, bearer(third))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/ticket = %d %s", w.Code, w.Body)
	}
	wantRange(t, e, "GET /api/v1/ticket", decode(t, w))

	m := wantError(t, e.redeem(third), http.StatusConflict, queue.CodeNotYourTurn, true)
	wantRange(t, e, "not_your_turn", m)

	c := mustDial(t, e.serve())
	c.send(map[string]string{"type": "watch", "token": third})
	msg := c.until(3*time.Second, "ticket", ofType("ticket"))
	wantRange(t, e, "the WebSocket's ticket", msg)

	// The second ticket's session ends: the third, which waited, is called
	// and its estimate scored.
	serveOne(t, e, second, 30*time.Second)
	e.syncView()
	labels := []string{flow.EstimatorFlow.String(), flow.PointTake.String()}
	if n := testutil.CollectAndCount(e.srv.estimateError, flow.MetricAbsError); n != 6 {
		t.Fatalf("%d series of %s, want 6 (2 estimators × 3 points)", n, flow.MetricAbsError)
	}
	if got := histCount(t, e, flow.MetricAbsError, labels); got != 1 {
		t.Fatalf("%s{%v} count = %d, want 1", flow.MetricAbsError, labels, got)
	}
	if got := histCount(t, e, flow.MetricInRange, labels); got != 1 {
		t.Fatalf("%s{%v} count = %d, want 1", flow.MetricInRange, labels, got)
	}
	if rep := e.srv.replica.Accuracy(time.Hour); rep.Flow[flow.PointTake].Calls != 1 {
		t.Fatalf("accuracy %+v: want the one call scored", rep)
	}
	// What GET /api/v1/stats shows (cmd/catqms wires it).
	if a, ok := e.srv.Accuracy(time.Hour); !ok || a.Calls != 1 || a.Window != time.Hour || a.Inside < 0 || a.Inside > 1 {
		t.Fatalf("Server.Accuracy = %+v, %v: want the one call scored", a, ok)
	}
}

// histCount is the sample count of histogram name's child with labels
// (estimator, point) in the server's registry.
func histCount(t *testing.T, e *testEnv, name string, labels []string) uint64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["estimator"] == labels[0] && got["point"] == labels[1] {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// staleView is a view that cannot follow the line.
type staleView struct{ View }

func (staleView) Estimate(int64) (flow.Range, error) {
	return flow.Range{}, &readmodel.StaleError{Cause: errors.New("store down")}
}

// TestWaitWithoutTheView: while the view cannot answer, a waiting ticket
// shows the store's eta_seconds as its own range; a called one shows none.
func TestWaitWithoutTheView(t *testing.T) {
	s := &Server{view: staleView{}}
	waiting := queue.Ticket{Label: "A002", State: queue.StateWaiting, Position: 2, ETA: 61500 * time.Millisecond}
	b := newTicketBody(s.estimated(waiting))
	if *b.ETASeconds != 62 || *b.ETALowSeconds != 62 || *b.ETAHighSeconds != 62 {
		t.Fatalf("stale view: eta %d [%d, %d], want 62 [62, 62]", *b.ETASeconds, *b.ETALowSeconds, *b.ETAHighSeconds)
	}
	called := queue.Ticket{Label: "A001", State: queue.StateCalled, Position: 1}
	if b := newTicketBody(s.estimated(called)); *b.ETASeconds != 0 || *b.ETALowSeconds != 0 || *b.ETAHighSeconds != 0 {
		t.Fatalf("called: eta %d [%d, %d], want 0 [0, 0]", *b.ETASeconds, *b.ETALowSeconds, *b.ETAHighSeconds)
	}
	qe := &queue.Error{Code: queue.CodeNotYourTurn, Position: 2, ETA: 30 * time.Second}
	qe.ETA, qe.ETALow, qe.ETAHigh = s.estimate(qe.Position, qe.ETA)
	if eb := newErrorBody(qe); *eb.ETASeconds != 30 || *eb.ETALowSeconds != 30 || *eb.ETAHighSeconds != 30 {
		t.Fatalf("not_your_turn: eta %d [%d, %d], want 30 [30, 30]", *eb.ETASeconds, *eb.ETALowSeconds, *eb.ETAHighSeconds)
	}
	// Whole seconds hold the range: 10.2–10.9 s around 10.5 s is 10–11 s
	// around 11 s, and a wait of 10.3 s stays inside it.
	if mid, low, high := etaRange(10500*time.Millisecond, 10200*time.Millisecond, 10900*time.Millisecond); low != 10 || mid != 11 || high != 11 {
		t.Fatalf("etaRange(10.5 s in 10.2–10.9 s) = %d in %d–%d, want 11 in 10–11", mid, low, high)
	}
	if mid, low, high := etaRange(900*time.Millisecond, 400*time.Millisecond, 2100*time.Millisecond); low != 0 || mid != 1 || high != 3 {
		t.Fatalf("etaRange(0.9 s in 0.4–2.1 s) = %d in %d–%d, want 1 in 0–3", mid, low, high)
	}
}
