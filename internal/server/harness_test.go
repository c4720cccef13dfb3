package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/mail"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/testdb"
	"github.com/portero-id/portero/oauth"
)

const (
	testPassword = "correct horse battery staple"
	appRedirect  = "https://app.example.com/callback"
	mobileScheme = "com.example.mobile:/oauth2redirect"
)

// env is one running Portero with its clients and a user.
type env struct {
	t      testing.TB
	srv    *server.Server
	ts     *httptest.Server
	store  *store.Store
	issuer string
	// secrets of the confidential clients, by client id
	secrets map[string]string
	userID  string
	// mails holds what Portero sent (verification and reset links).
	mails *mail.Dev
	// skew moves Portero's clock (not the test's) forward.
	skew *atomic.Int64
}

// advance moves Portero's clock forward by d.
func (e *env) advance(d time.Duration) { e.skew.Add(int64(d)) }

// newEnv starts Portero on backend b; tweak may adjust the config.
func newEnv(t testing.TB, b testdb.Backend, tweak func(*config.Config)) *env {
	t.Helper()
	e := newServer(t, b.Open(t), tweak)
	e.seed()
	return e
}

// replica starts a second Portero on e's database (as a second replica
// behind a load balancer would run), with its clients and users, and the
// same issuer: replicas are one authorization server, and a stateless
// token is checked against its issuer. Requests still go to the replica's
// own listener (r.issuer).
func (e *env) replica(t testing.TB, tweak func(*config.Config)) *env {
	t.Helper()
	r := newServer(t, e.store, func(c *config.Config) {
		if tweak != nil {
			tweak(c)
		}
		c.Issuer = e.issuer
	})
	r.secrets, r.userID = e.secrets, e.userID
	return r
}

// extras change what newServer builds: another logger, more options.
type extras struct {
	log  *slog.Logger
	opts []server.Option
}

