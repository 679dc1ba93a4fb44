package hub_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/catqms/catqms/hub"
)

// maskedText is one client-to-server text frame (clients must mask).
func maskedText(payload string) []byte {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b := []byte{0x81, 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i := range len(payload) {
		b = append(b, payload[i]^mask[i%4])
	}
	return b
}

// wantInbound waits for the handler to receive want, in order.
func wantInbound(t *testing.T, rec *recorder, why string, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case m := <-rec.messages:
			if m.data != w {
				t.Fatalf("got %s, want %s", m.data, w)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s was not read: %s", w, why)
		}
	}
}

// TestMessagesArrivingTogetherAreAllRead: the reader waits on the socket
// only when its buffer is empty. Two messages that arrive in one segment sit
// in the buffer together after the first is read; the second must be
// handled at once, not when the peer next sends something.
func TestMessagesArrivingTogetherAreAllRead(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{}, rec)
	rc := dialRaw(t, ts.url, nil)
	ts.waitServed(t, 1)

	want := []string{`{"n":1}`, `{"n":2}`, `{"n":3}`}
	together := append(maskedText(want[0]), maskedText(want[1])...)
	together = append(together, maskedText(want[2])...)
	if _, err := rc.conn.Write(together); err != nil {
		t.Fatal(err)
	}
	wantInbound(t, rec, "sent in one segment with the one before", want...)
	// And one more, alone, after the reader went back to waiting.
	if _, err := rc.conn.Write(maskedText(`{"n":4}`)); err != nil {
		t.Fatal(err)
	}
	wantInbound(t, rec, "sent to an idle reader", `{"n":4}`)
}

// TestIdleReaderKeepsASmallStack: an idle connection's reader waits for
// the peer from a shallow frame, so the runtime can keep its stack at the
// 2 KB minimum (parked inside gorilla's read it needs 4 KB).
func TestIdleReaderKeepsASmallStack(t *testing.T) {
	if testing.Short() {
		t.Skip("connects hundreds of clients")
	}
	if raceEnabled {
		// Parked readers need more than 1 KB under the race detector, so
		// their stacks stay at 4 KB; scripts/test.sh runs this test again
		// without -race.
		t.Skip("the race detector enlarges stack frames")
	}
	const clients = 300
	ts := newTestServer(t, hub.Config{}, nil)
	ts.hub.Broadcast([]byte(`{"seq":1}`))
	stack := func() uint64 {
		runtime.GC()
		runtime.GC() // stacks shrink during a GC; the second sees them shrunk
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.StackInuse
	}
	before, goroutines := stack(), runtime.NumGoroutine()
	raws := make([]*rawClient, clients)
	for i := range raws {
		raws[i] = dialRaw(t, ts.url, nil) // raw clients run no goroutines here
	}
	ts.waitServed(t, clients)
	for _, rc := range raws {
		if _, err := rc.readMessageFrame(); err != nil { // the latest; its writer is done
			t.Fatal(err)
		}
	}
	// Each writer exits after its write; wait until only the readers are
	// left (a busy machine can take a while to run 300 goroutine exits).
	for deadline := time.Now().Add(wait); runtime.NumGoroutine() > goroutines+clients; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want at most %d: one reader per client", runtime.NumGoroutine(), goroutines+clients)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := stack()
	per := float64(after-before) / clients
	t.Logf("stack in use: %d → %d bytes, %.0f per idle connection", before, after, per)
	if per > 3<<10 {
		t.Fatalf("%.0f bytes of stack per idle connection, want the 2 KB minimum (under 3 KB)", per)
	}
}

// TestSmallReadBufferIsRaised: a read buffer gorilla would not read
// through (256 bytes or less) is raised to the least one it does, so the
// reader still sees what is buffered.
func TestSmallReadBufferIsRaised(t *testing.T) {
	rec := newRecorder()
	ts := newTestServer(t, hub.Config{ReadBufferSize: 64}, rec)
	rc := dialRaw(t, ts.url, nil)
	ts.waitServed(t, 1)
	if _, err := rc.conn.Write(append(maskedText(`{"n":1}`), maskedText(`{"n":2}`)...)); err != nil {
		t.Fatal(err)
	}
	wantInbound(t, rec, "sent in one segment with the one before", `{"n":1}`, `{"n":2}`)
}
