// Package frontend holds the web client of catqms: plain HTML, CSS and
// JavaScript modules, committed as they are served (there is no build step)
// and embedded in the binary with embed.FS.
package frontend

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// static is the committed web client; "static/" is stripped by FS.
//
//go:embed static
var static embed.FS

// Cache policies. HTML is always revalidated so a deploy is seen at once;
// assets are not fingerprinted, so they get only a short max-age (and an
// ETag, so revalidation after that is a cheap 304).
const (
	cacheHTML   = "no-cache"
	cacheAssets = "public, max-age=60"
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

// FS exposes the embedded files (index.html, board.html, assets/…).
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("frontend: embedded files missing: " + err.Error()) // cannot happen: the directive embeds static
	}
	return sub
}

// Handler serves the web client: "/" → index.html, "/board" → board.html,
// and static assets under "/assets/…". Every file is read and hashed once,
// when Handler is called, so serving is a map lookup: no path is ever joined
// onto a file system. Responses carry an explicit Content-Type, a strong
// ETag (conditional and HEAD requests work), and Cache-Control "no-cache" for
// pages or a short max-age for assets. Unknown paths answer 404 and other
// methods than GET and HEAD 405, both as the API's JSON error shape.
func Handler() http.Handler {
	h := &handler{files: make(map[string]file)}
	fsys := FS()
	for route, name := range map[string]string{"/": "index.html", "/board": "board.html"} {
		h.files[route] = mustLoad(fsys, name, cacheHTML)
	}
	err := fs.WalkDir(fsys, "assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		h.files["/"+name] = mustLoad(fsys, name, cacheAssets)
		return nil
	})
	if err != nil {
		panic("frontend: reading embedded assets: " + err.Error())
	}
	return h
}

// file is one servable response, prepared up front.
type file struct {
	name         string
	body         []byte
	etag         string
	contentType  string
	cacheControl string
}

func mustLoad(fsys fs.FS, name, cacheControl string) file {
	body, err := fs.ReadFile(fsys, name)
	if err != nil {
		panic("frontend: embedded file missing: " + err.Error())
	}
	sum := sha256.Sum256(body)
	return file{
		name:         name,
		body:         body,
		etag:         `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
		contentType:  contentType(name),
		cacheControl: cacheControl,
	}
}

type handler struct {
	files map[string]file // by URL path
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "There is no page at "+r.URL.Path+".")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Only GET and HEAD are allowed here.")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", f.cacheControl)
	hdr.Set("ETag", f.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	// Embedded files have no modification time; the ETag does the work, so
	// ServeContent gets the zero time and sends no Last-Modified.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

// writeError answers in the same JSON error shape as the API.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": message})
}
