package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rawClient sends HTTP/1.1 requests one after the other over one
// keep-alive connection, as lean as wrk's: the request is written from a
// reused buffer and the answer read with one bufio.Reader, keeping only
// the status, the body and whether the server closes the connection.
//
// The load generator shares CPU 0 with Redis on this two-core box (S2), so
// every microsecond it spends is one Redis does not get: net/http's client
// spent about 41 µs of CPU per request there (its connection goroutines,
// channels and header maps), a third of what a visit cost on that core;
// this one spends about 18 µs, most of it the kernel's loopback TCP. A
// client on another machine would cost Redis nothing.
//
// A rawClient is not safe for concurrent use: S2 gives each worker its own.
type rawClient struct {
	addr    string // host:port
	local   net.IP // loopback source address, so that no address runs out of ports
	timeout time.Duration

	conn net.Conn
	br   *bufio.Reader
	req  []byte
	body []byte
}

func newRawClient(addr string, local net.IP) *rawClient {
	return &rawClient{addr: addr, local: local, timeout: 10 * time.Second}
}

// errMalformed is an answer that is not HTTP/1.1 as this client reads it.
var errMalformed = errors.New("malformed HTTP answer")

// do sends method path with the headers given as name, value pairs, and
// returns the answer's status and body. The body is valid until the next
// call. Any error closes the connection; the next call dials again.
func (c *rawClient) do(method, path string, header ...string) (int, []byte, error) {
	if c.conn == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		if c.local != nil {
			d.LocalAddr = &net.TCPAddr{IP: c.local}
		}
		conn, err := d.Dial("tcp", c.addr)
		if err != nil {
			return 0, nil, err
		}
		c.conn = conn
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 4096)
		} else {
			c.br.Reset(conn)
		}
	}
	req := append(c.req[:0], method...)
	req = append(req, ' ')
	req = append(req, path...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, c.addr...)
	req = append(req, "\r\n"...)
	for i := 0; i+1 < len(header); i += 2 {
		req = append(req, header[i]...)
		req = append(req, ": "...)
		req = append(req, header[i+1]...)
		req = append(req, "\r\n"...)
	}
	if method == "POST" || method == "PUT" {
		req = append(req, "Content-Length: 0\r\n"...)
	}
	req = append(req, "\r\n"...)
	c.req = req
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return 0, nil, err
	}
	status, keep, err := c.read()
	if err != nil {
		c.close()
		return 0, nil, err
	}
	if !keep {
		c.close()
	}
	return status, c.body, nil
}

// read reads one answer into c.body and reports its status and whether the
// connection stays open.
func (c *rawClient) read() (status int, keep bool, err error) {
	line, err := c.line()
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	keep = line[7] == '1' // HTTP/1.0 closes unless it says otherwise
	length, chunked := -1, false
	for {
		line, err = c.line()
		if err != nil {
			return 0, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "Connection"):
			if asciiEqualFold(value, "close") {
				keep = false
			} else if asciiEqualFold(value, "keep-alive") {
				keep = true
			}
		}
	}
	c.body = c.body[:0]
	switch {
	case status == 204 || status == 304 || status/100 == 1:
	case chunked:
		err = c.chunks()
	case length >= 0:
		err = c.readN(length)
	default: // the body runs to the end of the connection
		var b []byte
		b, err = io.ReadAll(c.br)
		c.body, keep = append(c.body, b...), false
	}
	return status, keep, err
}

// line reads one header line without its CRLF. The slice is valid until
// the next read.
func (c *rawClient) line() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: a line over %d bytes", errMalformed, c.br.Size())
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readN appends the next n bytes to c.body.
func (c *rawClient) readN(n int) error {
	start := len(c.body)
	c.body = append(c.body, make([]byte, n)...)
	_, err := io.ReadFull(c.br, c.body[start:])
	return err
}

// chunks reads a chunked body into c.body.
func (c *rawClient) chunks() error {
	for {
		line, err := c.line()
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n > 0 {
			if err := c.readN(int(n)); err != nil {
				return err
			}
		}
		if line, err = c.line(); err != nil { // the CRLF after the chunk, or the end of the trailers
			return err
		}
		if n == 0 {
			for len(line) > 0 { // trailers
				if line, err = c.line(); err != nil {
					return err
				}
			}
			return nil
		}
		if len(line) != 0 {
			return fmt.Errorf("%w: no CRLF after a chunk", errMalformed)
		}
	}
}

func (c *rawClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// asciiEqualFold reports whether b is s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
