package kitty

import (
	"image"
	"image/color"
	"math"
)

// The drawing is built from signed distance functions: each shape reports,
// for a point, how far it is outside the shape (negative inside). Coverage of
// a pixel then falls out of the distance at its centre, which gives smooth,
// anti-aliased edges at 1× resolution without supersampling, and lets shapes
// be grown (outlines), merged (head and ears), clipped (stripes inside the
// head) and blurred (blush) with a line of arithmetic each.

// vec is a point or direction in pixel coordinates, y pointing down.
type vec struct{ x, y float64 }

func (a vec) add(b vec) vec             { return vec{a.x + b.x, a.y + b.y} }
func (a vec) sub(b vec) vec             { return vec{a.x - b.x, a.y - b.y} }
func (a vec) mul(k float64) vec         { return vec{a.x * k, a.y * k} }
func (a vec) dot(b vec) float64         { return a.x*b.x + a.y*b.y }
func (a vec) len() float64              { return math.Sqrt(a.x*a.x + a.y*a.y) }
func (a vec) lerp(b vec, t float64) vec { return a.add(b.sub(a).mul(t)) }

// rot rotates a by angle radians about the origin (clockwise on screen).
func (a vec) rot(angle float64) vec {
	s, c := math.Sincos(angle)
	return vec{a.x*c - a.y*s, a.x*s + a.y*c}
}

// shape is a signed distance function with a bounding box that holds every
// point where the distance is ≤ 0; painting visits only the box.
//
// Every distance here, and every combination of them, is exact near the
// edge and elsewhere never changes faster than the point moves, though it
// may understate: paint leans on that to skip pixels (see paint), and a test
// checks that skipping changes no pixel.
type shape struct {
	dist   func(p vec) float64
	lo, hi vec
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }

func circle(c vec, r float64) shape {
	return shape{
		dist: func(p vec) float64 { return p.sub(c).len() - r },
		lo:   vec{c.x - r, c.y - r},
		hi:   vec{c.x + r, c.y + r},
	}
}

// ellipse is the distance to an axis-aligned ellipse: exact within
// exactBand pixels of the edge, by the closed-form solution for the nearest
// point (after Inigo Quilez), and farther out a cheap bound that never
// overstates it. Honesty matters because paint skips pixels on the strength
// of the distance, and the usual cheap approximations overstate it badly for
// long, thin ellipses; exactness near the edge is all anti-aliasing,
// outlines, glows and fillets look at.
func ellipse(c vec, rx, ry float64) shape {
	if rx == ry {
		return circle(c, rx)
	}
	minR := min(rx, ry)
	return shape{
		dist: func(p vec) float64 {
			d := p.sub(c)
			ax, ay := d.x/rx, d.y/ry
			// In the ellipse's own norm p is k0 from the centre, and that norm
			// is at most 1/minR times the plain one, so the edge is at least
			// |k0-1|·minR away.
			if bound := (math.Sqrt(ax*ax+ay*ay) - 1) * minR; math.Abs(bound) >= exactBand {
				return bound
			}
			return ellipseDist(d, rx, ry)
		},
		lo: vec{c.x - rx, c.y - ry},
		hi: vec{c.x + rx, c.y + ry},
	}
}

// exactBand is how far from an edge distances must be exact: beyond the
// widest glow (fillSoft's soft/2) and fillet (smoothUnion's k) the drawing
// uses, so a bound there changes no pixel.
const exactBand = 32

func ellipseDist(p vec, a, b float64) float64 {
	px, py := math.Abs(p.x), math.Abs(p.y)
	if px > py {
		px, py, a, b = py, px, b, a
	}
	l := b*b - a*a
	m := a * px / l
	n := b * py / l
	m2, n2 := m*m, n*n
	c := (m2 + n2 - 1) / 3
	c3 := c * c * c
	q := c3 + m2*n2*2
	d := c3 + m2*n2
	g := m + m*n2
	var co float64
	if d < 0 {
		h := math.Acos(clamp(q/c3, -1, 1)) / 3
		s, t := math.Cos(h), math.Sin(h)*math.Sqrt(3)
		rx := math.Sqrt(max(-c*(s+t+2)+m2, 0))
		ry := math.Sqrt(max(-c*(s-t+2)+m2, 0))
		co = (ry + math.Copysign(rx, l) + math.Abs(g)/(rx*ry) - m) / 2
	} else {
		h := 2 * m * n * math.Sqrt(d)
		s := math.Cbrt(q + h)
		u := math.Cbrt(q - h)
		rx := -s - u - c*4 + 2*m2
		ry := (s - u) * math.Sqrt(3)
		rm := math.Sqrt(rx*rx + ry*ry)
		co = (ry/math.Sqrt(rm-rx) + 2*g/rm - m) / 2
	}
	co = clamp(co, 0, 1)
	nx, ny := a*co, b*math.Sqrt(1-co*co)
	dist := math.Hypot(nx-px, ny-py)
	if (px/a)*(px/a)+(py/b)*(py/b) < 1 {
		return -dist
	}
	return dist
}

