package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/redisline"
	"github.com/catqms/catqms/server"
)

// envPrefix starts the environment variable that mirrors every flag:
// --head-window is also read from CATQMS_HEAD_WINDOW.
const envPrefix = "CATQMS_"

// The range of --log-length: fewer entries than a burst of changes make
// replicas reload for nothing; more cost the store memory (an entry took
// 68 bytes on redis-server 7 with takes, redemptions and ends: 100,000
// take about 7 MB).
const (
	minLogLength = 1_000
	maxLogLength = 10_000_000
)

// config is everything the command line and the environment can set.
type config struct {
	Addr            string         // listen address, host:port
	RedisURL        string         // empty: the embedded store
	HeadWindow      time.Duration  // time a called ticket has to redeem
	ViewWindow      time.Duration  // time a kitty is viewed
	Counters        int            // service slots
	BanDuration     time.Duration  // how long a cheater's IP is banned
	MaxTicketsPerIP int            // live tickets one client may hold
	MaxQueue        int            // longest line
	LogLength       int            // entries the line's change log keeps, about
	TakeRate        rate.Limit     // tickets a second one client may take; rate.Inf = no limit
	TakeBurst       int            // tickets one client may take at once
	MaxWSPerIP      int            // WebSocket connections one client may hold
	TrustedProxies  []netip.Prefix // peers whose X-Forwarded-For is believed
	IPv6BanPrefix   int            // prefix length that makes one IPv6 client
	Images          string         // empty: the built-in kitties
	AdminToken      string         // empty: the admin API is off
	Secrets         []string       // newest first; the first signs. Empty: a key kept in the store
	DataDir         string         // where the embedded store is saved; empty = nowhere
	SaveInterval    time.Duration  // how often the embedded store is saved
	MaxConns        int            // open connections in all; 0 = from the open-file limit
	MaxConnsPerIP   int            // open connections (HTTP and WebSocket) per client address
	SharedNetworks  []netip.Prefix // networks whose clients are told apart by a device cookie
	MetricsAddr     string         // where /metrics is served; empty = on --addr
	History         time.Duration  // how long the public record is kept
	EstimateWindow  time.Duration  // how far back the wait estimate measures the flow
	LogFormat       string         // "text" or "json"
	LogLevel        slog.Level     // the least level logged
	AllowedOrigins  []string       // WebSocket origins besides the page's own
	PublicURL       string         // the address visitors join at; empty = the board's own
	VenueName       string         // shown instead of catqms; empty keeps it
	VenuePlace      string         // where a called visitor goes, in the venue's words
	Line            string         // line name; every store key carries it
	ShutdownTimeout time.Duration  // bound on the graceful shutdown
	clockSkew       time.Duration  // this process's clock minus the machine's: 0 but in tests (testClockSkewEnv)
	Healthcheck     bool           // probe a running server and exit
	Version         bool           // print the version and exit

	// from maps a flag name to the environment variable its value came from,
	// for the flags that were not given on the command line.
	from map[string]string
}

// option is one flag: its name, its default as it would be typed, and how its
// text becomes a config field. Every value, default included, goes through
// parse, so the defaults are validated exactly like user input.
type option struct {
	name   string
	def    string
	usage  string // the first back-quoted word names the value in --help
	bool   bool   // a switch: --name alone means true
	secret bool   // never echo the value in an error
	parse  func(c *config, value string) error
}

// The range of --history: at least a minute, so that a verifier that
// pages through the record has time to; at most 30 days of entries.
const (
	minHistory = time.Minute
	maxHistory = 30 * 24 * time.Hour

	// The range of --estimate-window: the flow is measured over at least
	// the last 8 holds however old, so a short window only makes the
	// estimate follow a rush sooner (and noisier); a day is the longest a
	// flow can mean anything for a wait.
	minEstimateWindow = time.Second
	maxEstimateWindow = 24 * time.Hour
)

// line is the line's defaults: the one table (queue.DefaultSettings).
var line = queue.DefaultSettings()

