package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/catqms/catqms/internal/testenv"
)

// How long the tests wait for the service.
const (
	startTimeout    = 10 * time.Second // from run (or exec) to serving
	shutdownTimeout = 5 * time.Second  // from the signal to run's return
)

// lockedBuffer is a bytes.Buffer that the logger may write to while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  env
	}{
		{"flag", []string{"--version"}, env{}},
		{"env", nil, env{"CATQMS_VERSION": "true"}},
		// --version answers even when the rest of the configuration is wrong.
		{"despite invalid env", []string{"--version"}, env{"CATQMS_HEAD_WINDOW": "abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), tc.args, tc.env.get, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v", err)
			}
			if got, want := stdout.String(), "catqms "+version+"\n"; got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, env{}.get, &stdout, &stderr); err != nil {
		t.Fatalf("run --help: %v", err)
	}
	if !strings.Contains(stdout.String(), "--head-window") {
		t.Errorf("--help printed no usage to stdout: %q", stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("--help wrote to stderr: %q", stderr.String())
	}
}

func TestHealthcheck(t *testing.T) {
	serving := func(status int) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
		}))
		t.Cleanup(ts.Close)
		return ts.Listener.Addr().String()
	}
	tests := []struct {
		name    string
		addr    string
		wantErr string // "" for success
	}{
		{"200", serving(http.StatusOK), ""},
		{"503", serving(http.StatusServiceUnavailable), "503"},
		{"404", serving(http.StatusNotFound), "404"},
		{"nothing listening", "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), "connection refused"},
		{"port 0", "127.0.0.1:0", "no fixed port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sources := map[string]struct {
				args []string
				env  env
			}{
				"flags": {args: []string{"--healthcheck", "--addr", tc.addr}},
				// As a container's HEALTHCHECK runs it: the same environment
				// as the server, one extra flag.
				"env": {args: []string{"--healthcheck"}, env: env{"CATQMS_ADDR": tc.addr}},
			}
			for source, in := range sources {
				var stdout, stderr bytes.Buffer
				start := time.Now()
				err := run(t.Context(), in.args, in.env.get, &stdout, &stderr)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("%s: run: %v", source, err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("%s: run: %v, want an error with %q", source, err, tc.wantErr)
				}
				if d := time.Since(start); d > healthcheckTimeout+time.Second {
					t.Errorf("%s: took %s", source, d)
				}
			}
		})
	}
}

func TestHealthcheckTimesOut(t *testing.T) {
	// A server that accepts but never answers must not hang the probe.
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release)
	start := time.Now()
	err := run(t.Context(), []string{"--healthcheck", "--addr", ts.Listener.Addr().String()}, env{}.get, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("healthcheck of a hung server succeeded")
	}
	if d := time.Since(start); d < healthcheckTimeout || d > healthcheckTimeout+time.Second {
		t.Errorf("gave up after %s, want about %s", d, healthcheckTimeout)
	}
}

func TestHealthURL(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{":8080", "http://127.0.0.1:8080/healthz"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/healthz"},
		{"[::]:8080", "http://127.0.0.1:8080/healthz"},
		{"127.0.0.1:9000", "http://127.0.0.1:9000/healthz"},
		{"[::1]:9000", "http://[::1]:9000/healthz"},
		{"10.1.2.3:80", "http://10.1.2.3:80/healthz"},
		{"localhost:80", "http://localhost:80/healthz"},
	}
	for _, tc := range tests {
		got, err := healthURL(tc.addr)
		if err != nil || got != tc.want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}

func TestRunRefusesInvalidConfig(t *testing.T) {
	port := testenv.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	err := run(t.Context(), []string{"--addr", addr, "--counters", "0"}, env{}.get, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--counters") {
		t.Fatalf("run: %v, want an error naming --counters", err)
	}
	// It stopped before listening.
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("something listens on --addr after a refused start")
	}
}

func TestRunRefusesBadImages(t *testing.T) {
	tests := []struct {
		name   string
		folder string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope")},
		{"empty", t.TempDir()},
		{"a file", writeFile(t, "cat.png", "not a folder")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range []struct {
				args []string
				env  env
				want string
			}{
				{[]string{"--addr=127.0.0.1:0", "--images", tc.folder}, env{}, "--images"},
				{[]string{"--addr=127.0.0.1:0"}, env{"CATQMS_IMAGES": tc.folder}, "--images (from CATQMS_IMAGES)"},
			} {
				err := run(t.Context(), in.args, in.env.get, io.Discard, io.Discard)
				if err == nil || !strings.Contains(err.Error(), in.want) {
					t.Errorf("run: %v, want an error with %q", err, in.want)
				}
			}
		})
	}
}

