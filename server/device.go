package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Venues on one network. Behind a venue's Wi-Fi every visitor has the same
// public address, so a ban or a per-client limit on that address falls on
// everyone there. For clients in Config.SharedNetworks the server gives each
// browser a device cookie: a random id signed with the line's token key, so
// it cannot be made up. A request that carries a valid one is keyed by its
// address and its device (bans, ticket limits, the take rate, WebSocket
// caps); one without is keyed by the address alone, as everywhere else, so
// a client that throws its cookie away shares one key with every other
// cookie-less client of that network, and banning it touches none of the
// devices that kept theirs. Clients outside these networks are keyed by
// address, as before.
const (
	deviceCookie    = "catqms_device"
	deviceCookieAge = 365 * 24 * time.Hour
	// deviceSep joins an address and a device id in a client key: it is
	// unreserved in URLs, so the admin API can name the key in a path.
	deviceSep = "~"
)

// DeviceSigner makes and checks device ids. *queue.Signer satisfies it.
type DeviceSigner interface {
	// DeviceID returns a new signed device id.
	DeviceID() string
	// ParseDeviceID checks one and returns the device's name.
	ParseDeviceID(v string) (string, error)
}

// device returns cl keyed by its device when it comes from a shared
// network with a valid device cookie. A client from a shared network
// without one is given a cookie for its next requests.
func (s *Server) device(c *gin.Context, cl client) client {
	if s.devices == nil || len(s.cfg.SharedNetworks) == 0 || !isTrusted(cl.IP, s.cfg.SharedNetworks) {
		return cl
	}
	if ck, err := c.Request.Cookie(deviceCookie); err == nil {
		if id, err := s.devices.ParseDeviceID(ck.Value); err == nil {
			cl.Key += deviceSep + id
			return cl
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     deviceCookie,
		Value:    s.devices.DeviceID(),
		Path:     "/",
		MaxAge:   int(deviceCookieAge.Seconds()),
		HttpOnly: true, // the page's code never needs it
		Secure:   strings.HasPrefix(s.ownOrigin(c.Request), "https:"),
		SameSite: http.SameSiteLaxMode, // not sent on other sites' subrequests or POSTs
	})
	return cl
}

// isDeviceName reports whether s is a device's name as ParseDeviceID gives
// it: 32 lowercase hex digits.
func isDeviceName(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
