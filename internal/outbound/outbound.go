// Package outbound is the policy for every URL Portero itself calls on
// someone's say-so (today: clients' back-channel logout URIs). Such a URL
// must not reach Portero's own host or private network (blind SSRF): it is
// checked when it is registered, and again when Portero connects, on the
// address actually dialled, so that DNS rebinding (a name that resolves to
// a public address at registration and to 127.0.0.1 later) gains nothing.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ErrForbidden refuses a destination outside the policy.
var ErrForbidden = errors.New("destination not allowed")

// Policy says which addresses outbound calls may reach: public unicast
// addresses, and the Allowed prefixes on top (an operator's internal
// network; loopback for development), nothing else.
type Policy struct {
	Allowed []netip.Prefix
	// Tracer, when set, makes a client span for every call (and passes
	// the trace on in a traceparent header).
	Tracer trace.TracerProvider
}

// nonPublic are the special-purpose ranges (RFC 6890 and successors) that
// netip's predicates do not already cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64: may embed any IPv4
	netip.MustParsePrefix("2001:db8::/32"),
}

// Permits reports whether a connection to a may be made.
func (p Policy) Permits(a netip.Addr) bool {
	a = a.Unmap()
	for _, pre := range p.Allowed {
		if pre.Contains(a) {
			return true
		}
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, pre := range nonPublic {
		if pre.Contains(a) {
			return false
		}
	}
	return true
}

// CheckURL vets a URL when it is registered: https, and a host that is
// neither a forbidden address nor a name resolving to one. A name that
// does not resolve yet is accepted; the dialer checks again at connect
// time whatever it resolves to then.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%w: must be an https URL without credentials or fragment", ErrForbidden)
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !p.Permits(a) {
			return fmt.Errorf("%w: %s is not a public address", ErrForbidden, host)
		}
		return nil
	}
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		if !p.Permits(netip.MustParseAddr("127.0.0.1")) {
			return fmt.Errorf("%w: %s is this host", ErrForbidden, host)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if !p.Permits(a) {
			return fmt.Errorf("%w: %s resolves to %s, not a public address", ErrForbidden, host, a)
		}
	}
	return nil
}

// control refuses, at connect time, a dial to an address outside the
// policy: the check sees the address the resolver returned, not a name.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbidden, address)
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !p.Permits(a) {
		return fmt.Errorf("%w: %s", ErrForbidden, host)
	}
	return nil
}

// Client is an HTTP client whose every connection passes the policy, that
// does not follow redirects (a redirect could name any address) and that
// ignores proxy settings (the proxy, not the target, would be dialled).
func (p Policy) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: p.control}
	var transport http.RoundTripper = &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: timeout,
		MaxIdleConns:        10,
		IdleConnTimeout:     30 * time.Second,
	}
	if p.Tracer != nil {
		transport = otelhttp.NewTransport(transport, otelhttp.WithTracerProvider(p.Tracer),
			otelhttp.WithPropagators(propagation.TraceContext{}))
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
