package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/memline"
)

// The Go model of the line is a Line: the server runs on it with no store.
var (
	_ Line  = (*memline.Line)(nil)
	_ Admin = (*memline.Line)(nil)
)

// TestAVisitOnTheModel walks a visit through the HTTP API of a server on
// the in-memory model of the line: no store, no scripts.
func TestAVisitOnTheModel(t *testing.T) {
	clock := newFakeClock()
	line, err := memline.New(queue.Settings{HeadWindow: 30 * time.Second}, []byte("model-secret-0123456789abcdef"), clock)
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{}, nil)
	t.Cleanup(func() { _ = h.Close() })
	srv, err := New(Config{HeadWindow: 30 * time.Second}, Deps{
		Line: line, Images: kitty.Builtin(), Hub: h, Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e := &testEnv{t: t, srv: srv, clock: clock}

	a, first := e.take()
	b, _ := e.take(from("198.51.100.2"))
	if first["state"] != "called" {
		t.Fatalf("the first ticket: %v", first)
	}
	w := e.redeem(b, from("198.51.100.2"))
	m := wantError(t, w, http.StatusConflict, queue.CodeNotYourTurn, true)
	if m["position"] != float64(2) || w.Header().Get("Retry-After") != "15" {
		t.Fatalf("not your turn: %v, Retry-After %q (want at most half the 30s head window)", m, w.Header().Get("Retry-After"))
	}
	if w := e.redeem(a); w.Code != http.StatusOK {
		t.Fatalf("redeem a: %d %s", w.Code, w.Body)
	}
	clock.Advance(61 * time.Second) // a's session ends: b is called
	if w := e.do(http.MethodGet, "/api/v1/queue", nil); w.Code != http.StatusOK || len(decode(t, w)["called"].([]any)) != 1 {
		t.Fatalf("the line after a's session: %d %s", w.Code, w.Body)
	}
	clock.Advance(31 * time.Second) // b does not come
	w = e.redeem(b, from("198.51.100.2"))
	if m := wantError(t, w, http.StatusGone, queue.CodeGone, false); m["state"] != "expired" {
		t.Fatalf("b after its call lapsed: %v", m)
	}
	w = e.redeem("forged", from("198.51.100.9"))
	wantError(t, w, http.StatusForbidden, queue.CodeForbidden, true)
	w = e.do(http.MethodGet, "/api/v1/token", nil, from("198.51.100.9"))
	wantError(t, w, http.StatusForbidden, queue.CodeBanned, true)
	if w := e.do(http.MethodGet, "/readyz", nil); w.Code != http.StatusOK {
		t.Fatalf("readyz: %d", w.Code)
	}
}