func segmentDist(p, a, b vec) float64 {
	pa, ba := p.sub(a), b.sub(a)
	h := 0.0
	if l := ba.dot(ba); l > 0 {
		h = clamp(pa.dot(ba)/l, 0, 1)
	}
	return pa.sub(ba.mul(h)).len()
}

// polyline is a stroke of radius r (half the line width) through pts, with
// round caps and joins: the union of one capsule per segment.
func polyline(r float64, pts ...vec) shape {
	lo, hi := pts[0], pts[0]
	for _, p := range pts {
		lo = vec{min(lo.x, p.x), min(lo.y, p.y)}
		hi = vec{max(hi.x, p.x), max(hi.y, p.y)}
	}
	return shape{
		dist: func(p vec) float64 {
			d := math.Inf(1)
			for i := 1; i < len(pts); i++ {
				d = min(d, segmentDist(p, pts[i-1], pts[i]))
			}
			if len(pts) == 1 {
				d = p.sub(pts[0]).len()
			}
			return d - r
		},
		lo: vec{lo.x - r, lo.y - r},
		hi: vec{hi.x + r, hi.y + r},
	}
}

// arc is a stroke along part of a circle, from angle a0 to a1 (radians,
// clockwise on screen from +x), approximated by short segments.
func arc(c vec, radius, a0, a1, r float64) shape {
	const steps = 16
	pts := make([]vec, steps+1)
	for i := range pts {
		a := a0 + (a1-a0)*float64(i)/steps
		pts[i] = c.add(vec{math.Cos(a), math.Sin(a)}.mul(radius))
	}
	return polyline(r, pts...)
}

// triangle is the exact distance to triangle abc, less round: the corners
// become arcs of that radius and the triangle grows by it.
func triangle(a, b, c vec, round float64) shape {
	lo := vec{min(a.x, min(b.x, c.x)), min(a.y, min(b.y, c.y))}
	hi := vec{max(a.x, max(b.x, c.x)), max(a.y, max(b.y, c.y))}
	e0, e1, e2 := b.sub(a), c.sub(b), a.sub(c)
	sign := e0.x*e2.y - e0.y*e2.x
	return shape{
		dist: func(p vec) float64 {
			v0, v1, v2 := p.sub(a), p.sub(b), p.sub(c)
			pq0 := v0.sub(e0.mul(clamp(v0.dot(e0)/e0.dot(e0), 0, 1)))
			pq1 := v1.sub(e1.mul(clamp(v1.dot(e1)/e1.dot(e1), 0, 1)))
			pq2 := v2.sub(e2.mul(clamp(v2.dot(e2)/e2.dot(e2), 0, 1)))
			d := min(pq0.dot(pq0), min(pq1.dot(pq1), pq2.dot(pq2)))
			s := min(sign*(v0.x*e0.y-v0.y*e0.x),
				min(sign*(v1.x*e1.y-v1.y*e1.x), sign*(v2.x*e2.y-v2.y*e2.x)))
			dist := math.Sqrt(d)
			if s > 0 {
				dist = -dist
			}
			return dist - round
		},
		lo: vec{lo.x - round, lo.y - round},
		hi: vec{hi.x + round, hi.y + round},
	}
}

// box is a rectangle of half-size hw×hh centred on c.
func box(c vec, hw, hh float64) shape {
	return shape{
		dist: func(p vec) float64 {
			dx, dy := math.Abs(p.x-c.x)-hw, math.Abs(p.y-c.y)-hh
			mx, my := max(dx, 0), max(dy, 0)
			outside := math.Sqrt(mx*mx + my*my)
			return outside + min(max(dx, dy), 0)
		},
		lo: vec{c.x - hw, c.y - hh},
		hi: vec{c.x + hw, c.y + hh},
	}
}

