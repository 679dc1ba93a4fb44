package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/queue"
)

// maxBodyBytes is the largest API request body: a token fits many times.
const maxBodyBytes = 4 << 10

// contentSecurityPolicy lets the web client load only its own scripts and
// styles (never inline ones), show kitties from blobs and data URLs, and
// open its WebSocket; no plugin, no <base> rewriting, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; connect-src 'self' ws: wss:; media-src 'self' data: blob:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// apiSecurityPolicy goes on everything that is not a page: JSON and
// pictures are never documents that run anything or sit in a frame.
const apiSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; sandbox"

// ctxUpgraded marks a request whose connection became a WebSocket.
const ctxUpgraded = "catqms.upgraded"

// routeOf is the route pattern of c, never the raw path, so that metrics
// and logs have bounded labels and carry no ids.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// knownMethods bounds the method label: anyone can send any method name.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

// quietRoutes are polled by machines; their requests log at debug level.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// observe logs every request and records its duration. It logs the route,
// never the query, a header or a body: tokens travel in those.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)

	route, method := routeOf(c), c.Request.Method
	if !knownMethods[method] {
		method = "other"
	}
	status := c.Writer.Status()
	if c.GetBool(ctxUpgraded) {
		status = http.StatusSwitchingProtocols
	}
	s.observerFor(route, method, status).Observe(elapsed.Seconds())

	level := slog.LevelInfo
	if quietRoutes[route] {
		level = slog.LevelDebug
	}
	// Log checks the level itself, but only after its arguments are built:
	// boxing them and formatting the client address cost allocations on
	// every request even when the level is off (warn, in production).
	ctx := c.Request.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	s.log.Log(ctx, level, "request",
		"method", method,
		"route", route,
		"status", status,
		"bytes", c.Writer.Size(),
		"duration", elapsed,
		"client", clientFrom(c).IP.String(),
	)
}

// securityHeaders go on every response.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", apiSecurityPolicy) // pageHeaders replaces it on pages
	c.Next()
}

// pageHeaders go on the web client's pages and assets.
func pageHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	c.Next()
}

// noStore keeps API answers out of caches: they change from one second to
// the next and some carry secrets.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Next()
}

// recovery turns a panic into a logged 500 "internal error". The log has
// the panic and the stack, never the request's headers or body.
func (s *Server) recovery(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(v) // net/http's way to drop a connection on purpose
		}
		s.log.Error("panic", "route", routeOf(c), "method", c.Request.Method, "panic", v, "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		s.fail(c, queue.Errorf(queue.CodeInternal, "panic: %v", v))
	}()
	c.Next()
}

// timeout bounds an API request, so that a slow store answers 503 rather
// than holding the client.
func (s *Server) timeout(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// limitBody caps the API request body at maxBodyBytes. A request without
// a body keeps http.NoBody, which needs no cap and which bodyToken knows
// to skip without reading.
func limitBody(c *gin.Context) {
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	}
	c.Next()
}
