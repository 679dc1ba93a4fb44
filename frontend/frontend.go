// Package frontend holds the web client of catqms: plain HTML, CSS and
// JavaScript modules, committed as they are served (there is no build step)
// and embedded in the binary with embed.FS.
//
// What a build step would do happens once, when the handler is made: every
// asset gets a fingerprinted name (its content's hash) so it can be cached
// for a year, the pages and modules are rewritten to those names, the pages
// get a modulepreload for every module they import (no discovery chain) and
// the venue's settings, and every text file is compressed with gzip and
// brotli.
package frontend

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
)

// static is the committed web client; "static/" is stripped by FS.
//
//go:embed static
var static embed.FS

// Cache policies. Pages are always revalidated so a deploy is seen at once;
// a fingerprinted asset never changes under its name, so it is cached for a
// year; an asset under its plain name (an old page, a notification's icon)
// only briefly. Every answer has an ETag, so revalidation is a cheap 304.
const (
	cacheHTML        = "no-cache"
	cacheImmutable   = "public, max-age=31536000, immutable"
	cacheAssets      = "public, max-age=60"
	fingerprintChars = 10 // hex digits of SHA-256 in an asset's name
)

// contentType is an explicit table rather than mime.TypeByExtension, whose
// answers depend on the host's mime tables (a wrong JavaScript type stops
// modules from loading).
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".json":
		return "application/json"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// compressible reports whether a type is text, worth compressing.
func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || ctype == "image/svg+xml" || ctype == "application/json"
}

// FS exposes the embedded files (index.html, board.html, assets/…).
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("frontend: embedded files missing: " + err.Error()) // cannot happen: the directive embeds static
	}
	return sub
}

// Options are a venue's settings for its pages.
type Options struct {
	// PublicURL is the address visitors open to take a ticket: the board's
	// QR code and text show it. Empty: the address the board itself was
	// opened at.
	PublicURL string
	// VenueName replaces "catqms" in the pages' top bar; empty keeps it.
	VenueName string
	// VenuePlace is where a called visitor goes, in the venue's own words
	// ("the front desk"); the board's spoken call names it. Empty: the call
	// says the kitty is ready (it is shown on the visitor's own page).
	VenuePlace string
}

// Handler is New with no venue settings.
func Handler() http.Handler { return New(Options{}) }

// New returns the web client's handler: "/" → index.html, "/board" →
// board.html, "/stats" → stats.html, "/qr.svg" → the QR code of the ticket page, and the assets
// under "/assets/…", by their fingerprinted names and by their plain ones.
// Everything but the QR code is prepared here, so serving is a map lookup:
// no path is ever joined onto a file system. Responses carry an explicit
// Content-Type, a strong ETag (conditional and HEAD requests work), the
// encoding the client accepts best (br, gzip or none), and a cache policy.
// Unknown paths answer 404 and other methods than GET and HEAD 405, both as
// the API's JSON error shape.
func New(opts Options) http.Handler {
	fsys := FS()
	b := &builder{sources: map[string][]byte{}, final: map[string]string{}, imports: map[string][]string{}}
	err := fs.WalkDir(fsys, "assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		b.sources[name] = body
		return err
	})
	if err != nil {
		panic("frontend: reading embedded assets: " + err.Error())
	}
	h := &handler{files: make(map[string]*file), opts: opts}
	names := make([]string, 0, len(b.sources))
	for name := range b.sources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := newFile(name, b.body(name, nil), cacheImmutable)
		h.files["/"+b.final[name]] = f
		plain := *f // the same bytes, compressed once, under a shorter cache
		plain.cacheControl = cacheAssets
		h.files["/"+name] = &plain
	}
	for route, name := range map[string]string{"/": "index.html", "/board": "board.html", "/stats": "stats.html"} {
		page, err := fs.ReadFile(fsys, name)
		if err != nil {
			panic("frontend: embedded page missing: " + err.Error())
		}
		h.files[route] = newFile(name, b.page(page, opts), cacheHTML)
	}
	if opts.PublicURL != "" {
		h.qr = newFile("qr.svg", qrSVG(opts.PublicURL), cacheHTML)
	}
	return h
}

