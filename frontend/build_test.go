package frontend

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	qrcode "github.com/skip2/go-qrcode"
)

func get(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var (
	fingerprinted = regexp.MustCompile(`/assets/[a-z0-9/]+\.[0-9a-f]{10}\.(?:js|css|svg)`)
	preloadLink   = regexp.MustCompile(`<link rel="modulepreload" href="([^"]+)">`)
	scriptSrc     = regexp.MustCompile(`<script type="module" src="([^"]+)">`)
	importSpec    = regexp.MustCompile(`(?:\bfrom\s*|\bimport\s*\(?\s*)'(\./[^']+)'`)
)

// TestPagesUseFingerprintedAssets: every asset a page names is
// fingerprinted, cached for a year, and the same bytes as its plain name's
// (modulo the rewritten imports); every module a page's script imports,
// however deep, is preloaded, and imports inside modules are fingerprinted.
func TestPagesUseFingerprintedAssets(t *testing.T) {
	h := Handler()
	for _, route := range []string{"/", "/board", "/stats"} {
		page := get(t, h, route).Body.String()
		if strings.Contains(page, `"/assets/app.js"`) || strings.Contains(page, `"/assets/style.css"`) {
			t.Errorf("%s still names an asset by its plain name", route)
		}
		refs := fingerprinted.FindAllString(page, -1)
		if len(refs) < 3 {
			t.Fatalf("%s names %d fingerprinted assets: %v", route, len(refs), refs)
		}
		for _, ref := range refs {
			rec := get(t, h, ref)
			if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != cacheImmutable {
				t.Errorf("%s → %d, Cache-Control %q", ref, rec.Code, rec.Header().Get("Cache-Control"))
			}
		}
		// Walk the import graph from the entry script: every module must be preloaded.
		preloaded := map[string]bool{}
		for _, m := range preloadLink.FindAllStringSubmatch(page, -1) {
			preloaded[m[1]] = true
		}
		entry := scriptSrc.FindStringSubmatch(page)
		if entry == nil {
			t.Fatalf("%s: no module script", route)
		}
		queue := []string{entry[1]}
		seen := map[string]bool{entry[1]: true}
		for len(queue) > 0 {
			mod := queue[0]
			queue = queue[1:]
			body := get(t, h, mod).Body.String()
			for _, m := range importSpec.FindAllStringSubmatch(body, -1) {
				dep := mod[:strings.LastIndex(mod, "/")+1] + strings.TrimPrefix(m[1], "./")
				if !fingerprinted.MatchString(dep) {
					t.Errorf("%s imports %s by its plain name", mod, m[1])
				}
				if !preloaded[dep] {
					t.Errorf("%s: %s (imported by %s) is not preloaded", route, dep, mod)
				}
				if !seen[dep] {
					seen[dep] = true
					queue = append(queue, dep)
				}
			}
		}
		if len(seen) < 5 {
			t.Errorf("%s: only %d modules reached from %s", route, len(seen), entry[1])
		}
	}
}

// TestIconFetchedOnce: the pages draw their logo inline; the only request
// for the icon is the favicon's.
func TestIconFetchedOnce(t *testing.T) {
	for _, route := range []string{"/", "/board", "/stats"} {
		page := get(t, Handler(), route).Body.String()
		if n := strings.Count(page, "/assets/icon."); n != 1 {
			t.Errorf("%s refers to the icon %d times, want 1 (the favicon)", route, n)
		}
	}
}

// TestCompressedByAcceptEncoding: brotli when accepted, else gzip, else
// none; each decodes to the identity body; Vary is set; q=0 refuses.
func TestCompressedByAcceptEncoding(t *testing.T) {
	h := Handler()
	plain := get(t, h, "/assets/app.js").Body.Bytes()
	tests := []struct{ accept, want string }{
		{"gzip, deflate, br, zstd", "br"},
		{"gzip", "gzip"},
		{"br;q=0, gzip", "gzip"},
		{"BR; q=0.0 , gzip;q=0.5", "gzip"},
		{"gzip;q=0", ""},
		{"identity", ""},
		{"", ""},
	}
	for _, tt := range tests {
		rec := get(t, h, "/assets/app.js", "Accept-Encoding", tt.accept)
		if got := rec.Header().Get("Content-Encoding"); got != tt.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tt.accept, got, tt.want)
		}
		if rec.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: no Vary", tt.accept)
		}
		sent := rec.Body.Len()
		if tt.want != "" && sent >= len(plain)/2 {
			t.Errorf("%s: %d bytes sent for %d", tt.want, sent, len(plain))
		}
		var r io.Reader = rec.Body
		switch tt.want {
		case "br":
			r = brotli.NewReader(rec.Body)
		case "gzip":
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		body, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(body, plain) {
			t.Errorf("Accept-Encoding %q: body does not decode to the file (%v)", tt.accept, err)
		}
	}
	// A conditional request with the compressed variant's ETag is a 304.
	first := get(t, h, "/", "Accept-Encoding", "br")
	again := get(t, h, "/", "Accept-Encoding", "br", "If-None-Match", first.Header().Get("ETag"))
	if again.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the br ETag: %d, want 304", again.Code)
	}
}

