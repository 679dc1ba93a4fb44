package server

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/catqms/catqms/queue"
)

// codeCrossOrigin refuses a browser request that another site caused.
const codeCrossOrigin queue.Code = "cross_origin"

// Browsers attach a visitor's address (and cookies) to requests any page
// makes: a form another site auto-submits, an <img> pointing at the API.
// Such a request must act for nobody. Browsers say who caused a request:
// Sec-Fetch-Site (every current browser) and Origin (on POST and DELETE,
// and on every fetch that is not a simple GET). Clients that are not
// browsers send neither, and are served as before.

// refuseCrossSite answers 403 cross_origin to a request another site
// caused, on the routes that change something (every method but GET, HEAD
// and OPTIONS, and GET /api/v1/token, which takes a ticket). It runs before
// the rate limits and the store, so such a request costs the visitor
// nothing: no ticket, no ban, no count against a limit.
func (s *Server) refuseCrossSite(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if c.FullPath() != "/api/v1/token" {
			c.Next()
			return
		}
	}
	if reason := s.crossSite(c.Request); reason != "" {
		s.fail(c, queue.Errorf(codeCrossOrigin, "%s; this request acts for nobody", reason))
		return
	}
	c.Next()
}

// crossSite says why r was caused by another site than this service and
// the --allowed-origins, or "" when it was not (or r is not from a browser).
//
// An allowed Origin wins. Otherwise Sec-Fetch-Site decides when the
// browser sends it: same-origin and none (the visitor typed the address)
// pass; same-site (another port or subdomain) and cross-site do not.
// Without it, an Origin must be this service's own: scheme, host and port.
func (s *Server) crossSite(r *http.Request) string {
	origins := r.Header.Values("Origin")
	if len(origins) > 1 {
		return "a request with several Origin headers"
	}
	origin := ""
	if len(origins) == 1 {
		origin = normalOrigin(origins[0])
		if origin != "" && s.originAllowed(origin) {
			return ""
		}
	}
	switch site := strings.ToLower(strings.TrimSpace(r.Header.Get("Sec-Fetch-Site"))); site {
	case "same-origin", "none":
		return ""
	case "same-site", "cross-site":
		return "another site (" + site + ") caused this request"
	case "":
	default:
		return "the browser did not say which site caused this request"
	}
	switch {
	case len(origins) == 0:
		return "" // not a browser, or a browser that sends neither header
	case origin == "":
		return "the request comes from an opaque origin"
	case origin != s.ownOrigin(r):
		return "the request comes from " + truncate(origin, 100) + ", not from this service"
	}
	return ""
}

// originAllowed reports whether origin is in --allowed-origins.
func (s *Server) originAllowed(origin string) bool {
	for _, a := range s.cfg.AllowedOrigins {
		if a == "*" || a == origin {
			return true
		}
	}
	return false
}

// ownOrigin is the origin a browser shows for a page of this service, as r
// reached it: the scheme (https when the connection is TLS, or when a
// trusted proxy says so in X-Forwarded-Proto), the Host header's host and
// its port unless it is the scheme's default.
func (s *Server) ownOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if isTrusted(parseAddr(r.RemoteAddr), s.cfg.TrustedProxies) {
		proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		if p := strings.ToLower(strings.TrimSpace(proto)); p == "https" || p == "http" {
			scheme = p
		}
	}
	return normalOrigin(scheme + "://" + r.Host)
}

// normalOrigin returns an origin as scheme://host[:port] in lower case
// without the scheme's default port, or "" for anything that is not an
// http or https origin ("null" from a sandboxed frame or a file).
func normalOrigin(v string) string {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host
}

// refuseForeignSocket checks the WebSocket's origin in full before the hub
// upgrades: a page of another scheme, host or port may not open it unless
// --allowed-origins names it. (The hub's own check compares hosts only, as
// it cannot know a proxy's X-Forwarded-Proto.)
func (s *Server) refuseForeignSocket(c *gin.Context) {
	if reason := s.crossSite(c.Request); reason != "" {
		s.fail(c, queue.Errorf(codeCrossOrigin, "%s; the live feed is for this service's pages", reason))
		return
	}
	c.Next()
}
