package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
)

// TestOneClockForEveryReplica: two replicas share a line, one with its own
// clock 5 s ahead of the machine's (CATQMS_TEST_CLOCK_SKEW, a test-only
// setting). The line's deadlines come from the store's clock, so nothing
// ends early: a no-show expires no sooner than the deadline the line
// advertised, a viewing session lasts its whole window, and every time the
// skewed replica shows is the line's. (Before the one clock, each script
// took "now" from the calling replica and this replica ended both about
// 5 s early.)
func TestOneClockForEveryReplica(t *testing.T) {
	redis := testenv.RedisServer(t)
	args := []string{"--redis-url", redis.URL(), "--secret", replicaSecret, "--trusted-proxies", "127.0.0.1/32",
		"--head-window", "3s", "--view-window", "3s"}
	honest := startService(t, args...)
	ahead := startServiceEnv(t, []string{"CATQMS_TEST_CLOCK_SKEW=5s"}, args...)
	t.Cleanup(httpClient.CloseIdleConnections)

	// The skewed replica's snapshot shows the line's time.
	snap := ahead.client("").do("GET", "/api/v1/queue", nil)
	if now := wantTime(t, "now", snap.str("now")); time.Until(now).Abs() > time.Second {
		t.Fatalf("the skewed replica shows now = %v, %v from the line's clock", now, time.Until(now))
	}

	a := honest.client("198.51.100.31").take()
	b := honest.client("198.51.100.32").take()
	aDeadline := wantTime(t, "a's deadline", a.str("deadline"))

	// a never comes. Poll a through the skewed replica (its reads advance
	// the line too, and its scheduler runs at what it takes for deadlines).
	var expiredAt time.Time
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r := ahead.client("198.51.100.31").do("GET", "/api/v1/ticket", nil, bearer(a.str("token"))...)
		if r.str("state") == "expired" {
			expiredAt = time.Now()
			break
		}
		if r.str("state") != "called" {
			t.Fatalf("a while called: %v", r)
		}
	}
	if expiredAt.IsZero() {
		t.Fatal("a never expired")
	}
	if early := aDeadline.Sub(expiredAt); early > 0 {
		t.Fatalf("a expired %v before the deadline %v the line gave it", early, aDeadline)
	}
	t.Logf("the no-show expired %v after its deadline", expiredAt.Sub(aDeadline).Round(time.Millisecond))

	// b is called; it redeems through the skewed replica and watches its
	// session there: it lasts until the end the line gave it.
	s := ahead.client("198.51.100.32").redeem(b.str("token"))
	wantStatus(t, "b redeems on the skewed replica", s, http.StatusOK, "")
	until := wantTime(t, "b's session end", s.str("until"))
	if left := time.Until(until); left < 2*time.Second || left > 3500*time.Millisecond {
		t.Fatalf("b's 3s session ends in %v", left)
	}
	for time.Now().Before(until.Add(-50 * time.Millisecond)) {
		r := ahead.client("198.51.100.32").do("GET", "/api/v1/ticket", nil, bearer(b.str("token"))...)
		if r.str("state") != "serving" {
			t.Fatalf("b is %s %v before its session ends at %v", r.str("state"), time.Until(until), until)
		}
		time.Sleep(50 * time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := ahead.client("198.51.100.32").do("GET", "/api/v1/ticket", nil, bearer(b.str("token"))...)
		if r.str("state") == "served" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b still %s 5s after its session ended", r.str("state"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