// options lists every flag, in the order --help shows them. The defaults
// and ranges come from the packages that own them: queue for the line,
// server for the HTTP side.
var options = []option{
	{name: "addr", def: ":8080", usage: "listen `address` (host:port)",
		parse: func(c *config, v string) (err error) { c.Addr, err = parseAddr(v); return err }},
	{name: "redis-url", def: "", secret: true,
		usage: "Redis `URL` (redis://, rediss://, redis-sentinel://, redis-cluster://, unix://); empty = embedded store",
		parse: func(c *config, v string) (err error) { c.RedisURL, err = parseRedisURL(v); return err }},
	{name: "head-window", def: shortDuration(line.HeadWindow),
		usage: "`time` a called ticket has to redeem (" + shortDuration(queue.MinWindow) + ".." + shortDuration(queue.MaxWindow) + ")",
		parse: func(c *config, v string) (err error) {
			c.HeadWindow, err = parseDuration(v, queue.MinWindow, queue.MaxWindow)
			return err
		}},
	{name: "view-window", def: shortDuration(line.ViewWindow),
		usage: "`time` a kitty is viewed (" + shortDuration(queue.MinWindow) + ".." + shortDuration(queue.MaxWindow) + ")",
		parse: func(c *config, v string) (err error) {
			c.ViewWindow, err = parseDuration(v, queue.MinWindow, queue.MaxWindow)
			return err
		}},
	{name: "counters", def: strconv.Itoa(line.Counters), usage: "number of service `slots` (1.." + strconv.Itoa(queue.MaxCounters) + ")",
		parse: func(c *config, v string) (err error) { c.Counters, err = parseInt(v, 1, queue.MaxCounters); return err }},
	{name: "ban-duration", def: shortDuration(line.BanDuration), usage: "`time` a cheater's IP stays banned (at least " + shortDuration(queue.MinBanDuration) + ")",
		parse: func(c *config, v string) (err error) {
			c.BanDuration, err = parseDuration(v, queue.MinBanDuration, 0)
			return err
		}},
	{name: "max-tickets-per-ip", def: strconv.Itoa(line.MaxTicketsPerClient), usage: "`number` of live tickets one client may hold (at least 1)",
		parse: func(c *config, v string) (err error) { c.MaxTicketsPerIP, err = parseInt(v, 1, 0); return err }},
	{name: "max-queue", def: "",
		usage: "`length` of the longest line (at least 1); default " + strconv.FormatInt(line.MaxQueue, 10) +
			" with --redis-url, " + strconv.FormatInt(queue.EmbeddedStore.MaxQueue, 10) + " on the embedded store (measured: BENCHMARKS.md, S0)",
		parse: func(c *config, v string) (err error) {
			if v == "" {
				c.MaxQueue = 0 // the store's default, once the store is known (storeDefaults)
				return nil
			}
			c.MaxQueue, err = parseInt(v, 1, 0)
			return err
		}},
	{name: "log-length", def: strconv.Itoa(redisline.DefaultLogLength),
		usage: "`entries` the line's change log keeps, about (" + strconv.Itoa(minLogLength) + ".." + strconv.Itoa(maxLogLength) +
			"); a replica that falls further behind loads the line again",
		parse: func(c *config, v string) (err error) {
			c.LogLength, err = parseInt(v, minLogLength, maxLogLength)
			return err
		}},
	{name: "take-rate", def: formatRate(server.DefaultTakeRate), usage: "`rate` at which one client may take tickets, COUNT/PERIOD (e.g. 1/s, 30/m, 5/10s), or off",
		parse: func(c *config, v string) (err error) { c.TakeRate, err = parseRate(v); return err }},
	{name: "take-burst", def: strconv.Itoa(server.DefaultTakeBurst), usage: "`number` of tickets one client may take at once before --take-rate applies (1..1000000)",
		parse: func(c *config, v string) (err error) { c.TakeBurst, err = parseInt(v, 1, 1000000); return err }},
	{name: "max-ws-per-ip", def: strconv.Itoa(server.DefaultMaxWSPerClient),
		usage: "`number` of WebSocket connections one client may hold (1.." + strconv.Itoa(server.MaxMaxWSPerClient) + ")",
		parse: func(c *config, v string) (err error) {
			c.MaxWSPerIP, err = parseInt(v, 1, server.MaxMaxWSPerClient)
			return err
		}},
	{name: "trusted-proxies", def: "", usage: "comma-separated `CIDRs` or IPs whose X-Forwarded-For is believed",
		parse: func(c *config, v string) (err error) { c.TrustedProxies, err = parsePrefixes(v); return err }},
	{name: "ipv6-ban-prefix", def: strconv.Itoa(server.DefaultIPv6BanPrefix),
		usage: "prefix `length` (" + strconv.Itoa(server.MinIPv6BanPrefix) + ".." + strconv.Itoa(server.MaxIPv6BanPrefix) + ") of the IPv6 network that counts as one client for bans and limits",
		parse: func(c *config, v string) (err error) {
			c.IPv6BanPrefix, err = parseInt(v, server.MinIPv6BanPrefix, server.MaxIPv6BanPrefix)
			return err
		}},
	{name: "images", def: "", usage: "`folder` of pictures to serve instead of the built-in kitties",
		parse: func(c *config, v string) error { c.Images = v; return nil }},
	{name: "admin-token", def: "", secret: true, usage: "bearer `token` for the admin API (at least 16 characters); empty = admin API off",
		parse: func(c *config, v string) (err error) { c.AdminToken, err = parseSecret(v); return err }},
	{name: "secret", def: "", secret: true, usage: "comma-separated `keys` that sign tickets, newest first: the first signs, the others (retired keys) still verify; each at least 16 characters; empty = a key created once and kept in the store",
		parse: func(c *config, v string) (err error) { c.Secrets, err = parseSecrets(v); return err }},
	{name: "data-dir", def: dataDirAuto, usage: "`folder` where the embedded store saves the line, so that it survives a restart; auto = $XDG_STATE_HOME/catqms or ~/.local/state/catqms; off = keep nothing (ignored with --redis-url)",
		parse: func(c *config, v string) error {
			if v == "" || strings.ContainsRune(v, 0) {
				return errors.New("want a folder, auto or off")
			}
			c.DataDir = v
			return nil
		}},
	{name: "save-interval", def: "1s", usage: "`time` between saves of the embedded store (100ms..1h); it is also saved at shutdown",
		parse: func(c *config, v string) (err error) {
			c.SaveInterval, err = parseDuration(v, 100*time.Millisecond, time.Hour)
			return err
		}},
	{name: "max-conns", def: "auto", usage: "`number` of open connections in all; auto = the open-file limit less a reserve for the store, files and health checks",
		parse: func(c *config, v string) (err error) {
			if v == "auto" {
				c.MaxConns = 0
				return nil
			}
			c.MaxConns, err = parseInt(v, 1, 10_000_000)
			return err
		}},
	{name: "max-conns-per-ip", def: "100", usage: "`number` of open connections, HTTP and WebSocket together, from one client address (1..1000000); trusted proxies and --shared-networks count only in --max-conns",
		parse: func(c *config, v string) (err error) { c.MaxConnsPerIP, err = parseInt(v, 1, 1_000_000); return err }},
	{name: "shared-networks", def: "", usage: "comma-separated `CIDRs` of networks where many visitors share an address (a venue's Wi-Fi): their browsers are told apart by a signed device cookie, so bans and per-client limits fall on one device",
		parse: func(c *config, v string) (err error) { c.SharedNetworks, err = parsePrefixes(v); return err }},
	{name: "metrics-addr", def: "", usage: "listen `address` (host:port) for /metrics, /healthz and /readyz apart from the API; empty = /metrics on --addr",
		parse: func(c *config, v string) (err error) {
			if v == "" {
				c.MetricsAddr = ""
				return nil
			}
			c.MetricsAddr, err = parseAddr(v)
			return err
		}},
	{name: "history", def: shortDuration(server.DefaultHistoryRetention),
		usage: "`time` the public record (GET /api/v1/history) keeps each change of the line (" + shortDuration(minHistory) + ".." + shortDuration(maxHistory) + ")",
		parse: func(c *config, v string) (err error) {
			c.History, err = parseDuration(v, minHistory, maxHistory)
			return err
		}},
	{name: "estimate-window", def: shortDuration(flow.DefaultWindow),
		usage: "`time` over which the wait estimate measures the line's flow: holds and leaves this recent (" + shortDuration(minEstimateWindow) + ".." + shortDuration(maxEstimateWindow) + "); shorter follows a rush sooner",
		parse: func(c *config, v string) (err error) {
			c.EstimateWindow, err = parseDuration(v, minEstimateWindow, maxEstimateWindow)
			return err
		}},
	{name: "log-format", def: "text", usage: "log `format`: text or json",
		parse: func(c *config, v string) (err error) { c.LogFormat, err = parseLogFormat(v); return err }},
	{name: "log-level", def: "info", usage: "least `level` logged: debug, info, warn or error",
		parse: func(c *config, v string) (err error) { c.LogLevel, err = parseLogLevel(v); return err }},
	{name: "allowed-origins", def: "", usage: "comma-separated `origins` (scheme://host[:port], or * for any) allowed to open the WebSocket; empty = same origin only",
		parse: func(c *config, v string) (err error) { c.AllowedOrigins, err = parseOrigins(v); return err }},
	{name: "public-url", def: "", usage: "`URL` visitors open to take a ticket (http(s)://host[:port][/path]), shown and drawn as a QR code on the TV board; empty = the address the board was opened at",
		parse: func(c *config, v string) (err error) { c.PublicURL, err = parsePublicURL(v); return err }},
	{name: "venue-name", def: "", usage: "`name` the pages show instead of catqms (at most 60 characters)",
		parse: func(c *config, v string) (err error) { c.VenueName, err = parseVenueWords(v); return err }},
	{name: "venue-place", def: "", usage: "`place` a called visitor goes to, as the board's spoken call names it (e.g. \"the front desk\"; at most 60 characters); empty = the call says the kitty is ready",
		parse: func(c *config, v string) (err error) { c.VenuePlace, err = parseVenueWords(v); return err }},
	{name: "line", def: line.Name, usage: "line `name`, [a-z0-9-]{1,32}; replicas sharing a store and a name share the line",
		parse: func(c *config, v string) (err error) { c.Line, err = parseLineName(v); return err }},
	{name: "shutdown-timeout", def: "10s", usage: "`time` in-flight requests get to finish at shutdown (0 = cut them at once)",
		parse: func(c *config, v string) (err error) { c.ShutdownTimeout, err = parseDuration(v, 0, 0); return err }},
	{name: "healthcheck", def: "false", bool: true, usage: "probe the server at --addr (GET /healthz; a wildcard host means 127.0.0.1), exit 0 if it answers 200",
		parse: func(c *config, v string) (err error) { c.Healthcheck, err = parseBool(v); return err }},
	{name: "version", def: "false", bool: true, usage: "print the version and exit",
		parse: func(c *config, v string) (err error) { c.Version, err = parseBool(v); return err }},
}

