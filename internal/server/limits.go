package server

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/portero-id/portero/internal/adminapi"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/ratelimit"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/oauth"
)

// limits holds the meters of rate_limits: per client (the OAuth
// provider's, once a client has authenticated), per administrator (the
// admin API's) and per address (byAddress, for every route of a class).
type limits struct {
	tokenClient, introspectionClient, adminPrincipal *ratelimit.Meter
	oauthAddress, pagesAddress, registrationAddress  *ratelimit.Meter
	adminAddress                                     *ratelimit.Meter
	// stuffingFailures is each network's budget of failed sign-ins
	// (web.StuffingWatch).
	stuffingFailures *ratelimit.Meter
	pages            *render.Renderer
}

// Credential-stuffing detection: a network (IPv4 /24, IPv6 /48) with more
// failed password sign-ins than this in the period (on every replica,
// through Redis) must prove work at sign-in for stuffingSuspectFor.
var stuffingBudget = config.RateLimit{Requests: 20, Per: 10 * time.Minute, Burst: 20}

const (
	stuffingSuspectFor = 15 * time.Minute
	// stuffingWorkBits is the proof of work asked: 2^16 hashes, about a
	// second in a browser.
	stuffingWorkBits = 16
)

// newLimits builds the meters on one store: Redis with a memory fallback
// when redis.url is set, memory otherwise. With rate_limits.enabled off
// every meter is nil (nil meters let everything through).
func newLimits(cfg *config.Config, client *redis.Client, reg prometheus.Registerer, log *slog.Logger, pages *render.Renderer) *limits {
	l := &limits{pages: pages}
	if !cfg.RateLimits.Enabled {
		return l
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portero_rate_limited_total", Help: "Requests refused with 429, by rate-limit class.",
	}, []string{"class"})
	fallbacks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portero_rate_limit_fallback_total", Help: "Rate-limit checks answered from this replica's memory because Redis failed.",
	})
	reg.MustRegister(refused, fallbacks)
	memory := ratelimit.NewMemory(100_000)
	var store ratelimit.Store = memory
	if client != nil {
		store = &ratelimit.Failover{Primary: ratelimit.NewRedis(client, cfg.Redis.KeyPrefix+"ratelimit:"),
			Fallback: memory, Log: log, OnFallback: fallbacks.Inc}
	}
	meter := func(class string, c config.RateLimit) *ratelimit.Meter {
		return &ratelimit.Meter{Class: class, Store: store, Refused: refused.WithLabelValues(class),
			Limit: ratelimit.Limit{Requests: c.Requests, Per: c.Per, Burst: c.Burst}}
	}
	rl := cfg.RateLimits
	l.tokenClient = meter("token-client", rl.TokenPerClient)
	l.introspectionClient = meter("introspection-client", rl.IntrospectionPerClient)
	l.adminPrincipal = meter("admin-principal", rl.AdminPerPrincipal)
	l.oauthAddress = meter("oauth-address", rl.OAuthPerAddress)
	l.pagesAddress = meter("pages-address", rl.PagesPerAddress)
	l.registrationAddress = meter("registration-address", rl.RegistrationPerAddress)
	l.adminAddress = meter("admin-address", rl.AdminPerPrincipal)
	l.stuffingFailures = meter("stuffing-network", stuffingBudget)
	return l
}

// answer is how a class's refusal is written: the formats of the
// endpoints it covers.
type answer func(w http.ResponseWriter, r *http.Request)

// Each class answers in its surface's format, written where that
// surface's other answers are.
func oauthRefusal(w http.ResponseWriter, _ *http.Request) { oauth.WriteRateLimited(w) }

func (l *limits) pageRefusal(w http.ResponseWriter, r *http.Request) {
	l.pages.Error(w, r, http.StatusTooManyRequests, "too_many_requests", "error.too_many_requests")
}

// classOf picks the address class of a route template.
func (l *limits) classOf(tpl string) (*ratelimit.Meter, answer) {
	switch {
	case tpl == "/oauth2/token" || tpl == "/oauth2/introspect" || tpl == "/oauth2/revoke" || tpl == "/userinfo":
		return l.oauthAddress, oauthRefusal
	case strings.HasPrefix(tpl, "/oauth2/register"):
		return l.registrationAddress, oauthRefusal
	case strings.HasPrefix(tpl, "/admin/v1"):
		return l.adminAddress, adminapi.WriteTooManyRequests
	case tpl == "/oauth2/auth" || tpl == "/oauth2/logout" || tpl == "/signup" || tpl == "/verify-email" ||
		strings.HasPrefix(tpl, "/login") || strings.HasPrefix(tpl, "/webauthn/login") || strings.HasPrefix(tpl, "/password/"):
		return l.pagesAddress, l.pageRefusal
	}
	return nil, nil
}

// byAddress is a mux middleware: a request to a route of an address class
// spends its address's budget first.
func (l *limits) byAddress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cur := mux.CurrentRoute(r); cur != nil {
			if tpl, err := cur.GetPathTemplate(); err == nil {
				// An allowed network (network rules) has no address budget.
				if m, refuse := l.classOf(tpl); m != nil && !allowedNetwork(r.Context()) &&
					!m.Allow(r.Context(), w.Header(), ratelimit.AddressKey(r.RemoteAddr)) {
					refuse(w, r)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
