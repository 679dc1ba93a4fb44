package testenv

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Query sends one command over a new connection and returns the whole reply:
// a string for simple strings, integers and bulk strings, nil for a null
// reply, []any for arrays (nested as Redis nests them), and a Go error for a
// Redis error. Sentinel and Cluster commands answer arrays, which Do cannot read.
func (r *Redis) Query(args ...string) (any, error) {
	c, err := dialRESP(r.Addr, redisDialTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.send(args...); err != nil {
		return nil, err
	}
	return c.readValue()
}

// send writes args as one RESP array.
func (c *respConn) send(args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := io.WriteString(c.conn, b.String())
	return err
}

// readValue reads one RESP2 reply of any type.
func (c *respConn) readValue() (any, error) {
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return nil, errors.New("redis: " + line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, fmt.Errorf("redis: bad bulk length %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, fmt.Errorf("redis: bad array length %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		list := make([]any, 0, n)
		for range n {
			v, err := c.readValue()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	default:
		return nil, fmt.Errorf("redis: unsupported reply %q", line)
	}
}
