package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
)

// The fault tests of the read model (issue 11): whatever happens between a
// replica and its store, every replica's board and every watcher's ticket
// come back to the store's truth within convergeWithin of the fault's end,
// and nothing is shown out of order meanwhile (room_test.go checks both).
// Each runs three replicas, 8 line watchers on each and 60 holders each
// watching its own ticket, and moves the head through replicas 1 and 3
// during the fault.

// lineLogKey is the change log of the line these tests use (the default
// line, kitties): a Redis Stream beside the line's other keys, under its
// hash tag, as queue/redisline/keys.go names it.
const lineLogKey = "catqms:{kitties}:log"

// logConnName is the name (CLIENT SETNAME) of the connection on which a
// replica follows the change log.
const logConnName = "catqms-log"

// Timing of the faults.
const (
	roomWarmup     = 500 * time.Millisecond  // the head moves this long before each fault
	connKillEvery  = 300 * time.Millisecond  // between two kills of a replica's connections
	connKills      = 3                       // kills in a row
	slowFor        = 1500 * time.Millisecond // a replica stays stopped while the line moves on
	storeDownFor   = 500 * time.Millisecond  // the store stays dead before its restart
	failoverWithin = 20 * time.Second        // for the sentinels to promote the replica
	afterFault     = 2                       // changes of the head once the store takes them again
)

// pid returns the process id of the running catqms, or 0 when stopped.
func (s *service) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// signal sends sig to the running catqms.
func (s *service) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	pid := s.pid()
	if pid == 0 {
		t.Fatalf("signal %v: catqms is not running", sig)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal %v to catqms %d: %v", sig, pid, err)
	}
}

// storeConnsOf returns the local addresses (127.0.0.1:PORT) of the TCP
// connections that process pid holds to port on 127.0.0.1: its sockets'
// inodes (/proc/PID/fd) found in the kernel's table (/proc/net/tcp). It is
// how a test tells one replica's connections from another's, which Redis
// sees all from 127.0.0.1.
func storeConnsOf(pid, port int) ([]string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const loopback = "0100007F" // 127.0.0.1 as the kernel writes it
	remote := fmt.Sprintf("%s:%04X", loopback, port)
	var addrs []string
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[2] != remote || fields[3] != "01" || !inodes[fields[9]] {
			continue
		}
		host, lport, _ := strings.Cut(fields[1], ":")
		p, err := strconv.ParseUint(lport, 16, 16)
		if err != nil || host != loopback {
			continue
		}
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	return addrs, sc.Err()
}

// killStoreConns kills svc's connections to redis with CLIENT KILL: the
// one it follows the change log on (named logConnName) when it has one,
// else every one it holds (the pub/sub subscription among them). It
// returns what it killed.
func killStoreConns(t *testing.T, redis *testenv.Redis, svc *service) string {
	t.Helper()
	addrs, err := storeConnsOf(svc.pid(), redis.Port)
	if err != nil || len(addrs) == 0 {
		t.Fatalf("the replica's connections to the store: %v %v", addrs, err)
	}
	mine := map[string]bool{}
	for _, a := range addrs {
		mine[a] = true
	}
	list, err := redis.Do("CLIENT", "LIST")
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	type conn struct{ id, addr, name string }
	var all, named []conn
	for line := range strings.Lines(list) {
		var c conn
		for _, field := range strings.Fields(line) {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "id":
				c.id = v
			case "addr":
				c.addr = v
			case "name":
				c.name = v
			}
		}
		if !mine[c.addr] {
			continue
		}
		all = append(all, c)
		if c.name == logConnName {
			named = append(named, c)
		}
	}
	victims, what := all, "every connection"
	if len(named) > 0 {
		victims, what = named, "the connection named "+logConnName
	}
	if len(victims) == 0 {
		t.Fatalf("the store lists none of the replica's connections %v", addrs)
	}
	for _, c := range victims {
		if _, err := redis.Do("CLIENT", "KILL", "ID", c.id); err != nil {
			t.Fatalf("CLIENT KILL ID %s: %v", c.id, err)
		}
	}
	return fmt.Sprintf("%s (%d of %d)", what, len(victims), len(all))
}

