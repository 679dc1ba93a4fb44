package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

// env is a fake environment for getenv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, env{}.get, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	want := config{
		Addr:            ":8080",
		HeadWindow:      60 * time.Second,
		ViewWindow:      60 * time.Second,
		Counters:        1,
		BanDuration:     time.Hour,
		MaxTicketsPerIP: 10,
		MaxQueue:        int(queue.EmbeddedStore.MaxQueue), // no --redis-url: the embedded store
		LogLength:       redisline.DefaultLogLength,
		TakeRate:        1,
		TakeBurst:       10,
		MaxWSPerIP:      20,
		IPv6BanPrefix:   64,
		LogFormat:       "text",
		LogLevel:        slog.LevelInfo,
		Line:            "kitties",
		ShutdownTimeout: 10 * time.Second,
		SaveInterval:    time.Second,
		MaxConnsPerIP:   100,
		History:         24 * time.Hour,
		EstimateWindow:  15 * time.Minute,
		from:            map[string]string{},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

// validCases sets each flag to a value other than its default, and says
// which config field must hold what.
var validCases = []struct {
	flag  string
	value string
	field func(config) any
	want  any
}{
	{"addr", "127.0.0.1:0", func(c config) any { return c.Addr }, "127.0.0.1:0"},
	{"addr", "[::1]:9090", func(c config) any { return c.Addr }, "[::1]:9090"},
	{"redis-url", "redis://:pw@db:6379/2", func(c config) any { return c.RedisURL }, "redis://:pw@db:6379/2"},
	{"redis-url", "rediss://db:6380", func(c config) any { return c.RedisURL }, "rediss://db:6380"},
	{"redis-url", "redis-sentinel://s1:26379,s2:26379/mymaster", func(c config) any { return c.RedisURL }, "redis-sentinel://s1:26379,s2:26379/mymaster"},
	{"redis-url", "redis-cluster://a:7000,b:7001", func(c config) any { return c.RedisURL }, "redis-cluster://a:7000,b:7001"},
	{"redis-url", "unix:///run/redis.sock", func(c config) any { return c.RedisURL }, "unix:///run/redis.sock"},
	{"head-window", "2s", func(c config) any { return c.HeadWindow }, 2 * time.Second},
	{"head-window", "24h", func(c config) any { return c.HeadWindow }, 24 * time.Hour},
	{"view-window", "1m30s", func(c config) any { return c.ViewWindow }, 90 * time.Second},
	{"view-window", "1s", func(c config) any { return c.ViewWindow }, time.Second},
	{"counters", "1000", func(c config) any { return c.Counters }, 1000},
	{"ban-duration", "1s", func(c config) any { return c.BanDuration }, time.Second},
	{"ban-duration", "720h", func(c config) any { return c.BanDuration }, 720 * time.Hour},
	{"max-tickets-per-ip", "1", func(c config) any { return c.MaxTicketsPerIP }, 1},
	{"max-queue", "5", func(c config) any { return c.MaxQueue }, 5},
	{"log-length", "1000", func(c config) any { return c.LogLength }, 1000},
	{"log-length", "10000000", func(c config) any { return c.LogLength }, 10_000_000},
	{"take-rate", "30/m", func(c config) any { return c.TakeRate }, rate.Limit(0.5)},
	{"take-rate", "5/10s", func(c config) any { return c.TakeRate }, rate.Limit(0.5)},
	{"take-rate", "2.5/s", func(c config) any { return c.TakeRate }, rate.Limit(2.5)},
	{"take-rate", "3600/h", func(c config) any { return c.TakeRate }, rate.Limit(1)},
	{"take-rate", "OFF", func(c config) any { return c.TakeRate }, rate.Inf},
	{"take-burst", "1", func(c config) any { return c.TakeBurst }, 1},
	{"take-burst", "1000000", func(c config) any { return c.TakeBurst }, 1000000},
	{"max-ws-per-ip", "1", func(c config) any { return c.MaxWSPerIP }, 1},
	{"max-ws-per-ip", "500", func(c config) any { return c.MaxWSPerIP }, 500},
	{"ipv6-ban-prefix", "48", func(c config) any { return c.IPv6BanPrefix }, 48},
	{"ipv6-ban-prefix", "32", func(c config) any { return c.IPv6BanPrefix }, 32},
	{"ipv6-ban-prefix", "128", func(c config) any { return c.IPv6BanPrefix }, 128},
	{"trusted-proxies", "10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1,10.1.2.3/16",
		func(c config) any { return c.TrustedProxies },
		[]netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("fd00::/8"),
			netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("10.1.0.0/16"), // masked
		}},
	{"images", "/srv/cats", func(c config) any { return c.Images }, "/srv/cats"},
	{"admin-token", "0123456789abcdef", func(c config) any { return c.AdminToken }, "0123456789abcdef"},
	{"secret", "a secret of 16 b!", func(c config) any { return c.Secrets }, []string{"a secret of 16 b!"}},
	{"secret", "new-key-0123456789abcdef, old-key-0123456789abcdef", func(c config) any { return c.Secrets },
		[]string{"new-key-0123456789abcdef", "old-key-0123456789abcdef"}},
	{"data-dir", "/var/lib/catqms", func(c config) any { return c.DataDir }, "/var/lib/catqms"},
	{"data-dir", "off", func(c config) any { return c.DataDir }, ""},
	{"save-interval", "250ms", func(c config) any { return c.SaveInterval }, 250 * time.Millisecond},
	{"history", "2h", func(c config) any { return c.History }, 2 * time.Hour},
	{"estimate-window", "15s", func(c config) any { return c.EstimateWindow }, 15 * time.Second},
	{"max-conns", "5000", func(c config) any { return c.MaxConns }, 5000},
	{"max-conns", "auto", func(c config) any { return c.MaxConns }, 0},
	{"max-conns-per-ip", "8", func(c config) any { return c.MaxConnsPerIP }, 8},
	{"shared-networks", "192.168.0.0/16", func(c config) any { return c.SharedNetworks },
		[]netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}},
	{"metrics-addr", "127.0.0.1:9100", func(c config) any { return c.MetricsAddr }, "127.0.0.1:9100"},
	{"log-format", "json", func(c config) any { return c.LogFormat }, "json"},
	{"log-format", "JSON", func(c config) any { return c.LogFormat }, "json"},
	{"log-level", "debug", func(c config) any { return c.LogLevel }, slog.LevelDebug},
	{"log-level", "warn", func(c config) any { return c.LogLevel }, slog.LevelWarn},
	{"log-level", "Error", func(c config) any { return c.LogLevel }, slog.LevelError},
	{"allowed-origins", "https://Example.com, http://localhost:3000/",
		func(c config) any { return c.AllowedOrigins },
		[]string{"https://example.com", "http://localhost:3000"}},
	{"allowed-origins", "*", func(c config) any { return c.AllowedOrigins }, []string{"*"}},
	{"public-url", "https://q.example.org/cafe", func(c config) any { return c.PublicURL }, "https://q.example.org/cafe"},
	{"venue-name", "  Cat Café ", func(c config) any { return c.VenueName }, "Cat Café"},
	{"venue-place", "the front desk", func(c config) any { return c.VenuePlace }, "the front desk"},
	{"line", "bank-7", func(c config) any { return c.Line }, "bank-7"},
	{"line", strings.Repeat("a", 32), func(c config) any { return c.Line }, strings.Repeat("a", 32)},
	{"shutdown-timeout", "0s", func(c config) any { return c.ShutdownTimeout }, time.Duration(0)},
	{"shutdown-timeout", "45s", func(c config) any { return c.ShutdownTimeout }, 45 * time.Second},
	{"healthcheck", "true", func(c config) any { return c.Healthcheck }, true},
	{"version", "1", func(c config) any { return c.Version }, true},
}

