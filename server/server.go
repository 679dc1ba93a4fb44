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
	"context"
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

	"github.com/catqms/catqms/api"
	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/readmodel"
)

// Defaults for the zero values of Config, and their ranges: the command
// reads them from here.
const (
	DefaultIPv6BanPrefix  = 64
	MinIPv6BanPrefix      = 32 // a wider prefix would make whole providers one client
	MaxIPv6BanPrefix      = 128
	DefaultMaxWSPerClient = 20
	MaxMaxWSPerClient     = 100_000
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
	// EmbeddedStore says the line is kept in the embedded store, which
	// holds a shorter line: a full line's answer says how to get a longer one.
	EmbeddedStore bool
	// Version is reported by /healthz and the catqms_build_info metric.
	Version string
	// AllowedOrigins are the browser origins ("https://example.com", or
	// "*") besides this service's own that may act for a visitor: open the
	// WebSocket, take, redeem, leave (crossorigin.go).
	AllowedOrigins []string
	// MaxConns caps the open connections of the API listener (Listener);
	// zero takes the open-file limit less a reserve (connlimit.go).
	MaxConns int
	// MaxConnsPerClient caps the open connections, HTTP and WebSocket
	// together, from one client address; trusted proxies and shared
	// networks count only in MaxConns.
	MaxConnsPerClient int
	// SharedNetworks are networks where many visitors share one address
	// (a venue's Wi-Fi): their browsers are told apart by a signed device
	// cookie (device.go).
	SharedNetworks []netip.Prefix
	// MetricsElsewhere takes /metrics off the API's handler: OpsHandler
	// serves it on a listener of its own (--metrics-addr).
	MetricsElsewhere bool
	// HistoryRetention is how long the public record is kept (--history);
	// GET /api/v1/stats tells it. Zero takes DefaultHistoryRetention.
	HistoryRetention time.Duration
	// EstimateWindow is how far back the wait estimate measures the line's
	// flow (--estimate-window): the holds and leaves of that long ago and
	// since. Zero takes queue/flow's default, 15 minutes.
	EstimateWindow time.Duration
}

// withDefaults returns c with defaults filled in, or an error naming the
// first invalid field.
func (c Config) withDefaults() (Config, error) {
	var err error
	if c.IPv6BanPrefix == 0 {
		c.IPv6BanPrefix = DefaultIPv6BanPrefix
	}
	if c.IPv6BanPrefix < MinIPv6BanPrefix || c.IPv6BanPrefix > MaxIPv6BanPrefix {
		return c, fmt.Errorf("server: IPv6BanPrefix %d is outside %d..%d", c.IPv6BanPrefix, MinIPv6BanPrefix, MaxIPv6BanPrefix)
	}
	if c.MaxWSPerClient == 0 {
		c.MaxWSPerClient = DefaultMaxWSPerClient
	}
	if c.MaxWSPerClient < 0 || c.MaxWSPerClient > MaxMaxWSPerClient {
		return c, fmt.Errorf("server: MaxWSPerClient %d is outside 1..%d", c.MaxWSPerClient, MaxMaxWSPerClient)
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
	if c.HistoryRetention == 0 {
		c.HistoryRetention = DefaultHistoryRetention
	}
	if c.EstimateWindow < 0 {
		return c, fmt.Errorf("server: EstimateWindow %v is negative", c.EstimateWindow)
	}
	if c.MaxConns == 0 {
		c.MaxConns = autoMaxConns()
	}
	if c.MaxConnsPerClient == 0 {
		c.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if c.MaxConns < 0 || c.MaxConnsPerClient < 0 {
		return c, fmt.Errorf("server: MaxConns %d and MaxConnsPerClient %d must not be negative", c.MaxConns, c.MaxConnsPerClient)
	}
	if c.RequestTimeout < 0 {
		return c, fmt.Errorf("server: RequestTimeout %v is negative", c.RequestTimeout)
	}
	origins := make([]string, 0, len(c.AllowedOrigins))
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			origins = append(origins, o)
			continue
		}
		n := normalOrigin(o)
		if n == "" {
			return c, fmt.Errorf("server: allowed origin %q is not scheme://host[:port]", o)
		}
		origins = append(origins, n)
	}
	c.AllowedOrigins = origins
	if c.TrustedProxies, err = normalPrefixes(c.TrustedProxies, "trusted proxy"); err != nil {
		return c, err
	}
	if c.SharedNetworks, err = normalPrefixes(c.SharedNetworks, "shared network"); err != nil {
		return c, err
	}
	return c, nil
}

