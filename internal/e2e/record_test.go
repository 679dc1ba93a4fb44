package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
)

// runVerify runs catqms verify (the built binary) with args and returns
// its output and exit status.
func runVerify(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"verify"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("catqms verify: %v", err)
	}
	return string(out), 0
}

// TestRecordVerifiesAfterReplicaAndStoreKilled is issue 12's acceptance
// check: three replicas on one redis-server make a record while one
// replica is SIGKILLed and then Redis is (losing its data: no persistence);
// catqms verify passes on the record every replica serves, shows the
// store's loss as a reset, and a copy saved from one replica matches the
// others (every replica seals the same hashes).
func TestRecordVerifiesAfterReplicaAndStoreKilled(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startReplicas(t, 3, redis.URL(), "--head-window", "1s", "--view-window", "1s")
	n := 0
	traffic := func(on []*service, takes int) {
		t.Helper()
		for range takes {
			svc := on[n%len(on)]
			c := svc.client(ip(n % 40))
			n++
			var r reply
			waitFor(t, 15*time.Second, "a ticket", func() bool {
				r = c.do("GET", "/api/v1/token", nil)
				return r.Status == http.StatusOK
			})
			// Some come when called (served), the rest are no-shows.
			if r.str("state") == "called" && n%2 == 0 {
				c.redeem(r.str("token"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	traffic(svcs, 15)
	time.Sleep(1500 * time.Millisecond) // calls expire, the next are called

	svcs[0].Kill()
	traffic(svcs[1:], 10)
	time.Sleep(1500 * time.Millisecond)

	// Before Redis goes: the record with a replica killed mid-run.
	before := filepath.Join(t.TempDir(), "before.json")
	if out, code := runVerify(t, "--save", before, svcs[2].URL); code != 0 {
		t.Fatalf("catqms verify exited %d after a replica was killed:\n%s", code, out)
	} else {
		t.Logf("with a replica killed:\n%s", out)
	}

	redis.Kill(t)
	redis.Restart(t)
	traffic(svcs[1:], 10)
	svcs[0].Restart()
	traffic(svcs, 9)
	time.Sleep(1500 * time.Millisecond)

	saved := filepath.Join(t.TempDir(), "record.json")
	out, code := runVerify(t, "--save", saved, svcs[1].URL)
	t.Logf("catqms verify %s:\n%s", svcs[1].URL, out)
	if code != 0 {
		t.Fatalf("catqms verify exited %d on the record of three replicas, a replica and Redis killed:\n%s", code, out)
	}
	// Redis kept nothing (no persistence), the log neither: the record
	// served begins with the line Redis started again.
	if !strings.Contains(out, "the line begins at version") || !strings.Contains(out, "lost its data") {
		t.Errorf("the verdict does not show where the line began again:\n%s", out)
	}
	for i, svc := range svcs {
		out, code := runVerify(t, "--against", saved, svc.URL)
		if code != 0 {
			t.Errorf("replica %d: catqms verify --against the copy from replica 2 exited %d:\n%s", i+1, code, out)
		}
	}
	// Redis lost everything, so the copy from before matches nothing the
	// service serves now: it is a different chain, not a rewritten one.
	if out, code := runVerify(t, "--against", before, svcs[1].URL); code != 0 {
		t.Errorf("verify --against the copy from before Redis was lost exited %d:\n%s", code, out)
	}
	// The service's own verdict agrees.
	r := svcs[2].client("").do("GET", "/api/v1/history/verify", nil)
	if r.Status != http.StatusOK || r.JSON["ok"] != true {
		t.Fatalf("GET /api/v1/history/verify: %v", r)
	}
}

// TestOperatorsReasonInTheRecord: an operator's reason, sent with an admin
// action, is what the public record shows for that action (on both
// stores, through the real change log); an action without one is worded
// by the record; a reason the record cannot show is 400 and the action is
// not done; catqms verify passes on the result.
func TestOperatorsReasonInTheRecord(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			store, _ := storeArgs(t, kind)
			svc := startService(t, append(store, adminArgs...)...)
			admin := svc.client("")
			for i := range 3 {
				if r := svc.client(ip(i)).do("GET", "/api/v1/token", nil); r.Status != http.StatusOK {
					t.Fatalf("take: %v", r)
				}
			}
			for _, bad := range []string{
				`{"reason": ""}`, `{"reason": "   "}`, `{"reason": "two\nlines"}`,
				`{"reason": "` + strings.Repeat("é", 121) + `"}`, `{"reason": 7}`,
			} {
				wantStatus(t, "skip with "+bad, admin.adminDo("POST", "/skip", bad), http.StatusBadRequest, "bad_request")
				wantStatus(t, "pause with "+bad, admin.adminDo("POST", "/pause", bad), http.StatusBadRequest, "bad_request")
			}
			if r := admin.do("GET", "/api/v1/queue", nil); r.JSON["paused"] == true {
				t.Fatal("a refused pause paused the line")
			}
			wantAction(t, admin.adminDo("POST", "/skip", `{"reason": "not at the counter — twice called"}`), "skip", "A000", "A001")
			wantAction(t, admin.adminDo("PUT", "/counters", `{"counters": 2, "reason": "a second desk opens"}`), "set_counters", "", "A002")
			wantAction(t, admin.adminDo("POST", "/pause", nil), "pause", "")

			r := admin.do("GET", "/api/v1/history?limit=50", nil)
			if r.Status != http.StatusOK {
				t.Fatalf("history: %v", r)
			}
			reasons := map[string]string{}
			for _, e := range r.JSON["entries"].([]any) {
				for _, ev := range e.(map[string]any)["events"].([]any) {
					ev := ev.(map[string]any)
					if why, ok := ev["reason"].(string); ok {
						reasons[ev["event"].(string)] = why
					}
				}
			}
			want := map[string]string{
				"skipped":  "not at the counter — twice called",
				"counters": "a second desk opens",
				"paused":   "operator: paused taking",
			}
			for event, why := range want {
				if reasons[event] != why {
					t.Errorf("the record's %s: reason %q, want %q (all: %v)", event, reasons[event], why, reasons)
				}
			}
			if out, code := runVerify(t, svc.URL); code != 0 {
				t.Fatalf("catqms verify exited %d:\n%s", code, out)
			}
		})
	}
}