// TestMaxQueueDefaultFollowsTheStore: --max-queue defaults to the length
// S0 measured for the embedded store, or to the line's default on Redis; a
// longer line on the embedded store is accepted with a warning that names
// the value, where it came from, the measured cost and --redis-url.
func TestMaxQueueDefaultFollowsTheStore(t *testing.T) {
	m := queue.EmbeddedStore
	if m.MaxQueue >= queue.DefaultSettings().MaxQueue || m.TakeP99 <= 0 || m.TakeP99 > m.TakeP99Bound || m.RSSMB <= 0 {
		t.Fatalf("queue.EmbeddedStore %+v: want a measured limit below %d, with its take p99 within the bound", m, queue.DefaultSettings().MaxQueue)
	}
	longer := strconv.FormatInt(m.MaxQueue+1, 10)
	tests := []struct {
		name     string
		args     []string
		env      env
		want     int
		warnings []string // each warning must hold every one of these
	}{
		{"embedded default", nil, nil, int(m.MaxQueue), nil},
		{"redis default", []string{"--redis-url", "redis://db:6379"}, nil, int(queue.DefaultSettings().MaxQueue), nil},
		{"embedded at its limit", []string{"--max-queue", strconv.FormatInt(m.MaxQueue, 10)}, nil, int(m.MaxQueue), nil},
		{"redis, longer", []string{"--redis-url", "redis://db:6379", "--max-queue", "5000000"}, nil, 5000000, nil},
		{"embedded, longer", []string{"--max-queue", longer}, nil, int(m.MaxQueue) + 1,
			[]string{"--max-queue " + longer + " is beyond", "BENCHMARKS.md", "--redis-url", m.TakeP99.String(), strconv.FormatInt(m.RSSMB, 10) + " MB"}},
		{"embedded, longer, from the environment", nil, env{"CATQMS_MAX_QUEUE": longer}, int(m.MaxQueue) + 1,
			[]string{"--max-queue " + longer + " (from CATQMS_MAX_QUEUE)", "--redis-url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, tt.env.get, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.MaxQueue != tt.want {
				t.Fatalf("MaxQueue = %d, want %d", c.MaxQueue, tt.want)
			}
			ws := c.warnings()
			if len(ws) != min(len(tt.warnings), 1) {
				t.Fatalf("warnings %q, want %d", ws, min(len(tt.warnings), 1))
			}
			for _, part := range tt.warnings {
				if !strings.Contains(ws[0], part) {
					t.Errorf("warning %q does not say %q", ws[0], part)
				}
			}
		})
	}
}

