package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvRedisSentinel names the redis-sentinel binary to use instead of the one on PATH.
const EnvRedisSentinel = "CATQMS_REDIS_SENTINEL"

// Sentinel timing for tests: a master that does not answer for
// SentinelDownAfter is down, and a failover that has not finished in
// SentinelFailoverTimeout is retried. Production values are 30s and 3min.
const (
	SentinelDownAfter       = 1000 * time.Millisecond
	SentinelFailoverTimeout = 5000 * time.Millisecond
)

// WithReplicaOf makes the server a replica of master from its start.
func WithReplicaOf(master *Redis) RedisOption {
	return WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
}

// Sentinels is a set of redis-sentinel processes on loopback ports that
// watch one master under one name, with a quorum of a majority of them.
type Sentinels struct {
	Name  string   // the master's name, e.g. "mymaster"
	Procs []*Redis // the sentinel processes; their Kill, Restart and Query work as for redis-server
}

// StartSentinels starts n redis-sentinel processes watching master as name,
// each with its own config file in its own t.TempDir() directory, and waits
// until every one of them knows the master's replicas (wantReplicas) and
// the other sentinels: only then can they agree on a failover. They are
// stopped in t.Cleanup. A missing redis-sentinel skips t, or fails it if
// RequireIntegration().
func StartSentinels(t testing.TB, master *Redis, name string, n, wantReplicas int) *Sentinels {
	t.Helper()
	bin, err := findBinary(EnvRedisSentinel, "redis-sentinel")
	if err != nil {
		missing(t, "redis-sentinel ("+err.Error()+")", "apt-get install -y --no-install-recommends redis-sentinel")
		return nil
	}
	quorum := n/2 + 1
	conf := fmt.Sprintf(`sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d
sentinel down-after-milliseconds %[1]s %[4]d
sentinel failover-timeout %[1]s %[5]d
sentinel parallel-syncs %[1]s 1
`, name, master.Port, quorum, SentinelDownAfter.Milliseconds(), SentinelFailoverTimeout.Milliseconds())
	s := &Sentinels{Name: name}
	for range n {
		r := launch(t, bin, nil, func(dir string) ([]string, error) {
			// Sentinel rewrites its config file as it learns the set, so
			// each one needs its own, writable, and first on its command line.
			path := filepath.Join(dir, "sentinel.conf")
			return []string{path}, os.WriteFile(path, []byte(conf), 0o600)
		})
		if r == nil {
			return nil
		}
		s.Procs = append(s.Procs, r)
	}
	s.WaitReady(t, wantReplicas, 30*time.Second)
	return s
}

// Addrs returns the sentinels' addresses.
func (s *Sentinels) Addrs() []string {
	addrs := make([]string, len(s.Procs))
	for i, p := range s.Procs {
		addrs[i] = p.Addr
	}
	return addrs
}

// URL returns the catqms Redis URL for the set:
// redis-sentinel://h1:p1,h2:p2,h3:p3/name.
func (s *Sentinels) URL() string {
	return "redis-sentinel://" + strings.Join(s.Addrs(), ",") + "/" + s.Name
}

// MasterAddr returns the master's address as the first sentinel that
// answers sees it.
func (s *Sentinels) MasterAddr() (string, error) {
	var last error
	for _, p := range s.Procs {
		v, err := p.Query("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.Name)
		if err != nil {
			last = err
			continue
		}
		hp, ok := v.([]any)
		if !ok || len(hp) != 2 {
			last = fmt.Errorf("sentinel %s: get-master-addr-by-name answered %v", p.Addr, v)
			continue
		}
		host, _ := hp[0].(string)
		port, _ := hp[1].(string)
		return net.JoinHostPort(host, port), nil
	}
	if last == nil {
		last = errors.New("no sentinels")
	}
	return "", last
}

// WaitReady waits until every sentinel sees the master with wantReplicas
// replicas and all the other sentinels, or fails t after timeout.
func (s *Sentinels) WaitReady(t testing.TB, wantReplicas int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := s.ready(wantReplicas)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: sentinels not ready after %v: %v", timeout, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Sentinels) ready(wantReplicas int) error {
	for _, p := range s.Procs {
		v, err := p.Query("SENTINEL", "MASTER", s.Name)
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", p.Addr, err)
		}
		fields := pairs(v)
		if n, _ := strconv.Atoi(fields["num-slaves"]); n < wantReplicas {
			return fmt.Errorf("sentinel %s knows %s replicas, want %d", p.Addr, fields["num-slaves"], wantReplicas)
		}
		if n, _ := strconv.Atoi(fields["num-other-sentinels"]); n < len(s.Procs)-1 {
			return fmt.Errorf("sentinel %s knows %s other sentinels, want %d", p.Addr, fields["num-other-sentinels"], len(s.Procs)-1)
		}
	}
	return nil
}

// pairs reads a flat [field, value, …] reply into a map.
func pairs(v any) map[string]string {
	m := map[string]string{}
	list, _ := v.([]any)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		m[k] = val
	}
	return m
}
