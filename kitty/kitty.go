// Package kitty supplies the picture a person gets when their turn comes.
//
// Two sources exist: Builtin draws a kitty in code, so a fresh deployment
// serves pictures with no files and no network, and Dir serves an operator's
// own folder of pictures. Both choose the picture from the ticket's sequence
// number alone, so the same ticket always gets the same kitty, and both hand
// out bytes that were prepared once and are shared between callers. The
// package imports only the standard library.
package kitty

// Image is one picture ready to serve.
//
// Data is shared with the source's own copy and with every other caller that
// got the same picture, so it must not be modified.
type Image struct {
	ContentType string // "image/png", "image/jpeg", "image/gif", "image/webp"
	Data        []byte
}

// Source picks the picture for a ticket. Safe for concurrent use.
type Source interface {
	// Image returns the picture for the ticket with sequence number seq.
	// The same seq gives the same picture for the life of the Source.
	Image(seq uint64) (Image, error)
}