func TestConfigValidFromFlagAndEnv(t *testing.T) {
	for _, tc := range validCases {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			sources := map[string]struct {
				args []string
				env  env
			}{
				"flag":      {args: []string{"--" + tc.flag + "=" + tc.value}},
				"flag-pair": {args: []string{"-" + tc.flag, tc.value}},
				"env":       {env: env{envName(tc.flag): tc.value}},
			}
			if optionByName(t, tc.flag).bool {
				delete(sources, "flag-pair") // "--version 1" is a switch and an argument
			}
			for source, in := range sources {
				c, err := parseConfig(in.args, in.env.get, io.Discard)
				if err != nil {
					t.Fatalf("%s: parseConfig: %v", source, err)
				}
				if got := tc.field(c); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s: got %#v, want %#v", source, got, tc.want)
				}
			}
		})
	}
}

func TestConfigSwitchWithoutValue(t *testing.T) {
	c, err := parseConfig([]string{"--healthcheck", "--version"}, env{}.get, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Healthcheck || !c.Version {
		t.Errorf("Healthcheck=%v Version=%v, want both true", c.Healthcheck, c.Version)
	}
}

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  env
		want time.Duration
	}{
		{"default", nil, env{}, 60 * time.Second},
		{"env over default", nil, env{"CATQMS_HEAD_WINDOW": "5s"}, 5 * time.Second},
		{"flag over default", []string{"--head-window=7s"}, env{}, 7 * time.Second},
		{"flag over env", []string{"--head-window=7s"}, env{"CATQMS_HEAD_WINDOW": "5s"}, 7 * time.Second},
		// The flag wins even when it spells out the default.
		{"flag equal to default over env", []string{"--head-window=60s"}, env{"CATQMS_HEAD_WINDOW": "5s"}, 60 * time.Second},
		// An invalid environment value does not matter when the flag is given.
		{"flag over invalid env", []string{"--head-window=7s"}, env{"CATQMS_HEAD_WINDOW": "abc"}, 7 * time.Second},
		{"empty env is unset", nil, env{"CATQMS_HEAD_WINDOW": ""}, 60 * time.Second},
		{"last flag wins", []string{"--head-window=7s", "--head-window=8s"}, env{}, 8 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, tc.env.get, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.HeadWindow != tc.want {
				t.Errorf("HeadWindow = %s, want %s", c.HeadWindow, tc.want)
			}
		})
	}

	// An empty flag value beats the environment too: --redis-url= asks for
	// the embedded store whatever CATQMS_REDIS_URL says.
	c, err := parseConfig([]string{"--redis-url="}, env{"CATQMS_REDIS_URL": "redis://db:6379"}.get, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisURL != "" {
		t.Errorf("RedisURL = %q, want empty", c.RedisURL)
	}
}

