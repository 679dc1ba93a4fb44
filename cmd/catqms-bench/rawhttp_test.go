package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The lean client reads what net/http's server writes: a sized body, a
// chunked one, no body, and a server that closes the connection; it
// keeps one connection for requests in a row.
func TestRawClientReadsWhatNetHTTPWrites(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			fmt.Fprintf(w, "%s %s %s", r.Method, r.Header.Get("X-Who"), r.Host)
		case "/chunked":
			f := w.(http.Flusher)
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				f.Flush()
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		case "/post":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %d %q", r.Method, r.ContentLength, b)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c := newRawClient(addr, nil)
	defer c.close()

	check := func(method, path string, wantCode int, wantBody string, header ...string) {
		t.Helper()
		code, body, err := c.do(method, path, header...)
		if err != nil || code != wantCode || string(body) != wantBody {
			t.Fatalf("%s %s: %d %q %v, want %d %q", method, path, code, body, err, wantCode, wantBody)
		}
	}
	check("GET", "/sized", 200, "GET a "+addr, "X-Who", "a")
	check("GET", "/chunked", 200, "part0;part1;part2;")
	check("DELETE", "/empty", 204, "")
	check("POST", "/post", 200, `POST 0 ""`)
	check("GET", "/sized", 200, "GET b "+addr, "X-Who", "b")
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for five requests in a row, want 1", n)
	}
	check("GET", "/close", 200, "bye")
	check("GET", "/sized", 200, "GET c "+addr, "X-Who", "c")
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections after the server closed one, want 2", n)
	}
}

// An answer that is not HTTP is an error, not a hang or a made-up status,
// and the next request dials again.
func TestRawClientRefusesGarbage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answers := []string{
		"SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	}
	go func() {
		for _, a := range answers {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(conn)
			for { // read the request's head
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			io.WriteString(conn, a)
			conn.Close()
		}
	}()
	c := newRawClient(ln.Addr().String(), nil)
	defer c.close()
	for _, a := range answers[:3] {
		if code, _, err := c.do("GET", "/"); !errors.Is(err, errMalformed) {
			t.Fatalf("answer %q: %d %v, want errMalformed", a, code, err)
		}
	}
	if code, body, err := c.do("GET", "/"); err != nil || code != 200 || string(body) != "ok" {
		t.Fatalf("after garbage: %d %q %v", code, body, err)
	}
}
