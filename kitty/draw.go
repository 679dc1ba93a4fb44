package kitty

import (
	"image"
	"math"
)

// The kitty's layout, in pixels on a size×size picture. Tests read these to
// find the head, the eyes and the ears.
const (
	size = 480

	headCX, headCY = 240.0, 232.0
	headRX, headRY = 140.0, 112.0

	eyeDX, eyeY  = 56.0, 244.0 // eyes sit at headCX±eyeDX
	eyeRX, eyeRY = 26.0, 30.0

	noseY = 289.0

	bodyCX, bodyCY = 240.0, 374.0
	bodyRX, bodyRY = 96.0, 80.0

	lineWidth = 3.5 // the outline around fur, in pixels
)

var (
	// leftEar is the triangle of the left ear, before rounding; the right
	// ear mirrors it about headCX.
	leftEar = [3]vec{{140, 162}, {128, 58}, {210, 126}}

	ink   = hex(0x3a2a2e) // the darkest line: pupils, outlines on light fur
	white = hex(0xffffff)
	pink  = hex(0xf78ea3) // nose, inner ears, tongue
	blush = hex(0xff7b98)
)

func mirror(p vec) vec { return vec{2*headCX - p.x, p.y} }

// kitty holds the shapes of one kitty that several layers need, such as the
// head that clips the stripes and the silhouette that decorations avoid.
type kitty struct {
	t       *traits
	rng     splitmix
	head    shape // head and ears, merged
	face    shape // the head's oval alone
	body    shape
	tail    shape
	fur     rgb
	outline rgb // around the fur
	feature rgb // closed eyes, mouth: dark on light fur, light on dark
}

// render paints the kitty described by t.
func render(t *traits) *image.RGBA {
	c := newCanvas(size, size, t.background)
	paintKitty(c, t)
	return c.image()
}

// paintKitty paints the kitty described by t on c, which holds only the
// background.
func paintKitty(c *canvas, t *traits) {
	k := &kitty{t: t, rng: splitmix(t.seed), fur: t.fur.base}
	k.outline = t.fur.base.mix(ink, 0.8)
	k.feature = ink
	if t.fur.base.luma() < 100 {
		k.outline = hex(0x201a1e)
		k.feature = hex(0xf3e6e3)
	}
	k.face = ellipse(vec{headCX, headCY}, headRX, headRY)
	k.head = smoothUnion(12, k.face,
		triangle(leftEar[0], leftEar[1], leftEar[2], 14),
		triangle(mirror(leftEar[0]), mirror(leftEar[1]), mirror(leftEar[2]), 14))
	k.body = ellipse(vec{bodyCX, bodyCY}, bodyRX, bodyRY)
	k.tail = polyline(15, smooth(vec{292, 432}, vec{350, 442}, vec{396, 418}, vec{412, 372}, vec{400, 330}, vec{374, 318})...)

	k.drawBackground(c)
	k.drawBody(c)
	k.drawHead(c)
	k.drawFace(c)
	k.drawAccessory(c)
}

// silhouette is the kitty and its hat, for keeping decorations clear.
func (k *kitty) silhouette() shape {
	parts := []shape{k.head, k.body, k.tail, grow(k.face, 30)}
	if k.t.accessory == partyHat {
		parts = append(parts, circle(vec{headCX, 80}, 60))
	}
	return union(parts...)
}

func (k *kitty) drawBackground(c *canvas) {
	bg := k.t.background
	// A soft shadow grounds the kitty so it sits rather than floats.
	c.fillSoft(ellipse(vec{240, 458}, 150, 14), bg.mix(ink, 0.18), 1, 18)

	if k.t.decoration == noDecoration {
		return
	}
	var colour rgb
	switch k.t.decoration {
	case hearts:
		colour = bg.mix(hex(0xff5c8a), 0.45)
	case stars:
		colour = bg.mix(hex(0xffb300), 0.5)
	case dots:
		colour = bg.mix(white, 0.75)
	}
	avoid := k.silhouette()
	var placed []vec
	want := 5 + k.rng.intn(5)
	for try := 0; try < 200 && len(placed) < want; try++ {
		r := k.rng.between(9, 17)
		// Keep clear of the edges so every corner stays background.
		p := vec{k.rng.between(r+24, size-r-24), k.rng.between(r+24, size-r-24)}
		if avoid.dist(p) < r+14 {
			continue
		}
		crowded := false
		for _, q := range placed {
			if p.sub(q).len() < 3*r+10 {
				crowded = true
				break
			}
		}
		if crowded {
			continue
		}
		placed = append(placed, p)
		tilt := k.rng.between(-0.4, 0.4)
		switch k.t.decoration {
		case hearts:
			c.fill(rotate(heart(p, 2*r), p, tilt), colour, 0.9)
		case stars:
			c.fill(rotate(star(p, r*1.2, 0.45, 2.5), p, tilt), colour, 0.9)
		case dots:
			c.fill(circle(p, r*0.55), colour, 0.9)
		}
	}
}

