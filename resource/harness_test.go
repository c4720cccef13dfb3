package resource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/testdb"
	"github.com/portero-id/portero/oauth"
)

// portero is a real Portero running in-process over httptest, on SQLite,
// with the clients and users the tests use:
//
//   - orders-api: the resource server (client credentials, may introspect
//     any token); its credentials configure the Validators;
//   - shop, shop-opaque: services with role vendor (client credentials; JWT
//     and opaque access tokens);
//   - customer-app: a service with role customer (client credentials, JWT);
//   - mobile (public, JWT) and webapp (confidential, opaque): first-party
//     apps that sign users in with the code flow and may ask for the scopes
//     orders:read and orders:write and the audience orders-api;
//   - alice (roles customer and vendor) and bob (customer), who have
//     authorized the habeas-data purposes.
//
// Portero grants client-credentials tokens neither the requested scopes nor
// the requested audience (oauth/token.go does not call GrantScope or
// GrantAudience for that grant): their scope is "" and their aud is
// [client_id]. Tokens with scopes and an audience come from the code flow.
type portero struct {
	t       testing.TB
	srv     *server.Server
	ts      *httptest.Server
	issuer  string
	secrets map[string]string
	users   map[string]string // username -> id
	// lastRefresh is the refresh token of the last token response.
	lastRefresh string
	// skew moves Portero's clock (not the validator's) forward.
	skew *atomic.Int64
}

const (
	testPassword = "correct horse battery staple"
	appRedirect  = "http://127.0.0.1/callback"
)

func newPortero(t testing.TB, tweak func(*config.Config)) *portero {
	t.Helper()
	st := testdb.SQLite(t)
	var handler http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)

	cfg := config.Defaults()
	cfg.Issuer = ts.URL
	cfg.Secrets.System = "test-system-secret-0123456789abcdefghij"
	cfg.OAuth.ClientCacheTTL = 0
	cfg.OAuth.AllowedScopes = append(cfg.OAuth.AllowedScopes, "orders:read", "orders:write")
	cfg.Accounts.Argon2MemoryKiB, cfg.Accounts.Argon2Iterations, cfg.Accounts.Argon2Parallelism = 1024, 1, 1
	cfg.Accounts.MFARequiredRoles = []string{"admin"} // alice, a vendor, signs in with a password only
	if tweak != nil {
		tweak(cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	skew := new(atomic.Int64)
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv, err := server.NewWithStore(context.Background(), cfg, st, log, server.WithClock(clock),
		server.Dev()) // dev: the example legal texts
	if err != nil {
		t.Fatalf("portero: %v", err)
	}
	handler = srv.Handler
	p := &portero{t: t, srv: srv, ts: ts, issuer: ts.URL, secrets: map[string]string{}, users: map[string]string{}, skew: skew}
	service := func(id, format string, roles []string, introspectAny bool) *identity.Client {
		return &identity.Client{ID: id, TokenEndpointAuthMethod: identity.AuthMethodBasic, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"orders:read"}, Roles: roles, TokenFormat: format, IntrospectAny: introspectAny}
	}
	p.createClient(service("orders-api", identity.TokenFormatJWT, []string{"vendor"}, true))
	p.createClient(service("shop", identity.TokenFormatJWT, []string{"vendor"}, false))
	p.createClient(service("shop-opaque", identity.TokenFormatOpaque, []string{"vendor"}, false))
	p.createClient(service("customer-app", identity.TokenFormatJWT, []string{"customer"}, false))
	app := func(id, format string, public bool) *identity.Client {
		c := &identity.Client{ID: id, TokenEndpointAuthMethod: identity.AuthMethodBasic,
			RedirectURIs: []string{appRedirect}, GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access", "orders:read", "orders:write"},
			Audience: []string{"orders-api"}, TokenFormat: format, FirstParty: true}
		if public {
			c.TokenEndpointAuthMethod = identity.AuthMethodNone
		}
		return c
	}
	p.createClient(app("mobile", identity.TokenFormatJWT, true))
	p.createClient(app("webapp", identity.TokenFormatOpaque, false))
	p.createUser("alice", []string{"customer", "vendor"})
	p.createUser("bob", []string{"customer"})
	return p
}

