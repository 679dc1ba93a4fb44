package queue

import "math"

// Label returns the public label of ticket seq (seq ≥ 1 counts from 0 in
// the label): a block of letters and three digits, A000…A999, B000…Z999, then
// AA000, AB000 and so on. Every sequence number has its own label, so labels
// stay unique among live tickets at any line length, and stay short for the
// lines people queue in.
func Label(seq uint64) string {
	n := seq - 1
	block, num := n/1000, n%1000
	// Written from the end in a buffer of the longest label's size, so
	// that a label costs one allocation: the live feed makes one per
	// watcher per change.
	var buf [maxLabelLetters + 3]byte
	i := len(buf) - 3
	buf[i], buf[i+1], buf[i+2] = byte('0'+num/100), byte('0'+num/10%10), byte('0'+num%10)
	// Bijective base 26: A..Z, AA..ZZ, AAA.. for block 0, 1, ….
	for b := block + 1; b > 0; b = (b - 1) / 26 {
		i--
		buf[i] = byte('A' + (b-1)%26)
	}
	return string(buf[i:])
}

// maxLabelLetters is the most letters a label has: Label(math.MaxUint64)
// has 12, and a longer block of letters overflows a sequence number.
const maxLabelLetters = 12

// ParseLabel returns the sequence number whose label is label: the inverse
// of Label. It accepts exactly the strings Label returns (upper-case
// letters, then three digits) and reports false for anything else,
// including labels beyond the largest sequence number.
func ParseLabel(label string) (uint64, bool) {
	n := len(label)
	if n < 4 || n-3 > maxLabelLetters {
		return 0, false
	}
	letters, digits := label[:n-3], label[n-3:]
	var block uint64 // bijective base 26: A = 1, Z = 26, AA = 27, …
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		if c < 'A' || c > 'Z' {
			return 0, false
		}
		if block > (math.MaxUint64-26)/26 {
			return 0, false
		}
		block = block*26 + uint64(c-'A'+1)
	}
	var num uint64
	for i := 0; i < 3; i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		num = num*10 + uint64(c-'0')
	}
	// seq = (block-1)*1000 + num + 1, without overflowing.
	if block-1 > (math.MaxUint64-num-1)/1000 {
		return 0, false
	}
	return (block-1)*1000 + num + 1, true
}
