package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/catqms/catqms/internal/testenv"
)

// replicaSecret is the --secret every replica of one test shares, as the
// README asks of replicas.
const replicaSecret = "e2e-replicas-share-this-secret-0123456789"

// startReplicas starts n catqms processes on one store URL with the same
// secret, trusting 127.0.0.1 as a proxy so that each test client has its own
// forwarded address.
func startReplicas(t *testing.T, n int, redisURL string, args ...string) []*service {
	t.Helper()
	svcs := make([]*service, n)
	for i := range svcs {
		svcs[i] = startService(t, append([]string{
			"--redis-url", redisURL, "--secret", replicaSecret, "--trusted-proxies", "127.0.0.1/32",
		}, args...)...)
	}
	// Runs before the services stop: a connection the shared client dialed
	// but never used would hold up each one's graceful shutdown for 5s
	// (net/http waits that long for a new connection's first request).
	t.Cleanup(httpClient.CloseIdleConnections)
	return svcs
}

// httpClient bounds every request a concurrent helper makes: a hung
// request is a failure, never a hung test.
var httpClient = &http.Client{Timeout: 15 * time.Second}

// fetch is client.do for goroutines: it returns errors instead of failing
// the test. token, when set, goes in the Authorization header.
func fetch(baseURL, method, path, ip, token string) (reply, error) {
	req, err := http.NewRequest(method, baseURL+path, nil)
	if err != nil {
		return reply{}, err
	}
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: data}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &r.JSON); err != nil {
			return r, fmt.Errorf("%s %s: body is not JSON: %q", method, path, data)
		}
	}
	return r, nil
}

// labelSeq is the ticket number behind a label: A000…Z999 are 0…25999,
// then AA000… (see queue.Label). -1 for anything else.
func labelSeq(label string) int {
	i := strings.IndexAny(label, "0123456789")
	if i < 1 || len(label)-i != 3 {
		return -1
	}
	letters, digits := label[:i], label[i:]
	n := 0
	for _, d := range digits {
		n = n*10 + int(d-'0')
	}
	block := 0
	for _, c := range letters {
		if c < 'A' || c > 'Z' {
			return -1
		}
		block = block*26 + int(c-'A')
	}
	if len(letters) == 2 {
		block += 26
	}
	return block*1000 + n
}

func TestLabelSeq(t *testing.T) {
	for label, want := range map[string]int{"A000": 0, "A001": 1, "A999": 999, "B000": 1000, "Z999": 25999, "AA000": 26000, "AB001": 27001, "x": -1, "A01": -1} {
		if got := labelSeq(label); got != want {
			t.Errorf("labelSeq(%q) = %d, want %d", label, got, want)
		}
	}
}

// slot is one entry of a snapshot's serving, called or waiting list.
type slot struct {
	Ticket   string `json:"ticket"`
	Until    string `json:"until"`
	Deadline string `json:"deadline"`
}

// feedMsg is one WebSocket message, with the time it arrived.
type feedMsg struct {
	At      time.Time `json:"-"`
	Type    string    `json:"type"`
	Version int64     `json:"version"`
	Length  int       `json:"length"`
	Serving []slot    `json:"serving"`
	Called  []slot    `json:"called"`
	Waiting []slot    `json:"waiting"`
}

// labels returns the tickets of a list.
func labels(list []slot) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Ticket
	}
	return out
}

// feed is a WebSocket client that keeps every message it gets, and the
// error that ended it.
type feed struct {
	conn *websocket.Conn
	mu   sync.Mutex
	msgs []feedMsg
	err  error // why reading stopped; nil while it goes on
	done chan struct{}
}

// openFeed connects a feed to svc as the client ip. It is closed when the
// test ends.
func openFeed(t *testing.T, svc *service, ip string) *feed {
	t.Helper()
	h := http.Header{}
	if ip != "" {
		h.Set("X-Forwarded-For", ip)
	}
	url := strings.Replace(svc.URL, "http", "ws", 1) + "/api/v1/ws"
	conn, _, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	f := &feed{conn: conn, done: make(chan struct{})}
	go f.read()
	t.Cleanup(func() { conn.Close(); <-f.done })
	return f
}

