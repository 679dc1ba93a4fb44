package redisline

import (
	"strings"
	"testing"
)

func TestMultiHost(t *testing.T) {
	tests := []struct {
		in, host, path string
		addrs          []string
	}{
		{"h1:1", "h1:1", "", nil},
		{"h1:1/mymaster", "h1:1", "/mymaster", nil},
		{"h1:1,h2:2,h3:3/mymaster", "h1:1", "/mymaster", []string{"h2:2", "h3:3"}},
		{"user:pw@h1:1,h2:2?db=2", "h1:1", "", []string{"h2:2"}},
	}
	for _, tt := range tests {
		u, err := multiHost("redis", tt.in)
		if err != nil {
			t.Fatalf("multiHost(%q): %v", tt.in, err)
		}
		if u.Host != tt.host || u.Path != tt.path || strings.Join(u.Query()["addr"], ",") != strings.Join(tt.addrs, ",") {
			t.Errorf("multiHost(%q) = host %q path %q addr %v; want %q %q %v", tt.in, u.Host, u.Path, u.Query()["addr"], tt.host, tt.path, tt.addrs)
		}
	}
	if _, err := multiHost("redis", "h1:1,,h3:3"); err == nil {
		t.Error("an empty host in the list was accepted")
	}
}

func TestDialRejectsBadURLs(t *testing.T) {
	for _, raw := range []string{
		"localhost:6379",                     // no scheme
		"http://localhost:6379",              // not redis
		"redis-sentinel://h1:26379,h2:26379", // no master name
		"redis://user:secret@[::1/0",         // unparseable, with a password
	} {
		rdb, err := Dial(raw)
		if err == nil {
			rdb.Close()
			t.Errorf("Dial(%q) accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Dial(%q) error shows the password: %v", raw, err)
		}
	}
	for _, raw := range []string{
		"redis://localhost:6379/0",
		"unix:///tmp/redis.sock",
		"redis-sentinel://:pw@h1:26379,h2:26379,h3:26379/mymaster",
		"redis-cluster://h1:7000,h2:7001",
	} {
		rdb, err := Dial(raw)
		if err != nil {
			t.Errorf("Dial(%q): %v", raw, err)
			continue
		}
		rdb.Close()
	}
}
