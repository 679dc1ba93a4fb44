package queue

import (
	"strings"
	"testing"
)

// fuzzSigner signs with a fixed key, so that the seed corpus in
// testdata/fuzz can hold valid tokens and their near misses.
func fuzzSigner(t testing.TB) *Signer {
	s, err := NewSigner([]byte("catqms-fuzz-secret-0123456789"), "kitties")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzParseToken: Parse never panics, and whatever it accepts is exactly
// the token the signer writes for that ticket and nonce, so a ticket has
// one token and no other spelling of it redeems.
func FuzzParseToken(f *testing.F) {
	s := fuzzSigner(f)
	valid := s.Token(42, Nonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	for _, seed := range []string{
		"", "A042", valid, valid + "\n", "\n" + valid, valid[:len(valid)-1],
		valid[:len(valid)-1] + "p", // another last character: maybe the same bytes
		strings.ToUpper(valid), s.Token(0, Nonce{}), s.Token(^uint64(0), Nonce{0xff}),
		s.ImageID(42), strings.Repeat("A", 55), strings.Repeat("\xff", 55),
	} {
		f.Add(seed)
	}
	other, _ := NewSigner([]byte("another-secret-0123456789abc"), "kitties")
	f.Add(other.Token(42, Nonce{}))
	otherLine, _ := NewSigner([]byte("catqms-fuzz-secret-0123456789"), "bank")
	f.Add(otherLine.Token(42, Nonce{}))

	f.Fuzz(func(t *testing.T, token string) {
		seq, nonce, err := s.Parse(token)
		if err != nil {
			if err != ErrForgedToken && err != ErrUnknownKey {
				t.Fatalf("Parse(%q) error %v, want ErrForgedToken or ErrUnknownKey", token, err)
			}
			if seq != 0 || nonce != (Nonce{}) {
				t.Fatalf("Parse(%q) refused but returned seq %d nonce %x", token, seq, nonce)
			}
			return
		}
		if again := s.Token(seq, nonce); again != token && legacyToken(s, seq, nonce) != token {
			t.Fatalf("Parse accepted %q (seq %d), but the token for it is %q", token, seq, again)
		}
		if _, _, err := other.Parse(token); err == nil {
			t.Fatalf("a token of one secret parses with another: %q", token)
		}
		if _, _, err := otherLine.Parse(token); err == nil {
			t.Fatalf("a token of one line parses on another: %q", token)
		}
		if _, err := s.ParseImageID(token); err == nil {
			t.Fatalf("a token parses as an image id: %q", token)
		}
	})
}

// FuzzParseImageID: ParseImageID never panics, and whatever it accepts is
// exactly the image id of that ticket; a token is never an image id.
func FuzzParseImageID(f *testing.F) {
	s := fuzzSigner(f)
	valid := s.ImageID(42)
	for _, seed := range []string{
		"", valid, valid + "\r\n", valid[:len(valid)-1], strings.ToLower(valid),
		s.ImageID(0), s.ImageID(^uint64(0)), s.Token(42, Nonce{}), strings.Repeat("_", 32),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		seq, err := s.ParseImageID(id)
		if err != nil {
			if (err != ErrForgedToken && err != ErrUnknownKey) || seq != 0 {
				t.Fatalf("ParseImageID(%q) = %d, %v; want 0, ErrForgedToken or ErrUnknownKey", id, seq, err)
			}
			return
		}
		if again := s.ImageID(seq); again != id {
			t.Fatalf("ParseImageID accepted %q (seq %d), but the id for it is %q", id, seq, again)
		}
		if _, _, err := s.Parse(id); err == nil {
			t.Fatalf("an image id parses as a token: %q", id)
		}
	})
}

// TestTokenHasOneSpelling pins the two malleabilities FuzzParseToken
// found: the base64 decoder's tolerance of set padding bits and of CR/LF.
func TestTokenHasOneSpelling(t *testing.T) {
	s := fuzzSigner(t)
	token := s.Token(7, NewNonce())
	if _, _, err := s.Parse(token); err != nil {
		t.Fatalf("a fresh token does not parse: %v", err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range alphabet {
		if v := token[:len(token)-1] + string(c); v != token {
			if _, _, err := s.Parse(v); err == nil {
				t.Errorf("another spelling of the token parses: …%s for …%s", v[len(v)-4:], token[len(token)-4:])
			}
		}
	}
	for _, v := range []string{token + "\n", token[:20] + "\r\n" + token[20:], "\n" + token} {
		if _, _, err := s.Parse(v); err == nil {
			t.Errorf("the token with a line break parses: %q", v)
		}
	}
	id := s.ImageID(7)
	if _, err := s.ParseImageID(id[:10] + "\n" + id[10:]); err == nil {
		t.Error("an image id with a line break parses")
	}
}
