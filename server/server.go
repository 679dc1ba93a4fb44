// Package server is the HTTP face of catqms: the Gin routes and handlers, the
// error → status table, the middleware (client IP, body limit, timeouts,
// logging, metrics, security headers), health and metrics endpoints, and the
// live feed that turns line changes into WebSocket messages.
//
// It talks to the line, the WebSocket hub, the picture source and the web
// pages through small interfaces declared here; only main knows the concrete
// types.
package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue"
)

// Defaults for the zero values of Config.
const (
	DefaultIPv6BanPrefix  = 64
	DefaultMaxWSPerClient = 20
	DefaultRequestTimeout = 5 * time.Second
)

// Config is the server's tuning. Zero values take the defaults above.
type Config struct {
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// IPv6BanPrefix is the prefix length that keys an IPv6 client: every
	// address in one /IPv6BanPrefix is one client for bans and limits,
	// because a single host usually owns a whole /64.
	IPv6BanPrefix int
	// AdminToken is the bearer token of the admin API (server/admin.go);
	// empty turns it off: every admin path answers 404.
	AdminToken string
	// MaxWSPerClient caps the WebSocket connections of one client key.
	MaxWSPerClient int
	// TakeRate is how many tickets a second one client key may take, on
	// average, in this process; rate.Inf turns the limit off.
	TakeRate rate.Limit
	// TakeBurst is how many tickets one client key may take at once
	// before TakeRate applies.
	TakeBurst int
	// RequestTimeout bounds every API request and every store call the
	// live feed makes.
	RequestTimeout time.Duration
	// Version is reported by /healthz and the catqms_build_info metric.
	Version string
}

// withDefaults returns c with defaults filled in, or an error naming the
// first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.IPv6BanPrefix == 0 {
		c.IPv6BanPrefix = DefaultIPv6BanPrefix
	}
	if c.IPv6BanPrefix < 1 || c.IPv6BanPrefix > 128 {
		return c, fmt.Errorf("server: IPv6BanPrefix %d is outside 1..128", c.IPv6BanPrefix)
	}
	if c.MaxWSPerClient == 0 {
		c.MaxWSPerClient = DefaultMaxWSPerClient
	}
	if c.MaxWSPerClient < 0 {
		return c, fmt.Errorf("server: MaxWSPerClient %d is negative", c.MaxWSPerClient)
	}
	if c.TakeRate == 0 {
		c.TakeRate = DefaultTakeRate
	}
	if c.TakeRate < 0 || math.IsNaN(float64(c.TakeRate)) {
		return c, fmt.Errorf("server: TakeRate %v is negative", c.TakeRate)
	}
	if c.TakeBurst == 0 {
		c.TakeBurst = DefaultTakeBurst
	}
	if c.TakeBurst < 0 {
		return c, fmt.Errorf("server: TakeBurst %d is negative", c.TakeBurst)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.RequestTimeout < 0 {
		return c, fmt.Errorf("server: RequestTimeout %v is negative", c.RequestTimeout)
	}
	proxies := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return c, fmt.Errorf("server: invalid trusted proxy prefix %v", p)
		}
		// An IPv4 prefix written as IPv4-mapped IPv6 would never match the
		// unmapped addresses clientIP compares against.
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return c, fmt.Errorf("server: trusted proxy prefix %v is wider than the IPv4 space", p)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		proxies = append(proxies, p.Masked())
	}
	c.TrustedProxies = proxies
	return c, nil
}

// ImageSource gives the picture for a ticket. kitty.Source satisfies it.
type ImageSource interface {
	Image(seq uint64) (kitty.Image, error)
}

// Hub fans WebSocket messages out to browsers. *hub.Hub satisfies it.
type Hub interface {
	// Serve upgrades the request and runs the connection with handler.
	Serve(w http.ResponseWriter, r *http.Request, handler hub.Handler) error
	// Broadcast sends data to every client and remembers it for new ones.
	Broadcast(data []byte)
	// Clients counts the connected clients.
	Clients() int
}

// Deps are the parts the server is wired to.
type Deps struct {
	Line     queue.Line           // the ticket line; required
	Admin    queue.Admin          // the operator's actions; required with Config.AdminToken
	Images   ImageSource          // the pictures; required
	Hub      Hub                  // the WebSocket fan-out; required, closed by the caller
	Pages    http.Handler         // the web client; nil answers 404 for pages
	Logger   *slog.Logger         // nil discards
	Registry *prometheus.Registry // what /metrics serves; nil = a new one
}

