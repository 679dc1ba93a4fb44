package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
)

// TestRecordServedFromTheLog: on both stores, the service serves its change
// log as the public record, catqms verify passes on it, and a copy kept
// before more changes still matches (--against). On the embedded store, a
// restart keeps the line but starts a new chain with a reset, which the
// verifier accepts and reports.
func TestRecordServedFromTheLog(t *testing.T) {
	stores := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"embedded", func(t *testing.T) []string { return []string{"--data-dir", t.TempDir()} }},
		{"redis-server", func(t *testing.T) []string {
			return []string{"--redis-url", "redis://" + testenv.RedisServer(t).Addr}
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			args := append([]string{"--addr", "127.0.0.1:0", "--head-window", "2s", "--view-window", "2s"}, st.args(t)...)
			s := startService(t, args...)
			client := &http.Client{Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			take := func(s *service, n int) {
				for range n {
					var taken struct {
						Token string `json:"token"`
					}
					getJSON(t, client, http.MethodGet, s.base+"/api/v1/token", nil, http.StatusOK, &taken)
				}
			}
			take(s, 5)
			kept := filepath.Join(t.TempDir(), "record.json")
			var out bytes.Buffer
			if err := verify(context.Background(), []string{"--save", kept, s.base}, &out); err != nil {
				t.Fatalf("verify: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "ok") {
				t.Fatalf("verify printed:\n%s", out.String())
			}
			var page struct {
				Entries []struct {
					Version  int64  `json:"version"`
					Hash     string `json:"hash"`
					PrevHash string `json:"prev_hash"`
				} `json:"entries"`
			}
			getJSON(t, client, http.MethodGet, s.base+"/api/v1/history?limit=3", nil, http.StatusOK, &page)
			if len(page.Entries) != 3 || page.Entries[0].Version <= page.Entries[1].Version || page.Entries[1].Hash != page.Entries[0].PrevHash {
				t.Fatalf("newest page: %+v", page.Entries)
			}
			// The stats page's charts come from the same log.
			var stats struct {
				StepSeconds int64            `json:"step_seconds"`
				Series      []map[string]any `json:"series"`
				Rates       struct {
					Taken int64 `json:"taken"`
				} `json:"rates"`
			}
			getJSON(t, client, http.MethodGet, s.base+"/api/v1/stats", nil, http.StatusOK, &stats)
			if stats.StepSeconds != 60 || len(stats.Series) == 0 || stats.Rates.Taken != 5 {
				t.Fatalf("stats: step %d, %d points, %d taken; want 60, some, 5", stats.StepSeconds, len(stats.Series), stats.Rates.Taken)
			}
			take(s, 3)
			out.Reset()
			if err := verify(context.Background(), []string{"--against", kept, s.base}, &out); err != nil {
				t.Fatalf("verify --against the earlier copy: %v\n%s", err, out.String())
			}
			if st.name != "embedded" {
				return
			}
			if err := s.stop(t); err != nil {
				t.Fatal(err)
			}
			s = startService(t, args...)
			take(s, 2)
			out.Reset()
			if err := verify(context.Background(), []string{s.base}, &out); err != nil {
				t.Fatalf("verify after a restart: %v\n%s", err, out.String())
			}
			// Nothing was kept (no --data-dir): the record begins with the
			// new line, and says it may be a store that lost its data.
			if !strings.Contains(out.String(), "the line begins at version") || !strings.Contains(out.String(), "lost its data") {
				t.Fatalf("verify after a restart does not show where the line began:\n%s", out.String())
			}
		})
	}
}