// invalidCases gives each flag a value it must refuse, and a piece of the
// reason.
var invalidCases = []struct {
	flag   string
	value  string
	reason string
}{
	{"addr", "8080", "host:port"},
	{"addr", ":http-alt", "port"},
	{"addr", ":70000", "port"},
	{"redis-url", "http://db:6379", `scheme "http"`},
	{"redis-url", "db:6379", `scheme "db"`},
	// The error lists every scheme Dial takes, the TLS forms included.
	{"redis-url", "sentinel://h:26379/m", "redis, rediss, unix, redis-sentinel, rediss-sentinel, redis-cluster, rediss-cluster"},
	{"redis-url", "redis://db:6379/%zz", "not a URL"},
	{"head-window", "abc", "not a duration"},
	{"head-window", "500ms", "at least 1s"},
	{"head-window", "25h", "at most 24h"},
	{"head-window", "-1s", "at least 1s"},
	{"view-window", "60", "not a duration"},
	{"view-window", "0s", "at least 1s"},
	{"view-window", "24h0m1s", "at most 24h"},
	{"counters", "0", "from 1 to 1000"},
	{"counters", "1001", "from 1 to 1000"},
	{"counters", "two", "not a whole number"},
	{"ban-duration", "999ms", "at least 1s"},
	{"ban-duration", "forever", "not a duration"},
	{"max-tickets-per-ip", "0", "at least 1"},
	{"max-tickets-per-ip", "1.5", "not a whole number"},
	{"max-queue", "-3", "at least 1"},
	{"log-length", "999", "from 1000 to 10000000"},
	{"log-length", "lots", "not a whole number"},
	{"max-queue", "99999999999999999999", "not a whole number"},
	{"take-rate", "1", "want COUNT/PERIOD"},
	{"take-rate", "1/day", "want COUNT/PERIOD"},
	{"take-rate", "x/s", "want COUNT/PERIOD"},
	{"take-rate", "NaN/s", "want COUNT/PERIOD"},
	{"take-rate", "0/s", "more than 0"},
	{"take-rate", "-1/s", "more than 0"},
	{"take-rate", "1/0s", "at least 1ms"},
	{"take-burst", "0", "from 1 to 1000000"},
	{"take-burst", "many", "not a whole number"},
	{"max-ws-per-ip", "0", "from 1 to 100000"},
	{"max-ws-per-ip", "100001", "from 1 to 100000"},
	{"ipv6-ban-prefix", "31", "from 32 to 128"},
	{"ipv6-ban-prefix", "129", "from 32 to 128"},
	{"ipv6-ban-prefix", "/64", "not a whole number"},
	{"trusted-proxies", "10.0.0.0/33", "not a CIDR"},
	{"trusted-proxies", "10.0.0.1,proxy.local", "neither an IP nor a CIDR"},
	{"admin-token", "short", "at least 16 characters"},
	{"secret", "0123456789abcde", "at least 16 characters"},
	{"secret", "REPLACE-ME-with-32-random-bytes-hex", "placeholder"},
	{"admin-token", "REPLACE-ME-or-remove-to-disable-admin", "placeholder"},
	{"admin-token", "aaaaaaaaaaaaaaaaaaaaaaaa", "too easy to guess"},
	{"secret", "abababababababababababab", "too easy to guess"},
	{"secret", "good-key-0123456789abcdef,short", "key 2 of the list must be at least 16"},
	{"data-dir", "", "want a folder, auto or off"},
	{"save-interval", "10ms", "at least 100ms"},
	{"save-interval", "2h", "at most 1h"},
	{"history", "30s", "at least 1m"},
	{"history", "721h", "at most 720h"},
	{"estimate-window", "500ms", "at least 1s"},
	{"estimate-window", "25h", "at most 24h"},
	{"max-conns", "0", "from 1 to 10000000"},
	{"max-conns", "lots", "not a whole number"},
	{"max-conns-per-ip", "0", "from 1 to 1000000"},
	{"shared-networks", "10.0.0.0/40", "not a CIDR"},
	{"metrics-addr", "9100", "want host:port"},
	{"log-format", "xml", "text or json"},
	{"log-level", "verbose", "debug, info, warn or error"},
	{"allowed-origins", "example.com", "not an origin"},
	{"allowed-origins", "https://example.com/app", "not an origin"},
	{"allowed-origins", "ftp://example.com", "not an origin"},
	{"public-url", "q.example.org", "not a public URL"},
	{"public-url", "ftp://q.example.org/", "not a public URL"},
	{"public-url", "https://user@q.example.org/", "not a public URL"},
	{"public-url", "https://q.example.org/" + strings.Repeat("a", 500), "not a public URL"},
	{"venue-name", strings.Repeat("é", 61), "at most 60 characters"},
	{"venue-place", strings.Repeat("x", 61), "at most 60 characters"},
	{"line", "", "1 to 32"},
	{"line", "Kitties", "1 to 32"},
	{"line", "a_b", "1 to 32"},
	{"line", strings.Repeat("a", 33), "1 to 32"},
	{"shutdown-timeout", "-1s", "at least 0s"},
	{"shutdown-timeout", "soon", "not a duration"},
	{"healthcheck", "maybe", "true or false"},
	{"version", "yes", "true or false"},
}

