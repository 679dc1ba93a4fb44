package queue

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Token layout, before base64url (no padding):
//
//	version(1)=2 | key id(4) | seq(8, big endian) | nonce(16) | mac(16)
//
// The mac is HMAC-SHA256 over a purpose string, the line name and the
// payload, truncated to 128 bits. The 128-bit random nonce makes a token
// unguessable even to someone who knows the sequence number; the mac lets
// the service tell a token it issued from a forged or garbled one without
// keeping every token forever. The store also keeps the nonce with the
// ticket, so a token from before a store wipe cannot redeem a new ticket
// that happens to reuse its sequence number.
//
// The key id names the key that signed the token, so that a service given
// several keys (the newest signs, older ones only verify) knows which one to
// check with, and so that a well-formed token from a key it no longer has
// can be told from a forgery: the first is an honest visitor from before a
// key change (ErrUnknownKey, no ban), the second a cheat (ErrForgedToken).
//
// Version 1 tokens (no key id: version | seq | nonce | mac) were issued
// before key ids; they still verify under any key the service holds, so
// that an upgrade keeps everyone's place.
const (
	tokenVersion   = 2
	legacyVersion  = 1
	keyIDSize      = 4
	nonceSize      = 16
	macSize        = 16
	tokenRawSize   = 1 + keyIDSize + 8 + nonceSize + macSize
	legacyRawSize  = 1 + 8 + nonceSize + macSize
	imageRawSize   = keyIDSize + 8 + macSize
	deviceIDSize   = 16
	deviceRawSize  = keyIDSize + deviceIDSize + macSize
	minSecretSize  = 16
	maxSigningKeys = 16 // keys one Signer keeps; the oldest adopted ones go first
)

// tokenEncoding writes tokens and image ids. Strict decoding refuses a
// string whose unused low bits are set, and Parse checks the exact length
// because the decoder skips CR and LF: otherwise several spellings of one
// token would be accepted, and a token would not be one string.
var tokenEncoding = base64.RawURLEncoding.Strict()

// Nonce is the random part of a token.
type Nonce [nonceSize]byte

// KeyID names a signing key; it is derived from the key itself, so every
// replica given the same key agrees on its id without being told.
type KeyID [keyIDSize]byte

// String is the id in hex, for logs.
func (id KeyID) String() string { return fmt.Sprintf("%x", id[:]) }

// ErrForgedToken reports a token that this service did not issue.
var ErrForgedToken = errors.New("token was not issued by this service")

// ErrUnknownKey reports a well-formed token signed by a key this service
// does not hold (any more): issued before a key change or a store reset.
// It is no evidence of cheating.
var ErrUnknownKey = errors.New("token was signed by a key this service no longer holds")

// ErrLineReset is the answer to a token of ErrUnknownKey: code gone with
// state left, and the fact that the line was reset. The visitor did nothing
// wrong; the line was reset (a key change, a lost store) under them.
func ErrLineReset() *Error {
	return &Error{Code: CodeGone, State: StateLeft, Reset: true}
}

// signingKey is one key with its id.
type signingKey struct {
	id  KeyID
	key []byte
}

// Signer makes and checks tokens, image ids and device ids for one line.
// It holds a list of keys, newest first: the newest signs, every one
// verifies. It is safe for concurrent use; Adopt changes the list while
// others sign and verify.
type Signer struct {
	line  string
	keys  atomic.Pointer[[]signingKey] // newest first; never empty
	adopt sync.Mutex                   // serialises Adopt
}

// NewSigner returns a Signer for the named line that signs with secret and
// also accepts what the previous secrets (newest first) signed. Every secret
// must be at least 16 bytes; two secrets with the same key id are refused.
func NewSigner(secret []byte, line string, previous ...[]byte) (*Signer, error) {
	s := &Signer{line: line}
	keys := make([]signingKey, 0, 1+len(previous))
	for _, sec := range append([][]byte{secret}, previous...) {
		k, err := newSigningKey(sec)
		if err != nil {
			return nil, err
		}
		dup := false
		for _, have := range keys {
			if have.id == k.id {
				if !bytes.Equal(have.key, k.key) {
					return nil, fmt.Errorf("two token secrets share the key id %s; replace one", k.id)
				}
				dup = true
			}
		}
		if !dup {
			keys = append(keys, k)
		}
	}
	s.keys.Store(&keys)
	return s, nil
}