// normalPrefixes checks prefixes and writes IPv4 ones given as
// IPv4-mapped IPv6 as plain IPv4: clientIP compares unmapped addresses.
func normalPrefixes(prefixes []netip.Prefix, what string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() {
			return nil, fmt.Errorf("server: invalid %s prefix %v", what, p)
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return nil, fmt.Errorf("server: %s prefix %v is wider than the IPv4 space", what, p)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		out = append(out, p.Masked())
	}
	return out, nil
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

// Tickets is what the API's handlers ask of the line: a holder's
// operations, the board, and the ban that answers a request first.
type Tickets interface {
	// Take issues a new ticket at the end of the line.
	Take(ctx context.Context, client string) (queue.Issued, error)
	// Redeem turns a called ticket into a viewing session; an already
	// serving ticket returns its session again. A token this service did
	// not issue bans the client (CodeForbidden).
	Redeem(ctx context.Context, client, token string) (queue.Session, error)
	// EndViewing ends a serving ticket's session now and frees its counter.
	EndViewing(ctx context.Context, client, token string) error
	// Leave takes a waiting or called ticket out of the line; a serving one
	// ends its session.
	Leave(ctx context.Context, client, token string) error
	// Status reports a ticket's state and position.
	Status(ctx context.Context, client, token string) (queue.Ticket, error)
	// Viewing returns the live session behind an image id, or CodeGone.
	Viewing(ctx context.Context, imageID string) (queue.Session, error)
	// Snapshot returns the visible line.
	Snapshot(ctx context.Context) (queue.Snapshot, error)
	// BanRemaining returns how long client stays banned; 0 when not banned.
	BanRemaining(ctx context.Context, client string) (time.Duration, error)
}

// Board is what GET /api/v1/queue and the live feed ask the store
// (the feed, only for the tickets its view cannot show).
type Board interface {
	// Snapshot returns the visible line.
	Snapshot(ctx context.Context) (queue.Snapshot, error)
	// Statuses reports many tickets at once: reply i is what Status would
	// answer for reqs[i], refusals included (a forged token bans first).
	// The error is for the whole call: then there are no replies.
	Statuses(ctx context.Context, reqs []queue.StatusRequest) ([]queue.StatusReply, error)
}

// View is the line as this replica holds it in memory, kept up to date from
// the line's change log (queue/readmodel): what the live feed shows, with
// no store call per watcher.
type View interface {
	// Snapshot returns the visible line, its first limit waiting tickets,
	// with Now the line's clock now; an error while the view cannot follow
	// the line.
	Snapshot(limit int) (queue.Snapshot, error)
	// Ticket returns ticket seq as Status would show it to its holder,
	// and whether it is in the view: waiting, called or serving (a serving
	// ticket has no ImageID). A finished ticket, or one the view has not
	// heard of yet, is not.
	Ticket(seq uint64) (queue.Ticket, bool, error)
	// Changes delivers a signal after the view changed. One pending signal
	// stands for any number.
	Changes() <-chan struct{}
	// Bans counts the bans the view has seen (a count that moves is all
	// that matters): a ban is a client's, which the view does not know.
	Bans() int64
	// Estimate is the wait of a ticket at position from the line's flow
	// (queue/flow), as a range; an error while the view cannot follow the
	// line (the store's eta_seconds is shown then).
	Estimate(position int64) (flow.Range, error)
}

// StatsReader is what /metrics reads (metrics.go).
type StatsReader interface {
	Stats(ctx context.Context) (queue.Stats, error)
}

// Pinger is what /readyz asks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Line is a whole line as main wires it: every part the server uses, and
// its settings, which the error table reads (a waiting holder is told to
// ask again within half the head window). redisline.Line and memline.Line
// are ones.
type Line interface {
	Tickets
	Board
	StatsReader
	Pinger
	readmodel.Source // the change log the server's view follows
	Settings() queue.Settings
}

// Deps are the parts the server is wired to.
type Deps struct {
	Line     Line                 // the ticket line; required
	View     View                 // the line in memory, for the live feed; nil = a readmodel.Replica of Line that the server runs
	Admin    Admin                // the operator's actions; required with Config.AdminToken
	Images   ImageSource          // the pictures; required
	Hub      Hub                  // the WebSocket fan-out; required, closed by the caller
	Pages    http.Handler         // the web client; nil answers 404 for pages
	Logger   *slog.Logger         // nil discards
	Registry *prometheus.Registry // what /metrics serves; nil = a new one
	Devices  DeviceSigner         // device cookies; required with Config.SharedNetworks
	History  History              // the public record; nil: /api/v1/history answers 404
	Recent   RecentReader         // the stats page's charts; nil: only the totals
}

// Server serves the catqms HTTP API, the WebSocket feed and the pages.
type Server struct {
	cfg     Config
	policy  policy // what the error table's rules read
	tickets Tickets
	board   Board
	view    View
	stats   StatsReader
	health  Pinger
	admin   Admin
	images  ImageSource
	hub     Hub
	pages   http.Handler
	log     *slog.Logger
	reg     *prometheus.Registry

	engine         *gin.Engine
	duration       *prometheus.HistogramVec
	internalErrors prometheus.Counter
	observers      observerCache // duration's children, by label values

	// The wait estimate's scores (flow.MetricAbsError, flow.MetricInRange).
	estimateError, estimateInRange *prometheus.HistogramVec

	live *liveFeed
	// replica is the view the server runs itself (Deps.View nil): it
	// follows the line's change log until Close.
	replica     *readmodel.Replica
	stopReplica context.CancelFunc
	replicaDone chan struct{}

	openAPIDoc []byte // api.OpenAPI(), read once

	takes *rateLimiter     // GET /api/v1/token per client key
	now   func() time.Time // the rate limiter's clock; tests move it

	conns   *connLimiter // the API listener's connection caps (connlimit.go)
	devices DeviceSigner // device cookies on shared networks (device.go)

	records  History      // the public record (history.go); nil = not served
	verifier verifier     // the verdict on it, kept between requests
	recent   RecentReader // the stats page's charts (stats.go); nil = totals only

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
	case len(cfg.SharedNetworks) > 0 && deps.Devices == nil:
		return nil, errors.New("server: Config.SharedNetworks is set but Deps.Devices is nil")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		cfg:     cfg,
		policy:  policy{headWindow: deps.Line.Settings().HeadWindow, embedded: cfg.EmbeddedStore},
		tickets: deps.Line,
		board:   deps.Line,
		view:    deps.View,
		stats:   deps.Line,
		health:  deps.Line,
		admin:   deps.Admin,
		images:  deps.Images,
		hub:     deps.Hub,
		pages:   deps.Pages,
		log:     deps.Logger,
		reg:     deps.Registry,
		wsConns: make(map[string]int),
		takes:   newRateLimiter(cfg.TakeRate, cfg.TakeBurst, maxRateKeys),
		devices: deps.Devices,
		now:     time.Now,

		records:  deps.History,
		verifier: newVerifier(),
		recent:   deps.Recent,

		openAPIDoc: api.OpenAPI(),
	}
	if s.view == nil {
		settings := deps.Line.Settings()
		opts := readmodel.Options{Logger: deps.Logger, HeadWindow: settings.HeadWindow, FlowETA: true,
			Flow: flow.Config{Counters: settings.Counters, ViewWindow: settings.ViewWindow,
				Window: s.cfg.EstimateWindow, OnScore: s.observeScore}}
		if signed, ok := deps.Line.(interface{ Signer() *queue.Signer }); ok {
			opts.ImageID = signed.Signer().ImageID // a serving ticket's picture, shown from the view
		}
		s.replica = readmodel.New(deps.Line, opts)
		s.view = s.replica
	}
	if err := s.registerMetrics(); err != nil {
		return nil, err
	}
	s.conns = newConnLimiter(cfg)
	for _, c := range s.conns.collectors() {
		if err := s.reg.Register(c); err != nil {
			return nil, err
		}
	}
	s.engine = s.routes()
	if s.replica != nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopReplica, s.replicaDone = cancel, make(chan struct{})
		go func() {
			defer close(s.replicaDone)
			_ = s.replica.Run(ctx)
		}()
	}
	s.live = newLiveFeed(s, resync)
	s.live.start()
	return s, nil
}