// heart is a heart of about size pixels across, centred on c.
func heart(c vec, size float64) shape {
	// The classic heart distance works in a unit frame with y up and the
	// tip at the origin; map into it and scale the distance back.
	s := size / 1.15
	origin := vec{c.x, c.y + 0.5*s}
	return shape{
		dist: func(p vec) float64 {
			q := vec{math.Abs(p.x-origin.x) / s, (origin.y - p.y) / s}
			var d float64
			if q.x+q.y > 1 {
				d = q.sub(vec{0.25, 0.75}).len() - math.Sqrt2/4
			} else {
				m := 0.5 * max(q.x+q.y, 0)
				a := q.sub(vec{0, 1})
				b := q.sub(vec{m, m})
				d = math.Sqrt(min(a.dot(a), b.dot(b)))
				if q.x < q.y {
					d = -d
				}
			}
			return d * s
		},
		lo: vec{c.x - 0.65*s, c.y - 0.6*s},
		hi: vec{c.x + 0.65*s, c.y + 0.6*s},
	}
}

// star is a five-pointed star of outer radius r, pointing up, with inner
// points at ratio·r; round softens the tips.
func star(c vec, r, ratio, round float64) shape {
	k1 := vec{0.809016994375, -0.587785252292}
	k2 := vec{-k1.x, k1.y}
	rf := ratio
	ba := vec{-k1.y, k1.x}.mul(rf).sub(vec{0, 1})
	inner := r - round
	return shape{
		dist: func(p vec) float64 {
			q := vec{math.Abs(p.x - c.x), c.y - p.y} // y up
			q = q.sub(k1.mul(2 * max(k1.dot(q), 0)))
			q = q.sub(k2.mul(2 * max(k2.dot(q), 0)))
			q.x = math.Abs(q.x)
			q.y -= inner
			h := clamp(q.dot(ba)/ba.dot(ba), 0, inner)
			d := q.sub(ba.mul(h)).len()
			if q.y*ba.x-q.x*ba.y < 0 {
				d = -d
			}
			return d - round
		},
		lo: vec{c.x - r, c.y - r},
		hi: vec{c.x + r, c.y + r},
	}
}

// union is every point in any of the shapes.
func union(shapes ...shape) shape {
	lo, hi := shapes[0].lo, shapes[0].hi
	for _, s := range shapes[1:] {
		lo = vec{min(lo.x, s.lo.x), min(lo.y, s.lo.y)}
		hi = vec{max(hi.x, s.hi.x), max(hi.y, s.hi.y)}
	}
	return shape{
		dist: func(p vec) float64 {
			d := math.Inf(1)
			for _, s := range shapes {
				d = min(d, s.dist(p))
			}
			return d
		},
		lo: lo, hi: hi,
	}
}

// smoothUnion merges shapes with a fillet of about k pixels where they meet,
// so ears grow out of the head instead of being stuck on.
func smoothUnion(k float64, shapes ...shape) shape {
	u := union(shapes...)
	return shape{
		dist: func(p vec) float64 {
			d := shapes[0].dist(p)
			for _, s := range shapes[1:] {
				e := s.dist(p)
				h := clamp(0.5+0.5*(e-d)/k, 0, 1)
				d = e + (d-e)*h - k*h*(1-h)
			}
			return d
		},
		lo: u.lo, hi: u.hi,
	}
}

// intersect is the part of s inside clip: how patterns stay on the fur.
func intersect(s, clip shape) shape {
	return shape{
		dist: func(p vec) float64 { return max(s.dist(p), clip.dist(p)) },
		lo:   vec{max(s.lo.x, clip.lo.x), max(s.lo.y, clip.lo.y)},
		hi:   vec{min(s.hi.x, clip.hi.x), min(s.hi.y, clip.hi.y)},
	}
}

// subtract is the part of s outside cut.
func subtract(s, cut shape) shape {
	return shape{
		dist: func(p vec) float64 { return max(s.dist(p), -cut.dist(p)) },
		lo:   s.lo, hi: s.hi,
	}
}

// grow moves the edge of s outward by w pixels (inward when w < 0).
func grow(s shape, w float64) shape {
	return shape{
		dist: func(p vec) float64 { return s.dist(p) - w },
		lo:   vec{s.lo.x - w, s.lo.y - w},
		hi:   vec{s.hi.x + w, s.hi.y + w},
	}
}

// rotate turns s by angle radians about centre.
func rotate(s shape, centre vec, angle float64) shape {
	lo, hi := vec{math.Inf(1), math.Inf(1)}, vec{math.Inf(-1), math.Inf(-1)}
	for _, corner := range []vec{s.lo, {s.hi.x, s.lo.y}, s.hi, {s.lo.x, s.hi.y}} {
		q := corner.sub(centre).rot(angle).add(centre)
		lo = vec{min(lo.x, q.x), min(lo.y, q.y)}
		hi = vec{max(hi.x, q.x), max(hi.y, q.y)}
	}
	return shape{
		dist: func(p vec) float64 { return s.dist(p.sub(centre).rot(-angle).add(centre)) },
		lo:   lo, hi: hi,
	}
}