// Server serves the catqms HTTP API, the WebSocket feed and the pages.
type Server struct {
	cfg    Config
	line   queue.Line
	admin  queue.Admin
	images ImageSource
	hub    Hub
	pages  http.Handler
	log    *slog.Logger
	reg    *prometheus.Registry

	engine    *gin.Engine
	duration  *prometheus.HistogramVec
	observers observerCache // duration's children, by label values

	live *liveFeed

	takes *rateLimiter     // GET /api/v1/token per client key
	now   func() time.Time // the rate limiter's clock; tests move it

	wsMu    sync.Mutex
	wsConns map[string]int // open WebSocket connections per client key

	closeOnce sync.Once
}

// New builds a Server and starts its live feed. Call Close to stop it.
func New(cfg Config, deps Deps) (*Server, error) {
	return newServer(cfg, deps, feedResync)
}

// newServer is New with the live feed's resync period, which tests shorten.
func newServer(cfg Config, deps Deps, resync time.Duration) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	switch {
	case deps.Line == nil:
		return nil, errors.New("server: Deps.Line is nil")
	case deps.Images == nil:
		return nil, errors.New("server: Deps.Images is nil")
	case deps.Hub == nil:
		return nil, errors.New("server: Deps.Hub is nil")
	case cfg.AdminToken != "" && deps.Admin == nil:
		return nil, errors.New("server: Config.AdminToken is set but Deps.Admin is nil")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		cfg:     cfg,
		line:    deps.Line,
		admin:   deps.Admin,
		images:  deps.Images,
		hub:     deps.Hub,
		pages:   deps.Pages,
		log:     deps.Logger,
		reg:     deps.Registry,
		wsConns: make(map[string]int),
		takes:   newRateLimiter(cfg.TakeRate, cfg.TakeBurst, maxRateKeys),
		now:     time.Now,
	}
	if err := s.registerMetrics(); err != nil {
		return nil, err
	}
	s.engine = s.routes()
	s.live = newLiveFeed(s, resync)
	s.live.start()
	return s, nil
}

// Handler returns the HTTP handler: the Gin engine.
func (s *Server) Handler() http.Handler { return s.engine }

// Close stops the live feed. It does not close the line or the hub, which
// belong to the caller. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(s.live.stop)
	return nil
}

// routes builds the Gin engine with its middleware listed explicitly.
func (s *Server) routes() *gin.Engine {
	e := gin.New()
	// Gin's own proxy handling is off: clientIP decides who the client is.
	e.ForwardedByClientIP = false
	_ = e.SetTrustedProxies(nil) // nil never fails
	e.HandleMethodNotAllowed = true
	// Unknown paths answer 404 JSON rather than a redirect to a guess.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false

	e.Use(s.observe, securityHeaders, s.recovery, s.identify)
	e.NoRoute(func(c *gin.Context) {
		s.fail(c, queue.Errorf(queue.CodeNotFound, "no such route: %s", truncate(c.Request.URL.Path, 100)))
	})
	e.NoMethod(func(c *gin.Context) {
		// Gin has already set the Allow header.
		s.fail(c, queue.Errorf(queue.CodeMethodNotAllowed, "method %s is not allowed here", truncate(c.Request.Method, 20)))
	})

	api := e.Group("/api/v1", noStore, s.timeout, limitBody)
	api.GET("/token", s.rateLimitTakes, s.takeTicket)
	api.POST("/kitty", s.redeem)
	api.DELETE("/kitty", s.endViewing)
	api.GET("/ticket", s.ticketStatus)
	api.DELETE("/ticket", s.leave)
	api.GET("/queue", s.snapshot)
	api.GET("/images/:id", s.image)
	s.adminRoutes(api) // /api/v1/admin/…, only with an admin token
	// The WebSocket lives as long as the browser stays: no request timeout.
	e.GET("/api/v1/ws", noStore, s.websocket)

	e.GET("/healthz", noStore, s.healthz)
	e.GET("/readyz", noStore, s.readyz)
	e.GET("/metrics", gin.WrapH(s.metricsHandler()))

	pages := e.Group("", pageHeaders)
	for _, path := range []string{"/", "/board", "/qr.svg", "/assets/*path"} {
		pages.GET(path, s.page)
		pages.HEAD(path, s.page) // the web client answers HEAD too
	}
	return e
}

// The concrete parts main wires in satisfy the interfaces declared here.
var (
	_ Hub         = (*hub.Hub)(nil)
	_ ImageSource = kitty.Source(nil)
)

// truncate cuts s to at most n bytes for messages and logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