func (k *kitty) drawBody(c *canvas) {
	t := k.t
	c.fillOutlined(k.tail, k.fur, k.outline, lineWidth)
	if t.pattern == tabby {
		for _, at := range []vec{{356, 440}, {402, 406}, {410, 362}} {
			band := rotate(ellipse(at, 7, 22), at, 0.5)
			c.fill(intersect(band, k.tail), t.fur.stripe, 1)
		}
	}
	c.fillOutlined(k.body, k.fur, k.outline, lineWidth)
	// A lighter chest; markings go over it, paws in front of it all.
	c.fillSoft(intersect(ellipse(vec{bodyCX, bodyCY + 10}, 46, 56), k.body), k.light(), 0.8, 6)
	switch t.pattern {
	case tabby:
		for _, side := range []float64{-1, 1} {
			for i := range 3 {
				y := bodyCY - 14 + float64(i)*24
				x := bodyCX + side*bodyRX
				band := polyline(6, vec{x, y}, vec{x - side*34, y + 8})
				c.fill(intersect(band, k.body), t.fur.stripe, 1)
			}
		}
	case patches:
		for i := range 1 + k.rng.intn(2) {
			at := vec{bodyCX + k.rng.between(-90, 90), bodyCY + k.rng.between(-10, 60)}
			c.fill(intersect(k.blob(at, 34), k.body), t.fur.patches[i%len(t.fur.patches)], 1)
		}
	}
	if t.accessory == collarBell {
		collar := intersect(ellipse(vec{headCX, headCY + 18}, headRX-14, headRY), grow(k.body, -1))
		c.fillOutlined(collar, t.accent, t.accent.mix(ink, 0.55), 2.5)
	}
	for _, side := range []float64{-1, 1} {
		at := vec{bodyCX + side*38, bodyCY + 74}
		c.fillOutlined(ellipse(at, 28, 18), k.light(), k.outline, lineWidth)
		for _, dx := range []float64{-8, 8} {
			toe := vec{at.x + dx, at.y + 4}
			c.fill(polyline(1.4, toe, toe.add(vec{0, 8})), k.outline, 0.7)
		}
	}
}

// light is the paler fur of the muzzle, chest and paws.
func (k *kitty) light() rgb {
	if k.fur.luma() < 100 {
		return k.fur.mix(white, 0.12)
	}
	return k.fur.mix(hex(0xfffaf4), 0.55)
}

// blob is an irregular, rounded patch of about radius r around at.
func (k *kitty) blob(at vec, r float64) shape {
	parts := []shape{circle(at, r)}
	for range 3 {
		off := vec{k.rng.between(-r, r), k.rng.between(-r, r)}
		parts = append(parts, circle(at.add(off), r*k.rng.between(0.5, 0.9)))
	}
	return smoothUnion(r*0.5, parts...)
}

func (k *kitty) drawHead(c *canvas) {
	t := k.t
	c.fillOutlined(k.head, k.fur, k.outline, lineWidth)
	fill := grow(k.head, -0.5) // keep markings off the outline
	switch t.pattern {
	case tabby:
		// The "M" on the forehead and three stripes at each cheek.
		stripes := []shape{
			triangle(vec{233, 120}, vec{247, 120}, vec{240, 170}, 3),
			triangle(vec{204, 126}, vec{216, 122}, vec{220, 162}, 3),
			triangle(mirror(vec{204, 126}), mirror(vec{216, 122}), mirror(vec{220, 162}), 3),
		}
		for _, y := range []float64{218, 238, 258} {
			for _, side := range []float64{-1, 1} {
				x := headCX + side*(headRX+4)
				stripes = append(stripes, triangle(vec{x, y - 7}, vec{x, y + 7}, vec{x - side*34, y + 2}, 2))
			}
		}
		c.fill(intersect(union(stripes...), fill), t.fur.stripe, 1)
	case patches:
		anchors := []vec{{165, 150}, {315, 150}, {240, 132}, {150, 260}, {330, 260}}
		first := k.rng.intn(len(anchors))
		n := 1
		if t.fur.fixed {
			n = 2 + k.rng.intn(2)
		}
		for i := range n {
			at := anchors[(first+i*2)%len(anchors)]
			c.fill(intersect(k.blob(at, 44), fill), t.fur.patches[i%len(t.fur.patches)], 1)
		}
	}
	// Pink inside the ears, then a little shine on the crown.
	for _, ear := range [][3]vec{leftEar, {mirror(leftEar[0]), mirror(leftEar[1]), mirror(leftEar[2])}} {
		g := ear[0].add(ear[1]).add(ear[2]).mul(1.0 / 3)
		var in [3]vec
		for i, v := range ear {
			in[i] = g.lerp(v, 0.58).add(vec{0, 8})
		}
		inner := subtract(triangle(in[0], in[1], in[2], 7), grow(k.face, -14))
		c.fill(inner, pink, 0.9)
	}
	c.fillSoft(intersect(ellipse(vec{205, 170}, 60, 32), fill), white, 0.12, 30)
}

