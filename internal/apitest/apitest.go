// Package apitest checks HTTP answers and WebSocket messages against the
// OpenAPI document of the API (package api), so that tests keep the
// document true. It is for tests only: nothing the service runs imports it.
//
// The document is OpenAPI 3.1; kin-openapi validates 3.1 documents with a
// JSON Schema 2020-12 validator, so if/then, const, unevaluatedProperties
// and type arrays all apply.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/catqms/catqms/api"
)

// catchAll marks a path whose last parameter takes the rest of the path,
// slashes included, as Gin's *name parameters do (an IPv6 client key
// "2001:db8::/64", an asset path).
const catchAll = "x-catqms-catch-all"

// Route is one method of one path in the document.
type Route struct {
	Method string // GET, POST, …
	Path   string // the document's template: /api/v1/images/{id}
}

// Checker holds the loaded document.
type Checker struct {
	doc       *openapi3.T
	templates []string // the document's paths, sorted
}

// Load reads and validates the document.
func Load() (*Checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("apitest: load the OpenAPI document: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("apitest: the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("apitest: the OpenAPI document is invalid: %w", err)
	}
	c := &Checker{doc: doc}
	for path := range doc.Paths.Map() {
		c.templates = append(c.templates, path)
	}
	slices.Sort(c.templates)
	return c, nil
}

// Routes lists every method of every path in the document.
func (c *Checker) Routes() []Route {
	var routes []Route
	for _, path := range c.templates {
		for method := range c.doc.Paths.Value(path).Operations() {
			routes = append(routes, Route{Method: method, Path: path})
		}
	}
	return routes
}

// IsCatchAll reports whether path's last parameter takes the rest of the
// request path.
func (c *Checker) IsCatchAll(path string) bool {
	item := c.doc.Paths.Value(path)
	return item != nil && item.Extensions[catchAll] == true
}

// Check validates one answer to req: its status is one the document lists
// for the route, with the headers and the body it describes. An answer to
// a path the document does not have must be 404 not_found, and to a method
// it does not list 405 method_not_allowed with Allow, both as the Error
// schema. body is the whole body; req's own body is not read.
func (c *Checker) Check(req *http.Request, status int, header http.Header, body []byte) error {
	what := fmt.Sprintf("%s %s → %d", req.Method, req.URL.Path, status)
	template, params := c.match(req.URL.Path)
	if template == "" {
		if status != http.StatusNotFound {
			return fmt.Errorf("%s: the document has no such path, so the answer must be 404", what)
		}
		return c.checkError(what, header, body, "not_found")
	}
	item := c.doc.Paths.Value(template)
	op := item.GetOperation(req.Method)
	if op == nil {
		if status != http.StatusMethodNotAllowed || header.Get("Allow") == "" {
			return fmt.Errorf("%s: %s has no %s in the document, so the answer must be 405 with Allow", what, template, req.Method)
		}
		return c.checkError(what, header, body, "method_not_allowed")
	}
	if req.Method == http.MethodHead {
		// kin-openapi skips HEAD answers; the status must still be listed.
		if op.Responses.Status(status) == nil {
			return fmt.Errorf("%s: status %d is not listed for %s %s", what, status, req.Method, template)
		}
		return nil
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route: &routers.Route{
				Spec: c.doc, Path: template, PathItem: item, Method: req.Method, Operation: op,
			},
		},
		Status: status,
		Header: header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return fmt.Errorf("%s: %w; body %s", what, err, truncate(body))
	}
	return nil
}

// checkError validates an answer outside the document's routes against the
// Error schema, with the code it must carry.
func (c *Checker) checkError(what string, header http.Header, body []byte, code string) error {
	mediaType, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if mediaType != "application/json" {
		return fmt.Errorf("%s: Content-Type %q, want application/json", what, header.Get("Content-Type"))
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s: the body is not a JSON object: %w", what, err)
	}
	if err := c.CheckSchema("Error", v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if v["error"] != code {
		return fmt.Errorf("%s: error %v, want %s", what, v["error"], code)
	}
	return nil
}

// CheckSchema validates a decoded JSON value against a named schema of the
// document's components.
func (c *Checker) CheckSchema(name string, v any) error {
	ref := c.doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("apitest: the document has no schema %q", name)
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("not a %s: %w", name, err)
	}
	return nil
}

// CheckServerMessage validates one WebSocket message from the service: a
// single JSON object that is a WsServerMessage.
func (c *Checker) CheckServerMessage(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("WebSocket message %s is not a JSON object: %w", truncate(data), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("WebSocket message %s holds more than one JSON value", truncate(data))
	}
	if err := c.CheckSchema("WsServerMessage", v); err != nil {
		return fmt.Errorf("WebSocket message %s: %w", truncate(data), err)
	}
	return nil
}

// match finds the document's path for a request path and its parameters.
// A template's {name} takes one segment, or the rest of the path when the
// path is a catch-all and {name} is its last segment.
func (c *Checker) match(path string) (string, map[string]string) {
	got := strings.Split(path, "/")
	for _, template := range c.templates {
		want := strings.Split(template, "/")
		params := map[string]string{}
		ok := true
		for i, seg := range want {
			if i >= len(got) {
				ok = false
				break
			}
			name, isParam := strings.CutPrefix(seg, "{")
			switch {
			case !isParam:
				ok = seg == got[i]
			case i == len(want)-1 && c.IsCatchAll(template):
				params[strings.TrimSuffix(name, "}")] = strings.Join(got[i:], "/")
				got = got[:i+1] // the rest is taken
			default:
				params[strings.TrimSuffix(name, "}")] = got[i]
				ok = got[i] != ""
			}
			if !ok {
				break
			}
		}
		if ok && len(got) == len(want) {
			return template, params
		}
		got = strings.Split(path, "/")
	}
	return "", nil
}

func truncate(b []byte) string {
	const n = 300
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
