package resource

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

// Mode selects how a Validator checks tokens.
type Mode int

const (
	// Introspect asks Portero's introspection endpoint about every token
	// (through the cache). It needs ClientID and ClientSecret.
	Introspect Mode = iota
	// LocalJWT verifies JWT access tokens with Portero's published keys;
	// opaque tokens fall back to introspection when credentials are set.
	LocalJWT
)

func (m Mode) String() string {
	switch m {
	case Introspect:
		return "introspect"
	case LocalJWT:
		return "local-jwt"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Config configures a Validator. Only Issuer is always required.
type Config struct {
	// Issuer is Portero's issuer URL, exactly as in its tokens
	// (e.g. "https://id.example.com").
	Issuer string
	// Audience, when set, must be among the token's "aud" values (JWT or
	// introspection response).
	Audience string
	// ClientID and ClientSecret are the service's own client credentials,
	// sent to the introspection endpoint with client_secret_basic. The
	// client must be allowed to introspect the tokens it is shown
	// ("--introspect" in "portero clients create", or be in their audience).
	ClientID, ClientSecret string
	// Mode is Introspect (the default) or LocalJWT.
	Mode Mode
	// RevocationCheck, with LocalJWT, also introspects each JWT (cached), so
	// a revoked JWT is refused before its exp. It needs the credentials.
	RevocationCheck bool
	// CacheSize bounds the introspection cache (entries; default 10000).
	// CacheTTL bounds how long an active answer is reused (default 30 s; an
	// entry never outlives the token's exp). NegativeTTL is how long an
	// inactive answer is reused (default 5 s). A negative CacheSize or
	// CacheTTL turns the cache off; a negative NegativeTTL stops caching
	// inactive answers only.
	CacheSize   int
	CacheTTL    time.Duration
	NegativeTTL time.Duration
	// Realm is the realm named in WWW-Authenticate (default: Audience, else
	// ClientID, else "api").
	Realm string
	// HTTPClient makes the discovery, JWKS and introspection requests
	// (default: a client with a 10 s timeout that keeps up to 256 idle
	// connections to Portero and follows no redirects).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives failures to reach Portero (default slog.Default()).
	// Tokens are never logged.
	Logger *slog.Logger
}

const (
	defaultCacheSize   = 10000
	defaultCacheTTL    = 30 * time.Second
	defaultNegativeTTL = 5 * time.Second
	// leeway is the clock skew tolerated on exp, nbf and iat.
	leeway = 30 * time.Second
	// maxTokenLen refuses absurd tokens before hashing or parsing them.
	maxTokenLen = 16 << 10
	// maxBody bounds what is read from Portero.
	maxBody = 1 << 20
	// introspectionTimeout bounds a shared introspection call, which runs
	// detached from any one caller's context.
	introspectionTimeout = 10 * time.Second
)

// Validator validates access tokens issued by one Portero. It is safe for
// concurrent use.
type Validator struct {
	cfg      Config
	client   *http.Client
	now      func() time.Time
	log      *slog.Logger
	realm    string
	endpoint string // introspection endpoint
	keys     *keySet
	cache    *cache // nil when off
	flight   singleflight.Group
}

// discovery is the part of the OpenID Connect discovery document used here.
type discovery struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// New reads Portero's discovery document (Issuer +
// "/.well-known/openid-configuration") and, in LocalJWT mode, its key set,
// and returns a Validator. It fails when Portero cannot be reached or the
// configuration cannot work.
func New(ctx context.Context, cfg Config) (*Validator, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("resource: Issuer must be an absolute http(s) URL")
	}
	hasCreds := cfg.ClientID != "" && cfg.ClientSecret != ""
	switch cfg.Mode {
	case Introspect:
		if !hasCreds {
			return nil, errors.New("resource: Introspect mode needs ClientID and ClientSecret")
		}
	case LocalJWT:
		if cfg.RevocationCheck && !hasCreds {
			return nil, errors.New("resource: RevocationCheck needs ClientID and ClientSecret")
		}
	default:
		return nil, fmt.Errorf("resource: unknown mode %v", cfg.Mode)
	}
	if (cfg.ClientID == "") != (cfg.ClientSecret == "") {
		return nil, errors.New("resource: set both ClientID and ClientSecret, or neither")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = defaultCacheSize
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = defaultCacheTTL
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = defaultNegativeTTL
	}
	v := &Validator{cfg: cfg, client: cfg.HTTPClient, now: cfg.Now, log: cfg.Logger, realm: cfg.Realm}
	if v.client == nil {
		v.client = defaultHTTPClient()
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.realm == "" {
		v.realm = cmp.Or(cfg.Audience, cfg.ClientID, "api")
	}
	if cfg.CacheSize > 0 && cfg.CacheTTL > 0 {
		v.cache = newCache(cfg.CacheSize)
	}

	doc, err := v.discover(ctx)
	if err != nil {
		return nil, err
	}
	if hasCreds {
		if doc.IntrospectionEndpoint == "" {
			return nil, errors.New("resource: the discovery document names no introspection_endpoint")
		}
		v.endpoint = doc.IntrospectionEndpoint
	}
	if cfg.Mode == LocalJWT {
		if doc.JWKSURI == "" {
			return nil, errors.New("resource: the discovery document names no jwks_uri")
		}
		v.keys = &keySet{uri: doc.JWKSURI, client: v.client, now: v.now, log: v.log}
		if err := v.keys.refresh(ctx); err != nil {
			return nil, fmt.Errorf("resource: %w", err)
		}
	}
	return v, nil
}

func defaultHTTPClient() *http.Client {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256, // one host, many concurrent requests
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: t,
		Timeout:   10 * time.Second,
		// A 307 or 308 would send the introspection body, the token,
		// wherever it points: Portero never redirects these requests, so
		// a redirect is answered as an error.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (v *Validator) discover(ctx context.Context) (*discovery, error) {
	where := strings.TrimSuffix(v.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	var doc discovery
	if _, err := fetchJSON(ctx, v.client, where, "application/json", &doc); err != nil {
		return nil, fmt.Errorf("resource: discovery: %w", err)
	}
	if doc.Issuer != v.cfg.Issuer {
		return nil, fmt.Errorf("resource: discovery: the document's issuer %q is not %q", doc.Issuer, v.cfg.Issuer)
	}
	return &doc, nil
}

// fetchJSON GETs a JSON document into dst and returns the response header.
func fetchJSON(ctx context.Context, client *http.Client, where, accept string, dst any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return nil, fmt.Errorf("GET %s: %s", where, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(dst); err != nil {
		return nil, fmt.Errorf("GET %s: %w", where, err)
	}
	return resp.Header, nil
}

// Validate checks token and returns its claims. Errors wrap
// ErrInvalidToken when the token is not acceptable (Middleware answers 401)
// and ErrUnavailable when Portero could not be asked (503). The returned
// Claims belong to the caller.
func (v *Validator) Validate(ctx context.Context, token string) (*Claims, error) {
	switch {
	case token == "":
		return nil, invalidToken("no access token")
	case len(token) > maxTokenLen:
		return nil, invalidToken("the access token is too long")
	}
	looksJWT := strings.Count(token, ".") == 2
	if v.cfg.Mode == LocalJWT && looksJWT {
		claims, err := v.verifyJWT(ctx, token)
		if err != nil {
			return nil, err
		}
		if v.cfg.RevocationCheck {
			if _, err := v.introspectCached(ctx, token); err != nil {
				return nil, err
			}
		}
		return claims, nil
	}
	if v.endpoint == "" {
		// LocalJWT without credentials: only JWTs can be checked.
		return nil, invalidToken("the access token is not a JWT")
	}
	claims, err := v.introspectCached(ctx, token)
	if err != nil {
		return nil, err
	}
	return claims.clone(), nil
}

// introspectCached answers from the cache or asks Portero, one request per
// token however many callers ask at once.
func (v *Validator) introspectCached(ctx context.Context, token string) (*Claims, error) {
	key := sha256.Sum256([]byte(token))
	now := v.now()
	if v.cache != nil {
		if c, err, ok := v.cache.get(key, now); ok {
			if err == nil && !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
				return nil, invalidToken("the access token expired")
			}
			return c, err
		}
	}
	ch := v.flight.DoChan(string(key[:]), func() (any, error) {
		// Detached: one caller going away must not fail the others.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), introspectionTimeout)
		defer cancel()
		claims, err := v.introspect(cctx, token)
		if v.cache != nil {
			now := v.now()
			switch {
			case err == nil:
				ttl := v.cfg.CacheTTL
				if !claims.ExpiresAt.IsZero() {
					ttl = min(ttl, claims.ExpiresAt.Sub(now))
				}
				if ttl > 0 {
					v.cache.add(key, claims, nil, now.Add(ttl))
				}
			case errors.Is(err, ErrInvalidToken) && v.cfg.NegativeTTL > 0:
				v.cache.add(key, nil, err, now.Add(v.cfg.NegativeTTL))
			}
		}
		return claims, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Claims), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}
