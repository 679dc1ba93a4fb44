package kitty

import (
	"math"
	"testing"
)

// TestEllipseDistance compares the closed form with a brute-force search
// over points on the ellipse, inside and out, for round and thin ellipses.
func TestEllipseDistance(t *testing.T) {
	for _, tc := range []struct{ rx, ry float64 }{{30, 22}, {22, 30}, {7, 22}, {150, 14}, {4, 2}} {
		brute := func(p vec) float64 {
			best := math.Inf(1)
			for i := range 4000 {
				a := 2 * math.Pi * float64(i) / 4000
				best = min(best, p.sub(vec{tc.rx * math.Cos(a), tc.ry * math.Sin(a)}).len())
			}
			if (p.x/tc.rx)*(p.x/tc.rx)+(p.y/tc.ry)*(p.y/tc.ry) < 1 {
				return -best
			}
			return best
		}
		rng := splitmix(1)
		for range 300 {
			p := vec{rng.between(-2*tc.rx, 2*tc.rx), rng.between(-2*tc.ry, 2*tc.ry)}
			got, want := ellipseDist(p, tc.rx, tc.ry), brute(p)
			if math.Abs(got-want) > 0.05 || math.IsNaN(got) {
				t.Errorf("%v×%v at %v: got %.3f, want %.3f", tc.rx, tc.ry, p, got, want)
			}
		}
		for _, p := range []vec{{0, 0}, {tc.rx, 0}, {0, tc.ry}, {5, 5}, {-tc.rx * 3, 0}} {
			if got, want := ellipseDist(p, tc.rx, tc.ry), brute(p); math.Abs(got-want) > 0.05 || math.IsNaN(got) {
				t.Errorf("%v×%v at %v: got %.3f, want %.3f", tc.rx, tc.ry, p, got, want)
			}
		}
	}
}