func TestRunRefusesBadRedisURL(t *testing.T) {
	// The scheme is right, so only redisline.Dial can tell what is wrong;
	// its error must still name the flag and hide the password.
	const password = "hunter2hunter2"
	rawURL := "redis-sentinel://:" + password + "@127.0.0.1:26379" // no master name
	for _, in := range []struct {
		args []string
		env  env
		want string
	}{
		{[]string{"--addr=127.0.0.1:0", "--redis-url", rawURL}, env{}, "--redis-url"},
		{[]string{"--addr=127.0.0.1:0"}, env{"CATQMS_REDIS_URL": rawURL}, "--redis-url (from CATQMS_REDIS_URL)"},
	} {
		err := run(t.Context(), in.args, in.env.get, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), in.want) {
			t.Errorf("run: %v, want an error with %q", err, in.want)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestRunStoreUnreachable(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rawURL := "redis://:secretpassword@127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	start := time.Now()
	err := run(t.Context(), []string{"--addr=127.0.0.1:0", "--redis-url", rawURL}, env{}.get, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("started with no store")
	}
	if strings.Contains(err.Error(), "secretpassword") {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "queue store") {
		t.Errorf("error does not say the store failed: %v", err)
	}
	if d := time.Since(start); d > startTimeout {
		t.Errorf("took %s to give up", d)
	}
}

func TestRunPortInUse(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = run(t.Context(), []string{"--addr", busy.Addr().String()}, env{}.get, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--addr") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("run: %v, want an error naming --addr and the busy port", err)
	}
}

// service is a catqms started by run in the test process.
type service struct {
	base   string // "http://127.0.0.1:PORT"
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned
	err    error         // run's result, once done is closed
}

// startService runs catqms with args until the test ends or stop is called.
func startService(t *testing.T, args ...string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{logs: &lockedBuffer{}, cancel: cancel, done: make(chan struct{})}
	addrs := make(chan net.Addr, 1)
	go func() {
		defer close(s.done)
		s.err = runWith(ctx, args, env{}.get, io.Discard, s.logs, func(a net.Addr) { addrs <- a })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(shutdownTimeout):
		}
		if t.Failed() {
			t.Logf("service logs:\n%s", s.logs)
		}
	})
	select {
	case a := <-addrs:
		s.base = "http://" + a.String()
	case <-s.done:
		t.Fatalf("run returned before serving: %v", s.err)
	case <-time.After(startTimeout):
		t.Fatalf("not serving after %s", startTimeout)
	}
	return s
}

// stop cancels run's context and returns run's result.
func (s *service) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		return s.err
	case <-time.After(shutdownTimeout):
		t.Fatalf("run did not return within %s of the signal", shutdownTimeout)
		return nil
	}
}

func TestRunEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startService(t, "--addr", "127.0.0.1:0", "--head-window", "2s", "--view-window", "2s", "--log-format", "json")

	if !strings.Contains(s.logs.String(), `"msg":"listening"`) || !strings.Contains(s.logs.String(), strings.TrimPrefix(s.base, "http://")) {
		t.Errorf("no JSON \"listening\" log with the bound address:\n%s", s.logs)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	expectStatus(t, client, http.MethodGet, s.base+"/healthz", nil, http.StatusOK)
	expectStatus(t, client, http.MethodGet, s.base+"/readyz", nil, http.StatusOK)

	// A watcher on the WebSocket, connected through the shutdown.
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.base, "http")+"/api/v1/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket dial: %v", err)
	}
	resp.Body.Close()
	defer ws.Close()
	var first struct {
		Type string `json:"type"`
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := ws.ReadJSON(&first); err != nil || first.Type != "snapshot" {
		t.Fatalf("first WebSocket message: type %q, %v; want a snapshot", first.Type, err)
	}

	// Take a ticket: the line is empty, so it is called at once.
	var taken struct {
		Token  string `json:"token"`
		Ticket string `json:"ticket"`
		State  string `json:"state"`
	}
	getJSON(t, client, http.MethodGet, s.base+"/api/v1/token", nil, http.StatusOK, &taken)
	if taken.Token == "" || taken.Ticket == "" || taken.State != "called" {
		t.Fatalf("GET /api/v1/token = %+v, want a called ticket with a token", taken)
	}

	// Redeem it.
	var session struct {
		State    string `json:"state"`
		ImageURL string `json:"image_url"`
	}
	auth := http.Header{"Authorization": {"Bearer " + taken.Token}}
	getJSON(t, client, http.MethodPost, s.base+"/api/v1/kitty", auth, http.StatusOK, &session)
	if session.State != "serving" || session.ImageURL == "" {
		t.Fatalf("POST /api/v1/kitty = %+v, want serving with an image_url", session)
	}
	imageURL, err := url.Parse(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	imageURL, err = imageURL.Parse(session.ImageURL)
	if err != nil {
		t.Fatalf("image_url %q: %v", session.ImageURL, err)
	}
	img := expectStatus(t, client, http.MethodGet, imageURL.String(), nil, http.StatusOK)
	if ct := img.Header.Get("Content-Type"); !strings.HasPrefix(ct, "image/") {
		t.Errorf("image Content-Type = %q", ct)
	}

	// Shut down: run returns nil, and the watcher, reading as a browser
	// does, gets a close frame.
	wsEnded := make(chan error, 1)
	go func() {
		_ = ws.SetReadDeadline(time.Now().Add(shutdownTimeout))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				wsEnded <- err
				return
			}
		}
	}()
	if err := s.stop(t); err != nil {
		t.Errorf("run after the signal: %v", err)
	}
	var closeErr *websocket.CloseError
	if err := <-wsEnded; !errors.As(err, &closeErr) {
		t.Errorf("WebSocket ended with %v, want a close frame", err)
	} else if closeErr.Code != websocket.CloseGoingAway {
		t.Errorf("close code %d, want %d (going away)", closeErr.Code, websocket.CloseGoingAway)
	}
	if !strings.Contains(s.logs.String(), `"msg":"stopped"`) {
		t.Errorf("no \"stopped\" log:\n%s", s.logs)
	}
	// Nothing listens any more.
	if c, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://")); err == nil {
		c.Close()
		t.Error("still listening after run returned")
	}
}

