package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timing of a redis-server's life in tests.
const (
	redisStartTimeout = 15 * time.Second       // from exec to a PONG, loading an AOF included
	redisStopTimeout  = 5 * time.Second        // SIGTERM grace before SIGKILL
	redisPollInterval = 20 * time.Millisecond  // between readiness probes
	redisDialTimeout  = 500 * time.Millisecond // one probe's connect and reply
	redisStartTries   = 5                      // fresh ports tried when one is taken
)

// errAddrInUse means the port was taken between FreePort and redis-server's bind.
var errAddrInUse = errors.New("address already in use")

// Redis is a redis-server process started by RedisServer for one test.
type Redis struct {
	Addr string // "127.0.0.1:PORT"
	Port int    // the TCP port, kept across Restart
	Dir  string // redis-server's --dir: RDB and AOF files, kept across Restart

	bin     string   // path of redis-server (or redis-sentinel)
	lead    []string // arguments before --port: redis-sentinel's config file
	logPath string   // stdout and stderr of every run, appended
	config  []string // arguments after --port/--bind/--dir

	mu   sync.Mutex
	proc *redisProcess // nil while stopped
}

// redisProcess is one run of redis-server and its reaper.
type redisProcess struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned: the process is reaped
}

// redisConfig collects the RedisOptions.
type redisConfig struct {
	appendOnly bool
	fsync      string
	args       []string
}

// RedisOption changes how RedisServer configures redis-server.
type RedisOption func(*redisConfig)

// WithAppendOnly turns on the append-only file with the given appendfsync
// policy: "always" (every write is on disk before the reply; survives Kill)
// or "everysec".
func WithAppendOnly(fsync string) RedisOption {
	return func(c *redisConfig) {
		c.appendOnly = true
		c.fsync = fsync
	}
}

// WithArgs adds raw redis-server arguments, e.g. "--maxmemory", "1mb". They
// come last, so they override the defaults.
func WithArgs(args ...string) RedisOption {
	return func(c *redisConfig) { c.args = append(c.args, args...) }
}

// RedisServer starts a real redis-server on a free loopback port with its
// data in t.TempDir(), without persistence (--save "" --appendonly no) unless
// opts say otherwise, and waits until it answers PING. It is stopped in
// t.Cleanup: SIGTERM, then SIGKILL after 5s, and reaped.
//
// The binary is $CATQMS_REDIS_SERVER, else redis-server on PATH. When there
// is none the test is skipped, or fails if RequireIntegration().
func RedisServer(t testing.TB, opts ...RedisOption) *Redis {
	t.Helper()
	bin, err := findBinary(EnvRedisServer, "redis-server")
	if err != nil {
		missing(t, "redis-server ("+err.Error()+")", "apt-get install -y --no-install-recommends redis-server")
		return nil
	}
	var cfg redisConfig
	for _, o := range opts {
		o(&cfg)
	}
	config := []string{"--save", ""}
	if cfg.appendOnly {
		config = append(config, "--appendonly", "yes", "--appendfsync", cfg.fsync)
	} else {
		config = append(config, "--appendonly", "no")
	}
	config = append(config, cfg.args...)
	return launch(t, bin, config, nil)
}

// launch starts bin (redis-server or redis-sentinel) on a free loopback
// port with config after the port, dir and bind arguments, retrying on fresh
// ports, and stops it in t.Cleanup. prepare, when set, runs once with the
// data directory before the first start, and returns the arguments that go
// first (redis-sentinel's config file, written there).
func launch(t testing.TB, bin string, config []string, prepare func(dir string) (lead []string, err error)) *Redis {
	t.Helper()
	root := t.TempDir()
	r := &Redis{
		Dir:     filepath.Join(root, "data"),
		bin:     bin,
		logPath: filepath.Join(root, "redis.log"),
		config:  config,
	}
	if err := os.Mkdir(r.Dir, 0o700); err != nil {
		t.Fatalf("testenv: %v", err)
		return nil
	}
	if prepare != nil {
		var err error
		if r.lead, err = prepare(r.Dir); err != nil {
			t.Fatalf("testenv: %v", err)
			return nil
		}
	}
	// Registered before the first start (and after t.TempDir, so it runs
	// before the directory is removed): a t.Fatal below still stops the child.
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("testenv: %s log (%s):\n%s", filepath.Base(r.bin), r.logPath, r.logTail())
		}
	})

	for try := 1; ; try++ {
		port := FreePort(t)
		err := r.start(port)
		if err == nil {
			return r
		}
		if !errors.Is(err, errAddrInUse) || try == redisStartTries {
			t.Fatalf("testenv: start %s: %v\nlog:\n%s", filepath.Base(r.bin), err, r.logTail())
			return nil
		}
	}
}

// URL returns the server's Redis URL, database 0.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// PID returns the process id of the running redis-server, or 0 when stopped.
func (r *Redis) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.cmd.Process.Pid
}

