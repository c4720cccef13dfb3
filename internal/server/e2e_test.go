package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/testdb"
)

// TestAuthorizationCodeFlow drives the whole browser flow for a public
// mobile client with independent clients: golang.org/x/oauth2 for the
// protocol and go-oidc to verify the ID token against the published JWKS.
func TestAuthorizationCodeFlow(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		conf := oauth2.Config{
			ClientID:    "mobile",
			Endpoint:    provider.Endpoint(),
			RedirectURL: mobileScheme,
			Scopes:      []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "profile", "email", "roles"},
		}
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		verifier := oauth2.GenerateVerifier()
		state, nonce := randomString(), randomString()
		authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))

		q := e.authorize(e.browser(), authURL)
		if q.Get("state") != state {
			t.Fatalf("state = %q, want %q", q.Get("state"), state)
		}
		if q.Get("iss") != e.issuer {
			t.Fatalf("RFC 9207 iss = %q, want %q", q.Get("iss"), e.issuer)
		}
		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}
		rawID, _ := tok.Extra("id_token").(string)
		idToken, err := provider.Verifier(&oidc.Config{ClientID: "mobile"}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("verify id token: %v", err)
		}
		if idToken.Nonce != nonce || idToken.Subject != e.userID {
			t.Fatalf("id token nonce/sub = %q/%q", idToken.Nonce, idToken.Subject)
		}
		if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		var idClaims struct {
			AuthTime int64    `json:"auth_time"`
			Roles    []string `json:"roles"`
			AMR      []string `json:"amr"`
			ACR      string   `json:"acr"`
		}
		if err := idToken.Claims(&idClaims); err != nil {
			t.Fatal(err)
		}
		if idClaims.AuthTime == 0 || !slices.Equal(idClaims.Roles, []string{"customer", "vendor"}) || !slices.Contains(idClaims.AMR, "pwd") || idClaims.ACR == "" {
			t.Fatalf("id token claims = %+v", idClaims)
		}

		// The access token is an RFC 9068 JWT verifiable with the JWKS.
		header, claims := decodeJWT(t, tok.AccessToken)
		if header["typ"] != "at+jwt" || header["alg"] != "ES256" || header["kid"] == nil {
			t.Fatalf("access token header = %v", header)
		}
		for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "roles", "auth_time", "acr", "amr"} {
			if _, ok := claims[c]; !ok {
				t.Errorf("access token lacks claim %q: %v", c, claims)
			}
		}
		keySet := oidc.NewRemoteKeySet(ctx, e.issuer+"/.well-known/jwks.json")
		if _, err := keySet.VerifySignature(ctx, tok.AccessToken); err != nil {
			t.Fatalf("access token signature: %v", err)
		}

		// Introspection shows the user's roles.
		in := e.introspect(tok.AccessToken)
		if in["active"] != true || in["sub"] != e.userID || in["client_id"] != "mobile" || in["username"] != "alice" {
			t.Fatalf("introspection = %v", in)
		}
		if roles, _ := in["roles"].([]any); len(roles) != 2 {
			t.Fatalf("introspection roles = %v", in["roles"])
		}

		// Userinfo from the current user record.
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var infoClaims map[string]any
		_ = info.Claims(&infoClaims)
		if info.Subject != e.userID || info.Email != "alice@example.com" || infoClaims["preferred_username"] != "alice" {
			t.Fatalf("userinfo = %v", infoClaims)
		}

		// Refresh rotates: a new pair, and the old access token is retired.
		expired := *tok
		expired.Expiry = expired.Expiry.Add(-24 * 3600 * 1e9)
		refreshed, err := conf.TokenSource(ctx, &expired).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if refreshed.RefreshToken == tok.RefreshToken || refreshed.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		if e.introspect(refreshed.AccessToken)["active"] != true {
			t.Fatal("refreshed access token inactive")
		}
		if e.introspect(tok.AccessToken)["active"] != false {
			t.Fatal("the access token replaced by a refresh is still active")
		}

		// Revocation (RFC 7009) of the refresh token ends the grant.
		status, _, _ := e.postForm("/oauth2/revoke", "", "", url.Values{"token": {refreshed.RefreshToken}, "client_id": {"mobile"}})
		if status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		if e.introspect(refreshed.RefreshToken)["active"] != false {
			t.Fatal("revoked refresh token still active")
		}
		if e.introspect(refreshed.AccessToken)["active"] != false {
			t.Fatal("access token of a revoked grant still active")
		}
	})
}

