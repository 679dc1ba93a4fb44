package queue

import (
	"math"
	"testing"
)

func TestParseLabel(t *testing.T) {
	tests := []struct {
		label string
		seq   uint64
		ok    bool
	}{
		{"A000", 1, true},
		{"A042", 43, true},
		{"A999", 1000, true},
		{"B000", 1001, true},
		{"Z999", 26000, true},
		{"AA000", 26001, true},
		{"ZZ999", 26 * 1000 * 27, true},
		{"AAA000", 26*1000*27 + 1, true},
		{Label(math.MaxUint64), math.MaxUint64, true},
		{"", 0, false},
		{"A00", 0, false},        // two digits short
		{"000", 0, false},        // no letters
		{"1000", 0, false},       // a digit where a letter goes
		{"a042", 0, false},       // lower case is not a label
		{"A0420", 0, false},      // four digits
		{"A-42", 0, false},       // a sign
		{"A04 ", 0, false},       // a space
		{"AÀ042", 0, false},      // not ASCII
		{"A04\x00", 0, false},    // a NUL
		{"4A042", 0, false},      // a digit before the letters
		{" A042", 0, false},      // leading space
		{"ÄÄ000", 0, false},      // two-byte letters
		{"A" + "0420", 0, false}, // still four digits
		// One past the largest: the next label after Label(MaxUint64), and
		// a block of letters too long for any sequence number.
		{nextLabel(Label(math.MaxUint64)), 0, false},
		{"AAAAAAAAAAAAA000", 0, false},
		{"ZZZZZZZZZZZZ999", 0, false},
	}
	for _, tt := range tests {
		seq, ok := ParseLabel(tt.label)
		if seq != tt.seq || ok != tt.ok {
			t.Errorf("ParseLabel(%q) = %d, %v; want %d, %v", tt.label, seq, ok, tt.seq, tt.ok)
		}
	}
}

// nextLabel is the label after l, counting by hand: the digits, then the
// letters as an odometer.
func nextLabel(l string) string {
	b := []byte(l)
	for i := len(b) - 1; i >= 0; i-- {
		switch {
		case b[i] == '9':
			b[i] = '0'
		case b[i] == 'Z':
			b[i] = 'A'
		default:
			b[i]++
			return string(b)
		}
	}
	return "A" + string(b)
}

func TestParseLabelInvertsLabel(t *testing.T) {
	check := func(seq uint64) {
		l := Label(seq)
		got, ok := ParseLabel(l)
		if !ok || got != seq {
			t.Fatalf("ParseLabel(Label(%d) = %q) = %d, %v", seq, l, got, ok)
		}
	}
	for seq := uint64(1); seq <= 200_000; seq++ {
		check(seq)
	}
	for _, seq := range []uint64{1 << 32, 1<<53 + 7, math.MaxUint64 / 2, math.MaxUint64 - 1, math.MaxUint64} {
		check(seq)
	}
}

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{"A000", "ZZ999", "a042", "", Label(math.MaxUint64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seq, ok := ParseLabel(s)
		if !ok {
			return
		}
		if seq == 0 || Label(seq) != s {
			t.Fatalf("ParseLabel(%q) = %d, but Label(%d) = %q", s, seq, seq, Label(seq))
		}
	})
}

// TestLabelAllocatesOnce: the live feed makes a label per watcher per
// change; a label is one allocation, its string.
func TestLabelAllocatesOnce(t *testing.T) {
	var sink string
	if n := testing.AllocsPerRun(100, func() { sink = Label(26_001) }); n != 1 {
		t.Errorf("Label allocates %v times, want 1", n)
	}
	if sink != "AA000" {
		t.Errorf("Label(26001) = %q", sink)
	}
}