// builder rewrites the assets to their fingerprinted names.
type builder struct {
	sources map[string][]byte   // by embedded name, "assets/app.js"
	final   map[string]string   // embedded name → fingerprinted name
	bodies  map[string][]byte   // embedded name → rewritten body
	imports map[string][]string // module → the modules it imports
}

// moduleImport finds a static or dynamic import of a relative module:
// `from './x.js'`, `import './x.js'`, `import('./x.js')`.
var moduleImport = regexp.MustCompile(`(\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.{1,2}/[^'"]+)(['"])`)

// body returns the asset `name` with its imports rewritten to fingerprinted
// names, computing (and remembering) its own fingerprinted name. A module's
// name covers its imports' names, so a change anywhere below renames every
// module above it.
func (b *builder) body(name string, visiting []string) []byte {
	if b.bodies == nil {
		b.bodies = map[string][]byte{}
	}
	if body, ok := b.bodies[name]; ok {
		return body
	}
	for _, v := range visiting {
		if v == name {
			panic("frontend: import cycle: " + strings.Join(append(visiting, name), " → "))
		}
	}
	src, ok := b.sources[name]
	if !ok {
		panic("frontend: " + visiting[len(visiting)-1] + " imports " + name + ", which is not embedded")
	}
	body := src
	if path.Ext(name) == ".js" {
		var deps []string
		body = moduleImport.ReplaceAllFunc(src, func(m []byte) []byte {
			sub := moduleImport.FindSubmatch(m)
			dep := path.Join(path.Dir(name), string(sub[3]))
			b.body(dep, append(visiting, name))
			deps = append(deps, dep)
			// Modules import their own folder or one below it.
			rel, ok := strings.CutPrefix(b.final[dep], path.Dir(name)+"/")
			if !ok {
				panic("frontend: " + name + " imports " + dep + " from outside its folder")
			}
			rel = "./" + rel
			return []byte(string(sub[1]) + string(sub[2]) + rel + string(sub[4]))
		})
		b.imports[name] = deps
	}
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	b.final[name] = strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:fingerprintChars] + ext
	b.bodies[name] = body
	return body
}

// assetRef is a page's reference to an asset by its plain name.
var assetRef = regexp.MustCompile(`(href|src)="/(assets/[^"]+)"`)

// page rewrites a page: fingerprinted asset names, a modulepreload for
// every module its scripts import, and the venue's settings.
func (b *builder) page(src []byte, opts Options) []byte {
	var modules []string
	out := assetRef.ReplaceAllFunc(src, func(m []byte) []byte {
		sub := assetRef.FindSubmatch(m)
		name := string(sub[2])
		if _, ok := b.sources[name]; !ok {
			panic("frontend: a page refers to " + name + ", which is not embedded")
		}
		b.body(name, nil)
		if path.Ext(name) == ".js" {
			modules = append(modules, name)
		}
		return []byte(fmt.Sprintf(`%s="/%s"`, sub[1], b.final[name]))
	})
	seen := map[string]bool{}
	var preload []string
	var walk func(string)
	walk = func(name string) {
		for _, dep := range b.imports[name] {
			if !seen[dep] {
				seen[dep] = true
				preload = append(preload, dep)
				walk(dep)
			}
		}
	}
	for _, m := range modules {
		seen[m] = true
		walk(m)
	}
	var links strings.Builder
	for _, dep := range preload {
		fmt.Fprintf(&links, "  <link rel=\"modulepreload\" href=\"/%s\">\n", b.final[dep])
	}
	out = bytes.Replace(out, []byte("</head>"), []byte(links.String()+"</head>"), 1)
	for attr, value := range map[string]string{
		"data-public-url": opts.PublicURL, "data-venue-name": opts.VenueName, "data-venue-place": opts.VenuePlace,
	} {
		out = bytes.Replace(out, []byte(attr+`=""`), []byte(attr+`="`+html.EscapeString(value)+`"`), 1)
	}
	return out
}

