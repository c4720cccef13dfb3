// Package oauth is Portero's OAuth 2.0 and OpenID Connect surface: fosite's
// composition, the storage adapter, the token strategies and signing keys,
// and the /oauth2/* endpoints with discovery, JWKS and userinfo.
package oauth

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/outbound"
	"github.com/portero-id/portero/internal/ratelimit"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/seal"
)

// Options configure the provider.
type Options struct {
	Issuer                string
	AccessTokenLifespan   time.Duration
	RefreshTokenLifespan  time.Duration
	AuthorizeCodeLifespan time.Duration
	IDTokenLifespan       time.Duration
	// RefreshGrace is how long a rotated refresh token keeps working.
	RefreshGrace time.Duration
	// EnforcePKCE requires PKCE of every client, not only public ones.
	EnforcePKCE bool
	// Secrets are the system secret followed by previous ones; token HMAC
	// keys are derived from them.
	Secrets         [][]byte
	JWKSCachePeriod time.Duration
	ScopesSupported []string
	// PendingLifespan is how long an authorization request waits for the
	// user to sign in.
	PendingLifespan time.Duration
	// RegistrationToken is the initial access token of dynamic client
	// registration; empty turns it off.
	RegistrationToken string
	// MFA names the roles that must have signed in with a second factor;
	// a session without one is stepped up before a code is issued.
	MFA identity.MFAPolicy
	// Outbound vets the URLs Portero calls on a client's say-so.
	Outbound outbound.Policy
	// StoredAccessTokens keeps a row for every access token, as before
	// stateless tokens: off, client-credentials JWTs have none
	// (stateless.go).
	StoredAccessTokens bool
}

// BrowserSessions tells the dispatcher who is signed in on this browser.
// internal/session implements it; oauth does not depend on it.
type BrowserSessions interface {
	// Current returns the signed-in session, or identity.ErrNotFound.
	Current(r *http.Request) (*identity.Session, error)
	// End ends the browser's session, if any, and clears its cookie.
	End(w http.ResponseWriter, r *http.Request) error
}

// Provider serves the OAuth 2.0 and OpenID Connect endpoints.
type Provider struct {
	opts     Options
	fosite   *fosite.Fosite
	strategy *tokenStrategy
	Keys     *Keyring
	Storage  *Storage
	Clients  *ClientCache
	Store    identity.Store
	Sessions BrowserSessions
	Pages    *render.Renderer
	Metrics  *Metrics
	Log      *slog.Logger
	Now      func() time.Time
	Legal    *identity.LegalSet
	// Registrar stores and ledgers what dynamic registration changes.
	Registrar Registrar

	discovery []byte
	logoutKey []byte
	// replayBox seals the responses kept for duplicate refreshes.
	replayBox   *seal.Box
	backchannel *backchannel

	catalog atomic.Pointer[cachedCatalog]
	// origins is every origin a client registered (cors.go).
	origins atomic.Pointer[originSet]

	tokenLimit, introspectionLimit *ratelimit.Meter
}

// Registrar makes the client changes of dynamic registration (RFC 7591
// and 7592), each with its ledger entry; manage.Service is the one.
type Registrar interface {
	RegisterClient(ctx context.Context, c *identity.Client) error
	// UpdateRegistration stores next over prev as read; a change made
	// meanwhile is a KindPrecondition error.
	UpdateRegistration(ctx context.Context, next, prev *identity.Client) error
	DeleteRegistration(ctx context.Context, id string) error
}

// Metrics counts what the OAuth endpoints did.
type Metrics struct {
	TokensIssued   *prometheus.CounterVec
	Introspections *prometheus.CounterVec
}

// NewMetrics registers the OAuth metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		TokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portero_tokens_issued_total", Help: "Access tokens issued, by grant type.",
		}, []string{"grant_type"}),
		Introspections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portero_introspections_total", Help: "Introspection requests, by result (active, inactive, invalid_client, invalid_request).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.TokensIssued, m.Introspections)
	return m
}

// Deps are the provider's collaborators.
type Deps struct {
	Store    identity.Store
	Keys     *Keyring
	Sessions BrowserSessions
	Pages    *render.Renderer
	Metrics  *Metrics
	Log      *slog.Logger
	Now      func() time.Time
	// ClientCacheTTL bounds how stale a cached client record may be.
	ClientCacheTTL time.Duration
	// Legal is the habeas-data configuration: the dispatcher sends users
	// who have not authorized what it requires to the consent page.
	Legal *identity.LegalSet
	// TokenLimit and IntrospectionLimit meter each client once it has
	// authenticated (rate_limits); nil meters nothing.
	TokenLimit, IntrospectionLimit *ratelimit.Meter
}

