package server

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue"
)

// stubLine answers the visit's three calls at once, so that a benchmark of
// the visit measures the server's own work: Gin, middleware, JSON.
type stubLine struct{ Line }

func (stubLine) Take(context.Context, string) (queue.Issued, error) {
	return queue.Issued{Token: "tok-0123456789abcdef0123456789abcdef", Ticket: queue.Ticket{
		Seq: 42, Label: "A042", State: queue.StateCalled, Position: 1, Deadline: time.Now().Add(time.Minute),
	}}, nil
}

func (stubLine) Redeem(context.Context, string, string) (queue.Session, error) {
	return queue.Session{Seq: 42, Label: "A042", ImageID: "img-0123456789abcdef", Until: time.Now().Add(time.Minute)}, nil
}

func (stubLine) EndViewing(context.Context, string, string) error { return nil }

func (stubLine) Changes() <-chan struct{} { return nil }

func (stubLine) Snapshot(context.Context) (queue.Snapshot, error) { return queue.Snapshot{}, nil }

func (stubLine) Statuses(context.Context, []queue.StatusRequest) ([]queue.StatusReply, error) {
	return nil, nil
}

// BenchmarkVisit is S2's visit (take, redeem, end) through the Gin engine
// with a line that costs nothing, configured as the benchmark runs catqms.
func BenchmarkVisit(b *testing.B) {
	h := hub.New(hub.Config{}, nil)
	defer h.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := newServer(Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		TakeRate:       rate.Inf,
		MaxWSPerClient: 100000,
	}, Deps{Line: stubLine{}, Images: kitty.Builtin(), Hub: h, Logger: logger}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	handler := srv.Handler()
	type step struct {
		method, path string
		auth         bool
		want         int
	}
	steps := []step{{"GET", "/api/v1/token", false, 200}, {"POST", "/api/v1/kitty", true, 200}, {"DELETE", "/api/v1/kitty", true, 204}}
	b.ReportAllocs()
	for b.Loop() {
		for _, st := range steps {
			req := httptest.NewRequest(st.method, st.path, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("X-Forwarded-For", "10.2.0.7")
			if st.auth {
				req.Header.Set("Authorization", "Bearer tok-0123456789abcdef0123456789abcdef")
				req.Header.Set("Accept", "application/json")
			}
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, req)
			if w.Code != st.want {
				b.Fatalf("%s %s: %d %s", st.method, st.path, w.Code, w.Body)
			}
		}
	}
}
