package redisline

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/catqms/catqms/queue"
)

var (
	oldKey = []byte("keys-test-old-key-0123456789")
	newKey = []byte("keys-test-new-key-0123456789")
)

// TestKeyRotationBansNobody: a ticket signed by a retired key keeps its
// place while the key is listed as previous; once the key is dropped, the
// holder hears 410 gone "reset", and no one is banned. A token that fails
// under a known key is still a forgery.
func TestKeyRotationBansNobody(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := s.new(t)
			open := func(secret []byte, previous ...[]byte) *Line {
				l, err := New(ctx, rdb, Options{Secret: secret, PreviousSecrets: previous, Tick: -1})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				return l
			}
			before := open(oldKey)
			a, err := before.Take(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}

			rotated := open(newKey, oldKey)
			if tk, err := rotated.Status(ctx, "a", a.Token); err != nil || tk.Position != 1 {
				t.Fatalf("old key's ticket after rotation: %+v, %v; want position 1", tk, err)
			}
			b, _ := rotated.Take(ctx, "b")
			if tk, err := rotated.Status(ctx, "b", b.Token); err != nil || tk.Position != 2 {
				t.Fatalf("new ticket: %+v, %v", tk, err)
			}

			retired := open(newKey)
			_, err = retired.Status(ctx, "a", a.Token)
			qe := queue.AsError(err)
			if qe == nil || qe.Code != queue.CodeGone {
				t.Fatalf("a retired key's ticket: %v; want gone", err)
			}
			if left, _ := retired.BanRemaining(ctx, "a"); left != 0 {
				t.Fatalf("the holder of a retired key's ticket is banned for %v", left)
			}
			for _, op := range []func() error{
				func() error { _, err := retired.Redeem(ctx, "a", a.Token); return err },
				func() error { return retired.Leave(ctx, "a", a.Token) },
				func() error { return retired.EndViewing(ctx, "a", a.Token) },
			} {
				if code := queue.ErrorCode(op()); code != queue.CodeGone {
					t.Fatalf("a retired key's token answers %q; want gone", code)
				}
			}
			replies, err := retired.Statuses(ctx, []queue.StatusRequest{{Client: "a", Token: a.Token}, {Client: "b", Token: b.Token}})
			if err != nil || queue.ErrorCode(replies[0].Err) != queue.CodeGone || replies[1].Err != nil {
				t.Fatalf("Statuses: %+v, %v", replies, err)
			}
			if left, _ := retired.BanRemaining(ctx, "a"); left != 0 {
				t.Fatalf("banned for %v after every route", left)
			}

			// A known key id with a bad mac is a forgery: banned.
			raw, err := base64.RawURLEncoding.DecodeString(b.Token)
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)-1] ^= 1 // the mac's last byte: the key id stays known
			forged := base64.RawURLEncoding.EncodeToString(raw)
			if code := queue.ErrorCode(retired.Leave(ctx, "c", forged)); code != queue.CodeForbidden {
				t.Fatalf("a forged token under a known key answers %q; want forbidden", code)
			}
			if left, _ := retired.BanRemaining(ctx, "c"); left == 0 {
				t.Fatal("the forger is not banned")
			}
		})
	}
}

// TestStoreKeyAfterWipe: with the key kept in the store, a wipe and a new
// replica that makes a fresh key never cost a ban, and the replicas come
// back to one key.
func TestStoreKeyAfterWipe(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := s.new(t)
			first, err := New(ctx, rdb, Options{Tick: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			a, _ := first.Take(ctx, "a")
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			second, err := New(ctx, rdb, Options{Tick: -1}) // makes a new key
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close()
			if first.Signer().KeyIDs()[0] == second.Signer().KeyIDs()[0] {
				t.Fatal("the replica after the wipe kept the old key: the test shows nothing")
			}
			// The second replica never held the first's key: gone, no ban.
			if code := queue.ErrorCode(second.Leave(ctx, "a", a.Token)); code != queue.CodeGone {
				t.Fatalf("a pre-wipe token on the new replica: %q; want gone", code)
			}
			// A ticket of the new replica presented to the old one: the old
			// one reads the store's key and serves it.
			b, err := second.Take(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			if tk, err := first.Status(ctx, "b", b.Token); err != nil || tk.Position != 1 {
				t.Fatalf("the new replica's ticket on the old one: %+v, %v", tk, err)
			}
			if first.Signer().KeyIDs()[0] != second.Signer().KeyIDs()[0] {
				t.Fatal("the old replica does not sign with the store's key")
			}
			for _, c := range []string{"a", "b"} {
				if left, _ := first.BanRemaining(ctx, c); left != 0 {
					t.Fatalf("%s banned for %v", c, left)
				}
			}
		})
	}
}

// TestStoreKeyPutBack: a store that lost its key gets a running replica's
// key back, so a replica started afterwards signs alike.
func TestStoreKeyPutBack(t *testing.T) {
	ctx := context.Background()
	rdb := miniStore(t)
	first, err := New(ctx, rdb, Options{Tick: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := first.loadStoreKey(ctx); err != nil { // what syncKey does every keySyncPeriod
		t.Fatal(err)
	}
	later, err := New(ctx, rdb, Options{Tick: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	if first.Signer().KeyIDs()[0] != later.Signer().KeyIDs()[0] {
		t.Fatal("a replica started after the put-back signs with another key")
	}
}
