package kitty

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func decodePNG(t testing.TB, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return img
}

func pixel(img image.Image, p vec) rgb {
	r, g, b, _ := img.At(int(p.x), int(p.y)).RGBA()
	return rgb{float64(r >> 8), float64(g >> 8), float64(b >> 8)}
}

// near reports whether two colours differ by at most tol in every channel.
func near(a, b rgb, tol float64) bool {
	return math.Abs(a.r-b.r) <= tol && math.Abs(a.g-b.g) <= tol && math.Abs(a.b-b.b) <= tol
}

func TestBuiltinImageIsPNG(t *testing.T) {
	src := Builtin()
	for _, seq := range []uint64{0, 1, 2, 999, 1 << 40, math.MaxUint64} {
		t.Run(fmt.Sprint(seq), func(t *testing.T) {
			img, err := src.Image(seq)
			if err != nil {
				t.Fatal(err)
			}
			if img.ContentType != "image/png" {
				t.Errorf("content type %q, want image/png", img.ContentType)
			}
			if got := decodePNG(t, img.Data).Bounds(); got != image.Rect(0, 0, size, size) {
				t.Errorf("bounds %v, want %dx%d", got, size, size)
			}
		})
	}
}

func TestBuiltinDeterministic(t *testing.T) {
	// Separate sources, so the second answer cannot come from the first's cache.
	a, b := newBuiltin(4, encodeKitty), newBuiltin(4, encodeKitty)
	for _, seq := range []uint64{1, 7, 123456} {
		x, err := a.Image(seq)
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.Image(seq)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x.Data, y.Data) {
			t.Errorf("seq %d: two renders differ", seq)
		}
	}
}

// TestBuiltinAlongTheLine renders the first tickets of a line as a server
// would and checks each is a whole picture, different from the others, with
// decorations and the kitty clear of the corners.
func TestBuiltinAlongTheLine(t *testing.T) {
	src := newBuiltin(1, encodeKitty)
	const n = 24 // each render is slow under -race; TestTraitsVary covers more
	seen := make(map[[32]byte]uint64, n)
	for seq := uint64(1); seq <= n; seq++ {
		img, err := src.Image(seq)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(img.Data)
		if other, dup := seen[sum]; dup {
			t.Errorf("seq %d and %d got the same picture", other, seq)
		}
		seen[sum] = seq
		pic := decodePNG(t, img.Data)
		bg := traitsFor(seq).background
		for _, at := range []vec{{1, 1}, {size - 2, 1}, {1, size - 2}, {size - 2, size - 2}, {14, 14}} {
			if got := pixel(pic, at); !near(got, bg, 1) {
				t.Errorf("seq %d: pixel at (%.0f, %.0f) is %v, want background %v", seq, at.x, at.y, got, bg)
			}
		}
	}
}

