package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Retry timing: a retried request waits Retry-After, but at most maxBackoff,
// so the driver keeps up with windows of a few seconds.
const (
	minBackoff     = 100 * time.Millisecond
	maxBackoff     = 500 * time.Millisecond
	requestTimeout = 10 * time.Second
)

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (a answer) str(key string) string {
	s, _ := a.json[key].(string)
	return s
}

func (a answer) String() string {
	return fmt.Sprintf("%d %s", a.status, strings.TrimSpace(string(a.body)))
}

// api calls the service, retrying what a dead replica or store causes.
type api struct {
	base   string
	client *http.Client

	mu    sync.Mutex
	retry map[string]int // reason → retries
}

func newAPI(base string) *api {
	return &api{
		base:   base,
		client: &http.Client{Timeout: requestTimeout},
		retry:  map[string]int{},
	}
}

// once sends one request as the client ip, with token as a bearer.
func (a *api) once(ctx context.Context, method, path, ip, token string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, nil)
	if err != nil {
		return answer{}, err
	}
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	ans := answer{status: resp.StatusCode, header: resp.Header, body: body}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &ans.json); err != nil {
			return ans, fmt.Errorf("%s %s: body is not JSON: %q", method, path, body)
		}
	}
	return ans, nil
}

// do is once, retried until ctx ends on connection errors and on the
// answers of a proxy or service that is briefly without a backend (502,
// 503 unavailable, 504). Every other answer is returned.
func (a *api) do(ctx context.Context, method, path, ip, token string) (answer, error) {
	for {
		ans, err := a.once(ctx, method, path, ip, token)
		reason := ""
		switch {
		case err != nil && ctx.Err() != nil:
			return ans, err
		case err != nil:
			reason = "connection error"
		case ans.status == http.StatusBadGateway, ans.status == http.StatusGatewayTimeout:
			reason = strconv.Itoa(ans.status)
		case ans.status == http.StatusServiceUnavailable && ans.str("error") == "unavailable":
			reason = "503 unavailable"
		default:
			return ans, nil
		}
		a.mu.Lock()
		a.retry[reason]++
		a.mu.Unlock()
		wait := maxBackoff
		if s, convErr := strconv.Atoi(ans.header.Get("Retry-After")); convErr == nil {
			wait = min(max(time.Duration(s)*time.Second, minBackoff), maxBackoff)
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%s %s: still %v when the visit timed out", method, path, ans)
			}
			return ans, err
		case <-time.After(wait):
		}
	}
}

// retries returns the retries so far, by reason.
func (a *api) retries() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.retry))
	for k, v := range a.retry {
		out[k] = v
	}
	return out
}

// waitHealthy waits until /readyz answers 200 through the proxy.
func (a *api) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ans, err := a.once(ctx, "GET", "/readyz", "", "")
		if err == nil && ans.status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/readyz not 200 after %v: %v %v", a.base, timeout, ans, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitDrained waits until the line is empty and nobody is served, and
// reports how long it took.
func (a *api) waitDrained(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ans, err := a.do(ctx, "GET", "/api/v1/queue", "", "")
		if err != nil {
			return time.Since(start), fmt.Errorf("the line did not empty within %v: %v", timeout, err)
		}
		serving, _ := ans.json["serving"].([]any)
		length, _ := ans.json["length"].(float64)
		if ans.status == http.StatusOK && length == 0 && len(serving) == 0 {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("the line did not empty within %v: %s", timeout, ans.body)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// issuedTotal reads catqms_tickets_issued_total from /metrics: the line's
// own count, across replicas.
func (a *api) issuedTotal(ctx context.Context) (int, error) {
	ans, err := a.do(ctx, "GET", "/metrics", "", "")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(ans.body)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "catqms_tickets_issued_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, errors.New("/metrics has no catqms_tickets_issued_total")
}