func TestRunShutdownTimeoutZero(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startService(t, "--addr", "127.0.0.1:0", "--shutdown-timeout", "0")
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	expectStatus(t, client, http.MethodGet, s.base+"/healthz", nil, http.StatusOK)
	// No grace is no failure.
	if err := s.stop(t); err != nil {
		t.Errorf("run after the signal: %v", err)
	}
}

func TestRunWithRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	redis := testenv.RedisServer(t)
	// After RedisServer: its reaper runs until the test's cleanup.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startService(t, "--addr", "127.0.0.1:0", "--redis-url", "redis://"+redis.Addr, "--line", "e2e")
	if !strings.Contains(s.logs.String(), "store=redis://"+redis.Addr) {
		t.Errorf("the log does not name the store:\n%s", s.logs)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	expectStatus(t, client, http.MethodGet, s.base+"/readyz", nil, http.StatusOK)
	var taken struct {
		Token string `json:"token"`
	}
	getJSON(t, client, http.MethodGet, s.base+"/api/v1/token", nil, http.StatusOK, &taken)
	if taken.Token == "" {
		t.Fatal("no token")
	}
	if err := s.stop(t); err != nil {
		t.Errorf("run after the signal: %v", err)
	}
}

// TestBinary builds catqms and runs it as a real process, as a container
// would: configured from the environment, probed by --healthcheck, stopped by
// SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGTERM")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	bin := filepath.Join(t.TempDir(), "catqms")
	build := exec.Command(goTool, "build", "-o", bin, "-ldflags", "-X main.version=v0.0.0-test", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	out, err := exec.Command(bin, "--version").Output()
	if err != nil || string(out) != "catqms v0.0.0-test\n" {
		t.Errorf("catqms --version = %q, %v; want the version stamped by -ldflags", out, err)
	}

	// Invalid values: exit status 1 and one "catqms:" line for each.
	bad := exec.Command(bin, "--line=X")
	bad.Env = append(os.Environ(), "CATQMS_COUNTERS=0")
	var stderr bytes.Buffer
	bad.Stderr = &stderr
	var exitErr *exec.ExitError
	if err := bad.Run(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Errorf("catqms with invalid values: %v, want exit status 1", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "catqms: ") || !strings.HasPrefix(lines[1], "catqms: ") {
		t.Errorf("stderr = %q, want two lines starting with \"catqms: \"", stderr.String())
	}

	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	environ := append(os.Environ(), "CATQMS_ADDR="+addr, "CATQMS_SHUTDOWN_TIMEOUT=3s",
		"CATQMS_DATA_DIR="+t.TempDir()) // not the real home's state folder
	var logs lockedBuffer
	cmd := exec.Command(bin)
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error // set before reaped is closed
	reaped := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(reaped) }()
	t.Cleanup(func() {
		select {
		case <-reaped:
		default:
			_ = cmd.Process.Kill()
			<-reaped
		}
		if t.Failed() {
			t.Logf("catqms output:\n%s", logs.String())
		}
	})

	probe := func() error {
		c := exec.Command(bin, "--healthcheck")
		c.Env = environ
		return c.Run()
	}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-reaped:
			t.Fatalf("catqms exited before serving: %v", waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not 200 after %s: %v", startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := probe(); err != nil {
		t.Errorf("catqms --healthcheck against the running service: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reaped:
		if waitErr != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", waitErr)
		}
	case <-time.After(shutdownTimeout):
		t.Fatalf("still running %s after SIGTERM", shutdownTimeout)
	}
	if err := probe(); err == nil {
		t.Error("catqms --healthcheck succeeded with the service stopped")
	}
}

// expectStatus makes a request and checks its status; it returns the
// response with its body read and closed.
func expectStatus(t *testing.T, client *http.Client, method, target string, header http.Header, want int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d; body %s", method, target, resp.Status, want, body)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// getJSON is expectStatus that decodes the JSON body into v.
func getJSON(t *testing.T, client *http.Client, method, target string, header http.Header, want int, v any) {
	t.Helper()
	resp := expectStatus(t, client, method, target, header, want)
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s %s: decode: %v", method, target, err)
	}
}

// writeFile writes a file in a fresh temporary folder and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
