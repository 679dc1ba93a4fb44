package kitty

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// MaxDirFileSize is the largest picture Dir loads. Dir keeps every picture
// in memory and a queue page is no place for a huge download, so larger
// files are skipped rather than served.
const MaxDirFileSize = 10 << 20 // 10 MiB

// isPictureName reports whether a file name has an extension Dir considers.
// The extension only nominates a file; its first bytes decide its type.
func isPictureName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png", ".gif", ".webp":
		return true
	}
	return false
}

// Dir returns a Source that serves the pictures in the folder at path,
// choosing one per ticket: picture seq mod n of the n pictures, in the order
// of their file names, so a ticket keeps its picture while the folder is
// unchanged and the pictures take turns along the line.
//
// Dir reads the folder once, now, and serves from memory; later changes to
// the folder are not seen. It considers only regular files (or links to
// them) directly in the folder whose names end in .jpg, .jpeg, .png, .gif or
// .webp, in any case. It skips, without complaint:
//
//   - subfolders and files with other extensions;
//   - files larger than MaxDirFileSize;
//   - files whose contents are not a JPEG, PNG, GIF or WebP picture, judged
//     by their first bytes (so a stray text file named cat.jpg is skipped).
//
// The content type served comes from the contents, not the extension: a PNG
// named cat.jpg is served as image/png, because browsers trust the header.
//
// Dir returns an error naming the folder when it is missing, is not a
// folder, cannot be read, holds a picture file that cannot be read, or holds
// no pictures at all, so a wrong path fails at start rather than on the
// first ticket.
func Dir(path string) (Source, error) {
	entries, err := os.ReadDir(path) // sorted by file name
	if err != nil {
		return nil, fmt.Errorf("kitty: picture folder %q: %w", path, err)
	}
	var pics []Image
	skipped := 0
	for _, e := range entries {
		if !isPictureName(e.Name()) {
			continue
		}
		name := filepath.Join(path, e.Name())
		data, err := readPicture(name)
		if errors.Is(err, errSkip) {
			skipped++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("kitty: picture folder %q: %w", path, err)
		}
		got := sniff(data)
		if got == "" {
			skipped++
			continue
		}
		pics = append(pics, Image{ContentType: got, Data: data})
	}
	if len(pics) == 0 {
		return nil, fmt.Errorf("kitty: picture folder %q has no pictures (jpg, jpeg, png, gif or webp up to %d MiB; %d skipped)",
			path, MaxDirFileSize>>20, skipped)
	}
	return &dir{pics: pics}, nil
}

// errSkip marks a file that is not to be served but is no fault either.
var errSkip = errors.New("skip")

// readPicture reads the file at name, or reports errSkip when it is not a
// regular file or is too large. Checking before opening keeps Dir from
// blocking on a pipe; capping the read keeps a file that grows after the
// check from making Dir read without bound.
func readPicture(name string) ([]byte, error) {
	info, err := os.Stat(name) // follows links, unlike the folder listing
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() || info.Size() > MaxDirFileSize {
		return nil, errSkip
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDirFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxDirFileSize {
		return nil, errSkip
	}
	return data, nil
}

// sniff returns the picture type of data judged by its first bytes, or ""
// when it is not one Dir serves.
func sniff(data []byte) string {
	switch t := http.DetectContentType(data); t {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return t
	}
	return ""
}

type dir struct {
	pics []Image // never changed after Dir returns, so no lock is needed
}

// Image returns picture seq mod n.
func (d *dir) Image(seq uint64) (Image, error) {
	return d.pics[seq%uint64(len(d.pics))], nil
}
