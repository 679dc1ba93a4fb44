package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/catqms/catqms/api"
	"github.com/catqms/catqms/internal/apitest"
	"github.com/catqms/catqms/queue/redisline"
)

// ginParam turns a Gin route's :name and *name into OpenAPI's {name}.
var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// TestRoutesMatchOpenAPI: every route Gin registers is in api/openapi.json,
// and every operation of the document is a route Gin registers, with the
// admin API on. (The pages' routes exist with or without pages to serve.)
func TestRoutesMatchOpenAPI(t *testing.T) {
	e := newAdminServer(t, redisline.Options{})
	var registered []apitest.Route
	for _, r := range e.srv.engine.Routes() {
		path := ginParam.ReplaceAllString(r.Path, "{$1}")
		if strings.Contains(r.Path, "*") && !contract.IsCatchAll(path) {
			t.Errorf("Gin route %s %s takes the rest of the path, but the document's %s is not marked x-catqms-catch-all", r.Method, r.Path, path)
		}
		registered = append(registered, apitest.Route{Method: r.Method, Path: path})
	}
	documented := contract.Routes()
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("Gin serves %s %s, which api/openapi.json does not list", r.Method, r.Path)
		}
	}
	for _, r := range documented {
		if !slices.Contains(registered, r) {
			t.Errorf("api/openapi.json lists %s %s, which Gin does not serve", r.Method, r.Path)
		}
	}
	if len(registered) < 20 {
		t.Errorf("only %d routes registered; the admin API or the pages are missing", len(registered))
	}
}

// TestOpenAPIServed: the document is served as committed.
func TestOpenAPIServed(t *testing.T) {
	e := newTestServer(t, testOptions{})
	w := e.do(http.MethodGet, "/api/v1/openapi.json", nil)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), api.OpenAPI()) {
		t.Fatalf("GET /api/v1/openapi.json = %d, %d bytes; want 200 and api/openapi.json", w.Code, w.Body.Len())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestErrorCodesDocumented: the error table, the OpenAPI document's
// ErrorCode and docs/api.md's table of error codes name the same codes,
// and the doc gives each the status the server answers.
func TestErrorCodesDocumented(t *testing.T) {
	served := map[string]int{}
	for code, kind := range errorTable {
		served[string(code)] = kind.status
	}

	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Enum []string `json:"enum"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas["ErrorCode"].Enum
	for code := range served {
		if !slices.Contains(enum, code) {
			t.Errorf("api/openapi.json's ErrorCode lacks %s", code)
		}
	}
	for _, code := range enum {
		if _, ok := served[code]; !ok {
			t.Errorf("api/openapi.json's ErrorCode has %s, which the server never answers", code)
		}
	}

	data, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "\n## Error codes\n")
	if !ok {
		t.Fatal("docs/api.md has no ## Error codes section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d{3}) \\|")
	documented := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		status, _ := strconv.Atoi(m[2])
		documented[m[1]] = status
	}
	for code, status := range served {
		switch got, ok := documented[code]; {
		case !ok:
			t.Errorf("docs/api.md's error codes lack %s (%d)", code, status)
		case got != status:
			t.Errorf("docs/api.md says %s is %d; the server answers %d", code, got, status)
		}
	}
	for code := range documented {
		if _, ok := served[code]; !ok {
			t.Errorf("docs/api.md lists %s, which the server never answers", code)
		}
	}
}
