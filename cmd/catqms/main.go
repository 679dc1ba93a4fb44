// Command catqms serves a ticket line: people take a ticket, watch the line
// move live and, when their turn comes, redeem the ticket for a kitty.
//
// Run it with no flags to serve on :8080 with an embedded store; --help lists
// the flags, each of which can also be set from the environment.
//
// catqms verify URL fetches the public record of the service at URL and
// checks here that the line was fair (verify.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/frontend"
	"github.com/catqms/catqms/hub"
	"github.com/catqms/catqms/kitty"
	"github.com/catqms/catqms/queue/recordlog"
	"github.com/catqms/catqms/queue/redisline"
	"github.com/catqms/catqms/server"
)

// version is this build's version, stamped at link time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/catqms
var version = "dev"

// Limits of the HTTP server. The write timeout leaves room for a picture on
// a slow link; WebSocket connections are hijacked and not bound by it.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
)

// closeTimeout bounds the closing of the parts behind the HTTP server once
// in-flight requests are done. The hub can need its write wait (10s) to get
// close frames past slow clients; the rest closes at once.
const closeTimeout = 15 * time.Second

// healthcheckTimeout bounds --healthcheck's request.
const healthcheckTimeout = 2 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Once the first signal starts the graceful shutdown, a second one
	// kills the process at once, as it would without this handler.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// One line per problem: parseConfig reports every invalid value.
		if msg := err.Error(); msg != "" {
			for line := range strings.SplitSeq(msg, "\n") {
				fmt.Fprintln(os.Stderr, "catqms:", line)
			}
		}
		os.Exit(exitCode(err))
	}
}

// run is the whole program: it reads the flags in args and the environment
// through getenv, then serves until ctx is done and shuts down in order. It
// returns nil after a clean shutdown.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, getenv, stdout, stderr, nil)
}

// runWith is run with a hook for tests: ready, when not nil, is called with
// the bound address once the server is accepting connections (--addr may
// ask for port 0).
func runWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(net.Addr)) error {
	if len(args) > 0 && args[0] == "verify" {
		return verify(ctx, args[1:], stdout)
	}
	// --help goes to stdout, so that `catqms --help | less` shows it.
	cfg, err := parseConfig(args, getenv, stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil
	case cfg.Version: // whatever else is wrong
		_, err := fmt.Fprintln(stdout, "catqms", version)
		return err
	case err != nil:
		return err
	case cfg.Healthcheck:
		return healthcheck(ctx, cfg.Addr)
	}
	logger := newLogger(cfg, stderr)
	for _, w := range cfg.warnings() {
		logger.Warn(w)
	}
	// Two libraries keep process-wide settings; main, which owns the
	// process, sets them: Gin's debug mode prints routes and warnings to
	// stdout, and go-redis logs its connection errors with the log package.
	gin.SetMode(gin.ReleaseMode)
	redis.SetLogger(redisLogger{logger.With("component", "redis")})
	return serve(ctx, cfg, logger, ready)
}

// redisLogger sends go-redis's own messages to the service's logger.
type redisLogger struct{ l *slog.Logger }

// Printf logs one go-redis message as a warning: they are connection troubles.
func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// newLogger returns the logger --log-format and --log-level ask for.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parts are what serve builds, kept so that they can be stopped in order.
// A nil field was not built.
type parts struct {
	listener  net.Listener
	http      *http.Server
	opsLn     net.Listener // --metrics-addr; nil when /metrics is on --addr
	ops       *http.Server
	srv       *server.Server
	hub       *hub.Hub
	line      *redisline.Line
	rdb       redis.UniversalClient
	stopStore func() error // stops the embedded store
	stopTrim  func()       // stops trimming the public record (record.go)
}

