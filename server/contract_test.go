package server

import (
	"bytes"
	"net/http"
	"regexp"
	"slices"
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
