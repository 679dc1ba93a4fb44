package main

import (
	"math"
	"testing"
)

// The median of an even count is the mean of the two middle values, not
// the lower one; an odd count's is the middle value; none is NaN.
func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 20}, 15},
		{[]float64{7}, 7},
	} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	xs := []float64{4, 1, 3, 2}
	median(xs)
	if xs[0] != 4 || xs[3] != 2 {
		t.Errorf("median sorted its argument: %v", xs)
	}
}
