package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const (
	adminToken  = "e2e-admin-token-0123456789"
	adminSecret = "e2e-admin-replicas-share-this-secret-0123"
)

// adminArgs: windows long enough that nothing expires by itself during the
// test, so every change in it is the admin's doing.
var adminArgs = []string{
	"--admin-token", adminToken, "--trusted-proxies", "127.0.0.1/32",
	"--head-window", "60s", "--view-window", "60s", "--counters", "1", "--ban-duration", "1h",
}

// adminDo sends an admin request with the token.
func (c *client) adminDo(method, path string, body any) reply {
	c.t.Helper()
	return c.do(method, "/api/v1/admin"+path, body, bearer(adminToken)...)
}

// wantAction checks an admin action's answer: 200, the action, the ticket
// acted on and the tickets it called.
func wantAction(t *testing.T, r reply, action, ticket string, called ...string) {
	t.Helper()
	if r.Status != http.StatusOK || r.str("action") != action || r.str("ticket") != ticket {
		t.Fatalf("%s: %v, want 200 acting on %q", action, r, ticket)
	}
	var got []string
	for _, c := range r.JSON["called"].([]any) {
		got = append(got, c.(string))
	}
	if strings.Join(got, ",") != strings.Join(called, ",") {
		t.Fatalf("%s called %v, want %v", action, got, called)
	}
}

// boardWatcher reads snapshots from a WebSocket as a TV board would.
type boardWatcher struct {
	t    *testing.T
	conn *websocket.Conn
}

func watchBoard(t *testing.T, svc *service) *boardWatcher {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(strings.Replace(svc.URL, "http", "ws", 1)+"/api/v1/ws", nil)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &boardWatcher{t: t, conn: conn}
}

// until reads snapshots until one satisfies ok, within 3 s: well inside the
// 5 s resync, so the change notice of the action itself brought it.
func (b *boardWatcher) until(what string, ok func(snap map[string]any) bool) {
	b.t.Helper()
	b.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		_, data, err := b.conn.ReadMessage()
		if err != nil {
			b.t.Fatalf("the board saw no %s: %v", what, err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.t.Fatalf("websocket message is not one JSON object: %q", data)
		}
		if err := contract.CheckServerMessage(data); err != nil {
			b.t.Errorf("the message breaks api/openapi.json: %v", err)
		}
		if m["type"] == "snapshot" && ok(m) {
			return
		}
	}
}

func boardLabels(list any) []string {
	var out []string
	for _, v := range list.([]any) {
		out = append(out, v.(map[string]any)["ticket"].(string))
	}
	return out
}

// TestAdminDrivesADay runs a day of a ticket line from the admin API against
// the real binary: open, a no-show skipped, a slow viewer moved on, a rush
// met with more counters, a cheater banned and forgiven, a pause at
// closing, fewer counters, and the next morning's resume.
func TestAdminDrivesADay(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			store, _ := storeArgs(t, kind)
			svc := startService(t, append(append([]string{"--secret", adminSecret}, adminArgs...), store...)...)
			var other *service // a second replica on the same store
			if kind == "redis-server" {
				other = startService(t, append(append([]string{"--secret", adminSecret}, adminArgs...), store...)...)
			}
			adminDay(t, svc, other)
		})
	}
}