// envName returns the environment variable that mirrors flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseConfig reads the flags in args, then the environment through getenv
// for every flag args did not set, then the defaults. A flag on the command
// line beats its environment variable, which beats the default; an empty
// environment variable counts as unset.
//
// It reports every invalid value at once, each naming its flag. It returns
// flag.ErrHelp after printing the usage to output when args ask for help.
// Version is filled in even when other values are invalid, so that --version
// works whatever the environment holds.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	raw := make(map[string]*rawValue, len(options))
	fs := flag.NewFlagSet("catqms", flag.ContinueOnError)
	// The flag package would print each error and the whole usage; run
	// reports errors itself, in one line, and the usage goes out only on
	// request.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, o := range options {
		raw[o.name] = &rawValue{text: o.def, bool: o.bool}
		fs.Var(raw[o.name], o.name, o.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(output, fs)
			return config{}, err
		}
		return config{}, fmt.Errorf("command line: %w (catqms --help lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("command line: unexpected argument %q (catqms takes only flags)", fs.Arg(0))
	}

	onCommandLine := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	c := config{from: make(map[string]string)}
	var errs []error
	var err error
	for _, o := range options {
		value := raw[o.name].text
		if !onCommandLine[o.name] {
			if env := getenv(envName(o.name)); env != "" {
				value = env
				c.from[o.name] = envName(o.name)
			}
		}
		if err := o.parse(&c, value); err != nil {
			if o.secret {
				errs = append(errs, c.invalid(o.name, err))
			} else {
				errs = append(errs, c.invalidValue(o.name, value, err))
			}
		}
	}
	if c.DataDir, err = resolveDataDir(c.DataDir, getenv); err != nil {
		errs = append(errs, c.invalidValue("data-dir", raw["data-dir"].text, err))
	}
	c.storeDefaults()
	if v := getenv(testClockSkewEnv); v != "" {
		var err error
		if c.clockSkew, err = time.ParseDuration(v); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s %q: %w", testClockSkewEnv, v, err))
		}
	}
	return c, errors.Join(errs...)
}

