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
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// envPrefix starts the environment variable that mirrors every flag:
// --head-window is also read from CATQMS_HEAD_WINDOW.
const envPrefix = "CATQMS_"

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
	TakeRate        rate.Limit     // tickets a second one client may take; rate.Inf = no limit
	TakeBurst       int            // tickets one client may take at once
	MaxWSPerIP      int            // WebSocket connections one client may hold
	TrustedProxies  []netip.Prefix // peers whose X-Forwarded-For is believed
	IPv6BanPrefix   int            // prefix length that makes one IPv6 client
	Images          string         // empty: the built-in kitties
	AdminToken      string         // empty: the admin API is off
	Secret          string         // empty: a key kept in the store
	LogFormat       string         // "text" or "json"
	LogLevel        slog.Level     // the least level logged
	AllowedOrigins  []string       // WebSocket origins besides the page's own
	PublicURL       string         // the address visitors join at; empty = the board's own
	VenueName       string         // shown instead of catqms; empty keeps it
	VenuePlace      string         // where a called visitor goes, in the venue's words
	Line            string         // line name; every store key carries it
	ShutdownTimeout time.Duration  // bound on the graceful shutdown
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

// options lists every flag, in the order --help shows them.
var options = []option{
	{name: "addr", def: ":8080", usage: "listen `address` (host:port)",
		parse: func(c *config, v string) (err error) { c.Addr, err = parseAddr(v); return err }},
	{name: "redis-url", def: "", secret: true,
		usage: "Redis `URL` (redis://, rediss://, redis-sentinel://, redis-cluster://, unix://); empty = embedded store",
		parse: func(c *config, v string) (err error) { c.RedisURL, err = parseRedisURL(v); return err }},
	{name: "head-window", def: "60s", usage: "`time` a called ticket has to redeem (1s..24h)",
		parse: func(c *config, v string) (err error) {
			c.HeadWindow, err = parseDuration(v, time.Second, 24*time.Hour)
			return err
		}},
	{name: "view-window", def: "60s", usage: "`time` a kitty is viewed (1s..24h)",
		parse: func(c *config, v string) (err error) {
			c.ViewWindow, err = parseDuration(v, time.Second, 24*time.Hour)
			return err
		}},
	{name: "counters", def: "1", usage: "number of service `slots` (1..1000)",
		parse: func(c *config, v string) (err error) { c.Counters, err = parseInt(v, 1, 1000); return err }},
	{name: "ban-duration", def: "1h", usage: "`time` a cheater's IP stays banned (at least 1s)",
		parse: func(c *config, v string) (err error) {
			c.BanDuration, err = parseDuration(v, time.Second, 0)
			return err
		}},
	{name: "max-tickets-per-ip", def: "10", usage: "`number` of live tickets one client may hold (at least 1)",
		parse: func(c *config, v string) (err error) { c.MaxTicketsPerIP, err = parseInt(v, 1, 0); return err }},
	{name: "max-queue", def: "1000000", usage: "`length` of the longest line (at least 1)",
		parse: func(c *config, v string) (err error) { c.MaxQueue, err = parseInt(v, 1, 0); return err }},
	{name: "take-rate", def: "1/s", usage: "`rate` at which one client may take tickets, COUNT/PERIOD (e.g. 1/s, 30/m, 5/10s), or off",
		parse: func(c *config, v string) (err error) { c.TakeRate, err = parseRate(v); return err }},
	{name: "take-burst", def: "10", usage: "`number` of tickets one client may take at once before --take-rate applies (1..1000000)",
		parse: func(c *config, v string) (err error) { c.TakeBurst, err = parseInt(v, 1, 1000000); return err }},
	{name: "max-ws-per-ip", def: "20", usage: "`number` of WebSocket connections one client may hold (1..100000)",
		parse: func(c *config, v string) (err error) { c.MaxWSPerIP, err = parseInt(v, 1, 100000); return err }},
	{name: "trusted-proxies", def: "", usage: "comma-separated `CIDRs` or IPs whose X-Forwarded-For is believed",
		parse: func(c *config, v string) (err error) { c.TrustedProxies, err = parsePrefixes(v); return err }},
	{name: "ipv6-ban-prefix", def: "64", usage: "prefix `length` (32..128) of the IPv6 network that counts as one client for bans and limits",
		parse: func(c *config, v string) (err error) { c.IPv6BanPrefix, err = parseInt(v, 32, 128); return err }},
	{name: "images", def: "", usage: "`folder` of pictures to serve instead of the built-in kitties",
		parse: func(c *config, v string) error { c.Images = v; return nil }},
	{name: "admin-token", def: "", secret: true, usage: "bearer `token` for the admin API (at least 16 characters); empty = admin API off",
		parse: func(c *config, v string) (err error) { c.AdminToken, err = parseSecret(v); return err }},
	{name: "secret", def: "", secret: true, usage: "`key` that signs tickets (at least 16 bytes); empty = a key created once and kept in the store",
		parse: func(c *config, v string) (err error) { c.Secret, err = parseSecret(v); return err }},
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
	{name: "line", def: "kitties", usage: "line `name`, [a-z0-9-]{1,32}; replicas sharing a store and a name share the line",
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
	return c, errors.Join(errs...)
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

// redisSchemes are the URL schemes redisline.Dial understands. The full parse
// happens in Dial; this only catches a wrong kind of URL early.
var redisSchemes = map[string]bool{
	"redis": true, "rediss": true, "unix": true,
	"redis-sentinel": true, "rediss-sentinel": true, "redis-cluster": true, "rediss-cluster": true,
}

func parseRedisURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if !redisSchemes[u.Scheme] {
		return "", fmt.Errorf("scheme %q is not one of redis, rediss, redis-sentinel, redis-cluster, unix", u.Scheme)
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

func parseSecret(v string) (string, error) {
	if v != "" && len(v) < minSecretLen {
		return "", fmt.Errorf("must be at least %d characters (got %d)", minSecretLen, len(v))
	}
	return v, nil
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

var lineNamePattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

func parseLineName(v string) (string, error) {
	if !lineNamePattern.MatchString(v) {
		return "", errors.New("want 1 to 32 of a-z, 0-9 and -")
	}
	return v, nil
}
