package identity

import (
	"net/netip"
	"strings"
)

// Device is what a sign-in says about where it came from: the browser
// and system families of its user agent and its approximate network (an
// IPv4 /24, an IPv6 /48), coarse enough to stay the same from one day to
// the next for one person and to say little about them.
type Device struct {
	Browser, OS string
	Network     string // "" when the address is unreadable
}

// DeviceOf reads a sign-in's address (without port) and user agent.
func DeviceOf(ip, userAgent string) Device {
	d := Device{Browser: family(userAgent, browsers), OS: family(userAgent, systems)}
	if a, err := netip.ParseAddr(ip); err == nil {
		a = a.Unmap()
		bits := 24
		if a.Is6() {
			bits = 48
		}
		p, _ := a.Prefix(bits)
		d.Network = p.String()
	}
	return d
}

// Same reports whether two sign-ins look like one device: same families,
// same network.
func (d Device) Same(o Device) bool { return d == o }

// Name is a short, recognisable name ("Firefox · Linux").
func (d Device) Name() string {
	switch {
	case d.Browser == "" && d.OS == "":
		return "?"
	case d.OS == "":
		return d.Browser
	case d.Browser == "":
		return d.OS
	}
	return d.Browser + " · " + d.OS
}

var (
	browsers = []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
	}
	systems = []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	}
)

// family is the first known family whose token the user agent carries.
func family(ua string, known []struct{ token, name string }) string {
	for _, f := range known {
		if strings.Contains(ua, f.token) {
			return f.name
		}
	}
	return ""
}
