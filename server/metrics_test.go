package server

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	e := newTestServer(t, testOptions{cfg: Config{Version: "v9"}})
	c := mustDial(t, e.serve())
	c.next(2 * time.Second)
	token, _ := e.take()
	e.take()
	imageURL := decode(t, e.redeem(token))["image_url"].(string)
	e.do(http.MethodGet, imageURL, nil)
	e.do(http.MethodGet, "/no/such/"+token, nil)
	e.redeem("forged", from("198.51.100.1"))
	e.syncView()

	w := e.do(http.MethodGet, "/metrics", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", w.Code)
	}
	text := w.Body.String()
	tests := []struct {
		name string
		re   string
	}{
		{"issued", `(?m)^catqms_tickets_issued_total 2$`},
		{"served", `(?m)^catqms_tickets_served_total 0$`},
		{"expired", `(?m)^catqms_tickets_expired_total 0$`},
		{"left", `(?m)^catqms_tickets_left_total 0$`},
		{"bans", `(?m)^catqms_bans_total 1$`},
		{"length", `(?m)^catqms_line_length 1$`},
		{"busy", `(?m)^catqms_counters_busy 1$`},
		{"counters", `(?m)^catqms_counters 1$`},
		{"websocket clients", `(?m)^catqms_websocket_clients 1$`},
		{"view loaded", `(?m)^catqms_view_loaded 1$`},
		{"view tickets", `(?m)^catqms_view_tickets 2$`},
		{"view's first load", `(?m)^catqms_view_loads_total\{reason="start"\} 1$`},
		{"counter type", `(?m)^# TYPE catqms_tickets_issued_total counter$`},
		{"request histogram by route", `(?m)^catqms_http_request_duration_seconds_count\{method="POST",route="/api/v1/kitty",status="200"\} 1$`},
		{"route pattern, not the image id", `route="/api/v1/images/:id",status="200"`},
		{"unmatched", `(?m)^catqms_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1$`},
		{"websocket upgrade", `route="/api/v1/ws",status="101"`},
		{"build info", `catqms_build_info\{version="v9"\} 1`},
		{"go collector", `(?m)^go_goroutines `},
		{"process collector", `(?m)^process_cpu_seconds_total `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !regexp.MustCompile(tt.re).MatchString(text) {
				t.Fatalf("no match for %s in:\n%s", tt.re, grepCatqms(text))
			}
		})
	}
	if strings.Contains(text, token) || strings.Contains(text, strings.TrimPrefix(imageURL, imagePath)) {
		t.Fatal("a token or an image id leaked into a label")
	}

	// The store down: the scrape still answers, without the line's numbers.
	e.mr.Close()
	w = e.do(http.MethodGet, "/metrics", nil)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "catqms_line_length") ||
		!strings.Contains(w.Body.String(), "catqms_websocket_clients") {
		t.Fatalf("scrape with the store down = %d:\n%s", w.Code, grepCatqms(w.Body.String()))
	}
}

func grepCatqms(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "catqms_") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestCloseTwice(t *testing.T) {
	e := newTestServer(t, testOptions{})
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Fatal("New without a line succeeded")
	}
	if _, err := New(Config{IPv6BanPrefix: 200}, Deps{}); err == nil {
		t.Fatal("New with a bad prefix succeeded")
	}
}
