package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/catqms/catqms/queue"
)

// Connection limits. Every open connection holds a file descriptor, idle
// keep-alive ones for up to two minutes, and a WebSocket for as long as the
// page stays; a client that opens thousands can run the process out of
// descriptors, and then nobody is served. So connections are counted per
// client address (HTTP and WebSocket together: a WebSocket is an HTTP
// connection taken over) and in total, at accept, before anything is read.
const (
	// DefaultMaxConnsPerClient is the default per-address cap: a browser
	// opens up to six connections to a site plus one WebSocket per tab,
	// so this leaves room for a household or an office behind one address.
	DefaultMaxConnsPerClient = 100
	// loopbackRoom is how many connections from the machine itself are
	// still accepted over the total cap: the image's health check
	// (catqms --healthcheck) and a local monitor get through a full
	// listener.
	loopbackRoom = 16
	// refusalWriteTimeout bounds the one write a refusal makes.
	refusalWriteTimeout = 100 * time.Millisecond
)

// fileReserve is how many descriptors the automatic total cap leaves
// unused for everything that is not a client connection: the store's
// connections, the metrics listener, files, the health-check room.
func fileReserve(limit int) int { return max(64, limit/10) }

// autoMaxConns is the total cap when none is configured: the open-file
// limit less fileReserve. Go raises the soft limit to the hard one at start.
func autoMaxConns() int {
	limit := openFileLimit()
	return max(limit-fileReserve(limit), 1)
}

// connLimiter counts open connections per client key and in total.
type connLimiter struct {
	maxTotal, maxPerKey int
	exempt              []netip.Prefix // per-key cap off: proxies and shared networks
	prefixBits          int            // IPv6 prefix that makes one client

	mu     sync.Mutex
	total  int
	perKey map[string]int

	refused *prometheus.CounterVec
}

func newConnLimiter(cfg Config) *connLimiter {
	return &connLimiter{
		maxTotal:   cfg.MaxConns,
		maxPerKey:  cfg.MaxConnsPerClient,
		exempt:     append(append([]netip.Prefix(nil), cfg.TrustedProxies...), cfg.SharedNetworks...),
		prefixBits: cfg.IPv6BanPrefix,
		perKey:     make(map[string]int),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catqms_connections_refused_total",
			Help: "Connections closed at accept: over the per-client cap (per_client) or the total cap (total).",
		}, []string{"reason"}),
	}
}

// collectors are the limiter's metrics.
func (l *connLimiter) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		l.refused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catqms_connections_open",
			Help: "Client connections open now (HTTP and WebSocket) on the API listener.",
		}, func() float64 {
			l.mu.Lock()
			defer l.mu.Unlock()
			return float64(l.total)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catqms_connections_limit",
			Help: "The total connection cap of the API listener.",
		}, func() float64 { return float64(l.maxTotal) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "catqms_connections_clients",
			Help: "Client addresses with a connection open now (not counting exempt ones).",
		}, func() float64 {
			l.mu.Lock()
			defer l.mu.Unlock()
			return float64(len(l.perKey))
		}),
	}
}

// admit takes a slot for a connection from ip. It returns the key to give
// back (empty for an exempt address) and "" or why it refused.
func (l *connLimiter) admit(ip netip.Addr) (key string, refused string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.maxTotal && !(ip.IsLoopback() && l.total < l.maxTotal+loopbackRoom) {
		return "", "total"
	}
	if ip.IsValid() && !isTrusted(ip, l.exempt) {
		key = clientKey(ip, l.prefixBits)
		if l.perKey[key] >= l.maxPerKey {
			return "", "per_client"
		}
		l.perKey[key]++
	}
	l.total++
	return key, ""
}

// release gives a slot back.
func (l *connLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if key == "" {
		return
	}
	if l.perKey[key] <= 1 {
		delete(l.perKey, key)
		return
	}
	l.perKey[key]--
}

// Listener returns ln with the server's connection limits: a connection
// over a cap is answered with a short, fixed HTTP error and closed at once,
// before any of its bytes are read, and never reaches the HTTP server.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, lim: s.conns,
		perClient: s.refusal(queue.Errorf(codeTooManyConnections,
			"this address has %d connections open, the most one client may; close some and try again", s.cfg.MaxConnsPerClient)),
		total: s.refusal(queue.Errorf(queue.CodeUnavailable,
			"the service has as many connections open as it can hold; try again shortly")),
	}
}

// refusal is the raw HTTP answer to a refused connection, built once.
func (s *Server) refusal(qe *queue.Error) []byte {
	shown, status, retry := s.policy.describe(qe)
	body, _ := json.Marshal(newErrorBody(shown))
	body = append(body, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"+
		"Retry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), retrySeconds(retry), len(body), body)
}

// limitedListener applies a connLimiter at Accept.
type limitedListener struct {
	net.Listener
	lim              *connLimiter
	perClient, total []byte
}

// Accept returns the next connection within the limits; the ones over a
// cap are answered and closed here, which costs one write and no
// goroutine.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := parseAddr(c.RemoteAddr().String())
		key, refused := l.lim.admit(ip)
		if refused == "" {
			return &limitedConn{Conn: c, release: func() { l.lim.release(key) }}, nil
		}
		l.lim.refused.WithLabelValues(refused).Inc()
		answer := l.total
		if refused == "per_client" {
			answer = l.perClient
		}
		_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
		_, _ = c.Write(answer) // a fresh socket's buffer takes it without waiting
		_ = c.Close()
	}
}

// limitedConn gives its slot back when closed, whether by the HTTP server
// or by the hub after a WebSocket took it over.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot once.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection when the underlying one can.
// net/http half-closes before hanging up on a client that is still sending
// (after an early error answer), so that the client reads the answer
// instead of a reset: a wrapper that hid it would turn those answers into
// "connection reset by peer".
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom lets net/http send files and large bodies with the underlying
// connection's ReadFrom (sendfile on TCP) through the wrapper.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// SyscallConn passes the socket through, so that the hub can wait for an
// idle WebSocket to become readable without holding a read buffer
// (hub.Client.watchIdle). Without it, each idle connection would pin one.
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errNoSyscallConn
	}
	return sc.SyscallConn()
}

// errNoSyscallConn answers SyscallConn on a connection without a socket.
var errNoSyscallConn = errors.New("connection has no socket")