// serve builds the service, serves until ctx is done, then shuts down.
func serve(ctx context.Context, cfg config, logger *slog.Logger, ready func(net.Addr)) error {
	p, err := build(ctx, cfg, logger)
	if err != nil {
		if closeErr := p.close(); closeErr != nil {
			logger.Error("closing after a failed start", "err", closeErr)
		}
		return err
	}

	served := make(chan error, 2)
	go func() { served <- p.http.Serve(p.listener) }()
	if p.ops != nil {
		go func() {
			if err := p.ops.Serve(p.opsLn); !errors.Is(err, http.ErrServerClosed) {
				served <- fmt.Errorf("metrics listener: %w", err)
			}
		}()
		logger.Info("metrics listening", "addr", p.opsLn.Addr().String())
	}
	logger.Info("listening", "addr", p.listener.Addr().String(), "version", version,
		"store", storeName(cfg), "line", cfg.Line, "counters", cfg.Counters, "max_queue", cfg.MaxQueue)
	if ready != nil {
		ready(p.listener.Addr())
	}

	select {
	case err := <-served:
		// Serve only returns by itself when the listener fails.
		logger.Error("serving stopped", "err", err)
		return errors.Join(fmt.Errorf("serve: %w", err), p.close())
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	// The parent ctx is done; the shutdown gets a deadline of its own.
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if p.ops != nil {
		_ = p.ops.Shutdown(drain) // scrapes and probes are short
		p.ops, p.opsLn = nil, nil
	}
	if err := p.http.Shutdown(drain); err != nil {
		logger.Warn("requests still running at the shutdown timeout were cut", "timeout", cfg.ShutdownTimeout.String())
		_ = p.http.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		logger.Error("serving stopped", "err", err)
	}
	p.http, p.listener = nil, nil // stopped above

	closed := make(chan error, 1)
	go func() { closed <- p.close() }()
	select {
	case err := <-closed:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	case <-time.After(closeTimeout):
		return fmt.Errorf("shutdown: closing the hub, line and store took longer than %s", closeTimeout)
	}
	logger.Info("stopped")
	return nil
}

// build makes the parts of the service, from the store up to the HTTP
// server, and opens the listener. On error it returns what it built so far,
// for the caller to close.
func build(ctx context.Context, cfg config, logger *slog.Logger) (*parts, error) {
	p := &parts{}

	// The picture folder first: it is the likeliest mistake and the
	// cheapest check.
	images, err := loadImages(cfg)
	if err != nil {
		return p, err
	}

	if cfg.RedisURL == "" {
		if cfg.DataDir == "" {
			logger.Warn("the embedded store keeps nothing across restarts: no --data-dir")
		}
		p.rdb, p.stopStore, err = redisline.OpenEmbedded(redisline.EmbeddedOptions{
			Dir:          cfg.DataDir,
			SaveInterval: cfg.SaveInterval,
			Logger:       logger.With("component", "store"),
		})
		if err != nil {
			return p, err
		}
	} else if p.rdb, err = redisline.Dial(cfg.RedisURL); err != nil {
		return p, cfg.invalid("redis-url", err)
	}

	// Listen before the store is reached, so that a port in use fails at
	// once with a plain message.
	if p.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return p, fmt.Errorf("listen on --addr %s: %w", cfg.Addr, err)
	}

	p.line, err = redisline.New(ctx, p.rdb, redisline.Options{
		Name:                cfg.Line,
		HeadWindow:          cfg.HeadWindow,
		ViewWindow:          cfg.ViewWindow,
		Counters:            cfg.Counters,
		BanDuration:         cfg.BanDuration,
		MaxTicketsPerClient: cfg.MaxTicketsPerIP,
		MaxQueue:            int64(cfg.MaxQueue),
		LogLength:           int64(cfg.LogLength),
		Secret:              secretBytes(cfg.Secrets, 0),
		PreviousSecrets:     previousSecrets(cfg.Secrets),
		// No Clock: the line's time is the store's, one clock for every
		// replica. This process's clock only schedules advances.
		LocalClock: skewedClock{cfg.clockSkew},
		Logger:     logger.With("component", "line"),
	})
	if err != nil {
		return p, fmt.Errorf("queue store %s: %w", storeName(cfg), err)
	}

	p.stopTrim = startRecordTrim(ctx, p.line, cfg.History, logger.With("component", "record"))

	p.hub = hub.New(hub.Config{AllowedOrigins: cfg.AllowedOrigins}, logger.With("component", "hub"))

	recent := newRecent(p.line)
	p.srv, err = server.New(server.Config{
		TrustedProxies:    cfg.TrustedProxies,
		IPv6BanPrefix:     cfg.IPv6BanPrefix,
		MaxWSPerClient:    cfg.MaxWSPerIP,
		TakeRate:          cfg.TakeRate,
		TakeBurst:         cfg.TakeBurst,
		AdminToken:        cfg.AdminToken,
		AllowedOrigins:    cfg.AllowedOrigins,
		MaxConns:          cfg.MaxConns,
		MaxConnsPerClient: cfg.MaxConnsPerIP,
		SharedNetworks:    cfg.SharedNetworks,
		MetricsElsewhere:  cfg.MetricsAddr != "",
		HistoryRetention:  cfg.History,
		EstimateWindow:    cfg.EstimateWindow,
		EmbeddedStore:     cfg.RedisURL == "",
		Version:           version,
	}, server.Deps{
		Line:    p.line,
		Admin:   p.line,
		Images:  images,
		Hub:     p.hub,
		Pages:   frontend.New(frontend.Options{PublicURL: cfg.PublicURL, VenueName: cfg.VenueName, VenuePlace: cfg.VenuePlace}),
		Logger:  logger,
		Devices: p.line.Signer(),
		History: historyOf{recordlog.New(p.line)},
		Recent:  recent,
	})
	if err != nil {
		return p, err
	}
	recent.accuracy = p.srv.Accuracy // before anyone can ask: the listener serves later

	p.listener = p.srv.Listener(p.listener)
	if cfg.MetricsAddr != "" {
		if p.opsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return p, fmt.Errorf("listen on --metrics-addr %s: %w", cfg.MetricsAddr, err)
		}
		p.ops = &http.Server{
			Handler:           p.srv.OpsHandler(),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
	}

	p.http = &http.Server{
		Handler:           p.srv.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return p, nil
}

// secretBytes returns key i of --secret, or nil when there is none.
func secretBytes(keys []string, i int) []byte {
	if i >= len(keys) {
		return nil
	}
	return []byte(keys[i])
}

// previousSecrets returns the retired keys of --secret, which only verify.
func previousSecrets(keys []string) [][]byte {
	var previous [][]byte
	for i := 1; i < len(keys); i++ {
		previous = append(previous, secretBytes(keys, i))
	}
	return previous
}

// loadImages returns the built-in kitties, or the pictures in --images.
func loadImages(cfg config) (kitty.Source, error) {
	if cfg.Images == "" {
		return kitty.Builtin(), nil
	}
	src, err := kitty.Dir(cfg.Images)
	if err != nil {
		return nil, cfg.invalidValue("images", cfg.Images, err)
	}
	return src, nil
}

// storeName names the store for logs and errors, without its password.
func storeName(cfg config) string {
	if cfg.RedisURL == "" {
		return "embedded"
	}
	return redactURL(cfg.RedisURL)
}

// close stops every part that was built, in order: the HTTP server (at once,
// if it is still serving), the hub, which sends WebSocket clients a close
// frame, the server's live feed, the line, the store client and the embedded
// store. It goes on past a failure and returns every error.
func (p *parts) close() error {
	var errs []error
	step := func(name string, close func() error) {
		if err := close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", name, err))
		}
	}
	switch {
	case p.http != nil:
		step("http server", p.http.Close) // also closes the listener
	case p.listener != nil:
		step("listener", p.listener.Close)
	}
	if p.ops != nil {
		step("metrics server", p.ops.Close)
	}
	if p.opsLn != nil {
		_ = p.opsLn.Close() // closed already if the metrics server served
	}
	if p.hub != nil {
		step("hub", p.hub.Close)
	}
	if p.srv != nil {
		step("server", p.srv.Close)
	}
	if p.stopTrim != nil {
		p.stopTrim()
	}
	if p.line != nil {
		step("line", p.line.Close)
	}
	if p.rdb != nil {
		step("store client", p.rdb.Close)
	}
	if p.stopStore != nil {
		step("embedded store", p.stopStore)
	}
	return errors.Join(errs...)
}

// healthcheck asks the server at addr for /healthz and succeeds only on a
// 200. It is the probe for images that have no curl.
func healthcheck(ctx context.Context, addr string) error {
	target, err := healthURL(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment, and no connection kept.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", target, resp.Status)
	}
	return nil
}

// healthURL returns the /healthz URL of a server listening on addr. A
// wildcard host (":8080", "0.0.0.0:8080", "[::]:8080") is reached on
// 127.0.0.1.
func healthURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("healthcheck: --addr %q: %w", addr, err)
	}
	if port == "0" {
		return "", fmt.Errorf("healthcheck: --addr %q has no fixed port to probe", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
