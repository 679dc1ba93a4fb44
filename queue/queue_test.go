package queue

import (
	"strings"
	"testing"
)

func TestLabel(t *testing.T) {
	tests := []struct {
		seq  uint64
		want string
	}{
		{1, "A000"},
		{43, "A042"},
		{1000, "A999"},
		{1001, "B000"},
		{26000, "Z999"},
		{26001, "AA000"},
		{26 * 1000 * 27, "ZZ999"},
		{26*1000*27 + 1, "AAA000"},
	}
	for _, tt := range tests {
		if got := Label(tt.seq); got != tt.want {
			t.Errorf("Label(%d) = %q, want %q", tt.seq, got, tt.want)
		}
	}
	seen := make(map[string]uint64)
	for seq := uint64(1); seq <= 2_000_000; seq++ {
		l := Label(seq)
		if prev, ok := seen[l]; ok {
			t.Fatalf("Label(%d) = Label(%d) = %q", seq, prev, l)
		}
		seen[l] = seq
	}
}

func TestTokenRoundTrip(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef0123"), "kitties")
	if err != nil {
		t.Fatal(err)
	}
	nonce := NewNonce()
	tok := s.Token(42, nonce)
	seq, got, err := s.Parse(tok)
	if err != nil || seq != 42 || got != nonce {
		t.Fatalf("Parse = %d, %x, %v; want 42, %x, nil", seq, got, err, nonce)
	}
	if a, b := s.Token(42, NewNonce()), s.Token(42, NewNonce()); a == b {
		t.Fatal("two tokens for one seq are equal: nonce not used")
	}
}

func TestTokenRejectsForgeries(t *testing.T) {
	s, _ := NewSigner([]byte("0123456789abcdef0123"), "kitties")
	other, _ := NewSigner([]byte("another-secret-entirely"), "kitties")
	otherLine, _ := NewSigner([]byte("0123456789abcdef0123"), "burgers")
	good := s.Token(7, NewNonce())
	flip := []byte(good)
	flip[10] ^= 1
	if flip[10] == '-' || flip[10] == '_' { // keep it base64url
		flip[10] = 'A'
	}
	tests := map[string]string{
		"empty":          "",
		"label":          "A042",
		"garbage":        "not a token at all",
		"flipped":        string(flip),
		"truncated":      good[:len(good)-2],
		"extended":       good + "AA",
		"other line":     otherLine.Token(7, NewNonce()),
		"image id":       s.ImageID(7),
		"huge":           strings.Repeat("A", 10000),
		"invalid base64": "!!!!" + good[4:],
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := s.Parse(tok); err != ErrForgedToken {
				t.Fatalf("Parse(%q) err = %v, want ErrForgedToken", tok, err)
			}
		})
	}
	// A token of a key this signer never held is no proof of a forgery:
	// it may be from before a key change.
	if _, _, err := s.Parse(other.Token(7, NewNonce())); err != ErrUnknownKey {
		t.Fatalf("Parse(another key's token) err = %v, want ErrUnknownKey", err)
	}
}

func TestImageID(t *testing.T) {
	s, _ := NewSigner([]byte("0123456789abcdef0123"), "kitties")
	id := s.ImageID(99)
	if seq, err := s.ParseImageID(id); err != nil || seq != 99 {
		t.Fatalf("ParseImageID = %d, %v", seq, err)
	}
	if _, err := s.ParseImageID(s.Token(99, NewNonce())); err == nil {
		t.Fatal("a token parsed as an image id")
	}
	if _, err := s.ParseImageID("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); err == nil {
		t.Fatal("a forged image id parsed")
	}
}

func TestNewSignerShortSecret(t *testing.T) {
	if _, err := NewSigner([]byte("short"), "x"); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestErrorCode(t *testing.T) {
	if ErrorCode(nil) != "" {
		t.Fatal("nil error has a code")
	}
	if ErrorCode(Errorf(CodeGone, "gone")) != CodeGone {
		t.Fatal("code lost")
	}
	if ErrorCode(strings.NewReader("").UnreadByte()) != CodeInternal {
		t.Fatal("plain error is not internal")
	}
}