func TestConfigInvalidNamesTheFlag(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			secret := optionByName(t, tc.flag).secret

			_, err := parseConfig([]string{"--" + tc.flag + "=" + tc.value}, env{}.get, io.Discard)
			checkInvalid(t, err, tc.flag, "", tc.value, secret, tc.reason)

			if tc.value == "" {
				return // an empty environment variable is unset, not invalid
			}
			variable := envName(tc.flag)
			_, err = parseConfig(nil, env{variable: tc.value}.get, io.Discard)
			checkInvalid(t, err, tc.flag, variable, tc.value, secret, tc.reason)
		})
	}
}

// checkInvalid checks that err refuses value for flag: it names the flag, the
// environment variable exactly when the value came from there, the value
// unless it is secret, and the reason.
func checkInvalid(t *testing.T, err error, flag, variable, value string, secret bool, reason string) {
	t.Helper()
	if err == nil {
		t.Errorf("--%s=%q accepted (from env %q)", flag, value, variable)
		return
	}
	msg := err.Error()
	if !strings.Contains(msg, "--"+flag) {
		t.Errorf("error does not name --%s: %s", flag, msg)
	}
	if variable != "" && !strings.Contains(msg, "(from "+variable+")") {
		t.Errorf("error does not name %s: %s", variable, msg)
	}
	if variable == "" && strings.Contains(msg, "(from ") {
		t.Errorf("error names an environment variable for a command-line value: %s", msg)
	}
	if !strings.Contains(msg, reason) {
		t.Errorf("error lacks %q: %s", reason, msg)
	}
	switch {
	case secret && value != "" && strings.Contains(msg, value):
		t.Errorf("error echoes the secret value: %s", msg)
	case !secret && !strings.Contains(msg, `"`+value+`"`):
		t.Errorf("error does not quote the value %q: %s", value, msg)
	}
}

