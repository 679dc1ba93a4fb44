package hub_test

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catqms/catqms/hub"
)

// BenchmarkBroadcast measures one broadcast of a snapshot-sized message
// delivered to 1000 clients over loopback WebSockets: each iteration waits
// until every client has read the message, so ns/op is the fan-out latency
// and deliveries/s the hub's throughput.
func BenchmarkBroadcast(b *testing.B) {
	const clients = 1000
	ts := newTestServer(b, hub.Config{}, nil)
	got := make(chan error, clients)
	var readers sync.WaitGroup
	for range clients {
		conn := dial(b, ts.url, nil)
		readers.Go(func() {
			for {
				_, r, err := conn.NextReader()
				if err != nil {
					return // closed by the hub at cleanup
				}
				_, err = io.Copy(io.Discard, r)
				got <- err
			}
		})
	}
	ts.waitServed(b, clients)
	b.Cleanup(func() {
		_ = ts.hub.Close() // ends the readers
		readers.Wait()
	})

	// About the size of a snapshot with 64 waiting tickets.
	msg := fmt.Appendf(nil, `{"type":"snapshot","version":1,"waiting":[%s]}`,
		strings.TrimSuffix(strings.Repeat(`{"ticket":"A042"},`, 64), ","))
	b.SetBytes(int64(len(msg) * clients)) // bytes fanned out per broadcast
	start := time.Now()
	for b.Loop() {
		ts.hub.Broadcast(msg)
		for range clients {
			if err := <-got; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*clients)/time.Since(start).Seconds(), "deliveries/s")
}
