package readmodel

import "math/bits"

// seqSet is a set of ticket sequence numbers in a window [base, …) that
// moves up as the line does: a bitset, one bit a seq, and a Fenwick tree
// over the bitset's 64-bit words holding each word's count, so that the
// number of members up to a seq (a waiting ticket's rank) is O(log n).
// It costs 8 bytes per 64 seqs for the bits and 4 for the tree: under a
// quarter of a byte per seq of the window, however many are members.
//
// Words below the first member are dropped (rebasing) once they are more
// than half the words, so the window follows the head of the line at an
// amortized O(1) per seq passed.
type seqSet struct {
	base  uint64   // the seq of bit 0 of words[0]; a multiple of 64
	words []uint64 // bit i of words[w]: seq base+64w+i is a member
	tree  []int32  // Fenwick tree over the words' counts, 1-based; len = capacity+1
	first int      // no word below this index has a member
	count int      // members
}

// wordOf returns the index of seq's word and its bit, growing the window
// up to seq; ok is false for a seq below the window.
func (s *seqSet) wordOf(seq uint64, grow bool) (w int, bit uint, ok bool) {
	if len(s.words) == 0 && grow {
		s.base = seq &^ 63
	}
	if seq < s.base {
		return 0, 0, false
	}
	off := seq - s.base
	w, bit = int(off/64), uint(off%64)
	if w >= len(s.words) {
		if !grow {
			return 0, 0, false
		}
		s.extend(w + 1)
	}
	return w, bit, true
}

// extend grows the window to n words, rebuilding the tree when it must
// grow too (doubling, so amortized O(1) a word).
func (s *seqSet) extend(n int) {
	for len(s.words) < n {
		s.words = append(s.words, 0)
	}
	if n >= len(s.tree) {
		s.rebuild(max(2*n, 64))
	}
}

// rebuild makes the tree anew for capacity words, in O(capacity).
func (s *seqSet) rebuild(capacity int) {
	if cap(s.tree) >= capacity+1 {
		s.tree = s.tree[:capacity+1]
		clear(s.tree)
	} else {
		s.tree = make([]int32, capacity+1)
	}
	for i, w := range s.words {
		s.tree[i+1] = int32(bits.OnesCount64(w))
	}
	// Each node passes its sum up to its parent, every node up to the
	// capacity: the words not used yet hold the sums below them too.
	for i := 1; i < len(s.tree); i++ {
		if j := i + i&-i; j < len(s.tree) {
			s.tree[j] += s.tree[i]
		}
	}
}

func (s *seqSet) treeAdd(w int, d int32) {
	for i := w + 1; i < len(s.tree); i += i & -i {
		s.tree[i] += d
	}
}

// prefix is the number of members in words[0..w).
func (s *seqSet) prefix(w int) int {
	n := int32(0)
	for i := w; i > 0; i -= i & -i {
		n += s.tree[i]
	}
	return int(n)
}

// add makes seq a member; a seq below the window moves the window down.
func (s *seqSet) add(seq uint64) {
	if len(s.words) > 0 && seq < s.base {
		s.lower(seq)
	}
	w, bit, _ := s.wordOf(seq, true)
	if s.words[w]&(1<<bit) != 0 {
		return
	}
	s.words[w] |= 1 << bit
	s.treeAdd(w, 1)
	s.count++
	if w < s.first {
		s.first = w
	}
}

// lower moves the window's base down to seq's word (rare: a load whose
// pages reach below a head that an entry moved).
func (s *seqSet) lower(seq uint64) {
	shift := int((s.base - seq&^63) / 64)
	words := make([]uint64, shift+len(s.words))
	copy(words[shift:], s.words)
	s.words, s.base, s.first = words, seq&^63, s.first+shift
	s.rebuild(max(2*len(s.words), 64))
}

// remove takes seq out; a seq that is not a member is fine.
func (s *seqSet) remove(seq uint64) {
	w, bit, ok := s.wordOf(seq, false)
	if !ok || s.words[w]&(1<<bit) == 0 {
		return
	}
	s.words[w] &^= 1 << bit
	s.treeAdd(w, -1)
	s.count--
	s.rebase()
}

// has reports whether seq is a member.
func (s *seqSet) has(seq uint64) bool {
	w, bit, ok := s.wordOf(seq, false)
	return ok && s.words[w]&(1<<bit) != 0
}

// rank is the number of members up to and including seq.
func (s *seqSet) rank(seq uint64) int {
	if len(s.words) == 0 || seq < s.base {
		return 0
	}
	w, bit := int((seq-s.base)/64), uint((seq-s.base)%64)
	if w >= len(s.words) {
		return s.count
	}
	mask := uint64(1)<<bit<<1 - 1 // bits 0..bit; bit 63 wraps to all ones
	return s.prefix(w) + bits.OnesCount64(s.words[w]&mask)
}

// firstN returns the first n members in order.
func (s *seqSet) firstN(n int) []uint64 {
	out := make([]uint64, 0, min(n, s.count))
	for w := s.first; w < len(s.words) && len(out) < n; w++ {
		for x := s.words[w]; x != 0 && len(out) < n; x &= x - 1 {
			out = append(out, s.base+uint64(w)*64+uint64(bits.TrailingZeros64(x)))
		}
	}
	return out
}

// rebase moves first past empty words, and drops them when they are more
// than half the window.
func (s *seqSet) rebase() {
	for s.first < len(s.words) && s.words[s.first] == 0 {
		s.first++
	}
	if s.first < 1024 || s.first*2 < len(s.words) {
		return
	}
	n := copy(s.words, s.words[s.first:])
	clear(s.words[n:])
	s.words = s.words[:n]
	s.base += uint64(s.first) * 64
	s.first = 0
	s.rebuild(max(2*n, 64))
}

// fill adds every seq of [lo, hi] without touching the tree: a load fills
// its pages, then calls build once.
func (s *seqSet) fill(lo, hi uint64) {
	if hi < lo {
		return
	}
	if len(s.words) == 0 {
		s.base = lo &^ 63
	} else if lo < s.base {
		s.lower(lo)
	}
	if n := int((hi-s.base)/64) + 1; n > len(s.words) {
		s.extend(n)
	}
	for seq := lo; seq <= hi; {
		w, bit := int((seq-s.base)/64), uint((seq-s.base)%64)
		span := min(uint64(64-bit), hi-seq+1)
		mask := ^uint64(0)
		if span < 64 {
			mask = (uint64(1)<<span - 1) << bit
		}
		s.count += bits.OnesCount64(mask &^ s.words[w])
		s.words[w] |= mask
		seq += span
	}
}

// clearBit takes seq out without touching the tree (a load; see fill).
func (s *seqSet) clearBit(seq uint64) {
	w, bit, ok := s.wordOf(seq, false)
	if ok && s.words[w]&(1<<bit) != 0 {
		s.words[w] &^= 1 << bit
		s.count--
	}
}

// build makes the tree for what fill and clearBit left.
func (s *seqSet) build() {
	s.first = 0
	s.rebuild(max(2*len(s.words), 64))
	s.rebase()
}

// bytes is the memory the set holds, for Stats.
func (s *seqSet) bytes() int { return cap(s.words)*8 + cap(s.tree)*4 }
