package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

var (
	keyOld = []byte("the-old-key-0123456789abcdef")
	keyNew = []byte("the-new-key-0123456789abcdef")
)

// legacyToken writes a version 1 token (no key id) as services before key
// ids did, with s's signing key.
func legacyToken(s *Signer, seq uint64, nonce Nonce) string {
	raw := []byte{legacyVersion}
	raw = binary.BigEndian.AppendUint64(raw, seq)
	raw = append(raw, nonce[:]...)
	m := hmac.New(sha256.New, s.signing().key)
	m.Write([]byte("token\x00" + s.line + "\x00"))
	m.Write(raw)
	return tokenEncoding.EncodeToString(append(raw, m.Sum(nil)[:macSize]...))
}

func TestKeyRotation(t *testing.T) {
	before, err := NewSigner(keyOld, "kitties")
	if err != nil {
		t.Fatal(err)
	}
	after, err := NewSigner(keyNew, "kitties", keyOld)
	if err != nil {
		t.Fatal(err)
	}
	retired, err := NewSigner(keyNew, "kitties")
	if err != nil {
		t.Fatal(err)
	}
	nonce := NewNonce()
	old := before.Token(5, nonce)

	if seq, got, err := after.Parse(old); err != nil || seq != 5 || got != nonce {
		t.Fatalf("after rotation, the old key's token: %d, %v; want 5, nil", seq, err)
	}
	if _, _, err := retired.Parse(old); err != ErrUnknownKey {
		t.Fatalf("once the old key is dropped, its token: %v; want ErrUnknownKey", err)
	}
	fresh := after.Token(6, nonce)
	if _, _, err := before.Parse(fresh); err != ErrUnknownKey {
		t.Fatalf("a replica not yet given the new key: %v; want ErrUnknownKey", err)
	}
	if _, _, err := retired.Parse(fresh); err != nil {
		t.Fatalf("the new key's token: %v", err)
	}
	// The new key signs: its id leads.
	if ids := after.KeyIDs(); len(ids) != 2 || ids[0] != keyIDOf(keyNew) || ids[1] != keyIDOf(keyOld) {
		t.Fatalf("KeyIDs = %v", ids)
	}

	// A known key id with a wrong mac is a forgery, as before key ids.
	raw, _ := tokenEncoding.DecodeString(fresh)
	raw[len(raw)-1] ^= 1
	if _, _, err := after.Parse(tokenEncoding.EncodeToString(raw)); err != ErrForgedToken {
		t.Fatalf("a known key id with a bad mac: %v; want ErrForgedToken", err)
	}
	// So is a token whose key id was swapped for another known one.
	oldID := keyIDOf(keyOld)
	copy(raw[1:], oldID[:])
	raw[len(raw)-1] ^= 1
	if _, _, err := after.Parse(tokenEncoding.EncodeToString(raw)); err != ErrForgedToken {
		t.Fatalf("a token moved to another known key id: %v; want ErrForgedToken", err)
	}

	// Image ids follow the same keys.
	if seq, err := after.ParseImageID(before.ImageID(9)); err != nil || seq != 9 {
		t.Fatalf("old image id after rotation: %d, %v", seq, err)
	}
}

func TestLegacyTokens(t *testing.T) {
	before, _ := NewSigner(keyOld, "kitties")
	nonce := NewNonce()
	legacy := legacyToken(before, 3, nonce)

	after, _ := NewSigner(keyNew, "kitties", keyOld)
	if seq, got, err := after.Parse(legacy); err != nil || seq != 3 || got != nonce {
		t.Fatalf("a version 1 token under a held key: %d, %v", seq, err)
	}
	retired, _ := NewSigner(keyNew, "kitties")
	if _, _, err := retired.Parse(legacy); err != ErrUnknownKey {
		t.Fatalf("a version 1 token no key verifies: %v; want ErrUnknownKey", err)
	}
	raw, _ := tokenEncoding.DecodeString(legacy)
	raw[0] = 7
	if _, _, err := after.Parse(tokenEncoding.EncodeToString(raw)); err != ErrForgedToken {
		t.Fatalf("a token of that length with an unknown version: %v; want ErrForgedToken", err)
	}
}

func TestAdopt(t *testing.T) {
	s, _ := NewSigner(keyOld, "kitties")
	old := s.Token(1, NewNonce())
	if err := s.Adopt(keyNew); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Parse(old); err != nil {
		t.Fatalf("the key held before Adopt stops verifying: %v", err)
	}
	other, _ := NewSigner(keyNew, "kitties")
	if _, _, err := other.Parse(s.Token(2, NewNonce())); err != nil {
		t.Fatalf("Adopt did not make the new key sign: %v", err)
	}
	if !s.Holds(keyOld) || !s.Holds(keyNew) || s.Holds([]byte("never-held-0123456789")) {
		t.Fatal("Holds is wrong")
	}
	if err := s.Adopt([]byte("short")); err == nil {
		t.Fatal("a short key adopted")
	}
	for i := range 2 * maxSigningKeys {
		if err := s.Adopt([]byte("rotating-key-number-" + string(rune('a'+i)) + "-0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.KeyIDs()); n != maxSigningKeys {
		t.Fatalf("after many adoptions %d keys are held; want the cap %d", n, maxSigningKeys)
	}
}

func TestSignerKeyList(t *testing.T) {
	s, err := NewSigner(keyNew, "kitties", keyOld, keyNew, keyOld)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.KeyIDs()); n != 2 {
		t.Fatalf("repeated keys kept: %d ids", n)
	}
	if _, err := NewSigner(keyNew, "kitties", []byte("short")); err == nil {
		t.Fatal("a short previous key accepted")
	}
}

func TestDeviceID(t *testing.T) {
	s, _ := NewSigner(keyOld, "kitties")
	a, b := s.DeviceID(), s.DeviceID()
	if a == b {
		t.Fatal("two device ids are equal")
	}
	da, err := s.ParseDeviceID(a)
	if err != nil || len(da) != 2*deviceIDSize {
		t.Fatalf("ParseDeviceID = %q, %v", da, err)
	}
	if db, _ := s.ParseDeviceID(b); db == da {
		t.Fatal("two devices parse to one id")
	}
	raw, _ := tokenEncoding.DecodeString(a)
	raw[5] ^= 1
	if _, err := s.ParseDeviceID(tokenEncoding.EncodeToString(raw)); err == nil {
		t.Fatal("a changed device id parses")
	}
	for _, v := range []string{"", "x", s.Token(1, NewNonce()), s.ImageID(1)} {
		if _, err := s.ParseDeviceID(v); err == nil {
			t.Fatalf("ParseDeviceID(%q) accepted", v)
		}
	}
	other, _ := NewSigner(keyNew, "kitties")
	if _, err := other.ParseDeviceID(a); err == nil {
		t.Fatal("another key's device id parses")
	}
}
