package kitty

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestWriteSamples writes a dozen kitties and a contact sheet of them to the
// folder named by KITTY_SAMPLES_DIR, so a person can look at them. It does
// nothing when the variable is unset.
//
//	KITTY_SAMPLES_DIR=/tmp/kitties go test -run TestWriteSamples ./kitty
//
// KITTY_SAMPLES_FIRST picks the first ticket number (default 1), to browse
// further along the line.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("KITTY_SAMPLES_DIR")
	if dir == "" {
		t.Skip("set KITTY_SAMPLES_DIR to write sample kitties")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const n, cols, scale = 12, 4, 2
	first := uint64(1)
	if v := os.Getenv("KITTY_SAMPLES_FIRST"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("KITTY_SAMPLES_FIRST: %v", err)
		}
		first = n
	}
	src := Builtin()
	sheet := image.NewRGBA(image.Rect(0, 0, cols*size/scale, (n+cols-1)/cols*size/scale))
	for i := range n {
		seq := first + uint64(i)
		img, err := src.Image(seq)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("kitty-%02d.png", seq)), img.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		pic, err := png.Decode(bytes.NewReader(img.Data))
		if err != nil {
			t.Fatal(err)
		}
		at := image.Pt(i%cols*size/scale, i/cols*size/scale)
		draw.Draw(sheet, image.Rectangle{Min: at, Max: at.Add(image.Pt(size/scale, size/scale))}, shrink(pic, scale), image.Point{}, draw.Src)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, sheet); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "contact-sheet.png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// shrink box-filters img down by an integer factor.
func shrink(img image.Image, factor int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()/factor, b.Dy()/factor))
	for y := range out.Rect.Dy() {
		for x := range out.Rect.Dx() {
			var r, g, bl, a uint32
			for dy := range factor {
				for dx := range factor {
					cr, cg, cb, ca := img.At(b.Min.X+x*factor+dx, b.Min.Y+y*factor+dy).RGBA()
					r, g, bl, a = r+cr, g+cg, bl+cb, a+ca
				}
			}
			k := uint32(factor * factor * 257)
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(r/k), uint8(g/k), uint8(bl/k), uint8(a/k)
		}
	}
	return out
}