// TestPaintSkippingIsExact checks that the shortcuts paint takes far from
// edges change no pixel, that is, that the distances it trusts are honest.
func TestPaintSkippingIsExact(t *testing.T) {
	n := uint64(12)
	if v := os.Getenv("KITTY_EXACT_SEQS"); v != "" { // for a longer run by hand
		var err error
		if n, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= n; seq++ {
		tr := traitsFor(seq)
		fast := newCanvas(size, size, tr.background)
		paintKitty(fast, &tr)
		slow := newCanvas(size, size, tr.background)
		slow.exact = true
		paintKitty(slow, &tr)
		diff := 0
		for i := range fast.pix {
			if fast.pix[i] != slow.pix[i] {
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("seq %d: %d pixels differ when paint skips", seq, diff)
		}
	}
}

// TestTraitsVary checks that every option of every dimension turns up along
// a line, and that neighbouring tickets do not all look alike.
func TestTraitsVary(t *testing.T) {
	seen := map[string]map[string]bool{}
	note := func(dim, v string) {
		if seen[dim] == nil {
			seen[dim] = map[string]bool{}
		}
		seen[dim][v] = true
	}
	sameFurAsPrevious := 0
	var prev traits
	for seq := uint64(1); seq <= 1000; seq++ {
		tr := traitsFor(seq)
		note("fur", tr.fur.name)
		note("pattern", tr.pattern.String())
		note("eyes", tr.eyes.name)
		note("expression", tr.expression.String())
		note("accessory", tr.accessory.String())
		note("decoration", tr.decoration.String())
		note("background", fmt.Sprint(nearestBackground(tr.background)))
		if seq > 1 && tr.fur.name == prev.fur.name {
			sameFurAsPrevious++
		}
		prev = tr
	}
	want := map[string]int{
		"fur": len(furs), "pattern": int(patternCount), "eyes": len(eyeColours),
		"expression": int(expressionCount), "accessory": int(accessoryCount),
		"decoration": int(decorationCount), "background": len(backgrounds),
	}
	for dim, n := range want {
		if len(seen[dim]) != n {
			t.Errorf("%s: saw %d of %d options: %v", dim, len(seen[dim]), n, seen[dim])
		}
	}
	// About 1 in 8 by chance; far more means seq is not being mixed.
	if sameFurAsPrevious > 250 {
		t.Errorf("%d of 999 neighbours share a coat", sameFurAsPrevious)
	}
}

func nearestBackground(c rgb) int {
	best, bestD := 0, math.Inf(1)
	for i, b := range backgrounds {
		d := math.Abs(c.r-b.r) + math.Abs(c.g-b.g) + math.Abs(c.b-b.b)
		if d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

// plainKitty is a kitty with nothing in the way of the pixels tests look at.
func plainKitty(f fur) traits {
	return traits{
		fur: f, pattern: plain, eyes: eyeColours[2], // blue
		expression: openEyes, accessory: noAccessory, accent: accessoryColours[0],
		background: backgrounds[2], decoration: noDecoration, seed: 42,
	}
}

// TestKittyStructure looks for the parts of a kitty where the layout puts
// them, for every coat.
func TestKittyStructure(t *testing.T) {
	leftPupil := vec{headCX - eyeDX, eyeY + 4}
	rightPupil := vec{headCX + eyeDX, eyeY + 4}
	for _, f := range furs {
		t.Run(f.name, func(t *testing.T) {
			tr := plainKitty(f)
			img := render(&tr)
			fur := f.base
			checks := []struct {
				what string
				at   vec
				ok   func(c rgb) bool
			}{
				{"background at the top-left corner", vec{2, 2}, func(c rgb) bool { return near(c, tr.background, 1) }},
				{"background at the bottom-right corner", vec{size - 3, size - 3}, func(c rgb) bool { return near(c, tr.background, 1) }},
				{"background between the ears", vec{headCX, 90}, func(c rgb) bool { return near(c, tr.background, 1) }},
				{"fur at the head's centre", vec{headCX, headCY}, func(c rgb) bool { return near(c, fur, 3) }},
				{"fur in the left ear, above the head", vec{134, 74}, func(c rgb) bool { return near(c, fur, 3) }},
				{"fur in the right ear, above the head", mirror(vec{134, 74}), func(c rgb) bool { return near(c, fur, 3) }},
				{"pink inside the left ear", vec{159, 123}, func(c rgb) bool { return c.r > c.g+40 }},
				{"left pupil darker than fur", leftPupil, func(c rgb) bool { return c.luma() < 50 && c.luma() < fur.luma()-20 }},
				{"right pupil darker than fur", rightPupil, func(c rgb) bool { return c.luma() < 50 && c.luma() < fur.luma()-20 }},
				{"blue iris", vec{headCX - eyeDX - 20, eyeY - 6}, func(c rgb) bool { return c.b > c.r+50 }},
				{"white highlight in the eye", vec{headCX - eyeDX + 7, eyeY - 10}, func(c rgb) bool { return near(c, white, 2) }},
				{"pink nose", vec{headCX, noseY + 1}, func(c rgb) bool { return c.r > 200 && c.r > c.g+50 }},
				{"fur on the body", vec{bodyCX - bodyRX + 14, bodyCY}, func(c rgb) bool { return near(c, fur, 3) }},
				{"shadow under the kitty, darker than background", vec{headCX, 474}, func(c rgb) bool { return c.luma() < tr.background.luma()-3 }},
			}
			for _, c := range checks {
				if got := pixel(img, c.at); !c.ok(got) {
					t.Errorf("%s: pixel at (%.0f, %.0f) is %v", c.what, c.at.x, c.at.y, got)
				}
			}
		})
	}
}

func TestKittyExpressions(t *testing.T) {
	left := vec{headCX - eyeDX, eyeY + 4}
	right := vec{headCX + eyeDX, eyeY + 4}
	beyondOpenEye := vec{headCX - eyeDX - eyeRX - 6, eyeY} // inside a wide eye only
	dark := func(c rgb) bool { return c.luma() < 60 }
	for _, tc := range []struct {
		expr              expression
		leftDark, rghtDrk bool
		wide              bool
	}{
		{openEyes, true, true, false},
		{wideEyes, true, true, true},
		{happyEyes, false, false, false},
		{wink, true, false, false},
	} {
		t.Run(tc.expr.String(), func(t *testing.T) {
			tr := plainKitty(furs[0]) // ginger: dark eyes show
			tr.expression = tc.expr
			img := render(&tr)
			if got := dark(pixel(img, left)); got != tc.leftDark {
				t.Errorf("left eye centre dark = %v, want %v", got, tc.leftDark)
			}
			if got := dark(pixel(img, right)); got != tc.rghtDrk {
				t.Errorf("right eye centre dark = %v, want %v", got, tc.rghtDrk)
			}
			if got := !near(pixel(img, beyondOpenEye), tr.fur.base, 3); got != tc.wide {
				t.Errorf("eye reaches past the usual size = %v, want %v", got, tc.wide)
			}
		})
	}
}

func TestKittyAccessories(t *testing.T) {
	accent := accessoryColours[2] // blue: unlike any fur
	isAccent := func(c rgb) bool { return near(c, accent, 12) }
	isBell := func(c rgb) bool { return c.r > 200 && c.g > 150 && c.b < 120 }
	hat := vec{headCX, 100}
	bell := vec{headCX, headCY + headRY + 14}
	bowTieWing := vec{headCX - 22, headCY + headRY + 8}
	earBowKnot := vec{312, 118}
	for _, tc := range []struct {
		acc  accessory
		want map[vec]func(rgb) bool
	}{
		{noAccessory, map[vec]func(rgb) bool{
			hat: func(c rgb) bool { return !isAccent(c) }, bell: func(c rgb) bool { return !isBell(c) },
			bowTieWing: func(c rgb) bool { return !isAccent(c) }, earBowKnot: func(c rgb) bool { return !isAccent(c) },
		}},
		{partyHat, map[vec]func(rgb) bool{hat: isAccent}},
		{collarBell, map[vec]func(rgb) bool{bell: isBell}},
		{bowTie, map[vec]func(rgb) bool{bowTieWing: isAccent}},
		{earBow, map[vec]func(rgb) bool{earBowKnot: isAccent}},
	} {
		t.Run(tc.acc.String(), func(t *testing.T) {
			tr := plainKitty(furs[0])
			tr.accessory, tr.accent = tc.acc, accent
			img := render(&tr)
			for at, ok := range tc.want {
				if got := pixel(img, at); !ok(got) {
					t.Errorf("pixel at (%.0f, %.0f) is %v", at.x, at.y, got)
				}
			}
		})
	}
}

// countingEncoder stands in for the renderer where only caching and
// locking are under test: it is fast and counts its calls.
type countingEncoder struct{ calls atomic.Int64 }

func (e *countingEncoder) encode(seq uint64) ([]byte, error) {
	e.calls.Add(1)
	return []byte(fmt.Sprintf("kitty %d", seq)), nil
}

func TestBuiltinCacheBounded(t *testing.T) {
	enc := &countingEncoder{}
	b := newBuiltin(8, enc.encode)
	first, err := b.Image(1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Image(1)
	if err != nil {
		t.Fatal(err)
	}
	if &first.Data[0] != &again.Data[0] || enc.calls.Load() != 1 {
		t.Errorf("a repeated request was rendered again (%d renders)", enc.calls.Load())
	}
	for seq := uint64(2); seq <= 50; seq++ {
		if _, err := b.Image(seq); err != nil {
			t.Fatal(err)
		}
		if n := b.cache.len(); n > 8 {
			t.Fatalf("cache holds %d entries, capacity 8", n)
		}
	}
	if _, ok := b.cache.get(1); ok {
		t.Error("the oldest entry was not evicted")
	}
	if _, ok := b.cache.get(50); !ok {
		t.Error("the newest entry is missing")
	}
}

func TestBuiltinConcurrent(t *testing.T) {
	enc := &countingEncoder{}
	b := newBuiltin(4, enc.encode) // smaller than the working set, so entries churn
	const goroutines, seqs = 16, 32
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*seqs)
	for g := range goroutines {
		wg.Go(func() {
			for i := range seqs {
				seq := uint64((i + g) % seqs)
				img, err := b.Image(seq)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("kitty %d", seq); string(img.Data) != want {
					errs <- fmt.Errorf("seq %d: got %q", seq, img.Data)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := b.cache.len(); n > 4 {
		t.Errorf("cache holds %d entries, capacity 4", n)
	}
}

// TestBuiltinConcurrentReal runs the real renderer from several goroutines
// at once: one seq fetched by all must come out as the same bytes.
func TestBuiltinConcurrentReal(t *testing.T) {
	want, err := encodeKitty(5)
	if err != nil {
		t.Fatal(err)
	}
	src := Builtin()
	var wg sync.WaitGroup
	got := make([][]byte, 6)
	for i := range got {
		wg.Go(func() {
			img, err := src.Image(5)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = img.Data
		})
	}
	wg.Wait()
	for i, data := range got {
		if !bytes.Equal(data, want) {
			t.Errorf("caller %d got a different picture", i)
		}
	}
}

func TestLRU(t *testing.T) {
	c := newLRU(2)
	a, b, d := []byte("a"), []byte("b"), []byte("d")
	c.add(1, a)
	c.add(2, b)
	if _, ok := c.get(1); !ok { // 1 is now the most recent, 2 the least
		t.Fatal("1 missing")
	}
	c.add(3, d)
	for _, tc := range []struct {
		key  uint64
		want bool
	}{{1, true}, {2, false}, {3, true}} {
		if _, ok := c.get(tc.key); ok != tc.want {
			t.Errorf("key %d present = %v, want %v", tc.key, ok, tc.want)
		}
	}
	if got := c.add(3, []byte("other")); !bytes.Equal(got, d) {
		t.Errorf("re-adding a key returned %q, want the first bytes %q", got, d)
	}
	if n := c.len(); n != 2 {
		t.Errorf("len %d, want 2", n)
	}
}

func TestSplitmixKnownValues(t *testing.T) {
	// First outputs for seed 0 from the reference implementation, so the
	// pictures tickets get do not change by accident.
	s := splitmix(0)
	for _, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := s.next(); got != want {
			t.Fatalf("got %#x, want %#x", got, want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		tr := traitsFor(uint64(i))
		render(&tr)
	}
}

func BenchmarkRenderAndEncode(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		if _, err := encodeKitty(uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuiltinCached(b *testing.B) {
	src := Builtin()
	if _, err := src.Image(1); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := src.Image(1); err != nil {
			b.Fatal(err)
		}
	}
}