// TestVenueOptions: the settings reach the pages, escaped.
func TestVenueOptions(t *testing.T) {
	h := New(Options{PublicURL: "https://q.example.org/cafe?x=1&y=2", VenueName: `Cat "Café" <3`, VenuePlace: "the front desk"})
	board := get(t, h, "/board").Body.String()
	for _, want := range []string{
		`data-public-url="https://q.example.org/cafe?x=1&amp;y=2"`,
		`data-venue-name="Cat &#34;Café&#34; &lt;3"`,
		`data-venue-place="the front desk"`,
	} {
		if !strings.Contains(board, want) {
			t.Errorf("board lacks %s", want)
		}
	}
	if strings.Contains(board, `<3"`) {
		t.Error("the venue name is not escaped")
	}
}

// qrPath is one run of dark modules in the SVG: M x y h run v1 h-run z.
var qrPath = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// decodeQR reads back the modules drawn in a QR SVG.
func decodeQR(t *testing.T, svg string) [][]bool {
	t.Helper()
	m := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no viewBox in %.100s", svg)
	}
	size, _ := strconv.Atoi(m[1])
	n := size - 2*qrQuietZone
	grid := make([][]bool, n)
	for i := range grid {
		grid[i] = make([]bool, n)
	}
	for _, p := range qrPath.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.Atoi(p[1])
		y, _ := strconv.Atoi(p[2])
		run, _ := strconv.Atoi(p[3])
		for i := range run {
			grid[y-qrQuietZone][x-qrQuietZone+i] = true
		}
	}
	return grid
}

func sameModules(t *testing.T, got [][]bool, text string) {
	t.Helper()
	code, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	code.DisableBorder = true
	want := code.Bitmap()
	if len(got) != len(want) {
		t.Fatalf("QR is %d modules wide, want %d (for %q)", len(got), len(want), text)
	}
	for y := range want {
		for x := range want[y] {
			if got[y][x] != want[y][x] {
				t.Fatalf("QR module (%d,%d) differs from the code of %q", x, y, text)
			}
		}
	}
}

// TestQRCode: with a public URL the QR code is that URL, whatever host the
// board was opened at; without one, it is the address of the request; a
// Host that is not a host name is a bad request.
func TestQRCode(t *testing.T) {
	public := "https://q.example.org/"
	rec := get(t, New(Options{PublicURL: public}), "http://127.0.0.1:28461/qr.svg")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("GET /qr.svg: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	sameModules(t, decodeQR(t, rec.Body.String()), public)

	rec = get(t, Handler(), "http://127.0.0.1:28461/qr.svg")
	sameModules(t, decodeQR(t, rec.Body.String()), "http://127.0.0.1:28461/")

	req := httptest.NewRequest(http.MethodGet, "/qr.svg", nil)
	req.Host = "evil.example/<script>"
	bad := httptest.NewRecorder()
	Handler().ServeHTTP(bad, req)
	if bad.Code != http.StatusBadRequest || !strings.Contains(bad.Body.String(), `"error":"bad_request"`) {
		t.Errorf("a Host with markup: %d %s, want 400 bad_request", bad.Code, bad.Body)
	}
}
