package frontend

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrQuietZone is the blank border a QR code needs around it, in modules.
const qrQuietZone = 4

// qrSVG draws the QR code of text as a small SVG: one path of dark
// runs on white, crisp at any size (a TV scales it to a third of its
// height). Medium error correction survives a glare or a smudge.
func qrSVG(text string) []byte {
	code, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		// Only a text too long for any QR version fails; URLs are
		// validated long before this (cmd/catqms and hostName).
		panic("frontend: cannot draw a QR code: " + err.Error())
	}
	code.DisableBorder = true
	bits := code.Bitmap()
	size := len(bits) + 2*qrQuietZone
	var d strings.Builder
	for y, row := range bits {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&d, "M%d %dh%dv1h-%dz", x+qrQuietZone, y+qrQuietZone, run, run)
			x += run
		}
	}
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %[1]d %[1]d" shape-rendering="crispEdges">`+
		`<rect width="%[1]d" height="%[1]d" fill="#fff"/><path fill="#000" d="%[2]s"/></svg>`, size, d.String())
}