func TestConfidentialClientOpaqueTokensAndES256IDToken(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		conf := oauth2.Config{ClientID: "webapp", ClientSecret: e.secrets["webapp"], Endpoint: provider.Endpoint(),
			RedirectURL: appRedirect, Scopes: []string{oidc.ScopeOpenID, "email"}}
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		verifier := oauth2.GenerateVerifier()
		q := e.authorize(e.browser(), conf.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier)))
		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if !strings.HasPrefix(tok.AccessToken, "portero_at_") {
			t.Fatalf("opaque token expected, got %q", tok.AccessToken[:12])
		}
		rawID, _ := tok.Extra("id_token").(string)
		header, _ := decodeJWT(t, rawID)
		if header["alg"] != "ES256" {
			t.Fatalf("id token alg = %v, want ES256 as the client asked", header["alg"])
		}
		v := provider.Verifier(&oidc.Config{ClientID: "webapp", SupportedSigningAlgs: []string{"ES256"}})
		if _, err := v.Verify(ctx, rawID); err != nil {
			t.Fatalf("verify ES256 id token: %v", err)
		}
		in := e.introspect(tok.AccessToken)
		if in["active"] != true || in["token_type"] != "Bearer" || in["scope"] != "openid email" {
			t.Fatalf("introspection of opaque token = %v", in)
		}
		// A revoked opaque access token is inactive.
		status, _, _ := e.postForm("/oauth2/revoke", "webapp", e.secrets["webapp"], url.Values{"token": {tok.AccessToken}})
		if status != http.StatusOK || e.introspect(tok.AccessToken)["active"] != false {
			t.Fatalf("revoking an opaque access token: status %d", status)
		}
	})
}

func TestClientCredentials(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		tok := e.clientCredentials("orders-api")
		at, _ := tok["access_token"].(string)
		_, claims := decodeJWT(t, at)
		if claims["sub"] != "orders-api" || claims["client_id"] != "orders-api" {
			t.Fatalf("claims = %v", claims)
		}
		if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "vendor" {
			t.Fatalf("client roles = %v", claims["roles"])
		}
		in := e.introspect(at)
		if in["active"] != true || in["sub"] != "orders-api" {
			t.Fatalf("introspection = %v", in)
		}
		// A revoked JWT is inactive at introspection.
		status, _, _ := e.postForm("/oauth2/revoke", "orders-api", e.secrets["orders-api"], url.Values{"token": {at}})
		if status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		if e.introspect(at)["active"] != false {
			t.Fatal("revoked JWT still active")
		}
		// client_secret_post and an opaque token.
		status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"},
			"client_id": {"reports"}, "client_secret": {e.secrets["reports"]}})
		if status != http.StatusOK || !strings.HasPrefix(body["access_token"].(string), "portero_at_") {
			t.Fatalf("client_secret_post: %d %v", status, body)
		}
		// golang.org/x/oauth2's own client credentials client.
		cc := clientCredentialsConfig(e, "orders-api")
		if _, err := cc.Token(context.Background()); err != nil {
			t.Fatalf("x/oauth2 clientcredentials: %v", err)
		}
		// Requested scopes the client may have are granted; others refused.
		status, _, body = e.postForm("/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}})
		if status != http.StatusOK || body["scope"] != "orders:read" {
			t.Fatalf("scoped client credentials: %d %v", status, body)
		}
		_, claims = decodeJWT(t, body["access_token"].(string))
		if claims["scope"] != "orders:read" || e.introspect(body["access_token"].(string))["scope"] != "orders:read" {
			t.Fatalf("scope claim %v", claims["scope"])
		}
		// A client that asks for it gets the permissions of its roles in
		// its JWTs; the others keep small tokens.
		if _, perms := claims["permissions"]; perms {
			t.Fatalf("permissions in a token of a client that did not ask: %v", claims)
		}
		if err := e.store.PutRole(context.Background(), &identity.Role{Name: "vendor", Permissions: []string{"orders:read", "products:write"}}); err != nil {
			t.Fatal(err)
		}
		e.createClient(&identity.Client{ID: "stock-api", Name: "Stock", TokenEndpointAuthMethod: identity.AuthMethodBasic,
			GrantTypes: []string{"client_credentials"}, Roles: []string{"vendor"}, TokenFormat: identity.TokenFormatJWT,
			IDTokenSignedResponseAlg: "RS256", PermissionsClaim: true})
		status, _, body = e.postForm("/oauth2/token", "stock-api", e.secrets["stock-api"], url.Values{"grant_type": {"client_credentials"}})
		_, claims = decodeJWT(t, body["access_token"].(string))
		if perms, _ := claims["permissions"].([]any); status != http.StatusOK || len(perms) != 2 || perms[0] != "orders:read" {
			t.Fatalf("permissions claim: %d %v", status, claims)
		}
		status, _, body = e.postForm("/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"client_credentials"}, "scope": {"reports:run"}})
		if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Fatalf("a scope the client may not have: %d %v", status, body)
		}
	})
}