// storeDefaults fills in the defaults that depend on the store: the
// embedded store holds a shorter line (queue.EmbeddedStore).
func (c *config) storeDefaults() {
	if c.MaxQueue != 0 {
		return
	}
	c.MaxQueue = int(line.MaxQueue)
	if c.RedisURL == "" {
		c.MaxQueue = int(queue.EmbeddedStore.MaxQueue)
	}
}

// warnings are what the configuration allows but the operator should
// know, for the start-up log.
func (c config) warnings() []string {
	var out []string
	if m := queue.EmbeddedStore; c.RedisURL == "" && int64(c.MaxQueue) > m.MaxQueue {
		out = append(out, fmt.Sprintf("--max-queue %d%s is beyond what the embedded store was measured to hold: "+
			"at %d waiting a take's p99 was %v (%v with 32 clients at once) and the process used %d MB (BENCHMARKS.md, S0); "+
			"a longer line takes more memory and longer answers; use --redis-url for long lines",
			c.MaxQueue, c.source("max-queue"), m.MaxQueue, m.TakeP99, m.TakeP99Busy, m.RSSMB))
	}
	return out
}

// testClockSkewEnv, for tests of the line's one clock only, sets this
// process's own clock ahead of (or behind) the machine's by a duration.
// The line's deadlines come from the store's clock, so it must change
// nothing anyone sees; the end-to-end tests run a replica with it to show
// that. It is not a flag and not for operators.
const testClockSkewEnv = "CATQMS_TEST_CLOCK_SKEW"