// rgb is a colour with channels in 0…255, kept as floats so blends of many
// translucent layers do not accumulate rounding.
type rgb struct{ r, g, b float64 }

func hex(v uint32) rgb {
	return rgb{float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)}
}

// mix is the colour t of the way from c to d.
func (c rgb) mix(d rgb, t float64) rgb {
	return rgb{c.r + (d.r-c.r)*t, c.g + (d.g-c.g)*t, c.b + (d.b-c.b)*t}
}

// luma is the perceived brightness, 0…255.
func (c rgb) luma() float64 { return 0.299*c.r + 0.587*c.g + 0.114*c.b }

func (c rgb) rgba() color.RGBA {
	return color.RGBA{uint8(clamp(c.r+0.5, 0, 255)), uint8(clamp(c.g+0.5, 0, 255)), uint8(clamp(c.b+0.5, 0, 255)), 255}
}

// canvas is an opaque picture being painted, one layer at a time.
type canvas struct {
	w, h int
	pix  []rgb
	// exact turns off the skipping in paint, so tests can check that
	// skipping changes nothing.
	exact bool
}

func newCanvas(w, h int, bg rgb) *canvas {
	c := &canvas{w: w, h: h, pix: make([]rgb, w*h)}
	for i := range c.pix {
		c.pix[i] = bg
	}
	return c
}

// fill paints s in col at opacity alpha with a crisp, one-pixel
// anti-aliased edge.
func (c *canvas) fill(s shape, col rgb, alpha float64) { c.fillSoft(s, col, alpha, 1) }

// fillSoft paints s with an edge that fades over soft pixels, centred on the
// shape's boundary: 1 is a crisp anti-aliased edge, larger is a glow.
func (c *canvas) fillSoft(s shape, col rgb, alpha, soft float64) {
	c.paint(s, soft/2, soft/2, func(d float64, dst rgb) rgb {
		return dst.mix(col, alpha*clamp(0.5-d/soft, 0, 1))
	})
}

// fillOutlined paints s in col with a line of width w in line around it,
// in one pass so the line and the fill meet without a seam.
func (c *canvas) fillOutlined(s shape, col, line rgb, w float64) {
	c.paint(grow(s, w), 0.5, w+0.5, func(d float64, dst rgb) rgb {
		dst = dst.mix(line, clamp(0.5-d, 0, 1))
		return dst.mix(col, clamp(0.5-(d+w), 0, 1))
	})
}

// paint calls blend for every pixel of s's box, passing the distance from
// the pixel's centre. Blend must leave a pixel alone when the distance is
// at least outer, and must give the same result for every distance below
// -inner (the fully covered inside). Paint relies on both to skip: when a
// pixel is d beyond the threshold, the next ⌊d⌋ pixels along the row are
// beyond it too, and those are passed over (outside) or blended without
// measuring (inside). That makes a kitty about three times faster to paint.
func (c *canvas) paint(s shape, outer, inner float64, blend func(d float64, dst rgb) rgb) {
	x0 := max(0, int(math.Floor(s.lo.x-outer)))
	y0 := max(0, int(math.Floor(s.lo.y-outer)))
	x1 := min(c.w, int(math.Ceil(s.hi.x+outer))+1)
	y1 := min(c.h, int(math.Ceil(s.hi.y+outer))+1)
	for y := y0; y < y1; y++ {
		row := c.pix[y*c.w : (y+1)*c.w]
		for x := x0; x < x1; {
			d := s.dist(vec{float64(x) + 0.5, float64(y) + 0.5})
			switch {
			case d >= outer:
				x++
				if !c.exact {
					x += int(d - outer)
				}
			case d < -inner && !c.exact:
				end := min(x1, x+1+int(-inner-d))
				for ; x < end; x++ {
					row[x] = blend(d, row[x])
				}
			default:
				row[x] = blend(d, row[x])
				x++
			}
		}
	}
}

// at is the colour painted so far at p.
func (c *canvas) at(p vec) rgb {
	x := min(max(int(p.x), 0), c.w-1)
	y := min(max(int(p.y), 0), c.h-1)
	return c.pix[y*c.w+x]
}

// image converts the canvas to an RGBA image for encoding.
func (c *canvas) image() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, c.w, c.h))
	for i, p := range c.pix {
		o := p.rgba()
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = o.R, o.G, o.B, 255
	}
	return img
}
