package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/catqms/catqms/internal/testenv"
)

// TestPlaceholderSecretsRefused: the example values from the deployment
// files, and lazy ones, stop the start with a message naming the flag and
// never echoing the value.
func TestPlaceholderSecretsRefused(t *testing.T) {
	for _, tc := range []struct{ flag, env, value, reason string }{
		{"--secret", "CATQMS_SECRET", "REPLACE-ME-with-32-random-bytes-hex", "placeholder"},
		{"--admin-token", "CATQMS_ADMIN_TOKEN", "REPLACE-ME-or-remove-to-disable-admin", "placeholder"},
		{"--secret", "CATQMS_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too easy to guess"},
	} {
		for _, viaEnv := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			cmd := exec.CommandContext(ctx, binary, "--addr", "127.0.0.1:0", "--data-dir", "off")
			if viaEnv {
				cmd.Env = append(cmd.Environ(), tc.env+"="+tc.value)
			} else {
				cmd.Args = append(cmd.Args, tc.flag, tc.value)
			}
			out, err := cmd.CombinedOutput()
			cancel()
			msg := string(out)
			if err == nil || cmd.ProcessState.ExitCode() != 1 {
				t.Fatalf("%s %q (env %v) started: %v\n%s", tc.flag, tc.value, viaEnv, err, msg)
			}
			if !strings.Contains(msg, tc.flag) || !strings.Contains(msg, tc.reason) || strings.Contains(msg, tc.value) {
				t.Fatalf("%s %q (env %v): the message should name the flag and the reason, not the value:\n%s", tc.flag, tc.value, viaEnv, msg)
			}
		}
	}
}

// TestWebSocketOriginSchemeAndPort: a page of https://host or of another
// port may not open an http://host service's live feed; its own page may.
func TestWebSocketOriginSchemeAndPort(t *testing.T) {
	svc := startService(t)
	dial := func(origin string) (int, string) {
		h := http.Header{}
		h.Set("Origin", origin)
		c, resp, err := websocket.DefaultDialer.Dial("ws://"+svc.Addr+"/api/v1/ws", h)
		if err == nil {
			c.Close()
			return http.StatusSwitchingProtocols, ""
		}
		if resp == nil {
			t.Fatalf("WebSocket from %s: %v", origin, err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		return resp.StatusCode, string(buf[:n])
	}
	if status, _ := dial("http://" + svc.Addr); status != http.StatusSwitchingProtocols {
		t.Fatalf("the service's own origin: %d", status)
	}
	_, port, _ := strings.Cut(svc.Addr, ":")
	for _, origin := range []string{"https://" + svc.Addr, "http://127.0.0.1:1", "http://localhost:" + port} {
		if status, body := dial(origin); status != http.StatusForbidden || !strings.Contains(body, "cross_origin") {
			t.Fatalf("WebSocket from %s: %d %s; want 403 cross_origin", origin, status, body)
		}
	}
}

// TestMetricsAddr: with --metrics-addr, /metrics moves there (with
// /healthz and /readyz) and the API port no longer serves it.
func TestMetricsAddr(t *testing.T) {
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	svc := startService(t, "--metrics-addr", metricsAddr)
	if r := svc.client("").do("GET", "/metrics", nil); r.Status != http.StatusNotFound {
		t.Fatalf("/metrics on the API port: %v", r)
	}
	for path, want := range map[string]string{"/metrics": "catqms_connections_open", "/healthz": `"ok"`, "/readyz": `"ok"`} {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("%s on --metrics-addr: %d %.200s", path, resp.StatusCode, body)
		}
	}
	svc.client("").take() // the API is served as before
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSharedNetworkBansOneDevice: behind a venue's one address
// (--shared-networks), two visitors' browsers each keep the device cookie
// the service sets. One presents a forged token: that device is banned; the
// other keeps its ticket and takes another; a third, new visitor is served.
func TestSharedNetworkBansOneDevice(t *testing.T) {
	svc := startService(t, "--trusted-proxies", "127.0.0.1/32", "--shared-networks", "10.20.0.0/16",
		"--max-tickets-per-ip", "1")
	const venue = "10.20.0.1"
	device := func() string {
		r := svc.client(venue).do("GET", "/", nil)
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			if c.Name == "catqms_device" && c.HttpOnly {
				return c.Name + "=" + c.Value
			}
		}
		t.Fatalf("no device cookie on the page: %v", r.Header)
		return ""
	}
	alice, bob := device(), device()
	take := func(cookie string) reply {
		return svc.client(venue).do("GET", "/api/v1/token", nil, "Cookie", cookie)
	}
	a := take(alice)
	if a.Status != http.StatusOK || take(bob).Status != http.StatusOK {
		t.Fatal("two devices behind one address cannot each take a ticket")
	}
	if r := take(alice); r.Status != http.StatusTooManyRequests {
		t.Fatalf("alice's second live ticket (limit 1 per client): %v", r)
	}
	r := svc.client(venue).do("DELETE", "/api/v1/ticket", nil, "Cookie", bob, "Authorization", "Bearer A000")
	wantStatus(t, "bob's forged token", r, http.StatusForbidden, "forbidden")
	wantStatus(t, "bob after cheating", take(bob), http.StatusForbidden, "banned")

	r = svc.client(venue).do("GET", "/api/v1/ticket", nil, "Cookie", alice, "Authorization", "Bearer "+a.str("token"))
	if state := r.str("state"); r.Status != http.StatusOK || (state != "waiting" && state != "called") {
		t.Fatalf("alice's ticket after bob's ban: %v", r)
	}
	if r := take(device()); r.Status != http.StatusOK {
		t.Fatalf("a new visitor at the venue after bob's ban: %v", r)
	}
}
