package redisline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
)

func openEmbedded(t *testing.T, dir string) (redis.UniversalClient, func() error) {
	t.Helper()
	rdb, stop, err := OpenEmbedded(EmbeddedOptions{Dir: dir, SaveInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close(); stop() })
	return rdb, stop
}

// TestEmbeddedKeepsEveryKind saves each kind of key the scripts use, with
// and without a time to live, and reads them back after a restart.
func TestEmbeddedKeepsEveryKind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rdb, stop := openEmbedded(t, dir)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rdb.Set(ctx, "s", "text with spaces\x00and a zero", 0).Err())
	must(rdb.Set(ctx, "ttl", "short-lived", time.Hour).Err())
	must(rdb.Set(ctx, "gone-by-then", "x", 50*time.Millisecond).Err())
	must(rdb.HSet(ctx, "h", "a", "1", "b", "two").Err())
	ms := float64(time.Date(2026, 12, 4, 23, 59, 59, 123e6, time.UTC).UnixMilli())
	must(rdb.ZAdd(ctx, "z", redis.Z{Score: ms, Member: "late"}, redis.Z{Score: 1, Member: "first"}, redis.Z{Score: 0.5, Member: "half"}).Err())
	must(rdb.SAdd(ctx, "set", "x", "y").Err())
	must(rdb.RPush(ctx, "l", "1", "2", "3").Err())
	must(rdb.Close())
	must(stop())
	if _, err := os.Stat(filepath.Join(dir, storeFile)); err != nil {
		t.Fatalf("no store file after stop: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // "gone-by-then" expires while stopped

	again, _ := openEmbedded(t, dir)
	if v, _ := again.Get(ctx, "s").Result(); v != "text with spaces\x00and a zero" {
		t.Errorf("string: %q", v)
	}
	if ttl, _ := again.PTTL(ctx, "ttl").Result(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("ttl after restart: %v; want just under 1h", ttl)
	}
	if n, _ := again.Exists(ctx, "gone-by-then").Result(); n != 0 {
		t.Error("a key whose time ran out while stopped came back")
	}
	if h, _ := again.HGetAll(ctx, "h").Result(); h["a"] != "1" || h["b"] != "two" || len(h) != 2 {
		t.Errorf("hash: %v", h)
	}
	z, _ := again.ZRangeWithScores(ctx, "z", 0, -1).Result()
	if len(z) != 3 || z[0].Member != "half" || z[0].Score != 0.5 || z[2].Member != "late" || z[2].Score != ms {
		t.Errorf("sorted set: %v (want late at %v exactly)", z, ms)
	}
	if s, _ := again.SMembers(ctx, "set").Result(); len(s) != 2 {
		t.Errorf("set: %v", s)
	}
	if l, _ := again.LRange(ctx, "l", 0, -1).Result(); strings.Join(l, ",") != "1,2,3" {
		t.Errorf("list: %v", l)
	}
}

// TestEmbeddedLineSurvivesRestart: tickets, their places, a ban and the
// token key are all there after a restart, so an old token still works.
func TestEmbeddedLineSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rdb, stop := openEmbedded(t, dir)
	line, err := New(ctx, rdb, Options{Tick: -1})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := line.Take(ctx, "a")
	b, _ := line.Take(ctx, "b")
	if err := line.Leave(ctx, "cheat", "forged-token-of-the-right-kind-of-nothing"); queue.ErrorCode(err) != queue.CodeForbidden {
		t.Fatalf("forged token: %v", err)
	}
	line.Close()
	rdb.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	rdb2, _ := openEmbedded(t, dir)
	line2, err := New(ctx, rdb2, Options{Tick: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer line2.Close()
	for i, tok := range []string{a.Token, b.Token} {
		tk, err := line2.Status(ctx, "a", tok)
		if err != nil || tk.Position != int64(i+1) {
			t.Fatalf("ticket %d after restart: %+v, %v", i+1, tk, err)
		}
	}
	if left, _ := line2.BanRemaining(ctx, "cheat"); left <= 0 {
		t.Fatal("the ban did not survive the restart")
	}
	if left, _ := line2.BanRemaining(ctx, "a"); left != 0 {
		t.Fatal("an honest holder is banned after the restart")
	}
}

// TestEmbeddedSavesOnItsOwn: without a clean stop (as after a SIGKILL), the
// file holds what was there one save interval ago.
func TestEmbeddedSavesOnItsOwn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rdb, stop, err := OpenEmbedded(EmbeddedOptions{Dir: dir, SaveInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, func() bool {
		snap, err := readSnapshot(filepath.Join(dir, storeFile))
		return err == nil && snap != nil && len(snap.Keys) == 1 && snap.Keys[0].Values[0] == "v"
	})
}

func TestEmbeddedDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	openEmbedded(t, dir)
	if _, _, err := OpenEmbedded(EmbeddedOptions{Dir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second store on one directory: %v; want in use", err)
	}
}

func TestEmbeddedRefusesABadFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, storeFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := OpenEmbedded(EmbeddedOptions{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("a broken store file: %v", err)
	}
	// The failed start let go of the directory.
	if err := os.WriteFile(filepath.Join(dir, storeFile), []byte(`{"format":1,"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	openEmbedded(t, dir)
}

func waitUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkEmbeddedSave measures one save of a line of 2,000 waiting
// tickets: the dump script holds the store for its length, so every line
// operation waits that long once per save interval.
func BenchmarkEmbeddedSave(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	rdb, stop, err := OpenEmbedded(EmbeddedOptions{Dir: dir, SaveInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	defer rdb.Close()
	line, err := New(ctx, rdb, Options{Tick: -1, MaxTicketsPerClient: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer line.Close()
	for range 2_000 {
		if _, err := line.Take(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	s := &saver{dir: dir, log: line.log, rdb: rdb.(*redis.Client)}
	b.ResetTimer()
	for range b.N {
		s.last = nil // write every time, as after a change
		if err := s.save(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if fi, err := os.Stat(filepath.Join(dir, storeFile)); err == nil {
		b.ReportMetric(float64(fi.Size()), "file-bytes")
	}
}

// TestSaveLeavesOutKeptAnswers: a save leaves out the kept answers of takes
// and admin actions (only a command resent on a live connection reads them)
// and keeps the rest.
func TestSaveLeavesOutKeptAnswers(t *testing.T) {
	if len(unsavedInfixes) != 5 {
		t.Fatalf("unsavedInfixes = %v, want the take and op families, the change log, the version and the record's anchor", unsavedInfixes)
	}
	rdb := miniStore(t)
	ctx := context.Background()
	for _, k := range []string{"catqms:{l}:take:ab12", "catqms:{l}:op:cd34", "catqms:{l}:t:1", "catqms:{l}:seq", "catqms:{l}:ver", "catqms:{l}:anchor"} {
		if err := rdb.Set(ctx, k, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A stream the save could not write: it is left out, not an error.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "catqms:{l}:log", ID: "5-0", Values: []string{"ev", "t1"}}).Err(); err != nil {
		t.Fatal(err)
	}
	v, err := dumpScript.Run(ctx, rdb, nil, unsavedInfixes...).Slice()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := decodeDump(v)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.Key)
	}
	if fmt.Sprint(names) != "[catqms:{l}:seq catqms:{l}:t:1]" {
		t.Fatalf("saved %v, want the ticket and the counter only", names)
	}
}
