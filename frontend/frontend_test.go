package frontend

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/catqms/catqms/internal/testenv"
)

func TestHandlerServes(t *testing.T) {
	h := Handler()
	tests := []struct {
		path, contentType, cacheControl, contains string
	}{
		{"/", "text/html; charset=utf-8", cacheHTML, `id="take"`},
		{"/board", "text/html; charset=utf-8", cacheHTML, `id="board-serving"`},
		{"/stats", "text/html; charset=utf-8", cacheHTML, `id="flow-chart"`},
		{"/assets/app.js", "text/javascript; charset=utf-8", cacheAssets, "LiveClient"},
		{"/assets/board.js", "text/javascript; charset=utf-8", cacheAssets, "Announcer"},
		{"/assets/style.css", "text/css; charset=utf-8", cacheAssets, "prefers-color-scheme"},
		{"/assets/icon.svg", "image/svg+xml", cacheAssets, "<svg"},
		{"/?utm=x", "text/html; charset=utf-8", cacheHTML, `id="take"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.cacheControl {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cacheControl)
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

func TestEveryFileHasAKnownContentType(t *testing.T) {
	err := fs.WalkDir(FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if got := contentType(name); got == "application/octet-stream" {
			t.Errorf("%s: no content type for its extension; add one to contentType", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHandlerConditionalAndHead(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/app.js", nil))
	etag := rec.Header().Get("ETag")

	req := httptest.NewRequest(http.MethodGet, "/assets/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: status = %d, want 304", rec.Code)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /: status %d, %d body bytes; want 200 and none", rec.Code, rec.Body.Len())
	}
}

func TestHandlerRejects(t *testing.T) {
	h := Handler()
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/index.html", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/assets/", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/assets", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/assets/nope.js", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/assets/../frontend.go", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/static/index.html", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/board/", http.StatusNotFound, "not_found"},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodDelete, "/assets/app.js", http.StatusMethodNotAllowed, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tt.method, "/", nil)
			req.URL.Path = tt.path // keep "..": the handler must not resolve it
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			if body := rec.Body.String(); !strings.Contains(body, `"error":"`+tt.code+`"`) || !strings.Contains(body, `"message":"`) {
				t.Errorf("body = %s, want error %q with a message", body, tt.code)
			}
		})
	}
}