// skewedClock is the system clock moved by skew (zero: the system clock).
type skewedClock struct{ skew time.Duration }

func (c skewedClock) Now() time.Time { return time.Now().Add(c.skew) }

// shortDuration writes d as a flag's value: 60s, 15m, 24h (minutes from
// ten of them on; a minute or two reads as the seconds the windows are
// set in).
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0 && d >= 10*time.Minute:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// formatRate writes r as --take-rate takes it.
func formatRate(r rate.Limit) string {
	if r == rate.Inf {
		return "off"
	}
	return strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s"
}

// printUsage writes --help: every flag with its environment variable and
// default.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: catqms [flags]\n\n"+
		"Every flag is also read from the environment variable %s<NAME>, e.g.\n"+
		"--head-window from %s. A flag on the command line wins.\n\nFlags:\n",
		envPrefix, envName("head-window"))
	for _, o := range options {
		valueName, usage := flag.UnquoteUsage(fs.Lookup(o.name))
		if o.bool {
			valueName = "" // a switch takes no value
		}
		fmt.Fprintf(w, "  %s\n    \t%s\n    \t[%s",
			strings.TrimSpace("--"+o.name+" "+valueName), usage, envName(o.name))
		if o.def != "" && !o.bool {
			fmt.Fprintf(w, ", default %s", o.def)
		}
		fmt.Fprintln(w, "]")
	}
}

// invalidValue returns the error for an invalid value of flag name, naming the
// flag and, when the value came from there, its environment variable.
func (c config) invalidValue(name, value string, err error) error {
	return fmt.Errorf("invalid value %q for --%s%s: %w", value, name, c.source(name), err)
}

// invalid is invalidValue for values that must not be echoed: secrets, and
// URLs that may hold a password.
func (c config) invalid(name string, err error) error {
	return fmt.Errorf("invalid value for --%s%s: %w", name, c.source(name), err)
}

// source returns " (from CATQMS_NAME)" when the value of flag name came from
// the environment, else "".
func (c config) source(name string) string {
	if env, ok := c.from[name]; ok {
		return " (from " + env + ")"
	}
	return ""
}

