package queue

import "strconv"

// Label returns the public label of ticket seq (seq ≥ 1 counts from 0 in
// the label): a block of letters and three digits, A000…A999, B000…Z999, then
// AA000, AB000 and so on. Every sequence number has its own label, so labels
// stay unique among live tickets at any line length, and stay short for the
// lines people queue in.
func Label(seq uint64) string {
	n := seq - 1
	block, num := n/1000, n%1000
	var letters []byte
	// Bijective base 26: A..Z, AA..ZZ, AAA.. for block 0, 1, ….
	for b := block + 1; b > 0; b = (b - 1) / 26 {
		letters = append(letters, byte('A'+(b-1)%26))
	}
	for i, j := 0, len(letters)-1; i < j; i, j = i+1, j-1 {
		letters[i], letters[j] = letters[j], letters[i]
	}
	digits := strconv.FormatUint(num, 10)
	for len(digits) < 3 {
		digits = "0" + digits
	}
	return string(letters) + digits
}
