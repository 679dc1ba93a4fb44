package hub

import (
	"net/http/httptest"
	"testing"
)

// TestAddDeliversBroadcastStillPending pins the registration order without
// racing the owner goroutine: a broadcast that Broadcast has accepted but the
// owner has not fanned out yet must be what a new client receives first, not
// the broadcast before it.
func TestAddDeliversBroadcastStillPending(t *testing.T) {
	h := newHub(Config{}, nil) // no owner goroutine: the test is the owner
	h.Broadcast([]byte(`{"seq":1}`))
	h.flush()
	first := h.latest
	h.Broadcast([]byte(`{"seq":2}`)) // pending, not yet fanned out

	c := newClient(h, nil, httptest.NewRequest("GET", "/ws", nil), nopHandler{})
	h.add(c)

	if len(c.send) != 1 {
		t.Fatalf("new client has %d queued messages, want 1", len(c.send))
	}
	got := <-c.send
	if got == first || got != h.latest {
		t.Fatal("new client got an older broadcast than the latest")
	}
	h.Broadcast([]byte(`{"seq":3}`))
	h.flush()
	if len(c.send) != 1 || <-c.send != h.latest {
		t.Fatal("registered client missed the next broadcast")
	}
	if h.Clients() != 1 {
		t.Fatalf("Clients() = %d, want 1", h.Clients())
	}
	c.cancel()
}