// rawValue is a flag.Value that only keeps the text it is given: the flag
// package handles the syntax of the command line, and parseConfig then
// validates flags and environment variables alike, with one error format.
type rawValue struct {
	text string
	bool bool
}

func (v *rawValue) String() string {
	if v == nil {
		return ""
	}
	return v.text
}

func (v *rawValue) Set(s string) error { v.text = s; return nil }

// IsBoolFlag lets a switch be given as --name alone.
func (v *rawValue) IsBoolFlag() bool { return v.bool }

func parseAddr(v string) (string, error) {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New("want host:port, e.g. :8080 or 127.0.0.1:8080")
	}
	if _, err := parsePort(port); err != nil {
		return "", err
	}
	return v, nil
}

// parsePort accepts a port number, 0..65535; 0 lets the system pick one.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 0 to 65535", s)
	}
	return n, nil
}

// redisSchemes are the URL schemes redisline.Dial understands, in the order
// an error lists them. The full parse happens in Dial; this only catches a
// wrong kind of URL early.
var redisSchemes = []string{
	"redis", "rediss", "unix", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster",
}

func parseRedisURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if !slices.Contains(redisSchemes, u.Scheme) {
		return "", fmt.Errorf("scheme %q is not one of %s", u.Scheme, strings.Join(redisSchemes, ", "))
	}
	return v, nil
}

// redactURL returns rawURL with any password replaced, for logs and errors.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// parseDuration accepts a Go duration from least to most; most 0 means no
// upper bound.
func parseDuration(v string, least, most time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("not a duration (e.g. 90s, 2m, 1h30m)")
	}
	switch {
	case d < least:
		return 0, fmt.Errorf("must be at least %s", formatDuration(least))
	case most > 0 && d > most:
		return 0, fmt.Errorf("must be at most %s", formatDuration(most))
	}
	return d, nil
}

// formatDuration prints round durations the way people type them: 24h, not
// 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseInt accepts a whole number from least to most; most 0 means no upper
// bound.
func parseInt(v string, least, most int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	switch {
	case n < least && most > 0:
		return 0, fmt.Errorf("must be from %d to %d", least, most)
	case n < least:
		return 0, fmt.Errorf("must be at least %d", least)
	case most > 0 && n > most:
		return 0, fmt.Errorf("must be from %d to %d", least, most)
	}
	return n, nil
}

// ratePeriods are the one-letter periods of a rate: 1/s is one a second.
var ratePeriods = map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}

// parseRate reads COUNT/PERIOD, e.g. 1/s, 30/m or 5/10s, as events a
// second; "off" is no limit.
func parseRate(v string) (rate.Limit, error) {
	if strings.EqualFold(v, "off") {
		return rate.Inf, nil
	}
	const want = "want COUNT/PERIOD, e.g. 1/s, 30/m or 5/10s, or off"
	count, period, ok := strings.Cut(v, "/")
	if !ok {
		return 0, errors.New(want)
	}
	n, err := strconv.ParseFloat(count, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, errors.New(want)
	}
	d, ok := ratePeriods[period]
	if !ok {
		if d, err = time.ParseDuration(period); err != nil {
			return 0, errors.New(want)
		}
	}
	switch {
	case n <= 0:
		return 0, errors.New("the count must be more than 0 (use off for no limit)")
	case d < time.Millisecond:
		return 0, errors.New("the period must be at least 1ms")
	}
	return rate.Limit(n / d.Seconds()), nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("want true or false")
	}
	return b, nil
}

// parsePrefixes reads a comma-separated list of CIDRs and bare IPs; a bare IP
// stands for itself alone (/32 or /128).
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, item := range splitList(v) {
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8)", item)
			}
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP nor a CIDR", item)
		}
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return prefixes, nil
}