func (k *kitty) drawFace(c *canvas) {
	t := k.t
	// Muzzle and blush.
	light := k.light()
	muzzle := smoothUnion(10, ellipse(vec{headCX - 19, noseY + 14}, 30, 22), ellipse(vec{headCX + 19, noseY + 14}, 30, 22))
	c.fillSoft(muzzle, light, 0.9, 3)
	for _, side := range []float64{-1, 1} {
		c.fillSoft(ellipse(vec{headCX + side*86, noseY + 8}, 22, 13), blush, 0.45, 10)
	}

	// Eyes.
	left, right := vec{headCX - eyeDX, eyeY}, vec{headCX + eyeDX, eyeY}
	switch t.expression {
	case openEyes:
		k.openEye(c, left, t.eyes.left, 1)
		k.openEye(c, right, t.eyes.right, 1)
	case wideEyes:
		k.openEye(c, left, t.eyes.left, 1.16)
		k.openEye(c, right, t.eyes.right, 1.16)
	case happyEyes:
		k.closedEye(c, left)
		k.closedEye(c, right)
	case wink:
		k.openEye(c, left, t.eyes.left, 1)
		k.closedEye(c, right)
	}

	// Nose and mouth.
	mouth := headCX
	top := noseY + 9
	switch t.expression {
	case happyEyes:
		// A "D" hanging from the ω: a half disc with the ω's two bowls cut
		// out of its top, so the ω line runs along the opening's edge.
		open := subtract(intersect(circle(vec{mouth, top + 1}, 18), box(vec{mouth, top + 12}, 20, 11)),
			union(circle(vec{mouth - 10, top + 1}, 10), circle(vec{mouth + 10, top + 1}, 10)))
		c.fillOutlined(open, hex(0xb4465a), k.feature, 1)
		c.fill(intersect(circle(vec{mouth, top + 24}, 11), grow(open, -1)), pink, 1)
	case wink:
		tongue := ellipse(vec{mouth + 6, top + 13}, 7, 9)
		c.fillOutlined(tongue, pink, hex(0xc85a72), 1.8)
		c.fill(polyline(0.9, vec{mouth + 6, top + 8}, vec{mouth + 6, top + 16}), hex(0xc85a72), 0.8)
	}
	lw := 2.3
	c.fill(union(
		polyline(lw, vec{mouth, top - 4}, vec{mouth, top + 2}),
		arc(vec{mouth - 10, top + 1}, 10, 0, math.Pi, lw),
		arc(vec{mouth + 10, top + 1}, 10, 0, math.Pi, lw),
	), k.feature, 1)
	nose := triangle(vec{headCX - 11, noseY - 4}, vec{headCX + 11, noseY - 4}, vec{headCX, noseY + 6}, 4)
	c.fillOutlined(nose, pink, hex(0xd0607a), 1.2)
	c.fill(ellipse(vec{headCX - 3, noseY - 4}, 4, 2), white, 0.6)

	// Whiskers: three a side, fanning out past the cheeks.
	whisker := k.feature
	alpha := 0.55
	if k.fur.luma() < 100 {
		alpha = 0.8
	}
	for _, side := range []float64{-1, 1} {
		for i := -1.0; i <= 1; i++ {
			from := vec{headCX + side*76, noseY + 10 + i*9}
			mid := vec{headCX + side*124, noseY + 8 + i*17}
			to := vec{headCX + side*170, noseY + 10 + i*27}
			c.fill(polyline(1.3, from, mid, to), whisker, alpha)
		}
	}
}

