package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/apitest"
	"github.com/catqms/catqms/internal/testenv"
)

// binary is the catqms binary built once for the whole package.
var binary string

// contract is the OpenAPI document: every answer client.do receives is
// checked against it.
var contract *apitest.Checker

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if contract, err = apitest.Load(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "catqms-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "catqms")
	build := exec.Command("go", "build", "-o", binary, "github.com/catqms/catqms/cmd/catqms")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building catqms:", err)
		return 1
	}
	return m.Run()
}

// service is one running catqms process.
type service struct {
	t    testing.TB
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
	args []string
	env  []string // added to this process's environment
	log  *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

// startService starts catqms with args on a free loopback port, waits until
// /healthz answers and stops it when the test ends, checking that a SIGTERM
// shuts it down cleanly.
func startService(t testing.TB, args ...string) *service {
	t.Helper()
	return startServiceEnv(t, nil, args...)
}

// startServiceEnv is startService with env added to the environment.
func startServiceEnv(t testing.TB, env []string, args ...string) *service {
	t.Helper()
	port := testenv.FreePort(t)
	s := &service{t: t, Addr: fmt.Sprintf("127.0.0.1:%d", port), env: env}
	s.URL = "http://" + s.Addr
	s.args = append([]string{"--addr", s.Addr, "--log-level", "debug"}, args...)
	if !slices.Contains(args, "--data-dir") && !slices.Contains(args, "--redis-url") {
		// Each service saves its embedded store in a folder of its own,
		// kept across Restart; the default folder would be shared.
		s.args = append(s.args, "--data-dir", filepath.Join(t.TempDir(), "data"))
	}
	log, err := os.Create(filepath.Join(t.TempDir(), "catqms.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.log = log
	s.start()
	t.Cleanup(func() {
		if err := s.stop(syscall.SIGTERM); err != nil {
			t.Errorf("catqms did not shut down cleanly: %v\n%s", err, s.Log())
		}
		if t.Failed() {
			t.Logf("catqms log:\n%s", s.Log())
		}
	})
	return s
}

func (s *service) start() {
	s.t.Helper()
	cmd := exec.Command(binary, s.args...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			s.t.Fatalf("catqms exited at start: %v\n%s", err, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("catqms not healthy after 15s\n%s", s.Log())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop sends sig and waits for the process to exit; nil when it exited 0
// (or was already stopped).
func (s *service) stop(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case err := <-done:
		if sig == syscall.SIGKILL {
			return nil
		}
		return err
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running 10s after %v", sig)
	}
}

// Kill stops the process at once, as a crash would.
func (s *service) Kill() { _ = s.stop(syscall.SIGKILL) }

// Restart starts the process again with the same arguments and port.
func (s *service) Restart() { s.start() }

// Log returns what the process wrote so far.
func (s *service) Log() string {
	b, _ := os.ReadFile(s.log.Name())
	return string(b)
}

// client is one user of the API, seen by the service at its own address:
// services in these tests trust 127.0.0.1 as a proxy, so X-Forwarded-For
// gives each test client its own IP.
type client struct {
	t   testing.TB
	svc *service
	IP  string
}

func (s *service) client(ip string) *client { return &client{t: s.t, svc: s, IP: ip} }

// reply is one HTTP answer, read whole.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body))
}

// str returns a string field of the JSON body.
func (r reply) str(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

// num returns a number field of the JSON body.
func (r reply) num(key string) float64 {
	n, _ := r.JSON[key].(float64)
	return n
}

// do sends one request. body may be nil, a string, or url.Values (a form).
func (c *client) do(method, path string, body any, header ...string) reply {
	c.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/json"
	default:
		c.t.Fatalf("body type %T", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.svc.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.IP != "" {
		req.Header.Set("X-Forwarded-For", c.IP)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: data}
	if err := contract.Check(req, resp.StatusCode, resp.Header, data); err != nil {
		c.t.Errorf("the answer breaks api/openapi.json: %v", err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &r.JSON); err != nil {
			c.t.Fatalf("%s %s: body is not JSON: %v: %q", method, path, err, data)
		}
	}
	return r
}

// take takes a ticket and fails the test unless it gets one.
func (c *client) take() reply {
	c.t.Helper()
	r := c.do("GET", "/api/v1/token", nil)
	if r.Status != http.StatusOK || r.str("token") == "" {
		c.t.Fatalf("take: %v", r)
	}
	return r
}

// redeem posts the token as JSON.
func (c *client) redeem(token string) reply {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"token": token})
	return c.do("POST", "/api/v1/kitty", b)
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// waitFor polls cond until it is true or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