func adminDay(t *testing.T, svc, other *service) {
	admin := svc.client("192.0.2.10")
	board := watchBoard(t, svc)

	// Only the token opens the admin API, and failures ban nobody.
	wantStatus(t, "no token", admin.do("GET", "/api/v1/admin/stats", nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "wrong token", admin.do("POST", "/api/v1/admin/pause", nil, bearer("not-the-admin-token")...), http.StatusForbidden, "forbidden")
	r := admin.adminDo("GET", "/stats", nil)
	if r.Status != http.StatusOK || r.num("issued") != 0 || r.num("counters") != 1 || r.JSON["paused"] != false {
		t.Fatalf("morning stats: %v", r)
	}

	// Opening: five customers.
	var customers []*client
	var tokens []string
	for i := range 5 {
		c := svc.client("198.51.100." + string(rune('1'+i)))
		customers = append(customers, c)
		tokens = append(tokens, c.take().str("token"))
	}
	wantStatus(t, "nobody to call while A000's call holds the counter",
		admin.adminDo("POST", "/call-next", nil), http.StatusConflict, "counters_busy")

	// A000 views, and views too long: the next is called now.
	wantStatus(t, "A000 redeems", customers[0].redeem(tokens[0]), http.StatusOK, "")
	wantAction(t, admin.adminDo("POST", "/call-next", nil), "call_next", "A000", "A001")
	if r := customers[0].do("GET", "/api/v1/ticket", nil, bearer(tokens[0])...); r.str("state") != "served" {
		t.Fatalf("A000 after call-next: %v", r)
	}

	// A001 does not come: skipped as a no-show, A002 called.
	wantAction(t, admin.adminDo("POST", "/skip", nil), "skip", "A001", "A002")
	r = customers[1].redeem(tokens[1])
	wantStatus(t, "A001 comes late", r, http.StatusGone, "gone")
	if r.str("state") != "expired" {
		t.Fatalf("A001 after the skip: %s", r.Body)
	}

	// The lunch rush: three counters, for every replica, at once.
	wantAction(t, admin.adminDo("PUT", "/counters", `{"counters": 3}`), "set_counters", "", "A003", "A004")
	board.until("three counters and three calls", func(s map[string]any) bool {
		return s["counters"] == float64(3) && strings.Join(boardLabels(s["called"]), ",") == "A002,A003,A004"
	})
	if other != nil {
		r := other.client("192.0.2.11").do("GET", "/api/v1/queue", nil)
		if r.num("counters") != 3 || len(r.JSON["called"].([]any)) != 3 {
			t.Fatalf("the other replica's line after counters=3: %s", r.Body)
		}
	}

	// A cheater is banned; the admin sees and forgives them.
	cheater := svc.client("203.0.113.66")
	wantStatus(t, "forged token", cheater.redeem("A002"), http.StatusForbidden, "forbidden")
	wantStatus(t, "banned", cheater.do("GET", "/api/v1/token", nil), http.StatusForbidden, "banned")
	r = admin.adminDo("GET", "/bans", nil)
	bans, _ := r.JSON["bans"].([]any)
	if r.Status != http.StatusOK || r.num("total") != 1 || len(bans) != 1 || bans[0].(map[string]any)["client"] != "203.0.113.66" {
		t.Fatalf("bans: %v", r)
	}
	if end := wantTime(t, "ends_at", bans[0].(map[string]any)["ends_at"].(string)); time.Until(end) < 59*time.Minute {
		t.Fatalf("ban ends at %v, want about an hour from now", end)
	}
	wantAction(t, admin.adminDo("DELETE", "/bans/203.0.113.66", nil), "unban", "")
	wantStatus(t, "unban twice", admin.adminDo("DELETE", "/bans/203.0.113.66", nil), http.StatusNotFound, "not_found")
	cheater.take() // A005

	// A002 views; the admin ends the session for them (the shop closes).
	wantStatus(t, "A002 redeems", customers[2].redeem(tokens[2]), http.StatusOK, "")
	wantAction(t, admin.adminDo("DELETE", "/sessions/A002", nil), "end_session", "A002", "A005")

	// Closing: no new tickets, and the board says so.
	r = admin.adminDo("POST", "/pause", nil)
	wantAction(t, r, "pause", "")
	if r.JSON["paused"] != true {
		t.Fatalf("pause: %s", r.Body)
	}
	board.until("a paused line", func(s map[string]any) bool { return s["paused"] == true })
	late := svc.client("198.51.100.99")
	r = late.do("GET", "/api/v1/token", nil)
	wantStatus(t, "take while paused", r, http.StatusServiceUnavailable, "paused")
	wantRetryAfter(t, "paused", r, 1, 3600)
	if other != nil {
		wantStatus(t, "take on the other replica while paused",
			other.client("198.51.100.98").do("GET", "/api/v1/token", nil), http.StatusServiceUnavailable, "paused")
	}
	// Those already in line are still served while paused.
	wantStatus(t, "A003 redeems while paused", customers[3].redeem(tokens[3]), http.StatusOK, "")

	// Evening: one counter. Nobody's session or call is cut short.
	wantAction(t, admin.adminDo("PUT", "/counters", `{"counters": 1}`), "set_counters", "")
	board.until("one counter", func(s map[string]any) bool {
		return s["counters"] == float64(1) && len(s["serving"].([]any)) == 1 && len(s["called"].([]any)) == 2
	})

	// The next morning.
	wantAction(t, admin.adminDo("POST", "/resume", nil), "resume", "")
	board.until("an open line", func(s map[string]any) bool { return s["paused"] == false })
	late.take() // A006

	r = admin.adminDo("GET", "/stats", nil)
	for k, want := range map[string]float64{
		"issued": 7, "served": 2, "expired": 1, "left": 0, "bans": 1,
		"length": 3, "counters": 1, "serving": 1, "called": 2,
	} {
		if r.num(k) != want {
			t.Errorf("evening stats %s = %v, want %v (%s)", k, r.JSON[k], want, r.Body)
		}
	}
	if r.num("mean_service_seconds") < 0 || r.num("mean_wait_seconds") < 0 || r.JSON["paused"] != false {
		t.Errorf("evening stats: %s", r.Body)
	}

	// Every action is in the log, with who did it; the token never is.
	log := svc.Log()
	for _, action := range []string{"call_next", "skip", "set_counters", "unban", "end_session", "pause", "resume"} {
		if !strings.Contains(log, "action="+action+" client=192.0.2.10 result=ok") {
			t.Errorf("the log has no %s by 192.0.2.10", action)
		}
	}
	if !strings.Contains(log, `msg="admin: wrong token" client=192.0.2.10`) {
		t.Errorf("the wrong token is not in the log with the client")
	}
	if strings.Contains(log, adminToken) {
		t.Errorf("the admin token is in the log")
	}
}
