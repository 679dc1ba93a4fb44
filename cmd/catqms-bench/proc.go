package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

// benchSecret signs tokens in every catqms the bench starts.
const benchSecret = "catqms-bench-secret-0123456789abcdef"

// proc is a server process the bench started.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string // 127.0.0.1:PORT
	done chan struct{}
}

// start runs bin with args, pinned to cpu with taskset when cpu is set, with
// its output in outDir/name.log. The child dies with us (Pdeathsig).
func (e *env) start(name, cpu, bin string, args ...string) (*proc, error) {
	argv := append([]string{bin}, args...)
	if cpu != "" {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	logf, err := os.OpenFile(filepath.Join(e.outDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the server's process id (taskset execs the server in place).
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits, then SIGKILL. Safe to call twice.
func (p *proc) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitHTTP polls url until it answers 200, the process dies or 15s pass.
func (p *proc) waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start (see its log)", p.name)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %s in 15s", p.name, url)
}

// rssKB reads VmRSS of pid in kB.
func rssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// catqmsOpts are the flags of one catqms process beyond the common ones.
type catqmsOpts struct {
	counters   int
	embedded   bool // no --redis-url: the store inside the process
	headWindow string
	viewWindow string
	// estimateWindow is --estimate-window (S8 compresses it with the day);
	// empty = the service's default.
	estimateWindow string
	adminToken     string   // the admin API's token; empty = off
	extra          []string // flags a scenario needs beyond these (S7's connection caps)
}

// settings are the per-call arguments of lua/lib.lua after the prefix and
// "now" (ARGV[3…10]): the settings a catqms with these options sends, and
// the version floor of a fresh caller, laid out by redisline.ScriptArgs,
// for the ceilings to send the same.
func (o catqmsOpts) settings() []any {
	dur := func(s string) time.Duration {
		d, _ := time.ParseDuration(s) // "" = 0 = the default
		return d
	}
	set := queue.Settings{
		Counters: o.counters, HeadWindow: dur(o.headWindow), ViewWindow: dur(o.viewWindow),
		MaxQueue: maxQueue, MaxTicketsPerClient: maxTicketsPerIP,
	}.WithDefaults()
	return redisline.ScriptArgs(set)[2:]
}

const (
	maxQueue        = 1_000_000_000
	maxTicketsPerIP = 1_000_000_000
	lineName        = "kitties"
	linePrefix      = "catqms:{kitties}:"
)

// startCatqms starts one catqms on a free port against the bench's Redis and
// waits until it is ready.
func (e *env) startCatqms(ctx context.Context, name string, o catqmsOpts) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{
		"--addr", addr,
		"--secret", benchSecret,
		"--log-level", "warn",
		"--max-tickets-per-ip", strconv.Itoa(maxTicketsPerIP),
		"--max-queue", strconv.Itoa(maxQueue),
		"--trusted-proxies", "127.0.0.0/8",
		"--counters", strconv.Itoa(max(o.counters, 1)),
	}
	if !o.embedded {
		args = append(args, "--redis-url", "redis://"+e.redisAddr+"/0")
	} else if e.catqmsHas("data-dir") {
		// The embedded store saves itself as it does for every user, into a
		// folder of its own: never the home's, never a line left by a run
		// before.
		dir, err := os.MkdirTemp("", "catqms-bench-store-")
		if err != nil {
			return nil, err
		}
		args = append(args, "--data-dir", dir)
	}
	// Newer catqms builds limit how fast one client takes tickets and how
	// many WebSockets it holds; the bench is one client many times over.
	if e.catqmsHas("take-rate") {
		args = append(args, "--take-rate", "off")
	}
	if e.catqmsHas("max-ws-per-ip") {
		args = append(args, "--max-ws-per-ip", "100000")
	}
	if o.headWindow != "" {
		args = append(args, "--head-window", o.headWindow)
	}
	if o.estimateWindow != "" {
		args = append(args, "--estimate-window", o.estimateWindow)
	}
	if o.viewWindow != "" {
		args = append(args, "--view-window", o.viewWindow)
	}
	if o.adminToken != "" {
		args = append(args, "--admin-token", o.adminToken)
	}
	args = append(args, o.extra...)
	p, err := e.start(name, e.serviceCPU, e.catqmsBin, args...)
	if err != nil {
		return nil, err
	}
	p.addr = addr
	if err := p.waitHTTP(ctx, "http://"+addr+"/readyz"); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// catqmsHas reports whether the catqms binary has the flag --name.
func (e *env) catqmsHas(name string) bool {
	if e.catqmsHelp == "" {
		out, _ := exec.Command(e.catqmsBin, "--help").CombinedOutput()
		e.catqmsHelp = string(out) + " "
	}
	return strings.Contains(e.catqmsHelp, "-"+name+" ")
}

// rdb is a go-redis client to the bench's Redis.
func (e *env) rdb(pool int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: e.redisAddr, PoolSize: pool, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
}

// flush empties the bench's Redis and its statistics.
func (e *env) flush(ctx context.Context) error {
	r := e.rdb(1)
	defer r.Close()
	if err := r.FlushAll(ctx).Err(); err != nil {
		return err
	}
	return r.ConfigResetStat(ctx).Err()
}

// script is one operation exactly as redisline runs it on a real Redis:
// a function of its function library (FCALL), the library being the
// generated key layout, lib.lua and every operation's file.
type script struct {
	name, lib, fn string
}

func loadScript(name string) (script, error) {
	lib, fn, ok := redisline.FunctionLibrary(name)
	if !ok {
		return script{}, fmt.Errorf("no operation %q in queue/redisline", name)
	}
	return script{name: name, lib: lib, fn: fn}, nil
}

// load loads the operation's library into r.
func (s script) load(ctx context.Context, r *redis.Client) error {
	return r.FunctionLoadReplace(ctx, s.lib).Err()
}

// run calls the operation as redisline does (FCALL).
func (s script) run(ctx context.Context, r *redis.Client, keys []string, argv ...any) *redis.Cmd {
	return r.FCall(ctx, s.fn, keys, argv...)
}

// command is the start of a redis-benchmark command line that calls the
// operation: FCALL, its function and its one key's count.
func (s script) command() []string { return []string{"FCALL", s.fn, "1"} }

// lineNow is the "now" argument every script takes (lua/lib.lua's
// ARGV[2]): empty, as catqms sends it, so the script reads the store's
// clock; the ceilings pay for that TIME call as catqms does.
const lineNow = ""

// replyField returns field name of a script's answer (field/value pairs).
func replyField(v any, name string) (any, bool) {
	a, _ := v.([]any)
	for i := 0; i+1 < len(a); i += 2 {
		if a[i] == name {
			return a[i+1], true
		}
	}
	return nil, false
}

// replyOK reports whether a script answered code "ok".
func replyOK(v any) bool {
	code, _ := replyField(v, "code")
	return code == "ok"
}

// load loads the script into Redis (SCRIPT LOAD) and checks the SHA.

// machineInfo describes the box.
type machineInfo struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	MemMB  int64  `json:"mem_mb"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
	Redis  string `json:"redis"`
}

func machine() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		// The machine's CPUs, not this process's: the bench runs pinned.
		m.Cores = strings.Count(string(data), "\nprocessor") + map[bool]int{true: 1}[strings.HasPrefix(string(data), "processor")]
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok && m.CPU == "" {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(data))
		if len(f) > 1 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			m.MemMB = kb / 1024
		}
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		m.Redis = strings.TrimSpace(string(out))
	}
	return m
}
