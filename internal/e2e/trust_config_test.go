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