// DeriveKey derives a purpose-bound key from a system secret, so that no
// two uses (token HMAC, cookies, key encryption) share key material.
func DeriveKey(secret []byte, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, secret, nil, "portero "+purpose+" v1", 32)
	if err != nil {
		panic(err) // only for lengths hkdf refuses; 32 is always fine
	}
	return key
}

// NewProvider composes fosite with Portero's storage and strategies. It
// is long on purpose: the whole composition (storage, strategies,
// handlers and their configuration) reads in one place, in the order
// fosite needs it.
func NewProvider(opts Options, d Deps) (*Provider, error) {
	clients := &ClientCache{Store: d.Store, TTL: d.ClientCacheTTL, Now: d.Now}
	st := &Storage{Store: d.Store, Clients: clients, RefreshGrace: opts.RefreshGrace, Now: d.Now}

	var rotated [][]byte
	for _, s := range opts.Secrets[1:] {
		rotated = append(rotated, DeriveKey(s, "token hmac"))
	}
	cfg := &fosite.Config{
		AccessTokenLifespan:            opts.AccessTokenLifespan,
		RefreshTokenLifespan:           opts.RefreshTokenLifespan,
		AuthorizeCodeLifespan:          opts.AuthorizeCodeLifespan,
		IDTokenLifespan:                opts.IDTokenLifespan,
		IDTokenIssuer:                  opts.Issuer,
		AccessTokenIssuer:              opts.Issuer,
		TokenURL:                       opts.Issuer + "/oauth2/token",
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		EnforcePKCE:                    opts.EnforcePKCE,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		AllowedPromptValues:            []string{"login", "none", "consent", "select_account"},
		RefreshTokenScopes:             []string{"offline_access"},
		JWTScopeClaimKey:               jwt.JWTScopeFieldString,
		GlobalSecret:                   DeriveKey(opts.Secrets[0], "token hmac"),
		RotatedGlobalSecrets:           rotated,
		ClientSecretsHasher:            secretHasher{},
		MinParameterEntropy:            fosite.MinParameterEntropy,
		TokenEntropy:                   32,
		SendDebugMessagesToClients:     false,
	}

	rsSigner := &keySigner{keys: d.Keys, alg: AlgRS256}
	esSigner := &keySigner{keys: d.Keys, alg: AlgES256}
	strategy := &tokenStrategy{
		opaque: &prefixedHMAC{oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: cfg}, cfg)},
		jwt: &oauth2.DefaultJWTStrategy{
			Signer: accessTokenSigner{esSigner},
			Config: cfg,
		},
		idTokens: map[string]*openid.DefaultStrategy{
			AlgRS256: {Signer: rsSigner, Config: cfg},
			AlgES256: {Signer: esSigner, Config: cfg},
		},
		Signer: rsSigner,
	}
	strategy.jwt.HMACSHAStrategy = strategy.opaque
	if !opts.StoredAccessTokens {
		st.Stateless = &statelessTokens{issuer: opts.Issuer, signer: esSigner,
			revocations: &RevocationSet{Store: d.Store, Now: d.Now}}
	}

	f := compose.Compose(cfg, st, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	).(*fosite.Fosite)
	cfg.ClientAuthenticationStrategy = authenticateClient(func() *fosite.Fosite { return f }, d.Now)
	for i, h := range cfg.TokenEndpointHandlers {
		cfg.TokenEndpointHandlers[i] = applicableOnly{h}
	}

	p := &Provider{
		opts: opts, fosite: f, strategy: strategy,
		Keys: d.Keys, Storage: st, Clients: clients, Store: d.Store,
		Sessions: d.Sessions, Pages: d.Pages, Metrics: d.Metrics, Log: d.Log, Now: d.Now, Legal: d.Legal,
		tokenLimit: d.TokenLimit, introspectionLimit: d.IntrospectionLimit,
	}
	p.backchannel = newBackchannel(opts.Outbound)
	p.discovery = p.discoveryDocument()
	p.logoutKey = DeriveKey(opts.Secrets[0], "logout confirmation")
	box, err := seal.New(seal.PurposeRefresh, opts.Secrets...)
	if err != nil {
		return nil, err
	}
	p.replayBox = box
	return p, nil
}