// createClient registers a client (generating the secret of a confidential
// one).
func (p *portero) createClient(c *identity.Client) {
	p.t.Helper()
	c.Name = c.ID
	c.IDTokenSignedResponseAlg = "RS256"
	if !c.IsPublic() {
		secret, digest, err := oauth.GenerateClientSecret()
		if err != nil {
			p.t.Fatal(err)
		}
		c.SecretHash = digest
		p.secrets[c.ID] = secret
	}
	if err := c.Validate(nil); err != nil {
		p.t.Fatalf("client %s: %v", c.ID, err)
	}
	if err := p.srv.Store.CreateClient(context.Background(), c); err != nil {
		p.t.Fatal(err)
	}
}

// createUser adds a user who has authorized every habeas-data purpose, as
// the consent page would record it.
func (p *portero) createUser(username string, roles []string) {
	p.t.Helper()
	ctx := context.Background()
	hash, err := identity.HashPassword(testPassword, identity.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	if err != nil {
		p.t.Fatal(err)
	}
	u := &identity.User{Username: username, Email: username + "@example.com", PasswordHash: hash, Roles: roles}
	if err := p.srv.Store.CreateUser(ctx, u); err != nil {
		p.t.Fatal(err)
	}
	p.users[username] = u.ID
	set := p.srv.Legal()
	lang := set.Languages[0]
	rec := identity.ConsentRecord{
		Responsable: set.Responsable,
		Policy:      &identity.TextRef{Version: set.Policy.Version, Lang: lang, SHA256: set.Policy.Texts[lang].SHA256},
		Notice:      &identity.TextRef{Version: set.Notice.Version, Lang: lang, SHA256: set.Notice.Texts[lang].SHA256},
		Page:        "/consent",
	}
	for _, pu := range set.Purposes {
		rec.Purposes = append(rec.Purposes, identity.PurposeDecision{ID: pu.ID, Version: pu.Version, SHA256: pu.SHA256(), Required: pu.Required, Granted: true})
	}
	err = p.srv.Store.AppendLedger(ctx, &identity.LedgerEntry{Kind: identity.LedgerConsent, Type: identity.ConsentAccepted,
		Subject: u.ID, Locale: lang, Payload: rec.Payload()})
	if err != nil {
		p.t.Fatal(err)
	}
}

// userToken signs username in through the code flow with PKCE for client
// (mobile: JWT, webapp: opaque) and returns the access token.
func (p *portero) userToken(client, username, scope, audience string) string {
	p.t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"client_id": {client}, "response_type": {"code"}, "redirect_uri": {appRedirect}, "scope": {scope},
		"state": {"state-0123456789"}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}}
	if audience != "" {
		q.Set("audience", audience)
	}
	resp, err := browser.Get(p.issuer + "/oauth2/auth?" + q.Encode())
	if err != nil {
		p.t.Fatal(err)
	}
	resp = p.follow(browser, resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" {
		p.t.Fatalf("expected the login page, got %d %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = browser.PostForm(p.issuer+"/login", url.Values{"username": {username}, "password": {testPassword},
		"flow": {resp.Request.URL.Query().Get("flow")}})
	if err != nil {
		p.t.Fatal(err)
	}
	resp = p.follow(browser, resp)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), appRedirect) || loc.Query().Get("code") == "" {
		p.t.Fatalf("expected a redirect with a code, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {appRedirect}, "code_verifier": {verifier}}
	return p.tokenRequest(client, form)
}

// refreshToken returns a refresh token of alice's for mobile, to present
// where an access token is expected.
func (p *portero) refreshToken() string {
	p.t.Helper()
	p.userToken("mobile", "alice", "orders:read offline_access", "orders-api")
	return p.lastRefresh
}

// follow follows redirects inside Portero and returns the first response
// that leaves it or is not a redirect.
func (p *portero) follow(c *http.Client, resp *http.Response) *http.Response {
	p.t.Helper()
	for range 10 {
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || loc == "" {
			return resp
		}
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			p.t.Fatal(err)
		}
		if !strings.HasPrefix(u.String(), p.issuer+"/") {
			return resp
		}
		resp.Body.Close()
		if resp, err = c.Get(u.String()); err != nil {
			p.t.Fatal(err)
		}
	}
	p.t.Fatal("too many redirects")
	return nil
}

