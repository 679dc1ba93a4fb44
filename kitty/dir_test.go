package kitty

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Small real pictures, each with its own first bytes.
func pictureBytes(t *testing.T, kind string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{200, 100, 50, 255})
	var buf bytes.Buffer
	var err error
	switch kind {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	case "webp":
		// The standard library cannot encode WebP; a RIFF header is all
		// content sniffing reads, and Dir never decodes.
		buf.WriteString("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00")
		buf.Write(make([]byte, 24))
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDirPicksPerSeq(t *testing.T) {
	folder := t.TempDir()
	pics := map[string][]byte{
		"b.png":  pictureBytes(t, "png"),
		"a.jpg":  pictureBytes(t, "jpeg"),
		"d.webp": pictureBytes(t, "webp"),
		"Z.GIF":  pictureBytes(t, "gif"),
		"e.jpeg": pictureBytes(t, "jpeg"),
	}
	for name, data := range pics {
		writeFile(t, filepath.Join(folder, name), data)
	}
	src, err := Dir(folder)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by name as bytes, so upper case first.
	order := []struct{ name, contentType string }{
		{"Z.GIF", "image/gif"}, {"a.jpg", "image/jpeg"}, {"b.png", "image/png"},
		{"d.webp", "image/webp"}, {"e.jpeg", "image/jpeg"},
	}
	for _, seq := range []uint64{0, 1, 2, 3, 4, 5, 9, 1000, math.MaxUint64} {
		want := order[seq%uint64(len(order))]
		for range 2 { // stable: asking again gives the same
			img, err := src.Image(seq)
			if err != nil {
				t.Fatal(err)
			}
			if img.ContentType != want.contentType || !bytes.Equal(img.Data, pics[want.name]) {
				t.Errorf("seq %d: got %s (%d bytes), want %s (%s)", seq, img.ContentType, len(img.Data), want.name, want.contentType)
			}
		}
	}
}

func TestDirSkips(t *testing.T) {
	folder := t.TempDir()
	good := pictureBytes(t, "png")
	writeFile(t, filepath.Join(folder, "keep.png"), good)
	writeFile(t, filepath.Join(folder, "notes.txt"), []byte("not a picture"))
	writeFile(t, filepath.Join(folder, "README"), good) // a picture, but no picture name
	writeFile(t, filepath.Join(folder, "fake.jpg"), []byte("<html>not a picture</html>"))
	writeFile(t, filepath.Join(folder, "empty.gif"), nil)
	writeFile(t, filepath.Join(folder, "sub", "inside.png"), good) // not searched
	if err := os.Mkdir(filepath.Join(folder, "folder.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	huge := append(pictureBytes(t, "png"), make([]byte, MaxDirFileSize)...)
	writeFile(t, filepath.Join(folder, "huge.png"), huge)

	src, err := Dir(folder)
	if err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(5) {
		img, err := src.Image(seq)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img.Data, good) {
			t.Fatalf("seq %d: got a %d-byte %s, want only keep.png", seq, len(img.Data), img.ContentType)
		}
	}
}

// TestDirTrustsContents checks that a picture with the wrong extension is
// served under its real type, and that a link to a picture counts.
func TestDirTrustsContents(t *testing.T) {
	folder := t.TempDir()
	pngData := pictureBytes(t, "png")
	writeFile(t, filepath.Join(folder, "a-really-a-png.jpg"), pngData)
	if err := os.Symlink(filepath.Join(folder, "a-really-a-png.jpg"), filepath.Join(folder, "b-link.gif")); err != nil {
		t.Fatal(err)
	}
	src, err := Dir(folder)
	if err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(2) {
		img, err := src.Image(seq)
		if err != nil {
			t.Fatal(err)
		}
		if img.ContentType != "image/png" || !bytes.Equal(img.Data, pngData) {
			t.Errorf("seq %d: got %s, want the PNG as image/png", seq, img.ContentType)
		}
	}
}

func TestDirErrors(t *testing.T) {
	root := t.TempDir()
	onlyText := filepath.Join(root, "only-text")
	writeFile(t, filepath.Join(onlyText, "a.txt"), []byte("hello"))
	writeFile(t, filepath.Join(onlyText, "b.png"), []byte("hello"))
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file.png")
	writeFile(t, file, pictureBytes(t, "png"))
	dangling := filepath.Join(root, "dangling")
	if err := os.Mkdir(dangling, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "nowhere.png"), filepath.Join(dangling, "gone.png")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, mention string
	}{
		{"missing", filepath.Join(root, "missing"), "no such file"},
		{"empty", empty, "no pictures"},
		{"no real pictures", onlyText, "1 skipped"},
		{"a file, not a folder", file, "not a directory"},
		{"unreadable picture", dangling, "gone.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := Dir(tc.path)
			if err == nil {
				t.Fatalf("got a source %v, want an error", src)
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q should name %q and mention %q", err, tc.path, tc.mention)
			}
		})
	}
}
