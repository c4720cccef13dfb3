package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/mail"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/testdb"
)

// The harness: Portero in-process on SQLite, a relying party ("the app")
// whose /callback records what the browser brings back, and the test as an
// independent OpenID Connect client of Portero.

const (
	clientID     = "app"
	testPassword = "correct horse battery staple"

	// What a client sees in acr (Portero's classes) and amr (RFC 8176).
	acrPassword = "urn:portero:acr:pwd"
	acrMFA      = "urn:portero:acr:mfa"
	acrPasskey  = "urn:portero:acr:phr"
)

// env is one running Portero, its relying party and the OIDC client.
type env struct {
	t      *testing.T
	issuer string
	store  *store.Store
	mails  *mail.Dev
	app    *app
	legal  *identity.LegalSet

	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// newEnv starts Portero; tweak may adjust the configuration.
func newEnv(t *testing.T, tweak func(*config.Config)) *env {
	t.Helper()
	requireChromium(t) // before starting anything
	ctx := context.Background()
	st := testdb.SQLite(t)
	var handler http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)

	cfg := config.Defaults()
	// One browser on 127.0.0.1 walks through many pages quickly: the rate
	// limits (tested in internal/server) are off here.
	cfg.RateLimits.Enabled = false
	// localhost, not 127.0.0.1: WebAuthn needs a domain, and Chromium
	// treats http://localhost as a secure context.
	issuer := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	cfg.Issuer = issuer
	cfg.Secrets.System = "test-system-secret-0123456789abcdefghij"
	cfg.OAuth.ClientCacheTTL = 0
	cfg.Legal.File = "../legal/example/legal.yaml" // a legal file, as in production
	// Cheap hashing; the seeded hashes use the same cost.
	cfg.Accounts.Argon2MemoryKiB, cfg.Accounts.Argon2Iterations, cfg.Accounts.Argon2Parallelism = 1024, 1, 1
	if tweak != nil {
		tweak(cfg)
	}
	var logOut io.Writer = io.Discard
	if testing.Verbose() {
		logOut = testWriter{t}
	}
	log := server.WithRequestIDs(slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelError})))
	mails := &mail.Dev{Log: log}
	srv, err := server.NewWithStore(ctx, cfg, st, log, server.WithMailer(mails))
	if err != nil {
		t.Fatalf("start Portero: %v", err)
	}
	handler = srv.Handler

	e := &env{t: t, issuer: issuer, store: st, mails: mails, app: newApp(t), legal: srv.Legal()}
	c := &identity.Client{
		ID: clientID, Name: "Browser test app", TokenEndpointAuthMethod: identity.AuthMethodNone,
		RedirectURIs:           []string{e.app.callback()},
		PostLogoutRedirectURIs: []string{e.app.loggedOut()},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"openid", "profile", "email", "roles", "offline_access"},
		TokenFormat:            identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
		FirstParty: true, // the marketplace's own app: no scope page
	}
	if err := c.Validate(nil); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}

	// The client discovers Portero like any relying party would.
	e.provider, err = oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	endpoint := e.provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the body
	e.oauth = oauth2.Config{
		ClientID:    clientID,
		Endpoint:    endpoint,
		RedirectURL: e.app.callback(),
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", "roles"},
	}
	e.verifier = e.provider.Verifier(&oidc.Config{ClientID: clientID})
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// createUser seeds an account with testPassword.
func (e *env) createUser(username, email string, roles ...string) *identity.User {
	e.t.Helper()
	hash, err := identity.HashPassword(testPassword, identity.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	u := &identity.User{Username: username, Email: email, PasswordHash: hash, Roles: roles}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	e.authorizeAll(u.ID)
	return u
}

// authorizeAll records the user's authorization of the policy and every
// purpose, as the consent page would, so that sign-in tests do not meet
// that page; TestSignUpVerifyEmailAndSignIn goes through it.
func (e *env) authorizeAll(userID string) {
	e.t.Helper()
	lang := e.legal.Languages[0]
	rec := identity.ConsentRecord{
		Responsable: e.legal.Responsable,
		Policy:      &identity.TextRef{Version: e.legal.Policy.Version, Lang: lang, SHA256: e.legal.Policy.Texts[lang].SHA256},
		Notice:      &identity.TextRef{Version: e.legal.Notice.Version, Lang: lang, SHA256: e.legal.Notice.Texts[lang].SHA256},
		Page:        "/consent",
	}
	for _, p := range e.legal.Purposes {
		rec.Purposes = append(rec.Purposes, identity.PurposeDecision{ID: p.ID, Version: p.Version, SHA256: p.SHA256(), Required: p.Required, Granted: true})
	}
	err := e.store.AppendLedger(context.Background(), &identity.LedgerEntry{Kind: identity.LedgerConsent, Type: identity.ConsentAccepted,
		Subject: userID, Locale: lang, Payload: rec.Payload()})
	if err != nil {
		e.t.Fatal(err)
	}
}

// auditTypes lists the user's audit events, newest first.
func (e *env) auditTypes(userID string) []string {
	e.t.Helper()
	events, err := e.store.AuditEvents(context.Background(), identity.AuditFilter{UserID: userID, Limit: 200})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		out = append(out, ev.Type)
	}
	return out
}

// app is the relying party: its /callback records the query the browser
// brings back and shows a tiny page.
type app struct {
	ts    *httptest.Server
	mu    sync.Mutex
	calls []url.Values
}