// advance moves Portero's clock forward.
func (p *portero) advance(d time.Duration) { p.skew.Add(int64(d)) }

// post posts a form to Portero as client: with client_secret_basic for a
// confidential client, with client_id in the form for a public one.
func (p *portero) post(path, client string, form url.Values) (int, []byte) {
	p.t.Helper()
	if p.secrets[client] == "" {
		form.Set("client_id", client)
	}
	req, _ := http.NewRequest(http.MethodPost, p.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.secrets[client] != "" {
		req.SetBasicAuth(url.QueryEscape(client), url.QueryEscape(p.secrets[client]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func (p *portero) tokenRequest(client string, form url.Values) string {
	p.t.Helper()
	status, body := p.post("/oauth2/token", client, form)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		p.t.Fatalf("token for %s: %d %s", client, status, body)
	}
	p.lastRefresh = tok.RefreshToken
	return tok.AccessToken
}

// serviceToken gets a client-credentials access token.
func (p *portero) serviceToken(client string) string {
	p.t.Helper()
	return p.tokenRequest(client, url.Values{"grant_type": {"client_credentials"}})
}

// revoke revokes token (RFC 7009) as client, its owner.
func (p *portero) revoke(client, token string) {
	p.t.Helper()
	if status, body := p.post("/oauth2/revoke", client, url.Values{"token": {token}}); status != http.StatusOK {
		p.t.Fatalf("revoke: %d %s", status, body)
	}
}

// forge signs claims with Portero's own active ES256 key (as if Portero had
// issued them), with the given typ header.
func (p *portero) forge(typ string, claims map[string]any) string {
	p.t.Helper()
	key, err := p.srv.Keys.Active(oauth.AlgES256)
	if err != nil {
		p.t.Fatal(err)
	}
	return signWith(p.t, key.Key, key.KeyID, jose.ES256, typ, claims)
}

func signWith(t testing.TB, priv any, kid string, alg jose.SignatureAlgorithm, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwtParts decodes a JWT's header and claims without verifying it.
func jwtParts(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, dst) != nil {
			t.Fatalf("JWT part %d does not decode", i)
		}
	}
	return header, claims
}

func b64JSON(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// testClock is the validator's clock, movable by the tests.
type testClock struct{ skew atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *testClock) advance(d time.Duration) { c.skew.Add(int64(d)) }

// countingTransport counts requests by path and can be made to fail them.
type countingTransport struct {
	base  http.RoundTripper
	calls sync.Map // path -> *atomic.Int64
	fail  atomic.Bool
	delay atomic.Int64 // nanoseconds before each introspection
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	n, _ := c.calls.LoadOrStore(r.URL.Path, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if c.fail.Load() {
		return nil, errTransport
	}
	if d := c.delay.Load(); d > 0 && r.URL.Path == "/oauth2/introspect" {
		time.Sleep(time.Duration(d))
	}
	return c.base.RoundTrip(r)
}

func (c *countingTransport) count(path string) int64 {
	n, ok := c.calls.Load(path)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

var errTransport = errors.New("transport switched off by the test")

// newValidator builds a Validator for p as orders-api, over a counting
// transport, with the test clock; tweak adjusts the config.
func (p *portero) newValidator(tweak func(*Config)) (*Validator, *countingTransport, *testClock) {
	p.t.Helper()
	tr := &countingTransport{base: http.DefaultTransport}
	clock := &testClock{}
	cfg := Config{
		Issuer: p.issuer, Audience: "orders-api",
		ClientID: "orders-api", ClientSecret: p.secrets["orders-api"],
		HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		Now:        clock.now,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		p.t.Fatalf("New: %v", err)
	}
	return v, tr, clock
}

// result is what a request through Middleware got.
type result struct {
	status    int
	challenge string // WWW-Authenticate
	body      string
	claims    *Claims // as the handler saw them
}

// call sends a GET with the given Authorization header (none if empty)
// through h wrapped in v.Middleware.
func call(v *Validator, authorization string, h http.Handler) result {
	var seen *Claims
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = FromContext(r.Context())
		if h != nil {
			h.ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	v.Middleware(inner).ServeHTTP(rec, req)
	return result{status: rec.Code, challenge: rec.Header().Get("WWW-Authenticate"), body: rec.Body.String(), claims: seen}
}

func ok200(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
