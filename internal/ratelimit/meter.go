package ratelimit

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
)

// Meter applies one class's limit (its name is the policy's name in the
// headers) to the keys of that class.
type Meter struct {
	Class string
	Limit Limit
	Store Store
	// Refused counts the requests this meter refused; may be nil.
	Refused prometheus.Counter
}

// Allow counts one request for key and sets the rate-limit headers on h;
// false means the caller answers 429 (Retry-After is set). A nil Meter,
// or one whose limit is off, lets everything through and sets nothing.
func (m *Meter) Allow(ctx context.Context, h http.Header, key string) bool {
	if m == nil || m.Limit.Off() {
		return true
	}
	res, err := m.Store.Allow(ctx, m.Class+":"+key, m.Limit)
	if err != nil {
		// A Store without a fallback failed: no verdict, so no refusal
		// (the server always builds a Failover or a Memory, which do
		// not fail).
		return true
	}
	WriteHeaders(h, Policy{Name: m.Class, Limit: m.Limit}, res)
	if !res.Allowed && m.Refused != nil {
		m.Refused.Inc()
	}
	return res.Allowed
}

// AddressKey is the key of a client address: IPv4 as is, IPv6 by its /64
// (one subscriber's or host's whole prefix), so that rotating through a
// prefix gains nothing. remoteAddr is http.Request.RemoteAddr, after the
// trusted-proxy rewrite.
func AddressKey(remoteAddr string) string {
	addr, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		a, perr := netip.ParseAddr(remoteAddr)
		if perr != nil {
			return remoteAddr
		}
		addr = netip.AddrPortFrom(a, 0)
	}
	a := addr.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
