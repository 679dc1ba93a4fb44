package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRequireIntegration(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"1", true}, {"", false}, {"0", false}, {"true", false}} {
		t.Setenv(EnvRequireIntegration, tc.value)
		if got := RequireIntegration(); got != tc.want {
			t.Errorf("%s=%q: RequireIntegration() = %v, want %v", EnvRequireIntegration, tc.value, got, tc.want)
		}
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort() = %d", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d from FreePort is not free: %v", port, err)
	}
	l.Close()
}

func TestChromiumFlags(t *testing.T) {
	flags := ChromiumFlags()
	for _, want := range []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--disable-sync"} {
		if !slices.Contains(flags, want) {
			t.Errorf("ChromiumFlags() lacks %s: %q", want, flags)
		}
	}
	for _, f := range flags {
		if strings.HasPrefix(f, "--user-data-dir") {
			t.Errorf("ChromiumFlags() sets %s; the caller owns the profile directory", f)
		}
	}
}

// recordingTB stands in for a test so that Fatalf and Skipf can be observed
// instead of ending the real test.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordingTB) Helper()                           {}
func (r *recordingTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recordingTB) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

func TestMissingProgramSkipsOrFails(t *testing.T) {
	emptyPath := t.TempDir()
	for _, tc := range []struct {
		name    string
		env     string // CATQMS_REDIS_SERVER / CATQMS_CHROMIUM
		require string
		call    func(tb testing.TB) any
		want    string // words the message must contain
	}{
		{"redis skip", "", "", func(tb testing.TB) any { return RedisServer(tb) }, "apt-get install -y --no-install-recommends redis-server"},
		{"redis fail", "", "1", func(tb testing.TB) any { return RedisServer(tb) }, "apt-get install -y --no-install-recommends redis-server"},
		{"redis bad env", "/nonexistent/redis-server", "1", func(tb testing.TB) any { return RedisServer(tb) }, EnvRedisServer},
		{"chromium skip", "", "", func(tb testing.TB) any { return Chromium(tb) }, "apt-get install -y --no-install-recommends chromium"},
		{"chromium fail", "", "1", func(tb testing.TB) any { return Chromium(tb) }, "apt-get install -y --no-install-recommends chromium"},
		{"chromium bad env", "/nonexistent/chromium", "", func(tb testing.TB) any { return Chromium(tb) }, EnvChromium},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", emptyPath)
			t.Setenv(EnvRedisServer, tc.env)
			t.Setenv(EnvChromium, tc.env)
			t.Setenv(EnvRequireIntegration, tc.require)
			rec := &recordingTB{TB: t}
			got := tc.call(rec)
			if got != (*Redis)(nil) && got != "" {
				t.Errorf("returned %v with the program missing", got)
			}
			msg, other := rec.skip, rec.fatal
			if tc.require == "1" {
				msg, other = rec.fatal, rec.skip
			}
			if msg == "" || other != "" {
				t.Fatalf("require=%q: fatal=%q skip=%q", tc.require, rec.fatal, rec.skip)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not mention %q", msg, tc.want)
			}
		})
	}
}

func TestChromiumFromEnv(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "my-chromium")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvChromium, fake)
	if got := Chromium(t); got != fake {
		t.Errorf("Chromium() = %q, want %q from %s", got, fake, EnvChromium)
	}
}

func TestRedisServer(t *testing.T) {
	r := RedisServer(t)
	if want := "127.0.0.1:" + strconv.Itoa(r.Port); r.Addr != want {
		t.Errorf("Addr = %q, want %q", r.Addr, want)
	}
	if want := "redis://127.0.0.1:" + strconv.Itoa(r.Port) + "/0"; r.URL() != want {
		t.Errorf("URL() = %q, want %q", r.URL(), want)
	}
	if fi, err := os.Stat(r.Dir); err != nil || !fi.IsDir() {
		t.Errorf("Dir %q: %v", r.Dir, err)
	}
	rawPing(t, r.Addr)

	if _, err := r.Do("SET", "greeting", "hello world\r\nwith CRLF"); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Do("GET", "greeting"); err != nil || got != "hello world\r\nwith CRLF" {
		t.Errorf("GET = %q, %v", got, err)
	}
	if _, err := r.Do("NOSUCHCOMMAND"); err == nil {
		t.Error("unknown command answered without an error")
	}
}

// rawPing checks the server the way the brief asks: bytes on a TCP socket.
func rawPing(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING answered %q, %v", line, err)
	}
}