func TestConfigInvalidExample(t *testing.T) {
	// The exact form the README shows.
	_, err := parseConfig(nil, env{"CATQMS_HEAD_WINDOW": "abc"}.get, io.Discard)
	want := `invalid value "abc" for --head-window (from CATQMS_HEAD_WINDOW): not a duration (e.g. 90s, 2m, 1h30m)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestConfigReportsEveryInvalidValue(t *testing.T) {
	_, err := parseConfig([]string{"--counters=0", "--line=X"}, env{"CATQMS_HEAD_WINDOW": "abc"}.get, io.Discard)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"--counters", "--line", "--head-window (from CATQMS_HEAD_WINDOW)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestConfigCasesCoverEveryFlag(t *testing.T) {
	valid := map[string]bool{}
	for _, tc := range validCases {
		valid[tc.flag] = true
	}
	invalid := map[string]bool{}
	for _, tc := range invalidCases {
		invalid[tc.flag] = true
	}
	for _, o := range options {
		if !valid[o.name] {
			t.Errorf("no valid case for --%s", o.name)
		}
		// Any folder name is a valid --images value here; run refuses one
		// that holds no pictures (TestRunRefusesBadImages).
		if !invalid[o.name] && o.name != "images" {
			t.Errorf("no invalid case for --%s", o.name)
		}
	}
}

func TestConfigCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--head-windw=2s"}, "flag provided but not defined: -head-windw"},
		{"missing value", []string{"--counters"}, "flag needs an argument: -counters"},
		{"argument", []string{"--counters=2", "serve"}, `unexpected argument "serve"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := parseConfig(tc.args, env{}.get, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q; run reports the error once, by itself", out.String())
			}
		})
	}
}

func TestConfigHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var out bytes.Buffer
		_, err := parseConfig([]string{arg}, env{}.get, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: err = %v, want flag.ErrHelp", arg, err)
		}
		for _, o := range options {
			if !strings.Contains(out.String(), "--"+o.name) || !strings.Contains(out.String(), envName(o.name)) {
				t.Errorf("%s: usage lacks --%s or %s:\n%s", arg, o.name, envName(o.name), out.String())
			}
		}
	}
}

func TestConfigVersionDespiteInvalidValues(t *testing.T) {
	c, err := parseConfig([]string{"--version"}, env{"CATQMS_COUNTERS": "0"}.get, io.Discard)
	if err == nil {
		t.Error("invalid CATQMS_COUNTERS accepted")
	}
	if !c.Version {
		t.Error("Version not set alongside the error; --version must work whatever the environment holds")
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"addr":               "CATQMS_ADDR",
		"head-window":        "CATQMS_HEAD_WINDOW",
		"max-tickets-per-ip": "CATQMS_MAX_TICKETS_PER_IP",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func optionByName(t *testing.T, name string) option {
	t.Helper()
	for _, o := range options {
		if o.name == name {
			return o
		}
	}
	t.Fatalf("no flag --%s", name)
	return option{}
}