func newApp(t *testing.T) *app {
	a := &app{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.calls = append(a.calls, r.URL.Query())
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><title>done</title></head><body><p id="done">done</p></body></html>`)
	})
	mux.HandleFunc("GET /bye", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><title>bye</title></head><body><p id="bye">signed out</p></body></html>`)
	})
	a.ts = httptest.NewServer(mux)
	t.Cleanup(a.ts.Close)
	return a
}

func (a *app) callback() string { return a.ts.URL + "/callback" }

// loggedOut is the app's post-logout redirect URI.
func (a *app) loggedOut() string { return a.ts.URL + "/bye" }

func (a *app) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// authz is one authorization request of the client: its URL and the
// secrets the client keeps to check the answer.
type authz struct {
	url      string
	state    string
	nonce    string
	verifier string
	// seen is the number of callbacks before this request started.
	seen int
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authorize builds an authorization request (PKCE S256, state, nonce) with
// extra parameters such as prompt, max_age or acr_values.
func (e *env) authorize(extra map[string]string) *authz {
	a := &authz{state: randomString(), nonce: randomString(), verifier: oauth2.GenerateVerifier(), seen: e.app.count()}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce)}
	for k, v := range extra {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	a.url = e.oauth.AuthCodeURL(a.state, opts...)
	return a
}

// callback returns the query the app received for a, waiting briefly.
func (e *env) callback(a *authz) url.Values {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.app.mu.Lock()
		if len(e.app.calls) > a.seen {
			q := e.app.calls[a.seen]
			e.app.mu.Unlock()
			return q
		}
		e.app.mu.Unlock()
		if time.Now().After(deadline) {
			e.t.Fatalf("the app's callback was not called")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// callbackError checks that the authorization ended with an error at the
// app (state and iss still checked) and returns the error code.
func (e *env) callbackError(a *authz) string {
	e.t.Helper()
	q := e.callback(a)
	if q.Get("state") != a.state {
		e.t.Errorf("callback state %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("iss") != e.issuer {
		e.t.Errorf("callback iss %q, want %q (RFC 9207)", q.Get("iss"), e.issuer)
	}
	if q.Get("code") != "" {
		e.t.Errorf("callback carries a code with the error: %v", q)
	}
	return q.Get("error")
}

// claims are the ID token claims the tests look at.
type claims struct {
	Subject  string   `json:"sub"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
	// Raw is the ID token itself.
	Raw string `json:"-"`
	// From userinfo, called with the access token.
	PreferredUsername string   `json:"-"`
	Email             string   `json:"-"`
	Roles             []string `json:"-"`
}

// redeem checks the callback of a (state, iss, no error), exchanges the
// code with the PKCE verifier, verifies the ID token (signature, issuer,
// audience, expiry, nonce) and calls userinfo with the access token.
func (e *env) redeem(a *authz) claims {
	e.t.Helper()
	q := e.callback(a)
	if q.Get("error") != "" {
		e.t.Fatalf("authorization failed at the app: error=%s (%s)", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != a.state {
		e.t.Fatalf("callback state %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("iss") != e.issuer {
		e.t.Errorf("callback iss %q, want %q (RFC 9207)", q.Get("iss"), e.issuer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := e.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		e.t.Fatalf("token exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		e.t.Fatal("token response without id_token")
	}
	idt, err := e.verifier.Verify(ctx, raw)
	if err != nil {
		e.t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		e.t.Fatalf("ID token nonce %q, want %q", idt.Nonce, a.nonce)
	}
	c := claims{Raw: raw}
	if err := idt.Claims(&c); err != nil {
		e.t.Fatal(err)
	}
	info, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		e.t.Fatalf("userinfo: %v", err)
	}
	if info.Subject != c.Subject {
		e.t.Fatalf("userinfo sub %q, ID token sub %q", info.Subject, c.Subject)
	}
	var ui struct {
		PreferredUsername string   `json:"preferred_username"`
		Email             string   `json:"email"`
		Roles             []string `json:"roles"`
	}
	if err := info.Claims(&ui); err != nil {
		e.t.Fatal(err)
	}
	c.PreferredUsername, c.Email, c.Roles = ui.PreferredUsername, ui.Email, ui.Roles
	return c
}

func (c claims) wantACR(t *testing.T, acr string) {
	t.Helper()
	if c.ACR != acr {
		t.Errorf("acr = %q, want %q (amr %v)", c.ACR, acr, c.AMR)
	}
}

// wantAMR checks that amr holds every method in want, and nothing else
// when exact.
func (c claims) wantAMR(t *testing.T, exact bool, want ...string) {
	t.Helper()
	for _, m := range want {
		if !slices.Contains(c.AMR, m) {
			t.Errorf("amr %v lacks %q", c.AMR, m)
		}
	}
	if exact && len(c.AMR) != len(want) {
		t.Errorf("amr = %v, want exactly %v", c.AMR, want)
	}
}

func (c claims) wantAuthTimeRecent(t *testing.T) {
	t.Helper()
	at := time.Unix(c.AuthTime, 0)
	if c.AuthTime == 0 || time.Since(at) > time.Minute || time.Until(at) > 5*time.Second {
		t.Errorf("auth_time %d (%s) is not a recent sign-in", c.AuthTime, at)
	}
}
