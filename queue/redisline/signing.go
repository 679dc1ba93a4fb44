package redisline

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/catqms/catqms/queue"
)

// Signing keys when no secret is configured: the line's signing key lives
// in the store (catqms:{name}:secret), created once by whichever replica
// comes first. If the store loses it (a wipe, a new Redis), a replica that
// starts afterwards makes a new one while the running ones still sign with
// the old. syncKey puts the running replicas' key back, or moves them to the
// store's, so that within keySyncPeriod every replica signs with one key
// again; each keeps verifying the keys it held before. A token from a key a
// replica does not hold is never grounds for a ban (see unknownKey).
const (
	keySyncPeriod = 5 * time.Second
	// keyReloadGap bounds the store reads that tokens from unknown keys
	// can cause: anyone can send such tokens.
	keyReloadGap = time.Second
)

// keyState is where the Line's signing key comes from.
type keyState struct {
	fromStore bool // no key was configured: the store holds it

	mu         sync.Mutex
	secret     []byte    // the store's key this replica signs with
	lastReload time.Time // of a reload caused by an unknown key id
}

// unknownKey handles a token whose key id the signer does not know. When
// the key comes from the store, another replica may have moved to a new one
// (after a wipe): the store's key is read again, at most once per
// keyReloadGap, and the token checked once more. Otherwise the token is
// from before a key change or a reset, and is answered queue.ErrLineReset.
func (l *Line) unknownKey(ctx context.Context, token string) (uint64, queue.Nonce, error) {
	if l.keys.fromStore && l.reloadDue() {
		if err := l.loadStoreKey(ctx); err != nil {
			return 0, queue.Nonce{}, err
		}
		seq, nonce, err := l.signer.Parse(token)
		if !errors.Is(err, queue.ErrUnknownKey) {
			return seq, nonce, err // verified, or a forgery under a known key
		}
	}
	l.log.Info("token from a key this replica does not hold: line reset, nobody banned")
	return 0, queue.Nonce{}, queue.ErrLineReset()
}

func (l *Line) reloadDue() bool {
	l.keys.mu.Lock()
	defer l.keys.mu.Unlock()
	now := time.Now()
	if now.Sub(l.keys.lastReload) < keyReloadGap {
		return false
	}
	l.keys.lastReload = now
	return true
}

// syncKey runs until the line closes, keeping the store's key and this
// replica's signing key one and the same.
func (l *Line) syncKey() {
	defer l.wg.Done()
	t := time.NewTicker(keySyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			if err := l.loadStoreKey(ctx); err != nil {
				l.log.Debug("token key: store not reached", "err", err)
			}
			cancel()
		}
	}
}

// loadStoreKey writes this replica's signing key to the store unless the
// store has one (secret.lua), then signs with the store's key: the store
// wins, so replicas that disagree converge on whichever key was there first.
func (l *Line) loadStoreKey(ctx context.Context) error {
	l.keys.mu.Lock()
	mine := l.keys.secret
	l.keys.mu.Unlock()
	var r secretReply
	if err := l.call(ctx, "secret", &r, hex.EncodeToString(mine)); err != nil {
		return err
	}
	if r.Code != "ok" {
		return protocolErr("secret script answered code %q", r.Code)
	}
	secret, err := hex.DecodeString(r.Secret)
	if err != nil {
		return err
	}
	if bytes.Equal(secret, mine) {
		return nil
	}
	if err := l.signer.Adopt(secret); err != nil {
		return err
	}
	l.keys.mu.Lock()
	l.keys.secret = secret
	l.keys.mu.Unlock()
	l.log.Warn("token key: now signing with the store's key; tokens of the previous one still verify",
		"key_id", l.signer.KeyIDs()[0].String())
	return nil
}
