package kitty

import (
	"bytes"
	"fmt"
	"image/png"
	"runtime"
)

// builtinCacheSize bounds how many encoded kitties Builtin keeps: at about
// 60 KB each, some 15 MB, enough for everyone near the head of a line.
const builtinCacheSize = 256

// Builtin returns a Source that draws a kitty in code for each ticket: a
// 480×480 PNG whose coat, markings, eyes, expression, accessory and
// background are chosen from the ticket's sequence number, so the same
// ticket always gets the same kitty and neighbours get different ones. It
// needs no files and no network. Recently served pictures are kept encoded
// in a small bounded cache; a miss costs about 20 ms of CPU.
func Builtin() Source { return newBuiltin(builtinCacheSize, encodeKitty) }

type builtin struct {
	cache  *lru
	encode func(seq uint64) ([]byte, error)
	// renders admits one render per CPU at a time. Rendering is CPU-bound,
	// so more would not finish sooner, and each holds several megabytes of
	// canvas, so a burst of new tickets must not hold them all at once.
	renders chan struct{}
}

func newBuiltin(cacheSize int, encode func(seq uint64) ([]byte, error)) *builtin {
	return &builtin{
		cache:   newLRU(cacheSize),
		encode:  encode,
		renders: make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
}

// Image returns the kitty for ticket seq.
func (b *builtin) Image(seq uint64) (Image, error) {
	if data, ok := b.cache.get(seq); ok {
		return Image{ContentType: "image/png", Data: data}, nil
	}
	b.renders <- struct{}{}
	defer func() { <-b.renders }()
	// Another caller may have rendered it while this one waited.
	if data, ok := b.cache.get(seq); ok {
		return Image{ContentType: "image/png", Data: data}, nil
	}
	data, err := b.encode(seq)
	if err != nil {
		return Image{}, err
	}
	return Image{ContentType: "image/png", Data: b.cache.add(seq, data)}, nil
}

// encodeKitty draws ticket seq's kitty and encodes it as PNG.
func encodeKitty(seq uint64) ([]byte, error) {
	t := traitsFor(seq)
	var buf bytes.Buffer
	// Fastest compression: half the time of the default for about a tenth
	// more bytes, and the bytes are cached anyway.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, render(&t)); err != nil {
		return nil, fmt.Errorf("kitty: encode picture %d: %w", seq, err)
	}
	return buf.Bytes(), nil
}