func newSigningKey(secret []byte) (signingKey, error) {
	if len(secret) < minSecretSize {
		return signingKey{}, errors.New("token secret must be at least 16 bytes")
	}
	return signingKey{id: keyIDOf(secret), key: append([]byte(nil), secret...)}, nil
}

// keyIDOf derives a key's id: 32 bits of an HMAC under the key, so the id
// reveals nothing of the key, and two different keys share an id only by a
// one-in-four-billion accident (which NewSigner refuses).
func keyIDOf(secret []byte) KeyID {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("catqms key id"))
	var id KeyID
	copy(id[:], m.Sum(nil))
	return id
}

// KeyIDs returns the ids of the keys held, newest (the signing key) first.
func (s *Signer) KeyIDs() []KeyID {
	keys := *s.keys.Load()
	ids := make([]KeyID, len(keys))
	for i, k := range keys {
		ids[i] = k.id
	}
	return ids
}

// Adopt makes secret the signing key; the keys held before keep verifying
// (up to 16 keys in all, the oldest dropped first). Adopting the signing key
// again changes nothing. Replicas that keep their key in the store call it
// when the store's key is not theirs, so that they all converge on one key
// without refusing each other's tokens meanwhile.
func (s *Signer) Adopt(secret []byte) error {
	k, err := newSigningKey(secret)
	if err != nil {
		return err
	}
	s.adopt.Lock()
	defer s.adopt.Unlock()
	old := *s.keys.Load()
	if old[0].id == k.id && bytes.Equal(old[0].key, k.key) {
		return nil
	}
	keys := make([]signingKey, 0, len(old)+1)
	keys = append(keys, k)
	for _, o := range old {
		if o.id == k.id {
			if !bytes.Equal(o.key, k.key) {
				return fmt.Errorf("the adopted key's id %s is already taken by another key", k.id)
			}
			continue
		}
		keys = append(keys, o)
	}
	keys = keys[:min(len(keys), maxSigningKeys)]
	s.keys.Store(&keys)
	return nil
}

// Holds reports whether secret is one of the keys held.
func (s *Signer) Holds(secret []byte) bool {
	_, ok := s.key(keyIDOf(secret))
	return ok
}

// key returns the key with id.
func (s *Signer) key(id KeyID) ([]byte, bool) {
	for _, k := range *s.keys.Load() {
		if k.id == id {
			return k.key, true
		}
	}
	return nil, false
}

// signing returns the newest key.
func (s *Signer) signing() signingKey { return (*s.keys.Load())[0] }

// NewNonce returns fresh randomness for a token.
func NewNonce() Nonce {
	var n Nonce
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails on supported platforms
	return n
}

func (s *Signer) mac(key []byte, purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(s.line))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:macSize]
}

// Token returns the token for ticket seq with the given nonce, signed by
// the newest key.
func (s *Signer) Token(seq uint64, nonce Nonce) string {
	k := s.signing()
	raw := make([]byte, 0, tokenRawSize)
	raw = append(raw, tokenVersion)
	raw = append(raw, k.id[:]...)
	raw = binary.BigEndian.AppendUint64(raw, seq)
	raw = append(raw, nonce[:]...)
	raw = append(raw, s.mac(k.key, "token", raw)...)
	return tokenEncoding.EncodeToString(raw)
}

// Parse checks a token and returns its sequence number and nonce. A
// well-formed token whose key id names no key held returns ErrUnknownKey;
// anything else this Signer did not make returns ErrForgedToken.
func (s *Signer) Parse(token string) (uint64, Nonce, error) {
	var nonce Nonce
	// The exact length also refuses CR and LF, which the decoder skips.
	switch len(token) {
	case tokenEncoding.EncodedLen(tokenRawSize):
	case tokenEncoding.EncodedLen(legacyRawSize):
		return s.parseLegacy(token)
	default:
		return 0, nonce, ErrForgedToken
	}
	raw, err := tokenEncoding.DecodeString(token)
	if err != nil || len(raw) != tokenRawSize || raw[0] != tokenVersion {
		return 0, nonce, ErrForgedToken
	}
	key, ok := s.key(KeyID(raw[1 : 1+keyIDSize]))
	if !ok {
		return 0, nonce, ErrUnknownKey
	}
	payload, mac := raw[:tokenRawSize-macSize], raw[tokenRawSize-macSize:]
	if !hmac.Equal(mac, s.mac(key, "token", payload)) {
		return 0, nonce, ErrForgedToken
	}
	body := payload[1+keyIDSize:]
	copy(nonce[:], body[8:])
	return binary.BigEndian.Uint64(body[:8]), nonce, nil
}

