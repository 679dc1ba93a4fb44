package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Keys for the rotation tests: each at least 16 characters, and random
// enough for the start-up check.
const (
	keyOne   = "e2e-rotation-key-one-7f3a9c2e51d8b640"
	keyTwo   = "e2e-rotation-key-two-1b9e4d7a02c6f835"
	keyThree = "e2e-rotation-key-three-c04e8b2f9a7d13"
)

// restartWith stops the service cleanly and starts it again with flag set to
// value (added when it was not given).
func (s *service) restartWith(flag, value string) {
	s.t.Helper()
	if err := s.stop(syscall.SIGTERM); err != nil {
		s.t.Fatalf("stopping for a restart: %v\n%s", err, s.Log())
	}
	args := slices.Clone(s.args)
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		args[i+1] = value
	} else {
		args = append(args, flag, value)
	}
	s.args = args
	s.start()
}

// holder is someone in line: their address and token, and the place they
// were given.
type holder struct {
	ip, token, label string
	position         float64
}

// checkHolders asks every replica about every holder: each still has their
// ticket at their place, and nobody is banned.
func checkHolders(t *testing.T, when string, svcs []*service, holders []holder) {
	t.Helper()
	for i, svc := range svcs {
		for _, h := range holders {
			r := svc.client(h.ip).do("GET", "/api/v1/ticket", nil, bearer(h.token)...)
			if r.Status != http.StatusOK || r.str("ticket") != h.label || r.num("position") != h.position {
				t.Fatalf("%s: replica %d, holder %s (%s, place %v): %v", when, i+1, h.ip, h.label, h.position, r)
			}
		}
	}
}

// noForgeryLogged fails when a replica logged a ban for a forged token.
func noForgeryLogged(t *testing.T, svcs []*service) {
	t.Helper()
	for i, svc := range svcs {
		if n := forgeriesLogged(svc); n > 0 {
			t.Fatalf("replica %d banned %d clients for forged tokens:\n%s", i+1, n, svc.Log())
		}
	}
}

// forgeriesLogged counts the bans for forged tokens in svc's log.
func forgeriesLogged(svc *service) int {
	return strings.Count(svc.Log(), "forged token: client banned")
}

// TestKeyRotationAcrossReplicas rotates the signing key of three replicas
// the way the README says, one replica at a time, while people wait in
// line and others join: nobody is banned and everybody keeps their place,
// whichever replica they ask. Then the old key is dropped: its tickets
// hear 410 gone, "the line was reset", and still nobody is banned.
func TestKeyRotationAcrossReplicas(t *testing.T) {
	store, _ := storeArgs(t, "redis-server")
	svcs := startReplicas(t, 3, store[1], "--head-window", "10m")
	for _, svc := range svcs { // startReplicas shares replicaSecret; this test rotates its own
		svc.restartWith("--secret", keyOne)
	}
	var holders []holder
	join := func(svc *service) {
		ip := fmt.Sprintf("10.13.0.%d", len(holders)+1)
		r := svc.client(ip).take()
		holders = append(holders, holder{ip: ip, token: r.str("token"), label: r.str("ticket"), position: r.num("position")})
	}
	for i := range 3 {
		join(svcs[i])
	}
	checkHolders(t, "before the rotation", svcs, holders)

	// Step 1: every replica learns the new key as a verifying one.
	for i, svc := range svcs {
		svc.restartWith("--secret", keyOne+","+keyTwo)
		join(svc)
		checkHolders(t, fmt.Sprintf("step 1, replica %d restarted", i+1), svcs, holders)
	}
	// Step 2: every replica signs with the new key; the old one verifies.
	for i, svc := range svcs {
		svc.restartWith("--secret", keyTwo+","+keyOne)
		join(svc) // signed with keyTwo, checked by replicas still signing with keyOne
		checkHolders(t, fmt.Sprintf("step 2, replica %d restarted", i+1), svcs, holders)
	}
	noForgeryLogged(t, svcs)

	// Dropping the old key ends the tickets it signed, without a ban.
	svcs[0].restartWith("--secret", keyTwo)
	r := svcs[0].client(holders[0].ip).do("GET", "/api/v1/ticket", nil, bearer(holders[0].token)...)
	wantStatus(t, "a ticket of a dropped key", r, http.StatusGone, "gone")
	if !strings.Contains(r.str("message"), "reset") {
		t.Fatalf("the answer does not say the line was reset: %v", r)
	}
	for _, method := range []string{"POST", "DELETE"} {
		r := svcs[0].client(holders[0].ip).do(method, "/api/v1/kitty", nil, bearer(holders[0].token)...)
		wantStatus(t, method+" /api/v1/kitty with a dropped key's ticket", r, http.StatusGone, "gone")
	}
	// Its holder is not banned: they can take a new ticket at once.
	svcs[0].client(holders[0].ip).take()
	noForgeryLogged(t, svcs)

	// A forgery under a key the replica holds still bans.
	forged := holders[len(holders)-1].token
	forged = forged[:len(forged)-2] + flipChar(forged[len(forged)-2]) + forged[len(forged)-1:]
	r = svcs[1].client("10.13.9.9").do("DELETE", "/api/v1/ticket", nil, bearer(forged)...)
	wantStatus(t, "a forged token under a known key", r, http.StatusForbidden, "forbidden")
}

