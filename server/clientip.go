package server

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// ctxClient is the gin.Context key of the request's client.
const ctxClient = "catqms.client"

// client is who sent a request: the address we believe, and the key that
// bans and limits count against.
type client struct {
	IP  netip.Addr
	Key string
}

// identify computes the client of every request once; on a shared
// network, its device (device.go).
func (s *Server) identify(c *gin.Context) {
	c.Set(ctxClient, s.device(c, s.clientOf(c.Request)))
	c.Next()
}

// clientFrom returns the client identify stored.
func clientFrom(c *gin.Context) client {
	v, _ := c.Get(ctxClient)
	cl, _ := v.(client)
	return cl
}

// clientOf returns the client of r.
func (s *Server) clientOf(r *http.Request) client {
	ip := clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.cfg.TrustedProxies)
	return client{IP: ip, Key: clientKey(ip, s.cfg.IPv6BanPrefix)}
}

// clientIP returns the address of the client behind remoteAddr (the TCP
// peer, "ip:port") and the X-Forwarded-For header values xff.
//
// The peer is the client unless it is a trusted proxy. Then X-Forwarded-For
// is read from the right, where each trusted hop appended the address it
// saw: the first entry that is not itself trusted is the client. Entries
// left of it were written by the client and may be forged, so they are
// never read. If every entry is trusted, the left-most one is the client.
// An entry that does not parse as an address ends the walk: the last valid
// hop reached is the client, because everything from the garbage leftwards
// is as untrustworthy as the garbage.
func clientIP(remoteAddr string, xff []string, trusted []netip.Prefix) netip.Addr {
	ip := parseAddr(remoteAddr)
	if !ip.IsValid() || !isTrusted(ip, trusted) {
		return ip
	}
	for i := len(xff) - 1; i >= 0; i-- {
		entries := strings.Split(xff[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			hop := parseAddr(strings.TrimSpace(entries[j]))
			if !hop.IsValid() {
				return ip
			}
			ip = hop
			if !isTrusted(ip, trusted) {
				return ip
			}
		}
	}
	return ip
}

// parseAddr parses "ip", "ip:port" or "[ipv6]:port", drops any zone and
// unmaps IPv4-mapped IPv6. It returns the zero Addr for anything else.
func parseAddr(s string) netip.Addr {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		ip = ap.Addr()
	}
	return ip.WithZone("").Unmap()
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientKey returns the key that bans and limits count against: an IPv4
// address as it is, an IPv6 address as its /prefixBits network, because one
// host usually holds a whole /64 and could otherwise dodge a ban by
// changing address. An invalid address (a test transport without a peer)
// gets one shared key.
func clientKey(ip netip.Addr, prefixBits int) string {
	switch {
	case !ip.IsValid():
		return "unknown"
	case ip.Is4():
		return ip.String()
	case prefixBits >= 128:
		return ip.String()
	default:
		return netip.PrefixFrom(ip, prefixBits).Masked().String()
	}
}