// parseLegacy checks a version 1 token under every key held. One that none
// of them verifies may come from a key since retired: it cannot be told
// from a forgery, so it gets the benefit of the doubt (ErrUnknownKey).
func (s *Signer) parseLegacy(token string) (uint64, Nonce, error) {
	var nonce Nonce
	raw, err := tokenEncoding.DecodeString(token)
	if err != nil || len(raw) != legacyRawSize || raw[0] != legacyVersion {
		return 0, nonce, ErrForgedToken
	}
	payload, mac := raw[:legacyRawSize-macSize], raw[legacyRawSize-macSize:]
	for _, k := range *s.keys.Load() {
		if hmac.Equal(mac, s.mac(k.key, "token", payload)) {
			copy(nonce[:], payload[9:])
			return binary.BigEndian.Uint64(payload[1:9]), nonce, nil
		}
	}
	return 0, nonce, ErrUnknownKey
}

// ImageID returns the opaque id of ticket seq's picture. It reveals nothing
// that redeems the ticket; the picture answers only while the ticket serves.
func (s *Signer) ImageID(seq uint64) string {
	k := s.signing()
	raw := make([]byte, 0, imageRawSize)
	raw = append(raw, k.id[:]...)
	raw = binary.BigEndian.AppendUint64(raw, seq)
	raw = append(raw, s.mac(k.key, "image", raw)...)
	return tokenEncoding.EncodeToString(raw)
}

// ParseImageID checks an image id and returns its ticket's sequence number.
func (s *Signer) ParseImageID(id string) (uint64, error) {
	if len(id) != tokenEncoding.EncodedLen(imageRawSize) {
		return 0, ErrForgedToken
	}
	raw, err := tokenEncoding.DecodeString(id)
	if err != nil || len(raw) != imageRawSize {
		return 0, ErrForgedToken
	}
	key, ok := s.key(KeyID(raw[:keyIDSize]))
	if !ok {
		return 0, ErrUnknownKey
	}
	if !hmac.Equal(raw[keyIDSize+8:], s.mac(key, "image", raw[:keyIDSize+8])) {
		return 0, ErrForgedToken
	}
	return binary.BigEndian.Uint64(raw[keyIDSize : keyIDSize+8]), nil
}

// DeviceID returns a new signed device id: a random name for one browser,
// which the server keeps in a cookie to tell devices on one shared network
// apart.
func (s *Signer) DeviceID() string {
	k := s.signing()
	raw := make([]byte, 0, deviceRawSize)
	raw = append(raw, k.id[:]...)
	var id [deviceIDSize]byte
	_, _ = rand.Read(id[:])
	raw = append(raw, id[:]...)
	raw = append(raw, s.mac(k.key, "device", raw)...)
	return tokenEncoding.EncodeToString(raw)
}

// ParseDeviceID checks a device id from DeviceID and returns its random
// part in hex. Anything else (forged, garbled, from a retired key) is an
// error: the caller treats it as no device id at all.
func (s *Signer) ParseDeviceID(v string) (string, error) {
	if len(v) != tokenEncoding.EncodedLen(deviceRawSize) {
		return "", ErrForgedToken
	}
	raw, err := tokenEncoding.DecodeString(v)
	if err != nil || len(raw) != deviceRawSize {
		return "", ErrForgedToken
	}
	key, ok := s.key(KeyID(raw[:keyIDSize]))
	if !ok {
		return "", ErrUnknownKey
	}
	body := raw[:keyIDSize+deviceIDSize]
	if !hmac.Equal(raw[keyIDSize+deviceIDSize:], s.mac(key, "device", body)) {
		return "", ErrForgedToken
	}
	return fmt.Sprintf("%x", body[keyIDSize:]), nil
}