func TestLogout(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		provider, _ := oidc.NewProvider(ctx, e.issuer)
		conf := oauth2.Config{ClientID: "mobile", Endpoint: provider.Endpoint(), RedirectURL: mobileScheme, Scopes: []string{"openid"}}
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		browser := e.browser()
		verifier := oauth2.GenerateVerifier()
		q := e.authorize(browser, conf.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(verifier)))
		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		idToken := tok.Extra("id_token").(string)

		// An unregistered post-logout URI is an error page, never a redirect.
		resp, err := browser.Get(e.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("unregistered post_logout_redirect_uri: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
		}

		// Without an id_token_hint the user is asked first.
		resp, err = browser.Get(e.issuer + "/oauth2/logout")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `name="confirm"`) {
			t.Fatalf("logout without hint should ask: %d", resp.StatusCode)
		}
		// A forged confirmation does not log out.
		resp, err = browser.PostForm(e.issuer+"/oauth2/logout", url.Values{"confirm": {"yes"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !e.signedIn(browser, conf) {
			t.Fatal("a forged confirmation ended the session")
		}

		// With the hint: signed out and sent to the registered URI with state.
		resp, err = browser.Get(e.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {idToken},
			"post_logout_redirect_uri": {"com.example.mobile:/logged-out"}, "state": {"bye"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "com.example.mobile:/logged-out?state=bye" {
			t.Fatalf("logout: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if e.signedIn(browser, conf) {
			t.Fatal("still signed in after logout")
		}
	})
}

// signedIn reports whether an authorization request goes straight back to
// the client (true) or to the login page (false).
func (e *env) signedIn(browser *http.Client, conf oauth2.Config) bool {
	e.t.Helper()
	resp, err := browser.Get(conf.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return !strings.HasPrefix(resp.Header.Get("Location"), "/login")
}

// TestRoleChangesAreVisibleAtIntrospection: a role granted or revoked
// after a user's token was issued shows at introspection at once (the
// JWT's own roles claim changes with the next token).
func TestRoleChangesAreVisibleAtIntrospection(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	code, verifier := e.codeFor(t)
	status, tokens := e.exchange(code, verifier)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	at := tokens["access_token"].(string)
	rolesOf := func() []any { r, _ := e.introspect(at)["roles"].([]any); return r }
	if got := rolesOf(); len(got) != 2 {
		t.Fatalf("roles at issuance: %v", got)
	}
	if err := e.store.GrantRole(context.Background(), e.userID, "admin"); err != nil {
		t.Fatal(err)
	}
	if got := rolesOf(); !slices.Contains(got, any("admin")) {
		t.Fatalf("a granted role is not visible: %v", got)
	}
	// Permissions are expanded at introspection from the role catalog.
	if perms, _ := e.introspect(at)["permissions"].([]any); !slices.Contains(perms, any("portero:admin:read")) {
		t.Fatalf("permissions of an admin: %v", perms)
	}
	if err := e.store.RevokeRole(context.Background(), e.userID, "vendor"); err != nil {
		t.Fatal(err)
	}
	if got := rolesOf(); slices.Contains(got, any("vendor")) {
		t.Fatalf("a revoked role is still visible: %v", got)
	}
}
