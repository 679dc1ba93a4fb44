package redisline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/catqms/catqms/internal/testenv"
	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
)

// TestChangesFollowTheLog: a change made by one replica reaches another's
// Changes through the change log, and its ReadLog serves the entry from
// what its follower read. Killing the follower's connection (by its
// client name) fails a read waiting on it — its reader must load the line
// again — and the follower reads on.
func TestChangesFollowTheLog(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) {
		a, b := followers(t, miniredis.RunT(t).Addr())
		seesChange(t, a, b)
	})
	t.Run("redis-server", func(t *testing.T) {
		r := testenv.RedisServer(t)
		a, b := followers(t, r.Addr)
		last := seesChange(t, a, b)
		killTheFollower(t, r, a, b, last)
	})
}

// followers are two replicas of one line at addr, following its log.
func followers(t *testing.T, addr string) (a, b *Line) {
	ctx := context.Background()
	open := func() *Line {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		l, err := New(ctx, rdb, Options{Tick: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	return open(), open()
}

func waitFollowing(t *testing.T, l *Line) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.feed.mu.Lock()
		from := l.feed.from
		l.feed.mu.Unlock()
		if from >= 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the follower did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func drain(l *Line) {
	for {
		select {
		case <-l.Changes():
		default:
			return
		}
	}
}

// seesChange: a take on a reaches b's Changes, and b's ReadLog has its
// entry, from its follower's window. It returns that entry.
func seesChange(t *testing.T, a, b *Line) queue.Change {
	ctx := context.Background()
	waitFollowing(t, b)
	drain(b)
	held := b.version.Load()
	is, err := a.Take(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("b saw no change")
	}
	entries, err := b.ReadLog(ctx, held, 10, time.Second)
	if err != nil || len(entries) == 0 {
		t.Fatalf("b's ReadLog after %d: %v, %v", held, entries, err)
	}
	last := entries[len(entries)-1]
	if last.Events[len(last.Events)-1] != (queue.Event{Kind: queue.EventCalled, Seq: is.Ticket.Seq, At: is.Ticket.Deadline.UnixMilli()}) {
		t.Fatalf("the last entry %+v does not call the ticket taken", last)
	}
	return last
}

// killTheFollower: a read waiting on b's follower fails when its
// connection, found by its name, is killed; then b follows again.
func killTheFollower(t *testing.T, r *testenv.Redis, a, b *Line, last queue.Change) {
	ctx := context.Background()
	// A read waiting on the follower fails when its connection is killed.
	failed := make(chan error, 1)
	go func() {
		_, err := b.ReadLog(ctx, last.Version, 10, 10*time.Second)
		failed <- err
	}()
	time.Sleep(100 * time.Millisecond) // the read waits
	list, err := r.Do("CLIENT", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, c := range strings.Split(list, "\n") {
		if !strings.Contains(c, " name="+LogClientName+" ") {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(c, "id="), " ")
		if _, err := r.Do("CLIENT", "KILL", "ID", id); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatalf("no connection named %s in\n%s", LogClientName, list)
	}
	select {
	case err := <-failed:
		if queue.ErrorCode(err) != queue.CodeUnavailable {
			t.Fatalf("a read waiting when the connection died: %v, want unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read waiting when the connection died still waits")
	}
	waitFollowing(t, b)
	drain(b)
	if _, err := a.Take(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("b saw no change after the reconnect")
	}
}