// TestReadModelConnectionKilledMidLog: the store drops replica 2's
// connection (the one it follows the log on; every one, before there is
// such a one) three times while the head moves through the others.
func TestReadModelConnectionKilledMidLog(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startRoomReplicas(t, 3, redis.URL())
	rm := openRoom(t, redis.URL(), svcs)
	rm.run([]*service{svcs[0], svcs[2]}, svcs[0], roomWarmup, afterFault, func(*mover) {
		for i := range connKills {
			if i > 0 {
				time.Sleep(connKillEvery)
			}
			t.Logf("kill %d: CLIENT KILL of replica 2's %s", i+1, killStoreConns(t, redis, svcs[1]))
		}
	})
}

// TestReadModelLogTrimmedUnderSlowReplica: replica 2 is stopped (SIGSTOP)
// while the head moves through the others; the log is trimmed to nothing
// under it (XTRIM MAXLEN 0), the head moves on, and it is continued.
func TestReadModelLogTrimmedUnderSlowReplica(t *testing.T) {
	redis := testenv.RedisServer(t)
	svcs := startRoomReplicas(t, 3, redis.URL())
	slow := svcs[1]
	stopped := false
	// Runs before the replicas' own cleanup: a stopped process would not
	// hear its SIGTERM.
	t.Cleanup(func() {
		if stopped {
			_ = syscall.Kill(slow.pid(), syscall.SIGCONT)
		}
	})
	rm := openRoom(t, redis.URL(), svcs)
	rm.run([]*service{svcs[0], svcs[2]}, svcs[0], roomWarmup, afterFault, func(*mover) {
		slow.signal(t, syscall.SIGSTOP)
		stopped = true
		time.Sleep(slowFor)
		n, err := redis.Do("XLEN", lineLogKey)
		if err != nil {
			t.Fatalf("XLEN %s: %v", lineLogKey, err)
		}
		if n == "0" {
			t.Errorf("the line has no change log at %s: nothing to trim", lineLogKey)
		}
		if _, err := redis.Do("XTRIM", lineLogKey, "MAXLEN", "0"); err != nil {
			t.Fatalf("XTRIM %s MAXLEN 0: %v", lineLogKey, err)
		}
		t.Logf("trimmed the log (%s entries) under the stopped replica", n)
		time.Sleep(2 * roomMoveEvery) // the head moves past the trim
		slow.signal(t, syscall.SIGCONT)
		stopped = false
	})
}

// TestReadModelRedisRestarted: the store is killed (SIGKILL) and started
// again on its append-only file (appendfsync always: it loses nothing)
// while the head is moving.
func TestReadModelRedisRestarted(t *testing.T) {
	redis := testenv.RedisServer(t, testenv.WithAppendOnly("always"))
	svcs := startRoomReplicas(t, 3, redis.URL())
	rm := openRoom(t, redis.URL(), svcs)
	rm.run([]*service{svcs[0], svcs[2]}, svcs[0], roomWarmup, afterFault, func(*mover) {
		redis.Kill(t)
		time.Sleep(storeDownFor)
		redis.Restart(t)
	})
}

// TestReadModelSentinelFailover: the master is killed (SIGKILL) once its
// replica has every write, and the sentinels promote the replica; every
// catqms replica follows to the new master.
func TestReadModelSentinelFailover(t *testing.T) {
	master := testenv.RedisServer(t)
	replica := testenv.RedisServer(t, testenv.WithReplicaOf(master))
	sentinels := testenv.StartSentinels(t, master, "mymaster", 3, 1)
	svcs := startRoomReplicas(t, 3, sentinels.URL())
	rm := openRoom(t, sentinels.URL(), svcs)
	rm.run([]*service{svcs[0], svcs[2]}, svcs[0], roomWarmup, afterFault, func(mv *mover) {
		// Replication is asynchronous: a change the master acknowledged
		// but did not pass on would be lost, and a ticket seen called
		// would be waiting again. The mover waits while the replica
		// catches up, then goes on against the dead master.
		func() {
			mv.hold()
			defer mv.release() // also when waitFor fails the test
			waitFor(t, 10*time.Second, "the replica to acknowledge every write", func() bool {
				n, err := master.Do("WAIT", "1", "200") // within testenv's 500ms per command
				return err == nil && n == "1"
			})
			master.Kill(t)
		}()
		waitFor(t, failoverWithin, "the sentinels to promote the replica", func() bool {
			addr, err := sentinels.MasterAddr()
			if err != nil || addr != replica.Addr {
				return false
			}
			role, err := replica.Query("ROLE")
			list, _ := role.([]any)
			return err == nil && len(list) > 0 && list[0] == "master"
		})
	})
}
