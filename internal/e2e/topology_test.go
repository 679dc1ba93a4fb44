package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
)

// TestSentinelFailover: catqms on a Sentinel-managed master (one replica,
// three sentinels, quorum 2) goes on taking and redeeming tickets after the
// master is SIGKILLed and the replica promoted. Between the kill and the
// failover the API may answer 503, never 500; a watcher gets the line again.
func TestSentinelFailover(t *testing.T) {
	master := testenv.RedisServer(t)
	replica := testenv.RedisServer(t, testenv.WithReplicaOf(master))
	sentinels := testenv.StartSentinels(t, master, "mymaster", 3, 1)
	// The first ticket after the failover must still be serving when the
	// board's replica has reloaded the line, and when the last ticket is
	// taken behind it: a replica reloads a second or more after the
	// promotion (its reads retry until the sentinels agree), so a
	// one-second viewing session could end unseen, and the board would
	// rightly show the line without it.
	svcs := startReplicas(t, 2, sentinels.URL(), "--head-window", "5s", "--view-window", "60s")
	board := openFeed(t, svcs[1], "203.0.113.70")

	// A whole visit before the failure.
	alice := svcs[0].client("198.51.100.70")
	a := alice.take()
	wantStatus(t, "redeem before the failover", alice.redeem(a.str("token")), http.StatusOK, "")
	wantStatus(t, "end viewing", alice.do("DELETE", "/api/v1/kitty", nil, bearer(a.str("token"))...), http.StatusNoContent, "")
	// Replication is asynchronous: wait until the replica has it all, so
	// the failover itself loses nothing this test relies on.
	waitFor(t, 10*time.Second, "the replica to acknowledge every write", func() bool {
		n, err := master.Do("WAIT", "1", "200") // within testenv's 500ms per command
		return err == nil && n == "1"
	})

	killed := time.Now()
	master.Kill(t)
	statuses := map[int]int{}
	var b reply
	for i := 0; ; i++ {
		if time.Since(killed) > 15*time.Second {
			t.Fatalf("no ticket 15s after the master died; answers so far %v\n%s", statuses, svcs[0].Log())
		}
		r, err := fetch(svcs[i%2].URL, "GET", "/api/v1/token", fmt.Sprintf("198.51.100.%d", 71+i%100), "")
		if err != nil {
			t.Fatalf("take during the failover: %v", err)
		}
		statuses[r.Status]++
		if r.Status == http.StatusOK {
			b = r
			break
		}
		if r.Status != http.StatusServiceUnavailable || r.str("error") != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("take during the failover: %v, want 503 unavailable with Retry-After", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	failover := time.Since(killed)
	t.Logf("a ticket again %v after the master was SIGKILLed (answers meanwhile: %v)", failover.Round(time.Millisecond), statuses)
	// Sentinels converge one by one: the one asked may lag the one that
	// answered catqms, for a moment.
	waitFor(t, 10*time.Second, "the sentinels to name the promoted replica", func() bool {
		addr, err := sentinels.MasterAddr()
		return err == nil && addr == replica.Addr
	})

	// The line survived on the new master and moves on.
	if b.str("state") != "called" {
		t.Fatalf("the first ticket after the failover: %s, want called (the line was empty)", b.Body)
	}
	r, err := fetch(svcs[1].URL, "POST", "/api/v1/kitty", "", b.str("token"))
	if err != nil || r.Status != http.StatusOK || r.str("ticket") != b.str("ticket") {
		t.Fatalf("redeem after the failover: %v %v", r, err)
	}
	if r := alice.do("GET", "/api/v1/ticket", nil, bearer(a.str("token"))...); r.str("state") != "served" {
		t.Fatalf("the ticket served before the failover: %v", r)
	}
	board.waitSince(t, 0, 10*time.Second, b.str("ticket")+" serving", func(m feedMsg) bool {
		return m.Type == "snapshot" && hasTicket(b.str("ticket"), m.Serving)
	})
	c := svcs[0].client("198.51.100.99")
	next := c.take()
	if labelSeq(next.str("ticket")) <= labelSeq(b.str("ticket")) || next.str("state") != "waiting" {
		t.Fatalf("a ticket after the failover: %s, want waiting behind %s", next.Body, b.str("ticket"))
	}
}

// TestRedisCluster: catqms replicas on a three-master Redis Cluster run
// whole visits, and a watcher on one replica sees the changes made on the
// other. Every key of the line lives on the one shard its hash tag names.
func TestRedisCluster(t *testing.T) {
	cluster := testenv.RedisCluster(t, 3)
	svcs := startReplicas(t, 2, cluster.URL(), "--head-window", "5s", "--view-window", "2s")
	board := openFeed(t, svcs[1], "203.0.113.80")

	alice, bob := svcs[0].client("198.51.100.80"), svcs[1].client("198.51.100.81")
	a := alice.take()
	from := board.mark()
	b := bob.take()
	if a.str("state") != "called" || b.str("state") != "waiting" || b.num("position") != 2 {
		t.Fatalf("tickets on the cluster: %s / %s", a.Body, b.Body)
	}
	board.waitSince(t, from, time.Second, b.str("ticket")+" waiting, taken on the other replica", func(m feedMsg) bool {
		return m.Type == "snapshot" && hasTicket(b.str("ticket"), m.Waiting)
	})
	wantStatus(t, "redeem not yet", bob.redeem(b.str("token")), http.StatusConflict, "not_your_turn")
	wantStatus(t, "redeem", alice.redeem(a.str("token")), http.StatusOK, "")
	from = board.mark()
	wantStatus(t, "end viewing", alice.do("DELETE", "/api/v1/kitty", nil, bearer(a.str("token"))...), http.StatusNoContent, "")
	board.waitSince(t, from, time.Second, b.str("ticket")+" called", func(m feedMsg) bool {
		return m.Type == "snapshot" && hasTicket(b.str("ticket"), m.Called)
	})
	r := bob.redeem(b.str("token"))
	wantStatus(t, "redeem on the other replica", r, http.StatusOK, "")
	if r := alice.do("GET", "/api/v1/ticket", nil, bearer(a.str("token"))...); r.str("state") != "served" {
		t.Fatalf("the first ticket after its session: %v", r)
	}

	home, err := cluster.NodeFor("catqms:{kitties}:ver")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cluster.Nodes {
		size, err := n.Do("DBSIZE")
		if err != nil {
			t.Fatal(err)
		}
		if (n == home) != (size != "0") {
			t.Errorf("node %s holds %s keys; the line's keys belong on %s alone", n.Addr, size, home.Addr)
		}
	}
}