// file is one servable response, prepared up front, in every encoding
// that makes it smaller.
type file struct {
	name         string
	contentType  string
	cacheControl string
	variants     []variant // identity last
}

type variant struct {
	encoding string // "br", "gzip", or "" for identity
	body     []byte
	etag     string
}

func newFile(name string, body []byte, cacheControl string) *file {
	f := &file{name: name, contentType: contentType(name), cacheControl: cacheControl}
	etag := func(b []byte, suffix string) string {
		sum := sha256.Sum256(b)
		return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + suffix + `"`
	}
	if compressible(f.contentType) {
		for _, enc := range []string{"br", "gzip"} {
			if c := compress(enc, body); len(c) < len(body) {
				f.variants = append(f.variants, variant{encoding: enc, body: c, etag: etag(body, "-"+enc)})
			}
		}
	}
	f.variants = append(f.variants, variant{body: body, etag: etag(body, "")})
	return f
}

func compress(encoding string, body []byte) []byte {
	var buf bytes.Buffer
	switch encoding {
	case "br":
		// Level 9, not 11: within a tenth of the size, at a quarter of the
		// time, which every process start pays.
		w := brotli.NewWriterLevel(&buf, 9)
		_, _ = w.Write(body) // writes to a bytes.Buffer do not fail
		_ = w.Close()
	case "gzip":
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
		_, _ = w.Write(body)
		_ = w.Close()
	}
	return buf.Bytes()
}

// pick returns the variant for an Accept-Encoding header: the first of
// br and gzip that the client accepts (q > 0), else identity.
func (f *file) pick(acceptEncoding string) variant {
	accepted := map[string]bool{}
	for _, part := range strings.Split(acceptEncoding, ",") {
		name, params, _ := strings.Cut(part, ";")
		q := 1.0
		for _, param := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(param), "="); ok && strings.EqualFold(k, "q") {
				if parsed, err := strconv.ParseFloat(v, 64); err == nil {
					q = parsed
				}
			}
		}
		accepted[strings.ToLower(strings.TrimSpace(name))] = q > 0
	}
	for _, v := range f.variants {
		if v.encoding == "" || accepted[v.encoding] {
			return v
		}
	}
	return f.variants[len(f.variants)-1]
}

type handler struct {
	files map[string]*file // by URL path
	opts  Options
	qr    *file // the QR code of opts.PublicURL; nil: drawn per request
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if r.URL.Path == "/qr.svg" {
		if f, ok = h.qrFor(r); !ok {
			writeError(w, http.StatusBadRequest, "bad_request", "The Host header is not a host name, so there is no address to draw; the server's --public-url sets one.")
			return
		}
	}
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "There is no page at "+r.URL.Path+".")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Only GET and HEAD are allowed here.")
		return
	}
	v := f.pick(r.Header.Get("Accept-Encoding"))
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", f.cacheControl)
	hdr.Set("ETag", v.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if len(f.variants) > 1 {
		hdr.Set("Vary", "Accept-Encoding")
	}
	if v.encoding != "" {
		hdr.Set("Content-Encoding", v.encoding)
	}
	// Embedded files have no modification time; the ETag does the work, so
	// ServeContent gets the zero time and sends no Last-Modified.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(v.body))
}

// hostName is what a Host header may hold to be drawn into a QR code.
var hostName = regexp.MustCompile(`^[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$`)

// qrFor returns the QR code of the ticket page: the configured public URL,
// else the address this request came to.
func (h *handler) qrFor(r *http.Request) (*file, bool) {
	if h.qr != nil {
		return h.qr, true
	}
	if !hostName.MatchString(r.Host) {
		return nil, false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return newFile("qr.svg", qrSVG(scheme+"://"+r.Host+"/"), cacheHTML), true
}

// writeError answers in the same JSON error shape as the API.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": message})
}