var (
	attrRef      = regexp.MustCompile(`(?i)\b(?:src|href)="([^"]*)"`)
	importRef    = regexp.MustCompile(`(?m)(?:\bfrom|^import)\s*'([^']+)'`)
	scriptTag    = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	inlineHandle = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	styleAttr    = regexp.MustCompile(`(?i)<[^>]*\sstyle\s*=`)
	styleElement = regexp.MustCompile(`(?i)<style\b`)
	externalURL  = regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`)
)

func htmlPages(t *testing.T) map[string]string {
	t.Helper()
	pages := map[string]string{}
	for _, name := range []string{"index.html", "board.html", "stats.html"} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		pages[name] = string(b)
	}
	return pages
}

func TestReferencedFilesExist(t *testing.T) {
	for name, page := range htmlPages(t) {
		for _, m := range attrRef.FindAllStringSubmatch(page, -1) {
			ref := m[1]
			switch {
			case ref == "/" || ref == "/board" || ref == "/stats" || ref == "/qr.svg" || ref == "/api/v1/history" || strings.HasPrefix(ref, "#"):
				continue
			case !strings.HasPrefix(ref, "/assets/"):
				t.Errorf("%s: reference %q is not a local asset", name, ref)
				continue
			}
			if _, err := fs.Stat(FS(), strings.TrimPrefix(ref, "/")); err != nil {
				t.Errorf("%s references %s, which is not embedded", name, ref)
			}
		}
	}
	// Module imports, relative to the importing file.
	for _, name := range scripts(t) {
		b, _ := fs.ReadFile(FS(), name)
		for _, m := range importRef.FindAllStringSubmatch(string(b), -1) {
			spec := m[1]
			if !strings.HasPrefix(spec, "./") {
				t.Errorf("%s imports %q: only relative imports of embedded modules are allowed", name, spec)
				continue
			}
			if _, err := fs.Stat(FS(), path.Join(path.Dir(name), spec)); err != nil {
				t.Errorf("%s imports %s, which is not embedded", name, spec)
			}
		}
	}
}

// TestContentSecurityPolicyFriendly checks what the server's CSP would block:
// inline scripts, inline event handlers, style attributes and elements, and
// anything loaded from another origin.
func TestContentSecurityPolicyFriendly(t *testing.T) {
	for name, page := range htmlPages(t) {
		scripts := scriptTag.FindAllStringSubmatch(page, -1)
		if len(scripts) == 0 {
			t.Errorf("%s: no script", name)
		}
		for _, m := range scripts {
			if strings.TrimSpace(m[2]) != "" || !strings.Contains(m[1], "src=") {
				t.Errorf("%s: inline script %q", name, m[0])
			}
			if !strings.Contains(m[1], `type="module"`) {
				t.Errorf("%s: script %q is not a module", name, m[0])
			}
		}
		for _, re := range []*regexp.Regexp{inlineHandle, styleAttr, styleElement} {
			if m := re.FindString(page); m != "" {
				t.Errorf("%s: CSP would block %q", name, m)
			}
		}
	}
	err := fs.WalkDir(FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(name) == ".svg" { // an SVG's xmlns is a name, not a fetch
			return err
		}
		b, _ := fs.ReadFile(FS(), name)
		if m := externalURL.FindString(string(b)); m != "" {
			t.Errorf("%s: external resource %q", name, m)
		}
		if path.Ext(name) == ".js" {
			for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'"} {
				if strings.Contains(string(b), banned) {
					t.Errorf("%s uses %s (CSP or markup-injection risk)", name, banned)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStableIDs keeps the ids the browser tests drive.
func TestStableIDs(t *testing.T) {
	pages := htmlPages(t)
	want := map[string][]string{
		"index.html": {"take", "my-ticket", "my-position", "my-state", "my-eta", "get-kitty", "kitty-img", "done",
			"download", "leave", "leave-confirm", "leave-cancel", "message", "conn", "alert", "call-countdown",
			"view-countdown", "board-serving", "board-called", "board-waiting", "board-length", "board-beyond",
			"health-announce", "offline-banner", "take-estimate", "ban-box", "lang"},
		"board.html": {"conn", "board-serving", "board-called", "board-waiting", "board-length", "sound-toggle",
			"announce", "health-announce", "offline-banner", "qr", "site-url", "lang"},
		"stats.html": {"lang", "stats-updated", "stats-totals", "flow-chart", "flow-table", "wait-chart", "wait-table",
			"rates", "accuracy-table", "verdict", "verdict-detail"},
	}
	for name, ids := range want {
		for _, id := range ids {
			if n := strings.Count(pages[name], ` id="`+id+`"`); n != 1 {
				t.Errorf("%s: id %q appears %d times, want 1", name, id, n)
			}
		}
	}
	// Every id the scripts look up must be on the page that loads them.
	byID := regexp.MustCompile(`byId\('([^']+)'\)`)
	for script, page := range map[string]string{"assets/app.js": "index.html", "assets/board.js": "board.html", "assets/stats.js": "stats.html"} {
		b, _ := fs.ReadFile(FS(), script)
		for _, m := range byID.FindAllStringSubmatch(string(b), -1) {
			if !strings.Contains(pages[page], ` id="`+m[1]+`"`) {
				t.Errorf("%s looks up #%s, which %s lacks", script, m[1], page)
			}
		}
	}
}

// nodeDir copies the embedded scripts and the node tests into a temporary
// directory marked as ES modules, or skips the test when node is absent.
func nodeDir(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if testenv.RequireIntegration() {
			t.Fatal("node is not installed and CATQMS_REQUIRE_INTEGRATION=1: install it (apt-get install nodejs) or run scripts/test.sh, which does")
		}
		t.Skip("node is not installed; skipping JavaScript checks (apt-get install nodejs)")
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range scripts(t) {
		b, _ := fs.ReadFile(FS(), name)
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return node, dir
}

// scripts lists every embedded module, in assets/ and below.
func scripts(t *testing.T) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(FS(), "assets", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Ext(name) == ".js" {
			names = append(names, name)
		}
		return err
	})
	if err != nil || len(names) == 0 {
		t.Fatalf("no scripts embedded (%v)", err)
	}
	return names
}

func TestScriptsParseAsModules(t *testing.T) {
	node, dir := nodeDir(t)
	for _, name := range scripts(t) {
		file := filepath.Join(dir, filepath.FromSlash(name))
		out, err := exec.Command(node, "--check", file).CombinedOutput()
		if err != nil {
			t.Errorf("%s does not parse as a module: %v\n%s", filepath.Base(file), err, out)
		}
	}
}

// TestScriptLogic runs the node unit tests in testdata against the shared,
// DOM-free modules (time formatting, WebSocket backoff and ordering, the
// announcement queue).
func TestScriptLogic(t *testing.T) {
	node, dir := nodeDir(t)
	tests, _ := filepath.Glob(filepath.Join("testdata", "*.test.js"))
	if len(tests) == 0 {
		t.Fatal("no node tests in testdata")
	}
	var files []string
	for _, src := range tests {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Base(src))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, dst)
	}
	cmd := exec.Command(node, append([]string{"--test"}, files...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node tests failed: %v\n%s", err, out)
	}
}