func newServer(t testing.TB, st *store.Store, tweak func(*config.Config), more ...extras) *env {
	t.Helper()
	var handler http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)

	cfg := config.Defaults()
	// localhost, not 127.0.0.1: WebAuthn needs a domain, and browsers
	// treat http://localhost as a secure context.
	issuer := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	cfg.Issuer = issuer
	cfg.Secrets.System = "test-system-secret-0123456789abcdefghij"
	cfg.OAuth.ClientCacheTTL = 0
	// Tests read /metrics from srv.MetricsHandler; nothing listens here.
	cfg.HTTP.MetricsAddress = "127.0.0.1:0"
	// The relying parties of the tests (back-channel logout) are httptest
	// servers on loopback.
	cfg.OAuth.OutboundAllowedNetworks = []string{"127.0.0.0/8"}
	// Cheap hashing keeps the suite fast; the seeded hash uses the same
	// cost, so sign-in does not rehash.
	cfg.Accounts.Argon2MemoryKiB, cfg.Accounts.Argon2Iterations, cfg.Accounts.Argon2Parallelism = 1024, 1, 1
	// alice is a vendor; the protocol tests sign her in with a password
	// only. The MFA tests set the policy they test.
	cfg.Accounts.MFARequiredRoles = []string{"admin", "super_admin"}
	// Every request of a test comes from 127.0.0.1: the rate limits are
	// off here, and on in the tests of the limits (limits_test.go).
	cfg.RateLimits.Enabled = false
	if tweak != nil {
		tweak(cfg)
	}
	log := server.WithRequestIDs(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if testing.Verbose() {
		log = server.WithRequestIDs(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	mails := &mail.Dev{Log: log}
	skew := new(atomic.Int64)
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	opts := []server.Option{server.WithMailer(mails), server.WithClock(clock),
		server.Dev()} // dev: the example legal texts
	for _, x := range more {
		if x.log != nil {
			log = x.log
		}
		opts = append(opts, x.opts...)
	}
	srv, err := server.NewWithStore(context.Background(), cfg, st, log, opts...)

	if err != nil {
		t.Fatalf("server: %v", err)
	}
	handler = srv.Handler
	return &env{t: t, srv: srv, ts: ts, store: st, issuer: issuer, secrets: map[string]string{}, mails: mails, skew: skew}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e *env) seed() {
	ctx := context.Background()
	e.createClient(&identity.Client{
		ID: "mobile", Name: "Mobile app", TokenEndpointAuthMethod: identity.AuthMethodNone,
		RedirectURIs:           []string{mobileScheme, "http://127.0.0.1/callback"},
		PostLogoutRedirectURIs: []string{"com.example.mobile:/logged-out"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"openid", "offline_access", "profile", "email", "roles"},
		TokenFormat:            identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
		FirstParty: true, // the protocol tests skip the scope page; consent_test.go covers it
	})
	e.createClient(&identity.Client{
		ID: "webapp", Name: "Web app", TokenEndpointAuthMethod: identity.AuthMethodBasic,
		RedirectURIs: []string{appRedirect}, PostLogoutRedirectURIs: []string{"https://app.example.com/bye"},
		GrantTypes:  []string{"authorization_code", "refresh_token"},
		Scopes:      []string{"openid", "offline_access", "profile", "email", "roles"},
		TokenFormat: identity.TokenFormatOpaque, IDTokenSignedResponseAlg: "ES256",
		FirstParty: true,
	})
	e.createClient(&identity.Client{
		ID: "orders-api", Name: "Orders service", TokenEndpointAuthMethod: identity.AuthMethodBasic,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders:read"},
		Roles: []string{"vendor"}, TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
		IntrospectAny: true,
	})
	e.createClient(&identity.Client{
		ID: "reports", Name: "Reports job", TokenEndpointAuthMethod: identity.AuthMethodPost,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports:run"},
		TokenFormat: identity.TokenFormatOpaque, IDTokenSignedResponseAlg: "RS256",
	})
	hash, err := identity.HashPassword(testPassword, identity.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	u := &identity.User{Username: "alice", Email: "alice@example.com", PasswordHash: hash, Roles: []string{"customer", "vendor"}}
	if err := e.store.CreateUser(ctx, u); err != nil {
		e.t.Fatal(err)
	}
	e.userID = u.ID
	// alice has authorized every purpose, so the protocol tests do not
	// meet the consent page; the consent tests use other users.
	e.authorizeAll(u.ID)
}

// authorizeAll records userID's authorization of the policy and every
// purpose in force, as the consent page would.
func (e *env) authorizeAll(userID string) {
	e.t.Helper()
	set := e.srv.Legal()
	lang := set.Languages[0]
	rec := identity.ConsentRecord{
		Responsable: set.Responsable,
		Policy:      &identity.TextRef{Version: set.Policy.Version, Lang: lang, SHA256: set.Policy.Texts[lang].SHA256},
		Notice:      &identity.TextRef{Version: set.Notice.Version, Lang: lang, SHA256: set.Notice.Texts[lang].SHA256},
		Page:        "/consent",
	}
	for _, p := range set.Purposes {
		rec.Purposes = append(rec.Purposes, identity.PurposeDecision{ID: p.ID, Version: p.Version, SHA256: p.SHA256(), Required: p.Required, Granted: true})
	}
	err := e.store.AppendLedger(context.Background(), &identity.LedgerEntry{Kind: identity.LedgerConsent, Type: identity.ConsentAccepted,
		Subject: userID, Locale: lang, Payload: rec.Payload()})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) createClient(c *identity.Client) {
	e.t.Helper()
	if !c.IsPublic() && c.TokenEndpointAuthMethod != identity.AuthMethodPrivateKey {
		secret, digest, err := oauth.GenerateClientSecret()
		if err != nil {
			e.t.Fatal(err)
		}
		c.SecretHash = digest
		e.secrets[c.ID] = secret
	}
	if err := c.Validate(nil); err != nil {
		e.t.Fatalf("client %s: %v", c.ID, err)
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
}

// browser is a cookie-keeping client that does not follow redirects.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// follow follows redirects inside Portero and returns the first response
// that leaves it (or is not a redirect).
func (e *env) follow(c *http.Client, resp *http.Response) *http.Response {
	e.t.Helper()
	for i := 0; i < 10; i++ {
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || loc == "" {
			return resp
		}
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			e.t.Fatalf("bad Location %q: %v", loc, err)
		}
		if !strings.HasPrefix(u.String(), e.issuer+"/") {
			return resp
		}
		resp.Body.Close()
		resp, err = c.Get(u.String())
		if err != nil {
			e.t.Fatal(err)
		}
	}
	e.t.Fatal("too many redirects")
	return nil
}

// login signs in on the login page the dispatcher sent the browser to, and
// returns the response that leaves Portero (the redirect to the client).
func (e *env) login(c *http.Client, authURL, username, password string) *http.Response {
	e.t.Helper()
	resp, err := c.Get(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	resp = e.follow(c, resp)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/login") {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("expected the login page, got %d %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	resp.Body.Close()
	flow := resp.Request.URL.Query().Get("flow")
	resp, err = c.PostForm(e.issuer+"/login", url.Values{"username": {username}, "password": {password}, "flow": {flow}})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.follow(c, resp)
}

// authorize runs the browser part of the code flow and returns the
// redirect's query.
func (e *env) authorize(c *http.Client, authURL string) url.Values {
	e.t.Helper()
	resp := e.login(c, authURL, "alice", testPassword)
	defer resp.Body.Close()
	return e.redirectQuery(resp)
}

func (e *env) redirectQuery(resp *http.Response) url.Values {
	e.t.Helper()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("expected a redirect to the client, got %d: %s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Query()
}

// postForm posts a form, with basic auth when user is not empty.
func (e *env) postForm(path, user, pass string, form url.Values) (int, http.Header, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			e.t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, body
}

// introspect asks as orders-api (allowed to introspect any token).
func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	status, _, body := e.postForm("/oauth2/introspect", "orders-api", e.secrets["orders-api"], url.Values{"token": {token}})
	if status != http.StatusOK {
		e.t.Fatalf("introspect: %d %v", status, body)
	}
	return body
}

func (e *env) clientCredentials(id string) map[string]any {
	e.t.Helper()
	status, _, body := e.postForm("/oauth2/token", id, e.secrets[id], url.Values{"grant_type": {"client_credentials"}})
	if status != http.StatusOK {
		e.t.Fatalf("client credentials: %d %v", status, body)
	}
	return body
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func wantError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantCode {
		t.Fatalf("got %d %v, want %d error=%s", status, body, wantStatus, wantCode)
	}
}

var _ = time.Second
