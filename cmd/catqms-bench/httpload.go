package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// sourceIPs are the loopback source addresses client sockets spread over,
// so that no single address runs out of ephemeral ports.
const sourceIPs = 16

// sourceAddr is the i-th loopback source address: 127.0.0.2, 127.0.0.3, …
func sourceAddr(i int) net.IP { return net.IPv4(127, 0, 0, byte(2+i%sourceIPs)) }

// httpClient keeps conns keep-alive connections, spread over the loopback
// source addresses.
func httpClient(conns int) *http.Client {
	var n atomic.Int64
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: sourceAddr(int(n.Add(1)))}}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     conns * 2,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// loadResult is one closed-loop HTTP run.
type loadResult struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

// closedLoop runs workers that each send one request after the other for
// dur (after a warm-up that is not counted) and measures each request.
// do sends one request and reports whether its answer was the expected one.
func closedLoop(ctx context.Context, workers int, warm, dur time.Duration, do func(ctx context.Context, worker int) bool) loadResult {
	var (
		mu     sync.Mutex
		lats   []float64
		errs   int
		wg     sync.WaitGroup
		start  = time.Now()
		counts = start.Add(warm)
		end    = counts.Add(dur)
	)
	for w := range workers {
		wg.Go(func() {
			local := make([]float64, 0, 4096)
			bad := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				ok := do(ctx, w)
				t1 := time.Now()
				if t0.Before(counts) {
					continue
				}
				if !ok {
					bad++
					continue
				}
				local = append(local, ms(t1.Sub(t0)))
			}
			mu.Lock()
			lats = append(lats, local...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	return loadResult{
		Requests: len(lats),
		Errors:   errs,
		RPS:      float64(len(lats)) / dur.Seconds(),
		P50ms:    percentile(lats, 50),
		P99ms:    percentile(lats, 99),
	}
}

// get sends GET url and reports whether it answered want; the body is read
// and discarded so the connection is reused.
func get(ctx context.Context, c *http.Client, url string, want int) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == want
}

func must200(resp *http.Response, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return body, nil
}
