package readmodel

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSeqSetAgreesWithASortedList drives the set and a plain sorted list
// with the same adds and removes — a head that moves up by thousands
// (rebasing), gaps, seqs below the window, bulk fills — and requires the
// same members, ranks and first members after every step.
func TestSeqSetAgreesWithASortedList(t *testing.T) {
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var s seqSet
		set := map[uint64]bool{}
		head, top := uint64(1000), uint64(1000)
		var want []uint64
		check := func(step int, what string) {
			t.Helper()
			want = want[:0]
			for seq := range set {
				want = append(want, seq)
			}
			slices.Sort(want)
			if s.count != len(want) {
				t.Fatalf("seed %d step %d (%s): count %d, want %d", seed, step, what, s.count, len(want))
			}
			if got := s.firstN(10); !slices.Equal(got, want[:min(10, len(want))]) {
				t.Fatalf("seed %d step %d (%s): first %v, want %v", seed, step, what, got, want[:min(10, len(want))])
			}
			for range 5 {
				q := head - 70 + uint64(rng.IntN(int(top-head)+140))
				r, _ := slices.BinarySearch(want, q+1)
				if got := s.rank(q); got != r {
					t.Fatalf("seed %d step %d (%s): rank(%d) = %d, want %d", seed, step, what, q, got, r)
				}
				if s.has(q) != set[q] {
					t.Fatalf("seed %d step %d (%s): has(%d) = %v", seed, step, what, q, s.has(q))
				}
			}
		}
		for step := range 6_000 {
			var what string
			switch r := rng.IntN(100); {
			case r < 40:
				what = "take"
				for n := 1 + rng.IntN(3)*rng.IntN(300); n > 0; n-- {
					top++
					s.add(top)
					set[top] = true
				}
			case r < 78:
				// The head leaves (called), a run of them now and then.
				what = "head moves"
				for n := 1 + rng.IntN(3)*rng.IntN(400); n > 0 && head <= top; n-- {
					s.remove(head)
					delete(set, head)
					head++
				}
			case r < 95:
				what = "someone leaves"
				if top > head {
					seq := head + uint64(rng.IntN(int(top-head)))
					s.remove(seq)
					delete(set, seq)
				}
			case r < 97:
				what = "remove outside the window"
				s.remove(head - 1 - uint64(rng.IntN(5000)))
				s.remove(top + 1 + uint64(rng.IntN(5000)))
			default:
				what = "load: fill and clear, then build"
				var fresh seqSet
				fresh.fill(head, top)
				for seq := head; seq <= top; seq++ {
					if !set[seq] {
						fresh.clearBit(seq)
					}
				}
				fresh.build()
				s = fresh
			}
			check(step, what)
		}
		if s.base < 70_000 || len(s.words) > 4*int((top-head)/64+1024) {
			t.Fatalf("seed %d: base %d and %d words for seqs %d to %d: the set does not rebase", seed, s.base, len(s.words), head, top)
		}
		t.Logf("seed %d: seqs %d to %d, %d members, window from %d, %d words", seed, head, top, s.count, s.base, len(s.words))
	}
}

// TestSeqSetBelowTheWindow: a seq below the window's base moves it down.
func TestSeqSetBelowTheWindow(t *testing.T) {
	var s seqSet
	s.add(10_000)
	s.add(5)
	s.add(200)
	if got := s.firstN(5); !slices.Equal(got, []uint64{5, 200, 10_000}) {
		t.Fatalf("first %v", got)
	}
	if s.rank(199) != 1 || s.rank(200) != 2 || s.rank(1<<40) != 3 || s.rank(4) != 0 {
		t.Fatalf("ranks %d %d %d %d", s.rank(199), s.rank(200), s.rank(1<<40), s.rank(4))
	}
}
