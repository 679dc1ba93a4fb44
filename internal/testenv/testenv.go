// Package testenv starts the real programs that integration tests need — a
// redis-server on a free loopback port, a headless Chromium — and makes sure
// they are gone when the test ends, whether it passed, failed or crashed.
//
// A missing program skips the test with a message saying how to install it,
// unless CATQMS_REQUIRE_INTEGRATION=1 (set by scripts/test.sh and so by CI),
// where it fails the test: CI must never go green by skipping.
//
// It uses only the standard library so that any package may import it.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

// Environment variables read by this package.
const (
	// EnvRequireIntegration, when "1", turns a missing program into a test failure.
	EnvRequireIntegration = "CATQMS_REQUIRE_INTEGRATION"
	// EnvRedisServer names the redis-server binary to use instead of the one on PATH.
	EnvRedisServer = "CATQMS_REDIS_SERVER"
	// EnvChromium names the Chromium binary to use instead of the one on PATH.
	EnvChromium = "CATQMS_CHROMIUM"
)

// RequireIntegration reports whether CATQMS_REQUIRE_INTEGRATION=1, that is
// whether integration and browser tests must run rather than skip.
func RequireIntegration() bool {
	return os.Getenv(EnvRequireIntegration) == "1"
}

// missing fails or skips t because a program is not installed. Callers must
// return right after it: a fake testing.TB need not stop the goroutine.
func missing(t testing.TB, what, install string) {
	t.Helper()
	if RequireIntegration() {
		t.Fatalf("%s not found and %s=1: install it (%s) or run scripts/test.sh, which does", what, EnvRequireIntegration, install)
		return
	}
	t.Skipf("%s not found: skipping; install it (%s) to run this test, or set %s=1 to make this a failure", what, install, EnvRequireIntegration)
}

// findBinary returns the program named by the environment variable env, else
// the first of names found on PATH. A set but unusable env is an error, not a
// fallback, so that a typo in CI does not silently test another binary.
func findBinary(env string, names ...string) (string, error) {
	if p := os.Getenv(env); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%q: %w", env, p, err)
		}
		return path, nil
	}
	for _, n := range names {
		if path, err := exec.LookPath(n); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("none of %q on PATH and %s not set", names, env)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may still take it before the caller binds it; RedisServer retries.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Chromium returns the path of a Chromium binary: $CATQMS_CHROMIUM, else the
// first of chromium, chromium-browser, google-chrome, google-chrome-stable on
// PATH. When there is none it skips t, or fails it if RequireIntegration().
func Chromium(t testing.TB) string {
	t.Helper()
	path, err := findBinary(EnvChromium, "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
	if err != nil {
		missing(t, "chromium ("+err.Error()+")", "apt-get install -y --no-install-recommends chromium")
		return ""
	}
	return path
}

// ChromiumFlags returns the command-line flags for a headless Chromium that
// works as root in a container and on a machine with no outside network:
// without the background-networking flags Chromium keeps dialing Google's
// hosts. The caller adds its own fresh --user-data-dir (chromedp's allocator
// makes a temporary one).
func ChromiumFlags() []string {
	return []string{
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-dev-shm-usage", // a small /dev/shm in containers crashes renderers
		"--disable-background-networking",
		"--disable-component-update",
		"--no-first-run",
		"--disable-sync",
	}
}

// Program returns the path of the program name on PATH. When it is not
// there, t fails under CATQMS_REQUIRE_INTEGRATION=1 and is skipped
// otherwise, and Program returns "": callers return at once. install names
// the package that brings it.
func Program(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missing(t, name, install)
		return ""
	}
	return path
}