// openEye draws a round eye of iris colour iris at centre, scaled by scale.
func (k *kitty) openEye(c *canvas, centre vec, iris rgb, scale float64) {
	rx, ry := eyeRX*scale, eyeRY*scale
	eye := ellipse(centre, rx, ry)
	c.fillOutlined(eye, iris, ink, 3)
	// Lighter at the bottom, as if lit from above.
	c.fillSoft(intersect(ellipse(centre.add(vec{0, ry * 0.55}), rx*0.95, ry*0.6), eye), iris.mix(white, 0.45), 0.8, 10)
	c.fill(ellipse(centre.add(vec{0, 2 * scale}), rx*0.6, ry*0.72), hex(0x1d1518), 1)
	c.fill(circle(centre.add(vec{7, -10}.mul(scale)), 8*scale), white, 1)
	c.fill(circle(centre.add(vec{-8, 10}.mul(scale)), 3.5*scale), white, 0.9)
	if scale > 1 {
		c.fill(circle(centre.add(vec{10, 6}.mul(scale)), 2.2*scale), white, 0.9)
	}
}

// closedEye draws a smiling, shut eye: an upward arc, like ^. Its colour
// follows the fur right under it, so it shows on a patch as well as on the
// coat.
func (k *kitty) closedEye(c *canvas, centre vec) {
	line := ink
	if c.at(centre).luma() < 100 {
		line = hex(0xf3e6e3)
	}
	c.fill(arc(centre.add(vec{0, 12}), 20, math.Pi+0.45, 2*math.Pi-0.45, 3.6), line, 1)
}

func (k *kitty) drawAccessory(c *canvas) {
	t := k.t
	dark := t.accent.mix(ink, 0.55)
	switch t.accessory {
	case bowTie:
		c.fillOutlined(bow(vec{headCX, headCY + headRY + 8}, 1), t.accent, dark, 2.5)
	case earBow:
		at := vec{312, 118}
		c.fillOutlined(rotate(bow(at, 0.72), at, 0.45), t.accent, dark, 2.2)
	case partyHat:
		base := vec{headCX, headCY - headRY + 12}
		tilt := k.rng.between(-0.22, 0.22)
		cone := rotate(triangle(vec{base.x - 34, base.y}, vec{base.x + 34, base.y}, vec{base.x, base.y - 92}, 4), base, tilt)
		c.fillOutlined(cone, t.accent, dark, 2.5)
		for _, d := range []vec{{-13, -14}, {13, -26}, {-4, -48}, {3, -72}} {
			c.fill(intersect(circle(base.add(d.rot(tilt)), 5), cone), white, 0.85)
		}
		tip := base.add(vec{0, -98}.rot(tilt))
		c.fillOutlined(circle(tip, 10), hex(0xfff3b0), hex(0xc9a43a), 2)
	case collarBell:
		at := vec{headCX, headCY + headRY + 14}
		c.fillOutlined(circle(at, 12), hex(0xf7c948), hex(0x9c7a1c), 2)
		c.fill(polyline(1.6, at.add(vec{-7, 3}), at.add(vec{7, 3})), hex(0x9c7a1c), 1)
		c.fill(circle(at.add(vec{0, 7}), 2), hex(0x9c7a1c), 1)
		c.fill(circle(at.add(vec{-4, -5}), 3), white, 0.8)
	}
}

// bow is two wings and a knot, about 76×38 pixels at scale 1.
func bow(at vec, scale float64) shape {
	w, h := 36*scale, 19*scale
	return smoothUnion(3*scale,
		triangle(at, at.add(vec{-w, -h}), at.add(vec{-w, h}), 6*scale),
		triangle(at, at.add(vec{w, -h}), at.add(vec{w, h}), 6*scale),
		circle(at, 9*scale),
	)
}

// smooth returns points along a Catmull-Rom spline through pts, so a stroke
// through them curves instead of bending at corners.
func smooth(pts ...vec) []vec {
	const steps = 5 // enough that round joins hide the corners
	out := []vec{pts[0]}
	for i := 0; i+1 < len(pts); i++ {
		p0, p1, p2, p3 := pts[max(i-1, 0)], pts[i], pts[i+1], pts[min(i+2, len(pts)-1)]
		for s := 1; s <= steps; s++ {
			t := float64(s) / steps
			t2, t3 := t*t, t*t*t
			at := func(a, b, c, d float64) float64 {
				return 0.5 * (2*b + (c-a)*t + (2*a-5*b+4*c-d)*t2 + (3*b-a-3*c+d)*t3)
			}
			out = append(out, vec{at(p0.x, p1.x, p2.x, p3.x), at(p0.y, p1.y, p2.y, p3.y)})
		}
	}
	return out
}