func TestRedisKillRestart(t *testing.T) {
	r := RedisServer(t)
	port, pid := r.Port, r.PID()
	if _, err := r.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}

	r.Kill(t)
	if r.PID() != 0 {
		t.Errorf("PID() = %d after Kill", r.PID())
	}
	if !processGone(pid) {
		t.Errorf("redis-server pid %d still exists after Kill", pid)
	}
	if conn, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Kill", r.Addr)
	}
	r.Kill(t) // a second Kill is a no-op

	r.Restart(t)
	if r.Port != port {
		t.Errorf("Restart moved the port from %d to %d", port, r.Port)
	}
	if r.PID() == 0 || r.PID() == pid {
		t.Errorf("PID() = %d after Restart (was %d)", r.PID(), pid)
	}
	rawPing(t, r.Addr)
	// Without persistence a killed server forgets everything.
	if got, err := r.Do("GET", "k"); !errors.Is(err, errNilReply) {
		t.Errorf("GET k after Kill without AOF = %q, %v; want a nil reply", got, err)
	}

	r.Restart(t) // Restart of a running server kills it first
	rawPing(t, r.Addr)
}

func TestRedisAppendOnlySurvivesKill(t *testing.T) {
	r := RedisServer(t, WithAppendOnly("always"))
	for i := range 50 {
		if _, err := r.Do("RPUSH", "line", "A"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	r.Kill(t)
	r.Restart(t)
	if got, err := r.Do("LLEN", "line"); err != nil || got != "50" {
		t.Fatalf("LLEN after Kill+Restart with appendfsync always = %q, %v; want 50", got, err)
	}
	if got, err := r.Do("LINDEX", "line", "-1"); err != nil || got != "A49" {
		t.Errorf("last entry = %q, %v; want A49", got, err)
	}
}

func TestRedisWithArgs(t *testing.T) {
	r := RedisServer(t, WithArgs("--databases", "3"))
	if _, err := r.Do("SELECT", "2"); err != nil {
		t.Errorf("SELECT 2 with 3 databases: %v", err)
	}
	if _, err := r.Do("SELECT", "3"); err == nil {
		t.Error("SELECT 3 succeeded: WithArgs(--databases 3) was not applied")
	}
}

// needRedis skips or fails t like RedisServer when redis-server is missing,
// for tests that start it elsewhere.
func needRedis(t *testing.T) {
	t.Helper()
	if _, err := findBinary(EnvRedisServer, "redis-server"); err != nil {
		missing(t, "redis-server", "apt-get install -y --no-install-recommends redis-server")
	}
}

func TestRedisCleanupStopsAndReaps(t *testing.T) {
	needRedis(t)
	var pid int
	var addr string
	t.Run("inner", func(t *testing.T) {
		r := RedisServer(t)
		pid, addr = r.PID(), r.Addr
	})
	if pid == 0 {
		t.Fatal("inner test did not start redis-server")
	}
	// The test binary reaped it, so not even a zombie may remain.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("redis-server pid %d after Cleanup: kill(0) = %v, want ESRCH", pid, err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Cleanup", addr)
	}
}

// helperEnv makes TestHelperRedis act when the test binary runs itself.
const helperEnv = "CATQMS_TESTENV_HELPER"

// TestHelperRedis is not a test: it is run in a child test binary by the
// tests below, to start a server and then fail or die.
func TestHelperRedis(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper for TestRedisStoppedWhen*; runs only as a child process")
	}
	r := RedisServer(t)
	fmt.Printf("REDIS_PID=%d\n", r.PID())
	os.Stdout.Sync()
	switch mode {
	case "fail":
		t.Fatal("deliberate failure: Cleanup must still stop redis-server")
	case "crash":
		syscall.Kill(os.Getpid(), syscall.SIGKILL) // no Cleanup runs
		time.Sleep(time.Minute)
	}
}

// runHelper runs TestHelperRedis in a child test binary and returns the pid
// of the redis-server it started.
func runHelper(t *testing.T, mode string) (pid int, out string) {
	t.Helper()
	needRedis(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRedis$", "-test.count=1", "-test.v", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	b, err := cmd.CombinedOutput()
	out = string(b)
	if err == nil {
		t.Fatalf("helper %q exited 0; want a failure\n%s", mode, out)
	}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "REDIS_PID="); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid <= 0 {
		t.Fatalf("helper %q printed no REDIS_PID\n%s", mode, out)
	}
	t.Cleanup(func() { // never leak it, even if the check below fails
		if !processGone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pid, out
}

func TestRedisStoppedWhenTestFails(t *testing.T) {
	pid, out := runHelper(t, "fail")
	if !processGone(pid) {
		t.Errorf("redis-server pid %d still runs after its test failed\n%s", pid, out)
	}
	if !strings.Contains(out, "redis-server log") {
		t.Errorf("a failed test did not log redis-server's output\n%s", out)
	}
}

func TestRedisStoppedWhenTestBinaryDies(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parent-death signal is Linux only")
	}
	pid, out := runHelper(t, "crash")
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server pid %d outlived its SIGKILLed test binary\n%s", pid, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processGone reports whether pid no longer runs. An orphan that init has
// not reaped yet is a zombie: it counts as gone.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return runtime.GOOS != "linux" // cannot tell elsewhere; kill(0) said it exists
	}
	// Format: pid (comm) state ...; comm may contain spaces and parens.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}
