package identity

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Network rules: a denied network's requests are refused before anything
// else runs; an allowed network (a partner's egress, the marketplace's own
// services behind one NAT address) is exempt from the per-address rate
// limits. A rule for a longer prefix wins over one for a shorter prefix.
const (
	NetworkDeny  = "deny"
	NetworkAllow = "allow"
)

// NetworkRule is one address or CIDR range and what to do with it.
type NetworkRule struct {
	Prefix    string // canonical: netip.Prefix.Masked().String()
	Action    string // NetworkDeny or NetworkAllow
	Note      string // why (shown to operators; no personal data)
	CreatedBy string // the ledger actor who set it
	CreatedAt time.Time
}

// NetworkRuleStore keeps the network rules.
type NetworkRuleStore interface {
	// NetworkRules returns every rule, by prefix.
	NetworkRules(ctx context.Context) ([]NetworkRule, error)
	// PutNetworkRule inserts or replaces the rule for r.Prefix.
	PutNetworkRule(ctx context.Context, r *NetworkRule) error
	// DeleteNetworkRule removes the rule for prefix; ErrNotFound if none.
	DeleteNetworkRule(ctx context.Context, prefix string) error
}

// ParseNetwork reads an address ("203.0.113.7", "2001:db8::1") or a CIDR
// range ("203.0.113.0/24") as a masked prefix: an address is its own /32
// or /128.
func ParseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: %q is not an address or a CIDR range", ErrInvalid, s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: %q is not an address or a CIDR range", ErrInvalid, s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate checks and canonicalizes the rule.
func (r *NetworkRule) Validate() error {
	p, err := ParseNetwork(r.Prefix)
	if err != nil {
		return err
	}
	if r.Action != NetworkDeny && r.Action != NetworkAllow {
		return invalid("action must be %q or %q", NetworkDeny, NetworkAllow)
	}
	if len(r.Note) > 500 {
		return invalid("the note is longer than 500 characters")
	}
	if p.Bits() == 0 && r.Action == NetworkDeny {
		return invalid("denying %s would refuse every request, this administrator's included", p)
	}
	r.Prefix = p.String()
	return nil
}
