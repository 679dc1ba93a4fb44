package redisline

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts for the store's connections. They are short so that a store that
// stops answering turns into a quick 503, never a hung request.
const (
	dialTimeout = 2 * time.Second
	ioTimeout   = 2 * time.Second
	poolTimeout = 2 * time.Second
	maxRetries  = 3 // go-redis's default; take.lua is safe against replays
	// embeddedTick is how often the embedded store's key TTLs are moved on
	// (finished tickets and old bans are cleaned up as on a real Redis).
	// Moving them (FastForward) sorts every key under the store's one lock,
	// O(k log k) for k keys, and every request waits meanwhile; nothing in
	// the line depends on key expiry, so a minute late is as good.
	embeddedTick = time.Minute
)

// Dial returns a client for a Redis URL. The forms are:
//
//	redis://[user:password@]host:port[/db]        one Redis (rediss:// for TLS)
//	unix:///path/to/redis.sock[?db=N]             one Redis on a Unix socket
//	redis-sentinel://[user:password@]host:port[,host:port…]/master[?db=N]
//	                                              a Sentinel-managed master (rediss-sentinel:// for TLS)
//	redis-cluster://[user:password@]host:port[,host:port…]
//	                                              a Redis Cluster (rediss-cluster:// for TLS)
//
// Query parameters that go-redis understands (dial_timeout, pool_size, …)
// pass through.
func Dial(rawURL string) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("redis URL %q has no scheme (want redis://, rediss://, unix://, redis-sentinel:// or redis-cluster://)", redact(rawURL))
	}
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, urlError(rawURL, err)
		}
		tune(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout)
		o.MaxRetries, o.ContextTimeoutEnabled = maxRetries, true
		return redis.NewClient(o), nil
	case "redis-sentinel", "rediss-sentinel":
		u, err := multiHost(strings.TrimSuffix(scheme, "-sentinel"), rest)
		if err != nil {
			return nil, urlError(rawURL, err)
		}
		master, db, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
		if master == "" {
			return nil, fmt.Errorf("redis URL %q: name the Sentinel master as the path, e.g. redis-sentinel://host:26379/mymaster", redact(rawURL))
		}
		q := u.Query()
		q.Set("master_name", master)
		if db != "" {
			q.Set("db", db)
		}
		u.Path, u.RawQuery = "", q.Encode()
		o, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, urlError(rawURL, err)
		}
		tune(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout)
		o.MaxRetries, o.ContextTimeoutEnabled = maxRetries, true
		return redis.NewFailoverClient(o), nil
	case "redis-cluster", "rediss-cluster":
		u, err := multiHost(strings.TrimSuffix(scheme, "-cluster"), rest)
		if err != nil {
			return nil, urlError(rawURL, err)
		}
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, urlError(rawURL, err)
		}
		tune(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout)
		o.MaxRetries, o.ContextTimeoutEnabled = maxRetries, true
		return redis.NewClusterClient(o), nil
	default:
		return nil, fmt.Errorf("redis URL %q: unknown scheme %q (want redis, rediss, unix, redis-sentinel or redis-cluster)", redact(rawURL), scheme)
	}
}

// multiHost turns "user:pw@h1:1,h2:2/path?q" into a URL on h1 with the
// other hosts as addr= parameters, the form go-redis parses.
func multiHost(scheme, rest string) (*url.URL, error) {
	u, err := url.Parse(scheme + "://" + rest)
	if err == nil && !strings.Contains(u.Host, ",") {
		// A single host. (url.Parse accepts "h1:1,h2:2" as one host, since
		// only the text after the last colon must be a port.)
		return u, nil
	}
	auth, hostsAndRest := "", rest
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		auth, hostsAndRest = rest[:i+1], rest[i+1:]
	}
	end := strings.IndexAny(hostsAndRest, "/?")
	if end < 0 {
		end = len(hostsAndRest)
	}
	hosts := strings.Split(hostsAndRest[:end], ",")
	u, err = url.Parse(scheme + "://" + auth + hosts[0] + hostsAndRest[end:])
	if err != nil {
		return nil, err
	}
	q := u.Query()
	for _, h := range hosts[1:] {
		if h == "" {
			return nil, fmt.Errorf("empty host in the host list")
		}
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

func tune(dial, read, write, pool *time.Duration) {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(dial, dialTimeout)
	set(read, ioTimeout)
	set(write, ioTimeout)
	set(pool, poolTimeout)
}

// urlError reports a bad URL without its password: parse errors quote the
// URL they were given, so only their reason is kept, and any copy of the
// password is scrubbed from it.
func urlError(raw string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if pw := password(raw); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return fmt.Errorf("redis URL %q: %s", redact(raw), msg)
}

// password returns the password in a URL's user info, parsed by hand so
// that it is found even in a URL that does not parse.
func password(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:at], ":")
	return pw
}

// redact hides a password in a URL for error messages.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			return raw[:j+3] + "xxxxx" + raw[i:]
		}
	}
	return raw
}

// Embedded starts an in-process Redis-compatible store (miniredis) that
// keeps nothing across restarts, and returns a client for it and a function
// that stops it. OpenEmbedded also saves it to a directory.
func Embedded() (redis.UniversalClient, func() error, error) {
	return OpenEmbedded(EmbeddedOptions{})
}