// splitList splits a comma-separated list, dropping blanks around and between
// items.
func splitList(v string) []string {
	var items []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// minSecretLen is the shortest admin token or signing secret accepted: short
// ones can be guessed.
const minSecretLen = 16

// minSecretBits is the least a secret must be worth by secretBits' count.
// A random 16-character hex string is worth about 55 by it.
const minSecretBits = 48

// placeholders are the beginnings of example values in the deployment
// files: a service started with one would sign with a published key.
var placeholders = []string{"replace-me", "replace_me", "change-me", "change_me", "changeme", "your-secret", "<"}

func parseSecret(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if len(v) < minSecretLen {
		return "", fmt.Errorf("must be at least %d characters (got %d)", minSecretLen, len(v))
	}
	lower := strings.ToLower(v)
	for _, p := range placeholders {
		if strings.HasPrefix(lower, p) {
			return "", errors.New("is the placeholder from an example: put a random value there (e.g. openssl rand -hex 32)")
		}
	}
	if bits := secretBits(v); bits < minSecretBits {
		return "", fmt.Errorf("is too easy to guess (about %d bits by its letters; want %d): use a random value (e.g. openssl rand -hex 32)", int(bits), minSecretBits)
	}
	return v, nil
}

// secretBits estimates what a secret is worth: its length times the
// entropy of its letters' frequencies. It cannot see a dictionary word, but
// it refuses the lazy values (aaaa…, abab…, 1111…) that a length check
// lets through.
func secretBits(v string) float64 {
	counts := make(map[rune]int)
	n := 0
	for _, r := range v {
		counts[r]++
		n++
	}
	h := 0.0
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h * float64(n)
}

// parseSecrets reads --secret: a comma-separated list of keys, newest
// first, each checked like parseSecret.
func parseSecrets(v string) ([]string, error) {
	var keys []string
	for i, item := range splitList(v) {
		if _, err := parseSecret(item); err != nil {
			if i == 0 && !strings.Contains(v, ",") {
				return nil, err
			}
			return nil, fmt.Errorf("key %d of the list %w", i+1, err)
		}
		keys = append(keys, item)
	}
	return keys, nil
}

// dataDirAuto asks for the data directory of the platform's conventions.
const dataDirAuto = "auto"

// resolveDataDir turns --data-dir into a path: auto is
// $XDG_STATE_HOME/catqms, else $HOME/.local/state/catqms, else nothing
// (the embedded store then keeps nothing across restarts, and says so);
// off is nothing.
func resolveDataDir(v string, getenv func(string) string) (string, error) {
	switch v {
	case "off", "":
		return "", nil // "" is refused by the option's parse
	case dataDirAuto:
		if state := getenv("XDG_STATE_HOME"); filepath.IsAbs(state) {
			return filepath.Join(state, "catqms"), nil
		}
		if home := getenv("HOME"); filepath.IsAbs(home) {
			return filepath.Join(home, ".local", "state", "catqms"), nil
		}
		return "", nil
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return "", err
	}
	return abs, nil
}

func parseLogFormat(v string) (string, error) {
	switch f := strings.ToLower(v); f {
	case "text", "json":
		return f, nil
	}
	return "", errors.New("want text or json")
}

func parseLogLevel(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New("want debug, info, warn or error")
}

// parseOrigins reads a comma-separated list of origins as browsers send them
// in the Origin header: scheme://host[:port], nothing after; "*" allows any.
func parseOrigins(v string) ([]string, error) {
	var origins []string
	for _, item := range splitList(v) {
		if item == "*" {
			origins = append(origins, item)
			continue
		}
		u, err := url.Parse(item)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%q is not an origin (want scheme://host[:port], e.g. https://example.com)", item)
		}
		origins = append(origins, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return origins, nil
}

// parsePublicURL reads the address of the ticket page as visitors type it.
func parsePublicURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Fragment != "" || len(v) > 500 {
		return "", fmt.Errorf("%q is not a public URL (want http(s)://host[:port][/path], at most 500 characters)", v)
	}
	return u.String(), nil
}

// parseVenueWords reads a venue's short wording: one line of printable text.
func parseVenueWords(v string) (string, error) {
	v = strings.TrimSpace(v)
	if utf8.RuneCountInString(v) > 60 || strings.ContainsFunc(v, unicode.IsControl) {
		return "", errors.New("want at most 60 characters on one line")
	}
	return v, nil
}

func parseLineName(v string) (string, error) {
	if !queue.NameRE.MatchString(v) {
		return "", errors.New("want 1 to 32 of a-z, 0-9 and -")
	}
	return v, nil
}
