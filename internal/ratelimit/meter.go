package ratelimit

import (
	"context"
	"net/http"
	"net/netip"
	"time"

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
	return m.AllowAt(ctx, h, key, 0)
}

// AllowAt is Allow with the key's own budget of perMinute requests a
// minute (a client's quota), its bursts in the class's proportion; 0
// takes the class's limit.
func (m *Meter) AllowAt(ctx context.Context, h http.Header, key string, perMinute int) bool {
	if m == nil {
		return true
	}
	limit := m.Limit
	if perMinute > 0 {
		limit = m.Limit.scaled(perMinute)
	}
	if limit.Off() {
		return true
	}
	res, err := m.Store.Allow(ctx, m.Class+":"+key, limit)
	if err != nil {
		// A Store without a fallback failed: no verdict, so no refusal
		// (the server always builds a Failover or a Memory, which do
		// not fail).
		return true
	}
	WriteHeaders(h, Policy{Name: m.Class, Limit: limit}, res)
	if !res.Allowed && m.Refused != nil {
		m.Refused.Inc()
	}
	return res.Allowed
}

// scaled is perMinute requests a minute with bursts in l's proportion of
// burst to rate (a sixth of a minute's worth when l is off).
func (l Limit) scaled(perMinute int) Limit {
	burst := perMinute / 6
	if !l.Off() {
		perMinuteOfL := float64(l.Requests) * float64(time.Minute) / float64(l.Per)
		burst = int(float64(l.Burst) * float64(perMinute) / perMinuteOfL)
	}
	return Limit{Requests: perMinute, Per: time.Minute, Burst: max(burst, 1)}
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
