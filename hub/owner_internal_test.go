package hub

import (
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
)

// newOwnedClient is a registered-to-be client without a connection, for
// tests that drive the owner's steps themselves.
func newOwnedClient(h *Hub) *Client {
	return newClient(h, nil, httptest.NewRequest("GET", "/ws", nil), nopHandler{})
}

// queued returns the messages waiting in c's queue and empties it, as if
// the writer had sent them.
func queued(c *Client) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, o := range c.queue {
		out = append(out, fmt.Sprintf("%p", o.frame))
	}
	c.queue = c.queue[:0]
	return out
}

func ptr(v any) string { return fmt.Sprintf("%p", v) }

// addClients registers n connectionless clients with h, the test being the
// owner.
func addClients(h *Hub, n int) []*Client {
	cs := make([]*Client, n)
	for i := range cs {
		cs[i] = newOwnedClient(h)
		h.add(cs[i])
	}
	return cs
}

// TestAddDeliversBroadcastStillPending pins the registration order without
// racing the owner goroutine: a broadcast that Broadcast has accepted but the
// owner has not taken yet must be what a new client receives first, not
// the broadcast before it.
func TestAddDeliversBroadcastStillPending(t *testing.T) {
	h := newHub(Config{}, nil) // no owner goroutine: the test is the owner
	h.Broadcast([]byte(`{"seq":1}`))
	h.takePending()
	first := h.latest
	h.Broadcast([]byte(`{"seq":2}`)) // pending, not yet taken

	c := newOwnedClient(h)
	h.add(c)

	got := queued(c)
	if len(got) != 1 || got[0] == ptr(first) || got[0] != ptr(h.latest) {
		t.Fatalf("new client has %v queued, want only the latest %s", got, ptr(h.latest))
	}
	for h.left > 0 {
		h.step()
	}
	if got := queued(c); len(got) != 0 {
		t.Fatalf("the fan-out handed the new client %v again", got)
	}
	h.Broadcast([]byte(`{"seq":3}`))
	h.takePending()
	for h.left > 0 {
		h.step()
	}
	if got := queued(c); len(got) != 1 || got[0] != ptr(h.latest) {
		t.Fatal("registered client missed the next broadcast")
	}
	if h.Clients() != 1 {
		t.Fatalf("Clients() = %d, want 1", h.Clients())
	}
	c.cancel()
}

// TestFanOutInStepsPicksUpNewerBroadcast: the owner hands a broadcast out
// yieldEvery clients at a time; a newer broadcast taken halfway goes to
// every client exactly once, starting where the fan-out stood, and the
// clients not yet reached never get the older one.
func TestFanOutInStepsPicksUpNewerBroadcast(t *testing.T) {
	h := newHub(Config{}, nil)
	const n = 3*yieldEvery + 5
	cs := addClients(h, n)
	h.Broadcast([]byte(`{"seq":1}`))
	h.takePending()
	older := ptr(h.latest)
	h.step() // the first yieldEvery clients have seq 1
	h.Broadcast([]byte(`{"seq":2}`))
	h.takePending()
	newer := ptr(h.latest)
	// A client that joins now starts with seq 2 and must not be handed it
	// again when the fan-out reaches its slot.
	late := newOwnedClient(h)
	h.add(late)
	if got := queued(late); len(got) != 1 || got[0] != newer {
		t.Fatalf("late client starts with %v, want the newer %s", got, newer)
	}
	steps := 0
	for h.left > 0 {
		h.step()
		steps++
	}
	if got := queued(late); len(got) != 0 {
		t.Fatalf("late client was handed %v again by the fan-out", got)
	}
	if want := (n + 1 + yieldEvery - 1) / yieldEvery; steps != want {
		t.Errorf("fan-out of %d clients took %d steps, want %d", n, steps, want)
	}
	for i, c := range cs {
		got := queued(c)
		switch {
		case i < yieldEvery && (len(got) != 1 || got[0] != newer):
			// seq 1 was replaced in the queue by seq 2 (no writer ran).
			t.Fatalf("client %d (reached by both) has %v, want only the newer %s", i, got, newer)
		case i >= yieldEvery && (len(got) != 1 || got[0] != newer):
			t.Fatalf("client %d has %v, want only the newer %s (older was %s)", i, got, newer, older)
		}
	}
	late.cancel()
	for _, c := range cs {
		c.cancel()
	}
}

