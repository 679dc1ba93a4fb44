package client_test

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue/redisline"
	"github.com/catqms/catqms/server"
)

func TestMain(m *testing.M) {
	// Gin's debug mode prints the routes to stdout, which the examples
	// compare with their Output.
	gin.SetMode(gin.TestMode)
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goroutines left behind: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// service is a whole catqms server on the embedded store, behind an
// httptest server: what the examples and tests talk to.
type service struct {
	URL   string
	close func()
}

// startService starts a service whose called tickets have headWindow to
// redeem. Close stops it.
func startService(headWindow time.Duration) *service {
	rdb, stopStore, err := redisline.Embedded()
	if err != nil {
		panic(err)
	}
	line, err := redisline.New(context.Background(), rdb, redisline.Options{HeadWindow: headWindow})
	if err != nil {
		panic(err)
	}
	h := hub.New(hub.Config{}, nil)
	// The server tells a waiting holder to ask again within half the
	// head window, which it reads from the line.
	srv, err := server.New(server.Config{}, server.Deps{Line: line, Images: kitty.Builtin(), Hub: h})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv.Handler())
	return &service{URL: ts.URL, close: func() {
		ts.Close()
		_ = h.Close()
		_ = srv.Close()
		_ = line.Close()
		_ = rdb.Close()
		_ = stopStore()
	}}
}

// Close stops the service.
func (s *service) Close() { s.close() }

// cutter is a TCP proxy in front of a service whose connections can be cut,
// as a network failure or a replica's death would.
type cutter struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newCutter(t *testing.T, backend string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, backend: backend}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		c.cut()
		c.wg.Wait()
	})
	return c
}

func (c *cutter) URL() string { return "http://" + c.ln.Addr().String() }

func (c *cutter) accept() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", c.backend)
		if err != nil {
			_ = in.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		c.wg.Add(2)
		go c.pipe(in, out)
		go c.pipe(out, in)
	}
}

func (c *cutter) pipe(dst, src net.Conn) {
	defer c.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// cut closes every connection open now.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = nil
}
