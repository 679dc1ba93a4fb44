package testenv

import (
	"strings"
	"testing"
	"time"
)

func TestQueryReadsEveryReplyType(t *testing.T) {
	r := RedisServer(t)
	if _, err := r.Do("RPUSH", "l", "a", "b c"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string // fmt of the reply
	}{
		{[]string{"PING"}, "PONG"},
		{[]string{"LLEN", "l"}, "2"},
		{[]string{"LRANGE", "l", "0", "-1"}, "[a b c]"},
		{[]string{"GET", "missing"}, "<nil>"},
		{[]string{"LRANGE", "missing", "0", "-1"}, "[]"},
	} {
		v, err := r.Query(tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := fmtReply(v); got != tc.want {
			t.Errorf("%v = %s, want %s", tc.args, got, tc.want)
		}
	}
	if _, err := r.Query("NOSUCHCOMMAND"); err == nil {
		t.Error("unknown command answered without an error")
	}
}

func fmtReply(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmtReply(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		return x.(string)
	}
}

// TestSentinelsFailOver: three sentinels promote the replica when the
// master is SIGKILLed, within a few seconds.
func TestSentinelsFailOver(t *testing.T) {
	master := RedisServer(t)
	replica := RedisServer(t, WithReplicaOf(master))
	s := StartSentinels(t, master, "mymaster", 3, 1)
	if want := "redis-sentinel://" + strings.Join(s.Addrs(), ",") + "/mymaster"; s.URL() != want || len(s.Addrs()) != 3 {
		t.Fatalf("URL() = %q, want %q", s.URL(), want)
	}
	if got, err := s.MasterAddr(); err != nil || got != master.Addr {
		t.Fatalf("MasterAddr() = %q, %v; want %s", got, err, master.Addr)
	}
	killed := time.Now()
	master.Kill(t)
	for {
		got, err := s.MasterAddr()
		if err == nil && got == replica.Addr {
			break
		}
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("no failover 20s after the master died: MasterAddr() = %q, %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("sentinels promoted the replica %v after the master was killed", time.Since(killed).Round(time.Millisecond))
	if role, err := replica.Query("ROLE"); err != nil || fmtReply(role.([]any)[0]) != "master" {
		t.Errorf("ROLE of the promoted replica = %v, %v", role, err)
	}
}

// TestRedisClusterServesSlots: a three-master cluster is ok and each key
// lives on the node that serves its slot.
func TestRedisClusterServesSlots(t *testing.T) {
	c := RedisCluster(t, 3)
	if len(c.Nodes) != 3 || !strings.HasPrefix(c.URL(), "redis-cluster://127.0.0.1:") || strings.Count(c.URL(), ",") != 2 {
		t.Fatalf("cluster %d nodes, URL %q", len(c.Nodes), c.URL())
	}
	owners := map[string]bool{}
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "catqms:{kitties}:ver"} {
		n, err := c.NodeFor(key)
		if err != nil {
			t.Fatal(err)
		}
		owners[n.Addr] = true
		if _, err := n.Do("SET", key, "v"); err != nil {
			t.Errorf("SET %s on its owner %s: %v", key, n.Addr, err)
		}
		for _, other := range c.Nodes {
			if other == n {
				continue
			}
			if _, err := other.Do("GET", key); err == nil || !strings.Contains(err.Error(), "MOVED") {
				t.Errorf("GET %s on %s (not its owner) = %v, want MOVED", key, other.Addr, err)
			}
		}
	}
	if len(owners) < 2 {
		t.Errorf("seven keys all on one node: %v", owners)
	}
}