// Mount registers the endpoints.
func (p *Provider) Mount(r *mux.Router) {
	// CORS (cors.go) on the metadata and on what a browser app calls;
	// OPTIONS is its preflight.
	metadata := []string{http.MethodGet, http.MethodHead, http.MethodOptions}
	r.Handle("/.well-known/openid-configuration", corsMetadata(http.HandlerFunc(p.serveDiscovery))).Methods(metadata...)
	r.Handle("/.well-known/oauth-authorization-server", corsMetadata(http.HandlerFunc(p.serveDiscovery))).Methods(metadata...)
	r.Handle("/.well-known/jwks.json", corsMetadata(http.HandlerFunc(p.serveJWKS))).Methods(metadata...)
	r.Handle("/oauth2/auth", p.watched(p.authorize)).Methods(http.MethodGet, http.MethodPost)
	r.Handle("/oauth2/token", p.corsForClients(p.backChannel(p.token), http.MethodPost)).Methods(http.MethodPost, http.MethodOptions)
	r.Handle("/oauth2/introspect", p.backChannel(p.introspect)).Methods(http.MethodPost)
	r.Handle("/oauth2/revoke", p.corsForClients(p.backChannel(p.revoke), http.MethodPost)).Methods(http.MethodPost, http.MethodOptions)
	r.Handle("/userinfo", p.corsForClients(p.backChannel(p.userinfo), http.MethodGet, http.MethodPost)).Methods(http.MethodGet, http.MethodPost, http.MethodOptions)
	r.Handle("/oauth2/logout", p.watched(p.logout)).Methods(http.MethodGet, http.MethodPost)
	if p.opts.RegistrationToken != "" {
		r.Handle("/oauth2/register", p.watched(p.register)).Methods(http.MethodPost)
		r.HandleFunc("/oauth2/register/{id}", p.readRegistration).Methods(http.MethodGet)
		r.Handle("/oauth2/register/{id}", p.watched(p.updateRegistration)).Methods(http.MethodPut)
		r.HandleFunc("/oauth2/register/{id}", p.deleteRegistration).Methods(http.MethodDelete)
	}
}

// watched makes sure the request has an outage probe (outage.go), for a
// provider mounted without internal/server, which installs one with every
// request's context. Request bodies are bounded by the listener
// (internal/server limitBodies), once for every endpoint.
func (p *Provider) watched(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(outageKey{}).(*outageProbe); ok {
			h(w, r)
			return
		}
		h(w, r.WithContext(WatchOutage(r.Context())))
	})
}

// backChannel parses the form of a JSON endpoint up front.
// fosite parses with ParseMultipartForm, which hides a malformed
// urlencoded body behind ErrNotMultipart and goes on with half a form.
func (p *Provider) backChannel(h http.HandlerFunc) http.Handler {
	return p.watched(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "The request body could not be parsed.")
			return
		}
		h(w, r)
	})
}

// InvalidateClient drops a client from the cache after a change.
func (p *Provider) InvalidateClient(id string) {
	p.Clients.Invalidate(id)
	p.origins.Store(nil)
}

// ForgetRoleCatalog drops the cached role catalog after a change.
func (p *Provider) ForgetRoleCatalog() { p.catalog.Store(nil) }

// ForgetCaches drops every cached client and the role catalog: after a
// gap in change notifications, any of them may be stale.
func (p *Provider) ForgetCaches() {
	p.Clients.InvalidateAll()
	p.origins.Store(nil)
	p.ForgetRoleCatalog()
	if rs := p.Revocations(); rs != nil {
		rs.Forget()
	}
}

// Revocations is the revocation set of stateless access tokens; nil when
// every access token is stored.
func (p *Provider) Revocations() *RevocationSet {
	if p.Storage.Stateless == nil {
		return nil
	}
	return p.Storage.Stateless.revocations
}

// Prune deletes expired grants and revocation rules in bounded batches
// until none are left or
// ctx ends.
func (p *Provider) Prune(ctx context.Context, batch int) (int64, error) {
	var total int64
	for _, del := range []func(context.Context, time.Time, int) (int64, error){
		p.Store.DeleteExpiredGrants, p.Store.DeleteExpiredTokenRevocations,
	} {
		for ctx.Err() == nil {
			n, err := del(ctx, p.Now(), batch)
			total += n
			if err != nil {
				return total, err
			}
			if n < int64(batch) {
				break
			}
		}
	}
	return total, ctx.Err()
}

// applicableOnly stops fosite from asking a token handler to populate a
// response for a grant it does not handle. fosite asks every handler, and
// each that does not apply answers with errorsx.WithStack, whose stack walk
// cost 6–9 % of the token endpoint's CPU (docs/benchmarks.md). Every fosite
// token handler begins PopulateTokenEndpointResponse with the same
// CanHandleTokenEndpointRequest check, so skipping here changes no outcome.
type applicableOnly struct{ fosite.TokenEndpointHandler }

func (h applicableOnly) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, w fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, w)
}
