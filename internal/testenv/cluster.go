package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvRedisCLI names the redis-cli binary to use instead of the one on PATH.
const EnvRedisCLI = "CATQMS_REDIS_CLI"

// clusterTimeout bounds creating a cluster and waiting until it serves.
const clusterTimeout = 30 * time.Second

// Cluster is a Redis Cluster of masters without replicas, each a
// redis-server on loopback, made with redis-cli --cluster create.
type Cluster struct {
	Nodes []*Redis
}

// RedisCluster starts masters redis-servers with cluster mode on (each with
// its cluster bus on a free port of its own, and its nodes.conf in its own
// directory), joins them with `redis-cli --cluster create … --cluster-yes`,
// and waits until every node says cluster_state:ok. The nodes are stopped in
// t.Cleanup. A missing redis-server or redis-cli skips t, or fails it if
// RequireIntegration().
func RedisCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	cli, err := findBinary(EnvRedisCLI, "redis-cli")
	if err != nil {
		missing(t, "redis-cli ("+err.Error()+")", "apt-get install -y --no-install-recommends redis-tools")
		return nil
	}
	c := &Cluster{}
	for range masters {
		// The bus port defaults to port+10000, which may be taken or past
		// 65535 for a high free port: choose it too.
		r := RedisServer(t, WithArgs(
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
			"--cluster-port", strconv.Itoa(FreePort(t)),
		))
		if r == nil {
			return nil
		}
		c.Nodes = append(c.Nodes, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
		return nil
	}
	deadline := time.Now().Add(clusterTimeout)
	for _, n := range c.Nodes {
		for {
			info, err := n.Do("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("testenv: cluster node %s not ok after %v: %v\n%s", n.Addr, clusterTimeout, err, info)
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// URL returns the catqms Redis URL for the cluster:
// redis-cluster://h1:p1,h2:p2,h3:p3.
func (c *Cluster) URL() string {
	return "redis-cluster://" + strings.Join(c.Addrs(), ",")
}

// NodeFor returns the node that serves key's hash slot, as the first node
// sees the slot map (CLUSTER KEYSLOT, CLUSTER SLOTS).
func (c *Cluster) NodeFor(key string) (*Redis, error) {
	v, err := c.Nodes[0].Query("CLUSTER", "KEYSLOT", key)
	if err != nil {
		return nil, err
	}
	slot, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		return nil, fmt.Errorf("CLUSTER KEYSLOT answered %v", v)
	}
	v, err = c.Nodes[0].Query("CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	ranges, _ := v.([]any)
	for _, r := range ranges {
		e, _ := r.([]any)
		if len(e) < 3 {
			continue
		}
		lo, _ := strconv.Atoi(fmt.Sprint(e[0]))
		hi, _ := strconv.Atoi(fmt.Sprint(e[1]))
		master, _ := e[2].([]any)
		if slot < lo || slot > hi || len(master) < 2 {
			continue
		}
		port := fmt.Sprint(master[1])
		for _, n := range c.Nodes {
			if strconv.Itoa(n.Port) == port {
				return n, nil
			}
		}
	}
	return nil, fmt.Errorf("no node serves slot %d", slot)
}