// flipChar returns another base64url character than c.
func flipChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestSecretChangeBansNobody: a replica restarted with a new --secret and
// nothing else (the mistake the README warns about) turns the old tickets
// away with 410, and bans nobody.
func TestSecretChangeBansNobody(t *testing.T) {
	svc := startService(t, "--secret", keyOne, "--trusted-proxies", "127.0.0.1/32")
	held := svc.client("10.13.1.1").take()
	svc.restartWith("--secret", keyThree)
	r := svc.client("10.13.1.1").do("DELETE", "/api/v1/ticket", nil, bearer(held.str("token"))...)
	wantStatus(t, "an old key's ticket", r, http.StatusGone, "gone")
	svc.client("10.13.1.1").take()
	noForgeryLogged(t, []*service{svc})
}

// TestEmbeddedStoreSurvivesRestarts: with the embedded store and no
// --secret, a clean restart and a SIGKILL (after a save) keep the line, the
// key and the bans; a lost data folder answers 410 "reset", never a ban.
func TestEmbeddedStoreSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	svc := startService(t, "--data-dir", dir, "--trusted-proxies", "127.0.0.1/32", "--head-window", "10m",
		"--save-interval", "200ms")
	var holders []holder
	for i := range 3 {
		ip := fmt.Sprintf("10.13.2.%d", i+1)
		r := svc.client(ip).take()
		holders = append(holders, holder{ip: ip, token: r.str("token"), label: r.str("ticket"), position: r.num("position")})
	}
	cheat := svc.client("10.13.2.66").do("DELETE", "/api/v1/ticket", nil, bearer("not-a-token-we-issued-at-all")...)
	wantStatus(t, "a forged token", cheat, http.StatusForbidden, "forbidden")

	if err := svc.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	svc.Restart()
	checkHolders(t, "after a clean restart", []*service{svc}, holders)
	if got := svc.client("10.13.2.66").do("GET", "/api/v1/token", nil); got.Status != http.StatusForbidden || got.str("error") != "banned" {
		t.Fatalf("the cheat's ban did not survive the restart: %v", got)
	}

	time.Sleep(600 * time.Millisecond) // three save intervals
	svc.Kill()
	svc.Restart()
	checkHolders(t, "after a SIGKILL", []*service{svc}, holders)

	// The folder is lost (a new disk): the line starts empty with a new
	// key; the old tickets hear "reset", and nobody is banned for them.
	if err := svc.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	svc.Restart()
	for _, h := range holders {
		r := svc.client(h.ip).do("GET", "/api/v1/ticket", nil, bearer(h.token)...)
		wantStatus(t, "a ticket from before the loss", r, http.StatusGone, "gone")
		if !strings.Contains(r.str("message"), "reset") {
			t.Fatalf("the answer does not say the line was reset: %v", r)
		}
		svc.client(h.ip).take()
	}
	if n := forgeriesLogged(svc); n != 1 {
		t.Fatalf("%d bans for forged tokens logged; want the cheat's alone\n%s", n, svc.Log())
	}
}

// TestEmbeddedStoreSIGKILLLoss measures what a SIGKILL costs the embedded
// store at the default save interval (1s): tickets are taken one after
// another until the kill, and after the restart each acknowledged ticket is
// looked up. Those acknowledged more than one interval (plus the time a
// save takes) before the kill must all be there; the test logs how many of
// the later ones were lost, the figure the README quotes.
func TestEmbeddedStoreSIGKILLLoss(t *testing.T) {
	// --max-queue past the embedded default: this measures the saves, not the bound.
	svc := startService(t, "--take-rate", "off", "--max-tickets-per-ip", "1000000", "--max-queue", "100000", "--head-window", "10m")
	type taken struct {
		token string
		at    time.Time
	}
	var all []taken
	stop := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(stop) {
		r := svc.client("").take()
		all = append(all, taken{r.str("token"), time.Now()})
	}
	killed := time.Now()
	svc.Kill()
	svc.Restart()
	lost, lostEarly := 0, 0
	var oldestLost time.Duration
	for _, tk := range all {
		r := svc.client("").do("GET", "/api/v1/ticket", nil, bearer(tk.token)...)
		switch r.Status {
		case http.StatusOK:
		case http.StatusGone:
			lost++
			age := killed.Sub(tk.at)
			oldestLost = max(oldestLost, age)
			if age > 1500*time.Millisecond {
				lostEarly++
			}
		default:
			t.Fatalf("a ticket after the restart: %v", r)
		}
	}
	t.Logf("SIGKILL at the default 1s save interval: %d of %d acknowledged tickets lost; the oldest was acknowledged %v before the kill",
		lost, len(all), oldestLost.Round(time.Millisecond))
	if lostEarly > 0 {
		t.Fatalf("%d tickets acknowledged more than 1.5s before the kill were lost", lostEarly)
	}
}
