// Package apitest checks HTTP answers and WebSocket messages against the
// OpenAPI document of the API (package api), so that tests keep the
// document true. It is for tests only: nothing the service runs imports it.
//
// The document is OpenAPI 3.1. kin-openapi loads it and validates the
// document itself (v0.153.0 knows 3.1). Answers are checked here: the
// status must be listed for the route, the listed headers there and
// fitting, the body fitting the schema of its media type. Schemas are
// checked by the JSON Schema 2020-12 validator kin-openapi itself uses for
// 3.1 (santhosh-tekuri/jsonschema), compiled once: kin-openapi's own
// response validation compiles a schema again for every value, about a
// millisecond each, which made the server tests a third slower. So
// if/then, const, unevaluatedProperties and type arrays all apply.
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
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"

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

// docURL names the document for the JSON Schema compiler; its schemas'
// "#/components/…" references resolve within it.
const docURL = "mem:///openapi.json"

// Checker holds the loaded document. It is safe for concurrent use.
type Checker struct {
	doc       *openapi3.T
	raw       map[string]any // the document as plain JSON
	templates []string       // the document's paths, sorted

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema // by JSON pointer into the document
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
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.OpenAPI()))
	if err != nil {
		return nil, fmt.Errorf("apitest: %w", err)
	}
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	if err := compiler.AddResource(docURL, raw); err != nil {
		return nil, fmt.Errorf("apitest: %w", err)
	}
	c := &Checker{doc: doc, raw: raw.(map[string]any), compiler: compiler, compiled: map[string]*jsonschema.Schema{}}
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
	template := c.match(req.URL.Path)
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
	ptr := "/paths/" + escape(template) + "/" + strings.ToLower(req.Method) + "/responses/" + fmt.Sprint(status)
	response, ptr := c.resolve(ptr)
	if response == nil {
		return fmt.Errorf("%s: status %d is not listed for %s %s; body %s", what, status, req.Method, template, truncate(body))
	}
	if err := c.checkHeaders(response, ptr, header); err != nil {
		return fmt.Errorf("%s: %w; body %s", what, err, truncate(body))
	}
	if req.Method == http.MethodHead || status == http.StatusNotModified {
		return nil // no body
	}
	if err := c.checkBody(response, ptr, header, body); err != nil {
		return fmt.Errorf("%s: %w; body %s", what, err, truncate(body))
	}
	return nil
}

// checkHeaders checks the headers the document gives an answer (found at
// ptr): a required one must be there, and each one there must fit its
// schema.
func (c *Checker) checkHeaders(response map[string]any, ptr string, header http.Header) error {
	headers, _ := response["headers"].(map[string]any)
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		h, hptr := c.resolveNode(headers[name], ptr+"/headers/"+escape(name))
		values := header.Values(name)
		if len(values) == 0 {
			if h["required"] == true {
				return fmt.Errorf("response header %q missing", name)
			}
			continue
		}
		if err := c.validate(hptr+"/schema", values[0]); err != nil {
			return fmt.Errorf("response header %q: %w", name, err)
		}
	}
	return nil
}

// checkBody validates body against the schema the document gives the
// answer (found at ptr) for its Content-Type. A media type the answer does
// not list is an error; one without a schema takes any body.
func (c *Checker) checkBody(response map[string]any, ptr string, header http.Header, body []byte) error {
	content, _ := response["content"].(map[string]any)
	if len(content) == 0 {
		return nil
	}
	ct := header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("Content-Type %q does not parse", ct)
	}
	kind, _, _ := strings.Cut(mediaType, "/")
	key := ""
	for _, k := range []string{mediaType, kind + "/*", "*/*"} {
		if _, ok := content[k]; ok {
			key = k
			break
		}
	}
	if key == "" {
		return fmt.Errorf("Content-Type %q is not one the document lists", ct)
	}
	if _, ok := content[key].(map[string]any)["schema"]; !ok {
		return nil
	}
	var v any = string(body) // a text body is one string
	if mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") {
		if v, err = jsonschema.UnmarshalJSON(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("the body is not JSON: %w", err)
		}
	}
	return c.validate(ptr+"/content/"+escape(key)+"/schema", v)
}

// resolve returns the object at ptr in the document, following $refs,
// and the pointer it was found at; nil when there is none.
func (c *Checker) resolve(ptr string) (map[string]any, string) {
	var node any = c.raw
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m, _ := node.(map[string]any)
		node = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)]
	}
	return c.resolveNode(node, ptr)
}

// resolveNode follows node's $ref, if it has one; ptr is where node is.
func (c *Checker) resolveNode(node any, ptr string) (map[string]any, string) {
	m, _ := node.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		return c.resolve(strings.TrimPrefix(ref, "#"))
	}
	return m, ptr
}

// validate checks v against the schema at ptr, compiled once.
func (c *Checker) validate(ptr string, v any) error {
	c.mu.Lock()
	sch, ok := c.compiled[ptr]
	if !ok {
		var err error
		if sch, err = c.compiler.Compile(docURL + "#" + ptr); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("apitest: compile %s: %w", ptr, err)
		}
		c.compiled[ptr] = sch
	}
	c.mu.Unlock()
	return sch.Validate(v)
}

// escape makes s one token of a JSON pointer.
func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
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
	if c.doc.Components.Schemas[name] == nil {
		return fmt.Errorf("apitest: the document has no schema %q", name)
	}
	// The validator wants numbers as json.Number, as its own decoder makes.
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	value, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if err := c.validate("/components/schemas/"+escape(name), value); err != nil {
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

// match finds the document's path for a request path. A template's
// {name} takes one non-empty segment, or the rest of the path, even an
// empty one, when the path is a catch-all and {name} is its last segment.
func (c *Checker) match(path string) string {
	got := strings.Split(path, "/")
	for _, template := range c.templates {
		want := strings.Split(template, "/")
		catchAll := c.IsCatchAll(template)
		if len(got) < len(want) || (len(got) > len(want) && !catchAll) {
			continue
		}
		ok := true
		for i, seg := range want {
			if strings.HasPrefix(seg, "{") {
				// Gin's *name also takes an empty rest: /bans/ is the route
				// with an empty client.
				ok = got[i] != "" || (catchAll && i == len(want)-1)
			} else {
				ok = seg == got[i]
			}
			if !ok {
				break
			}
		}
		if ok {
			return template
		}
	}
	return ""
}

func truncate(b []byte) string {
	const n = 300
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
