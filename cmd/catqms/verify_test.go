package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/catqms/catqms/queue/record"
	"github.com/catqms/catqms/queue/record/recordtest"
)

// historyServer serves entries as GET /api/v1/history does, oldest first
// from after, and records the pages asked for.
type historyServer struct {
	mu      sync.Mutex
	entries []record.Entry
	asked   []string
}

func (h *historyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, r.URL.RequestURI())
	if r.URL.Path != "/api/v1/history" {
		http.NotFound(w, r)
		return
	}
	after, err1 := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	limit, err2 := strconv.Atoi(r.URL.Query().Get("limit"))
	if err1 != nil || err2 != nil || limit < 1 || limit > 1000 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	page := []record.Entry{}
	for _, e := range h.entries {
		if e.Version > after && len(page) < limit {
			page = append(page, e)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"order": "oldest_first", "entries": page})
}

// aLongDay is an honest record of about n entries.
func aLongDay(t *testing.T, n int) []record.Entry {
	l := recordtest.NewLine(t, 2)
	for len(l.Entries) < n {
		l.Step(1000, func() { l.Take(); l.Take() })
		l.Step(500, func() {
			for seq := range l.Called {
				l.Redeem(seq)
			}
		})
		l.Step(2000, func() {
			for seq := range l.Serving {
				l.Serve(seq)
			}
		})
	}
	return l.Sealed()
}

func runVerify(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), append([]string{"verify"}, args...), func(string) string { return "" }, &out, &out)
	if err == nil {
		return out.String(), 0
	}
	if msg := err.Error(); msg != "" {
		out.WriteString(msg)
	}
	return out.String(), exitCode(err)
}

func TestVerifyCommand(t *testing.T) {
	honest := aLongDay(t, 2300)
	h := &historyServer{entries: honest}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	kept := filepath.Join(t.TempDir(), "record.json")
	out, code := runVerify(t, "--save", kept, srv.URL+"/")
	if code != 0 || !strings.Contains(out, "ok: 2") || !strings.Contains(out, honest[len(honest)-1].Hash) {
		t.Fatalf("honest record: exit %d\n%s", code, out)
	}
	if len(h.asked) != 3 || !strings.Contains(h.asked[1], "after="+strconv.FormatInt(honest[999].Version, 10)) {
		t.Errorf("pages asked: %v, want 3 pages of 1000 from after=0", h.asked)
	}

	t.Run("a call of a ticket never taken", func(t *testing.T) {
		bad := recordtest.Clone(honest)
		i := 0
		for i = 200; !slices.ContainsFunc(bad[i].Events, func(e record.Event) bool { return e.Kind == record.KindCalled }); i++ {
		}
		j := slices.IndexFunc(bad[i].Events, func(e record.Event) bool { return e.Kind == record.KindCalled })
		bad[i].Events[j].Ticket = "Z999"
		if _, err := record.Chain(record.Anchor{}, bad); err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		h.entries = bad
		h.mu.Unlock()
		out, code := runVerify(t, srv.URL)
		if code != exitViolation || !strings.Contains(out, "VIOLATION") || !strings.Contains(out, `"Z999"`) {
			t.Fatalf("corrupted record: exit %d\n%s", code, out)
		}
	})

	t.Run("rewritten since a copy was kept", func(t *testing.T) {
		bad := recordtest.Clone(honest)
		bad[1500].Events = append(bad[1500].Events, record.Event{Kind: record.KindPaused, Reason: "operator: rewritten"})
		if _, err := record.Chain(record.Anchor{}, bad); err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		h.entries = bad
		h.mu.Unlock()
		out, code := runVerify(t, "--against", kept, srv.URL)
		if code != exitViolation || !strings.Contains(out, "rewritten") {
			t.Fatalf("rewritten record against a kept copy: exit %d\n%s", code, out)
		}
	})

	t.Run("could not fetch", func(t *testing.T) {
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"unavailable","message":"the queue store is not answering"}`))
		}))
		t.Cleanup(down.Close)
		for _, args := range [][]string{{down.URL}, {"http://127.0.0.1:1"}, {"ftp://x"}, {}, {"--nope", srv.URL}} {
			if out, code := runVerify(t, args...); code != exitNoRecord {
				t.Errorf("verify %v: exit %d, want %d\n%s", args, code, exitNoRecord, out)
			}
		}
		if out, _ := runVerify(t, down.URL); !strings.Contains(out, "not answering") {
			t.Errorf("the service's own words are not shown: %s", out)
		}
	})

	if _, err := os.Stat(kept); err != nil {
		t.Fatal(err)
	}
}
