package queue

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// Token layout, before base64url (no padding):
//
//	version(1) | seq(8, big endian) | nonce(16) | mac(16)
//
// The mac is HMAC-SHA256 over a purpose string, the line name and the
// payload, truncated to 128 bits. The 128-bit random nonce makes a token
// unguessable even to someone who knows the sequence number; the mac lets
// the service tell a token it issued from a forged or garbled one without
// keeping every token forever. The store also keeps the nonce with the
// ticket, so a token from before a store wipe cannot redeem a new ticket
// that happens to reuse its sequence number.
const (
	tokenVersion  = 1
	nonceSize     = 16
	macSize       = 16
	tokenRawSize  = 1 + 8 + nonceSize + macSize
	imageRawSize  = 8 + macSize
	minSecretSize = 16
)

// tokenEncoding writes tokens and image ids. Strict decoding refuses a
// string whose unused low bits are set, and Parse checks the exact length
// because the decoder skips CR and LF: otherwise several spellings of one
// token would be accepted, and a token would not be one string.
var tokenEncoding = base64.RawURLEncoding.Strict()

// Nonce is the random part of a token.
type Nonce [nonceSize]byte

// ErrForgedToken reports a token that this service did not issue.
var ErrForgedToken = errors.New("token was not issued by this service")

// Signer makes and checks tokens and image ids for one line.
type Signer struct {
	key  []byte
	line string
}

// NewSigner returns a Signer for the named line. The secret must be at least
// 16 bytes.
func NewSigner(secret []byte, line string) (*Signer, error) {
	if len(secret) < minSecretSize {
		return nil, errors.New("token secret must be at least 16 bytes")
	}
	return &Signer{key: append([]byte(nil), secret...), line: line}, nil
}

// NewNonce returns fresh randomness for a token.
func NewNonce() Nonce {
	var n Nonce
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails on supported platforms
	return n
}

func (s *Signer) mac(purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(s.line))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:macSize]
}

// Token returns the token for ticket seq with the given nonce.
func (s *Signer) Token(seq uint64, nonce Nonce) string {
	raw := make([]byte, 0, tokenRawSize)
	raw = append(raw, tokenVersion)
	raw = binary.BigEndian.AppendUint64(raw, seq)
	raw = append(raw, nonce[:]...)
	raw = append(raw, s.mac("token", raw)...)
	return tokenEncoding.EncodeToString(raw)
}

// Parse checks a token and returns its sequence number and nonce. Any token
// this Signer did not make returns ErrForgedToken.
func (s *Signer) Parse(token string) (uint64, Nonce, error) {
	var nonce Nonce
	// The exact length also refuses CR and LF, which the decoder skips.
	if len(token) != tokenEncoding.EncodedLen(tokenRawSize) {
		return 0, nonce, ErrForgedToken
	}
	raw, err := tokenEncoding.DecodeString(token)
	if err != nil || len(raw) != tokenRawSize || raw[0] != tokenVersion {
		return 0, nonce, ErrForgedToken
	}
	payload, mac := raw[:tokenRawSize-macSize], raw[tokenRawSize-macSize:]
	if !hmac.Equal(mac, s.mac("token", payload)) {
		return 0, nonce, ErrForgedToken
	}
	copy(nonce[:], payload[9:])
	return binary.BigEndian.Uint64(payload[1:9]), nonce, nil
}

// ImageID returns the opaque id of ticket seq's picture. It reveals nothing
// that redeems the ticket; the picture answers only while the ticket serves.
func (s *Signer) ImageID(seq uint64) string {
	raw := binary.BigEndian.AppendUint64(make([]byte, 0, imageRawSize), seq)
	raw = append(raw, s.mac("image", raw)...)
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
	if !hmac.Equal(raw[8:], s.mac("image", raw[:8])) {
		return 0, ErrForgedToken
	}
	return binary.BigEndian.Uint64(raw[:8]), nil
}