// Kill stops the server with SIGKILL, as a crash would, and waits until it is
// reaped. Data not yet on disk is lost. Killing a stopped server does nothing.
func (r *Redis) Kill(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signalAndWait(syscall.SIGKILL, 0)
}

// Restart kills the server if it runs, then starts it again on the same port
// and directory, and waits until it answers PING (an AOF is loaded by then).
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	r.signalAndWait(syscall.SIGKILL, 0)
	r.mu.Unlock()
	// The port was ours a moment ago; retry briefly in case the kernel has
	// not released it yet.
	deadline := time.Now().Add(redisStartTimeout)
	for {
		err := r.start(r.Port)
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			t.Fatalf("testenv: restart redis-server on port %d: %v\nlog:\n%s", r.Port, err, r.logTail())
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Do sends one command over a new connection and returns the reply as text:
// simple strings, errors (as a Go error), integers and bulk strings. It is
// for setting up and checking fault tests, not a client to test against.
func (r *Redis) Do(args ...string) (string, error) {
	c, err := dialRESP(r.Addr, redisDialTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.do(args...)
}

// start runs redis-server on port and waits until it answers as itself.
func (r *Redis) start(port int) error {
	args := append(append([]string{}, r.lead...),
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", r.Dir,
		"--daemonize", "no")
	args = append(args, r.config...)
	logFile, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy
	var logStart int64
	if fi, err := logFile.Stat(); err == nil {
		logStart = fi.Size()
	}
	fmt.Fprintf(logFile, "=== testenv: %s %q\n", r.bin, args)

	cmd := exec.Command(r.bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &redisProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // reaps the child: no zombie is left
		close(p.done)
	}()

	if err := waitRedisReady(p, port); err != nil {
		p.cmd.Process.Kill()
		<-p.done
		if strings.Contains(r.logSince(logStart), "Address already in use") {
			return fmt.Errorf("port %d: %w", port, errAddrInUse)
		}
		return err
	}
	r.mu.Lock()
	r.proc = p
	r.Port = port
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	r.mu.Unlock()
	return nil
}

// waitRedisReady polls until the server answers PING and INFO names p's own
// pid: a PONG alone could come from another process that won the port.
func waitRedisReady(p *redisProcess, port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	want := "process_id:" + strconv.Itoa(p.cmd.Process.Pid) + "\r\n"
	deadline := time.Now().Add(redisStartTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server exited before it was ready: %v", p.cmd.ProcessState)
		default:
		}
		last = probeRedis(addr, want)
		if last == nil {
			return nil
		}
		time.Sleep(redisPollInterval)
	}
	return fmt.Errorf("redis-server not ready on %s after %v: %v", addr, redisStartTimeout, last)
}

func probeRedis(addr, wantPID string) error {
	c, err := dialRESP(addr, redisDialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	pong, err := c.do("PING") // -LOADING while an AOF is read
	if err != nil {
		return err
	}
	if pong != "PONG" {
		return fmt.Errorf("PING answered %q", pong)
	}
	info, err := c.do("INFO", "server")
	if err != nil {
		return err
	}
	if !strings.Contains(info, wantPID) {
		return errors.New("another process answers on this port")
	}
	return nil
}

// signalAndWait sends sig and waits for the process to be reaped; after
// grace (if not 0) it escalates to SIGKILL. r.mu must be held.
func (r *Redis) signalAndWait(sig syscall.Signal, grace time.Duration) {
	p := r.proc
	if p == nil {
		return
	}
	r.proc = nil
	_ = p.cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-p.done:
			return
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
		}
	}
	<-p.done
}

// stop ends the server gracefully if it runs: the Cleanup path.
func (r *Redis) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signalAndWait(syscall.SIGTERM, redisStopTimeout)
}

// logSince returns the server's output from byte offset on: this run's.
func (r *Redis) logSince(offset int64) string {
	b, err := os.ReadFile(r.logPath)
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

// logTail returns the last few KiB of the server's output, for failure messages.
func (r *Redis) logTail() string {
	const max = 4 << 10
	b, err := os.ReadFile(r.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// respConn is the smallest RESP client that can check a server is up.
type respConn struct {
	conn net.Conn
	rd   *bufio.Reader
}

func dialRESP(addr string, timeout time.Duration) (*respConn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	return &respConn{conn: conn, rd: bufio.NewReader(conn)}, nil
}

func (c *respConn) Close() error { return c.conn.Close() }

// errNilReply is a RESP null bulk string, e.g. GET of a missing key.
var errNilReply = errors.New("redis: nil reply")

// do sends args as a RESP array and reads one non-array reply.
func (c *respConn) do(args ...string) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.conn.Write(b.Bytes()); err != nil {
		return "", err
	}
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New("redis: " + line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("redis: bad bulk length %q", line)
		}
		if n < 0 {
			return "", errNilReply
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("redis: unsupported reply %q", line)
	}
}