// TestRemoveAndCompactKeepTheFanOut: clients leaving halfway through a
// fan-out (their slots compacted away) cost none of the others its message.
func TestRemoveAndCompactKeepTheFanOut(t *testing.T) {
	h := newHub(Config{}, nil)
	const n = 4 * yieldEvery
	cs := addClients(h, n)
	h.Broadcast([]byte(`{"seq":1}`))
	h.takePending()
	h.step()
	// Every other client leaves, both before and after the cursor: that
	// empties half the slots and compacts them.
	for i := 0; i < n; i += 2 {
		h.remove(cs[i])
	}
	if len(h.clients) != n/2 {
		t.Fatalf("%d slots after half the clients left, want them compacted to %d", len(h.clients), n/2)
	}
	for h.left > 0 {
		h.step()
	}
	for i := 1; i < n; i += 2 {
		if got := queued(cs[i]); len(got) != 1 || got[0] != ptr(h.latest) {
			t.Fatalf("client %d has %v after the fan-out, want the broadcast once", i, got)
		}
		if cs[i].slot < 0 || h.clients[cs[i].slot] != cs[i] {
			t.Fatalf("client %d's slot %d is wrong after compaction", i, cs[i].slot)
		}
	}
	if h.Clients() != n/2 {
		t.Fatalf("Clients() = %d, want %d", h.Clients(), n/2)
	}
	for _, c := range cs {
		c.cancel()
	}
}

// TestQueueReplacesOnlyATrailingState: a broadcast waiting at the tail of a
// client's queue is replaced by the next one; one with a Send queued after
// it is not, so the Send is never overtaken.
func TestQueueReplacesOnlyATrailingState(t *testing.T) {
	h := newHub(Config{}, nil)
	c := newOwnedClient(h) // never started: no writer drains the queue
	msg := func(s string) []byte { return textFrame([]byte(s)) }
	b1, s1, b2, b3, s2 := msg("b1"), msg("s1"), msg("b2"), msg("b3"), msg("s2")
	for _, e := range []struct {
		pm    []byte
		state bool
	}{{b1, true}, {s1, false}, {b2, true}, {b3, true}, {s2, false}} {
		if !c.enqueue(e.pm, e.state, true) {
			t.Fatal("enqueue failed")
		}
	}
	want := []string{ptr(b1), ptr(s1), ptr(b3), ptr(s2)}
	if got := queued(c); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queue = %v, want b1 s1 b3 s2 = %v", got, want)
	}
	c.cancel()
}

// countingConn counts the Writes made to it.
type countingConn struct {
	net.Conn
	writes int
	data   []byte
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes++
	c.data = append(c.data, b...)
	return len(b), nil
}

// TestFramesGoOutInOneWrite: the frames queued for a client cost one Write
// even on a wrapped connection (where net.Buffers would write each).
func TestFramesGoOutInOneWrite(t *testing.T) {
	c := &countingConn{}
	a, b := textFrame([]byte(`{"ticket":1}`)), textFrame([]byte(strings.Repeat("s", 300)))
	if err := writeFrames(c, net.Buffers{a, b}); err != nil {
		t.Fatal(err)
	}
	if c.writes != 1 || string(c.data) != string(a)+string(b) {
		t.Fatalf("%d writes of %q, want one of both frames", c.writes, c.data)
	}
}

// TestStalledWriterGetsOneCompanionMessage: while a client's writer has
// not written the broadcast it was handed, newer broadcasts replace it and
// the companion is not called for each (which would queue one message of
// its own per broadcast, until the client was dropped for being slow):
// the writer calls it once, before it writes the newest.
func TestStalledWriterGetsOneCompanionMessage(t *testing.T) {
	h := newHub(Config{}, nil)
	c := newOwnedClient(h) // never started: no writer drains the queue
	calls := 0
	c.Accompany(func(c *Client, wait bool) bool {
		calls++
		c.Stage(textFrame([]byte(fmt.Sprintf("own %d", calls))))
		return true
	})
	for i := range 5 * h.cfg.SendQueue {
		if !c.hand(textFrame([]byte(fmt.Sprintf("b%d", i)))) {
			t.Fatalf("broadcast %d: the client was dropped (queue of %d)", i, len(c.queue))
		}
	}
	c.mu.Lock()
	n, later := len(c.queue), c.accompany
	c.mu.Unlock()
	if calls != 1 || n != 2 || !later {
		t.Fatalf("after %d broadcasts to a stalled writer: companion called %d times, %d messages queued, writer to call it: %v; want 1, 2 (its message and the newest broadcast), true",
			5*h.cfg.SendQueue, calls, n, later)
	}
	c.cancel()
}