// Handler returns the HTTP handler: the Gin engine.
func (s *Server) Handler() http.Handler { return s.engine }

// OpsHandler serves /metrics, /healthz and /readyz alone, for a listener
// apart from the API's: monitoring then stays private, and health checks
// pass even when the API listener is full.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.Handle("GET /healthz", s.engine)
	mux.Handle("GET /readyz", s.engine)
	return mux
}

// Close stops the live feed and the view the server runs. It does not
// close the line or the hub, which belong to the caller. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.live.stop()
		if s.replica != nil {
			s.stopReplica()
			<-s.replicaDone
		}
	})
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

	api := e.Group("/api/v1", noStore, s.refuseCrossSite, s.timeout, limitBody)
	api.GET("/token", s.rateLimitTakes, s.takeTicket)
	api.POST("/kitty", s.redeem)
	api.DELETE("/kitty", s.endViewing)
	api.GET("/ticket", s.ticketStatus)
	api.DELETE("/ticket", s.leave)
	api.GET("/queue", s.snapshot)
	api.GET("/images/:id", s.image)
	api.GET("/openapi.json", s.openAPI)
	api.GET("/stats", s.publicStats)
	api.GET("/history", s.history)
	api.GET("/history/verify", s.historyVerify)
	s.adminRoutes(api) // /api/v1/admin/…, only with an admin token
	// The WebSocket lives as long as the browser stays: no request timeout.
	e.GET("/api/v1/ws", noStore, s.refuseForeignSocket, s.websocket)

	e.GET("/healthz", noStore, s.healthz)
	e.GET("/readyz", noStore, s.readyz)
	if !s.cfg.MetricsElsewhere {
		e.GET("/metrics", gin.WrapH(s.metricsHandler()))
	}

	pages := e.Group("", pageHeaders)
	for _, path := range []string{"/", "/board", "/stats", "/qr.svg", "/assets/*path"} {
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
