package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/render"
)

// networkScreen applies the network rules to every request: a denied
// network is refused before anything else runs; an allowed one is exempt
// from the per-address rate limits. The rules are held in memory and
// reloaded on a change notification (PostgreSQL), when this process
// changes them, and every networkReloadInterval.
type networkScreen struct {
	store identity.NetworkRuleStore
	pages *render.Renderer
	log   *slog.Logger
	rules atomic.Pointer[[]compiledRule] // longest prefix first
}

type compiledRule struct {
	prefix netip.Prefix
	allow  bool
}

const networkReloadInterval = 30 * time.Second

// load reads the rules; on failure the rules in force stay.
func (n *networkScreen) load(ctx context.Context) error {
	rules, err := n.store.NetworkRules(ctx)
	if err != nil {
		return err
	}
	compiled := make([]compiledRule, 0, len(rules))
	for _, r := range rules {
		p, err := identity.ParseNetwork(r.Prefix)
		if err != nil {
			n.log.Error("network rule ignored", "prefix", r.Prefix, "err", err)
			continue
		}
		compiled = append(compiled, compiledRule{prefix: p, allow: r.Action == identity.NetworkAllow})
	}
	// The most specific rule wins: an allowed host inside a denied range
	// passes.
	slices.SortStableFunc(compiled, func(a, b compiledRule) int { return b.prefix.Bits() - a.prefix.Bits() })
	n.rules.Store(&compiled)
	return nil
}

func (n *networkScreen) reload() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.load(ctx); err != nil {
		n.log.Error("reload network rules", "err", err)
	}
}

// run reloads the rules every networkReloadInterval until ctx ends.
func (n *networkScreen) run(ctx context.Context) {
	every(ctx, networkReloadInterval, n.reload)
}

// match is the rule for addr: allowed, denied, or none (ok false).
func (n *networkScreen) match(remoteAddr string) (allow, ok bool) {
	rules := n.rules.Load()
	if rules == nil || len(*rules) == 0 {
		return false, false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false, false
	}
	addr := ap.Addr().Unmap()
	for _, r := range *rules {
		if r.prefix.Contains(addr) {
			return r.allow, true
		}
	}
	return false, false
}

type allowedNetworkKey struct{}

// allowedNetwork reports whether the request came from an allowed network.
func allowedNetwork(ctx context.Context) bool {
	v, _ := ctx.Value(allowedNetworkKey{}).(bool)
	return v
}

// screen is the middleware (after withClientAddr, so it sees the client's
// address). The health probes are never refused: the load balancer's
// network must not be locked out by a rule.
func (n *networkScreen) screen(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allow, ok := n.match(r.RemoteAddr)
		switch {
		case !ok:
		case allow:
			r = r.WithContext(context.WithValue(r.Context(), allowedNetworkKey{}, true))
		case !strings.HasPrefix(r.URL.Path, "/health/"):
			if strings.Contains(r.Header.Get("Accept"), "text/html") {
				n.pages.Error(w, r, http.StatusForbidden, "network_denied", "error.network_denied")
				return
			}
			writeJSONStatus(w, http.StatusForbidden,
				`{"error":"access_denied","error_description":"Requests from this network are not accepted."}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}