func (f *feed) read() {
	defer close(f.done)
	for {
		_, data, err := f.conn.ReadMessage()
		if err == nil {
			var m feedMsg
			if err = json.Unmarshal(data, &m); err != nil {
				err = fmt.Errorf("message is not one JSON object: %q", data)
			} else if err = contract.CheckServerMessage(data); err != nil {
				err = fmt.Errorf("the message breaks api/openapi.json: %w", err)
			}
			m.At = time.Now()
			f.mu.Lock()
			if err == nil && m.Type == "snapshot" {
				for _, prev := range f.msgs {
					if prev.Type == "snapshot" && prev.Version > m.Version {
						err = fmt.Errorf("version went back from %d to %d", prev.Version, m.Version)
					}
				}
			}
			f.msgs = append(f.msgs, m)
			f.mu.Unlock()
		}
		if err != nil {
			f.mu.Lock()
			f.err = err
			f.mu.Unlock()
			return
		}
	}
}

// mark returns how many messages arrived so far, for waitSince.
func (f *feed) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

// all returns a copy of every message so far.
func (f *feed) all() []feedMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]feedMsg(nil), f.msgs...)
}

// waitSince waits for a message after the first from ones for which cond
// holds, and returns it; it fails t after timeout, or if the feed broke.
func (f *feed) waitSince(t *testing.T, from int, timeout time.Duration, what string, cond func(feedMsg) bool) feedMsg {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f.mu.Lock()
		msgs, ferr := f.msgs[min(from, len(f.msgs)):], f.err
		for _, m := range msgs {
			if cond(m) {
				f.mu.Unlock()
				return m
			}
		}
		from += len(msgs)
		f.mu.Unlock()
		if ferr != nil {
			t.Fatalf("waiting for %s: the WebSocket ended: %v", what, ferr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no WebSocket message with %s within %v; the messages were:\n%s", what, timeout, f.describe())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// describe lists every message so far, one a line, for a failure.
func (f *feed) describe() string {
	var b strings.Builder
	for _, m := range f.all() {
		fmt.Fprintf(&b, "%s %s version %d length %d serving %v called %v waiting %v\n", m.At.Format("15:04:05.000"),
			m.Type, m.Version, m.Length, labels(m.Serving), labels(m.Called), labels(m.Waiting))
	}
	return b.String()
}

// closeErr waits until the feed ends and returns why.
func (f *feed) closeErr(timeout time.Duration) error {
	select {
	case <-f.done:
	case <-time.After(timeout):
		return fmt.Errorf("still open after %v", timeout)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// TestReplicasKeepOneFIFOOrder: tickets taken round-robin on three replicas
// of one redis-server form one line: labels in taking order, positions
// 1…n, and every replica tells every holder the same label and position.
func TestReplicasKeepOneFIFOOrder(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startReplicas(t, 3, redis.URL())
	const n = 12
	var tokens, tickets []string
	for i := range n {
		r := svcs[i%3].client(fmt.Sprintf("198.51.100.%d", i+1)).take()
		tokens, tickets = append(tokens, r.str("token")), append(tickets, r.str("ticket"))
		if i > 0 && labelSeq(tickets[i]) != labelSeq(tickets[i-1])+1 {
			t.Fatalf("ticket %d from replica %d is %s after %s: labels are not consecutive", i, i%3+1, tickets[i], tickets[i-1])
		}
		wantState := "waiting"
		if i == 0 {
			wantState = "called"
		}
		if r.num("position") != float64(i+1) || r.str("state") != wantState {
			t.Fatalf("ticket %d from replica %d: %s, want position %d %s", i, i%3+1, r.Body, i+1, wantState)
		}
	}
	checkLine := func(what string, want []string) {
		t.Helper()
		var version float64
		for ri, svc := range svcs {
			c := svc.client("203.0.113.1")
			snap := c.do("GET", "/api/v1/queue", nil)
			var got []string
			for _, key := range []string{"called", "waiting"} {
				list, _ := snap.JSON[key].([]any)
				for _, e := range list {
					got = append(got, e.(map[string]any)["ticket"].(string))
				}
			}
			if strings.Join(got, " ") != strings.Join(want, " ") || snap.num("length") != float64(len(want)) {
				t.Fatalf("%s: replica %d shows the line %v (length %v), want %v", what, ri+1, got, snap.num("length"), want)
			}
			if ri > 0 && snap.num("version") != version {
				t.Fatalf("%s: replica %d is at version %v, replica 1 at %v", what, ri+1, snap.num("version"), version)
			}
			version = snap.num("version")
			for pos, label := range want {
				i := labelSeq(label) - labelSeq(tickets[0])
				r := c.do("GET", "/api/v1/ticket", nil, bearer(tokens[i])...)
				if r.Status != http.StatusOK || r.str("ticket") != label || r.num("position") != float64(pos+1) {
					t.Fatalf("%s: replica %d answers ticket %s with %v, want position %d", what, ri+1, label, r, pos+1)
				}
			}
		}
	}
	checkLine("after taking", tickets)

	// One holder leaves on replica 2: everyone behind moves up on every replica.
	leaver := svcs[1].client("198.51.100.6")
	wantStatus(t, "leave", leaver.do("DELETE", "/api/v1/ticket", nil, bearer(tokens[5])...), http.StatusNoContent, "")
	checkLine("after "+tickets[5]+" left", append(append([]string{}, tickets[:5]...), tickets[6:]...))
}

// TestReplicasRedeemOnce: thirty concurrent redemptions of one called
// ticket, spread over three replicas, start exactly one viewing session:
// every answer is that session, and the counter is taken once.
func TestReplicasRedeemOnce(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startReplicas(t, 3, redis.URL())
	const ip = "198.51.100.7"
	a := svcs[0].client(ip).take()
	b := svcs[1].client("198.51.100.8").take()
	if a.str("state") != "called" || b.str("state") != "waiting" {
		t.Fatalf("tickets: %s / %s", a.Body, b.Body)
	}

	const n = 30
	type answer struct {
		r   reply
		err error
	}
	answers := make([]answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := fetch(svcs[i%3].URL, "POST", "/api/v1/kitty", ip, a.str("token"))
			answers[i] = answer{r, err}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d concurrent redemptions over 3 replicas answered in %v", n, time.Since(began).Round(time.Millisecond))

	until, image := "", ""
	for i, ans := range answers {
		if ans.err != nil {
			t.Fatalf("redemption %d on replica %d: %v", i, i%3+1, ans.err)
		}
		if ans.r.Status != http.StatusOK || ans.r.str("state") != "serving" || ans.r.str("ticket") != a.str("ticket") {
			t.Fatalf("redemption %d on replica %d: %v", i, i%3+1, ans.r)
		}
		if until == "" {
			until, image = ans.r.str("until"), ans.r.str("image_url")
		}
		if ans.r.str("until") != until || ans.r.str("image_url") != image {
			t.Fatalf("redemption %d on replica %d started another session: until %s image %s, first was %s %s",
				i, i%3+1, ans.r.str("until"), ans.r.str("image_url"), until, image)
		}
	}
	for ri, svc := range svcs {
		snap := svc.client("203.0.113.1").do("GET", "/api/v1/queue", nil)
		serving, _ := snap.JSON["serving"].([]any)
		called, _ := snap.JSON["called"].([]any)
		if len(serving) != 1 || serving[0].(map[string]any)["ticket"] != a.str("ticket") ||
			serving[0].(map[string]any)["until"] != until || len(called) != 0 {
			t.Fatalf("replica %d after 30 redemptions: %s; want %s alone serving until %s and nobody called", ri+1, snap.Body, a.str("ticket"), until)
		}
	}
	r := svcs[2].client("198.51.100.8").do("GET", "/api/v1/ticket", nil, bearer(b.str("token"))...)
	if r.str("state") != "waiting" || r.num("position") != 1 {
		t.Fatalf("the next ticket while the only counter serves: %v, want waiting at position 1", r)
	}
}

// visit is what one holder saw in TestReplicasCallEveryTicketOnce.
type visit struct {
	label      string
	plan       string // "serve", "no-show" or "leave"
	sawCalled  bool
	deadline   string // the deadline of its call, as the holder saw it
	until      string // the session a 200 redeem gave; "" if none
	finalState string
	err        error
}

// TestReplicasCallEveryTicketOnce runs many visits at once over three
// replicas (some holders leave, some never show up) and checks, from one
// replica's WebSocket and from the holders themselves, that tickets are
// called in label order, each exactly once, none skipped but those that left.
func TestReplicasCallEveryTicketOnce(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startReplicas(t, 3, redis.URL(), "--head-window", "1s", "--view-window", "5s")
	board := openFeed(t, svcs[0], "203.0.113.50")

	const n = 24
	visits := make([]*visit, n)
	tokens := make([]string, n)
	for i := range n {
		r := svcs[i%3].client(ip(i)).take()
		plan := "serve"
		switch i % 8 {
		case 3:
			plan = "no-show"
		case 5:
			plan = "leave"
		}
		visits[i], tokens[i] = &visit{label: r.str("ticket"), plan: plan}, r.str("token")
	}
	var wg sync.WaitGroup
	for i, v := range visits {
		wg.Go(func() { v.err = runVisit(svcs[(i+1)%3].URL, ip(i), tokens[i], v) })
	}
	wg.Wait()
	for _, v := range visits {
		if v.err != nil {
			t.Fatalf("visit %s (%s): %v", v.label, v.plan, v.err)
		}
	}

	// The holders' view: everyone but the leavers was called once; the
	// final states are what each plan leads to.
	for _, v := range visits {
		want := map[string]string{"serve": "served", "no-show": "expired", "leave": "left"}[v.plan]
		if v.finalState != want {
			t.Errorf("ticket %s (%s) ended %s, want %s", v.label, v.plan, v.finalState, want)
		}
		if v.plan != "leave" && !v.sawCalled {
			t.Errorf("ticket %s (%s) was never called", v.label, v.plan)
		}
		if v.plan == "serve" && v.until == "" {
			t.Errorf("ticket %s was called but never served", v.label)
		}
	}

	// The board's view: calls come in label order, none twice (a ticket
	// that left called and serving never comes back, and keeps the
	// deadline of its one call), never more than the one counter. It ends
	// on the empty line.
	waitFor(t, 2*time.Second, "the board to show the empty line", func() bool {
		msgs := board.all()
		last := msgs[len(msgs)-1]
		return last.Type == "snapshot" && last.Length == 0 && len(last.Serving) == 0
	})
	msgs := board.all()
	firstSeen := map[string]int{}
	gone := map[string]bool{}
	deadlines := map[string]string{}
	var order []string
	current := map[string]bool{}
	for mi, m := range msgs {
		if m.Type != "snapshot" {
			continue
		}
		if len(m.Called)+len(m.Serving) > 1 {
			t.Errorf("snapshot v%d: %v called and %v serving with one counter", m.Version, labels(m.Called), labels(m.Serving))
		}
		now := map[string]bool{}
		for _, s := range append(append([]slot{}, m.Called...), m.Serving...) {
			now[s.Ticket] = true
			if gone[s.Ticket] {
				t.Errorf("snapshot v%d: %s is called or serving again after it was done", m.Version, s.Ticket)
			}
			if _, seen := firstSeen[s.Ticket]; !seen {
				firstSeen[s.Ticket] = mi
				order = append(order, s.Ticket)
			}
			if s.Deadline != "" {
				if d, ok := deadlines[s.Ticket]; ok && d != s.Deadline {
					t.Errorf("snapshot v%d: %s called again: deadline %s, was %s", m.Version, s.Ticket, s.Deadline, d)
				}
				deadlines[s.Ticket] = s.Deadline
			}
		}
		for label := range current {
			if !now[label] {
				gone[label] = true
			}
		}
		current = now
	}
	for i := 1; i < len(order); i++ {
		if labelSeq(order[i]) <= labelSeq(order[i-1]) {
			t.Errorf("the board saw %s called after %s: not in line order (%v)", order[i], order[i-1], order)
		}
	}
	for _, v := range visits {
		if v.plan == "leave" && firstSeen[v.label] > 0 {
			t.Errorf("%s left while waiting but was called", v.label)
		}
		if d, ok := deadlines[v.label]; ok && v.deadline != "" && d != v.deadline {
			t.Errorf("%s: the holder saw deadline %s, the board %s", v.label, v.deadline, d)
		}
	}
	t.Logf("%d visits over 3 replicas; the board on replica 1 got %d messages and saw %d of %d calls", n, len(msgs), len(order), n-n/8)

	// The line's own totals agree, whichever replica is asked.
	m := string(svcs[2].client("").do("GET", "/metrics", nil).Body)
	for _, want := range []string{
		fmt.Sprintf("catqms_tickets_issued_total %d", n),
		fmt.Sprintf("catqms_tickets_left_total %d", n/8),
		fmt.Sprintf("catqms_tickets_expired_total %d", n/8),
		fmt.Sprintf("catqms_tickets_served_total %d", n-2*(n/8)),
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// ip is the forwarded address of test client i.
func ip(i int) string { return fmt.Sprintf("198.51.100.%d", i+10) }

// runVisit plays one holder's plan on the replica at base: leave at once;
// or poll until called, then redeem, view a moment and end; or poll until
// called and then never come. It ends when the ticket is final.
func runVisit(base, ip, token string, v *visit) error {
	const poll = 40 * time.Millisecond
	if v.plan == "leave" {
		r, err := fetch(base, "DELETE", "/api/v1/ticket", ip, token)
		if err != nil || r.Status != http.StatusNoContent {
			return fmt.Errorf("leave: %v %v", r, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r, err := fetch(base, "GET", "/api/v1/ticket", ip, token)
		if err != nil || r.Status != http.StatusOK {
			return fmt.Errorf("status: %v %v", r, err)
		}
		switch state := r.str("state"); state {
		case "waiting":
		case "called":
			v.sawCalled, v.deadline = true, r.str("deadline")
			if v.plan != "serve" {
				break
			}
			r, err := fetch(base, "POST", "/api/v1/kitty", ip, token)
			if err != nil || r.Status != http.StatusOK {
				return fmt.Errorf("redeem when called: %v %v", r, err)
			}
			v.until = r.str("until")
			time.Sleep(150 * time.Millisecond) // looking at the kitty
			r, err = fetch(base, "DELETE", "/api/v1/kitty", ip, token)
			if err != nil || r.Status != http.StatusNoContent {
				return fmt.Errorf("end viewing: %v %v", r, err)
			}
		case "serving":
			return fmt.Errorf("ticket serving before its holder redeemed it: %s", r.Body)
		default:
			v.finalState = state
			return nil
		}
		time.Sleep(poll)
	}
	return errors.New("not final after 60s")
}

// TestReplicaKilledDeadlinesStillEnforced: the replica that issued a called
// ticket is SIGKILLed; with nobody using the API, the others still expire
// the no-show and call the next ticket, and the replica rejoins when restarted.
func TestReplicaKilledDeadlinesStillEnforced(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startReplicas(t, 3, redis.URL(), "--head-window", "1s", "--view-window", "2s")
	board := openFeed(t, svcs[2], "203.0.113.51")
	a := svcs[0].client("198.51.100.21").take()
	b := svcs[0].client("198.51.100.22").take()
	svcs[0].Kill()
	aDeadline := wantTime(t, "deadline", a.str("deadline"))
	m := board.waitSince(t, 0, 10*time.Second, b.str("ticket")+" called", func(m feedMsg) bool {
		return m.Type == "snapshot" && len(m.Called) == 1 && m.Called[0].Ticket == b.str("ticket")
	})
	late := m.At.Sub(aDeadline)
	t.Logf("with the issuing replica dead, %s expired and %s was called %v after the deadline", a.str("ticket"), b.str("ticket"), late.Round(time.Millisecond))
	if late > 2500*time.Millisecond {
		t.Errorf("the call came %v after the deadline; want within the 1s tick and the feed's 50ms", late)
	}
	if r := svcs[1].client("198.51.100.21").do("GET", "/api/v1/ticket", nil, bearer(a.str("token"))...); r.str("state") != "expired" {
		t.Fatalf("the no-show on replica 2: %v", r)
	}
	r := svcs[1].client("198.51.100.22").redeem(b.str("token"))
	wantStatus(t, "redeem the next ticket on replica 2", r, http.StatusOK, "")

	svcs[0].Restart()
	snap := svcs[0].client("").do("GET", "/api/v1/queue", nil)
	serving, _ := snap.JSON["serving"].([]any)
	if len(serving) != 1 || serving[0].(map[string]any)["ticket"] != b.str("ticket") {
		t.Fatalf("the restarted replica shows %s, want %s serving", snap.Body, b.str("ticket"))
	}
}

// TestWatcherSeesChangesFromAnotherReplica: a ticket taken on replica 1
// reaches a WebSocket watcher on replica 3 within half a second, every time.
// (The issue asks for a second at worst; without pub/sub a replica would
// still catch up at its 1 s tick, so a second could not tell them apart.)
func TestWatcherSeesChangesFromAnotherReplica(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startReplicas(t, 3, redis.URL())
	board := openFeed(t, svcs[2], "203.0.113.52")
	board.waitSince(t, 0, 5*time.Second, "the first snapshot", func(m feedMsg) bool { return m.Type == "snapshot" })
	var worst time.Duration
	for i := range 5 {
		from := board.mark()
		start := time.Now()
		label := svcs[0].client(ip(i)).take().str("ticket")
		m := board.waitSince(t, from, 2*time.Second, label, func(m feedMsg) bool {
			return hasTicket(label, m.Called, m.Waiting)
		})
		d := m.At.Sub(start)
		worst = max(worst, d)
		if d > 500*time.Millisecond {
			t.Errorf("%s taken on replica 1 reached replica 3's watcher after %v, want within 500ms", label, d)
		}
	}
	t.Logf("changes on replica 1 reached a watcher on replica 3 within %v (worst of 5)", worst.Round(time.Millisecond))
}

// hasTicket reports whether label is in any of the lists.
func hasTicket(label string, lists ...[]slot) bool {
	for _, list := range lists {
		for _, s := range list {
			if s.Ticket == label {
				return true
			}
		}
	}
	return false
}

// TestSIGTERMClosesWebSocketsGoingAway: a replica told to stop sends its
// WebSocket clients a close frame 1001 and exits 0; the other replicas go on
// and a client that reconnects elsewhere gets the line at once.
func TestSIGTERMClosesWebSocketsGoingAway(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startReplicas(t, 2, redis.URL())
	label := svcs[0].client("198.51.100.30").take().str("ticket")
	board := openFeed(t, svcs[1], "203.0.113.53")
	board.waitSince(t, 0, 5*time.Second, label, func(m feedMsg) bool { return hasTicket(label, m.Called) })

	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- svcs[1].stop(syscall.SIGTERM) }()
	err := board.closeErr(10 * time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("the WebSocket ended with %v, want a close frame %d", err, websocket.CloseGoingAway)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("catqms after SIGTERM: %v, want exit status 0\n%s", err, svcs[1].Log())
	}
	t.Logf("SIGTERM: close frame %d %q, process exited 0 after %v", ce.Code, ce.Text, time.Since(start).Round(time.Millisecond))

	again := openFeed(t, svcs[0], "203.0.113.53")
	again.waitSince(t, 0, 2*time.Second, label+" on the other replica", func(m feedMsg) bool {
		return hasTicket(label, m.Called)
	})
}
