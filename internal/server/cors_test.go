package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/testdb"
)

const (
	shopOrigin = "https://shop.example.co"
	evilOrigin = "https://evil.example"
)

// corsRequest sends method to path with an Origin, and for OPTIONS the
// preflight's request headers.
func corsRequest(t *testing.T, e *env, method, path, origin string, form url.Values) *http.Response {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, e.issuer+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	if method == http.MethodOptions {
		asked := http.MethodPost
		if strings.HasPrefix(path, "/.well-known/") {
			asked = http.MethodGet
		}
		req.Header.Set("Access-Control-Request-Method", asked)
		req.Header.Set("Access-Control-Request-Headers", "content-type")
	} else if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// TestCORS: browser apps read the metadata from anywhere, and the token,
// revocation and userinfo endpoints from the origins their client
// registered; never the authorization endpoint, introspection or the
// pages, and never with credentials.
func TestCORS(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		e.createClient(&identity.Client{ID: "spa", Name: "Shop SPA", TokenEndpointAuthMethod: identity.AuthMethodNone,
			RedirectURIs: []string{shopOrigin + "/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"},
			Scopes: []string{"openid", "profile"}, TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
			AllowedOrigins: []string{shopOrigin}})
		code := url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {shopOrigin + "/callback"},
			"code_verifier": {strings.Repeat("v", 43)}}
		as := func(client string) url.Values {
			f := url.Values{}
			for k, v := range code {
				f[k] = v
			}
			f.Set("client_id", client)
			return f
		}
		cases := []struct {
			name, method, path, origin string
			form                       url.Values
			want                       string // Access-Control-Allow-Origin
		}{
			{"discovery, any origin", http.MethodGet, "/.well-known/openid-configuration", evilOrigin, nil, "*"},
			{"JWKS, any origin", http.MethodGet, "/.well-known/jwks.json", evilOrigin, nil, "*"},
			{"JWKS preflight", http.MethodOptions, "/.well-known/jwks.json", evilOrigin, nil, "*"},
			{"token preflight, registered origin", http.MethodOptions, "/oauth2/token", shopOrigin, nil, shopOrigin},
			{"token preflight, unknown origin", http.MethodOptions, "/oauth2/token", evilOrigin, nil, ""},
			{"token, the client's own origin (an error the app can read)", http.MethodPost, "/oauth2/token", shopOrigin, as("spa"), shopOrigin},
			{"token, another client's origin", http.MethodPost, "/oauth2/token", shopOrigin, as("mobile"), ""},
			{"token, unknown origin", http.MethodPost, "/oauth2/token", evilOrigin, as("spa"), ""},
			{"revocation preflight", http.MethodOptions, "/oauth2/revoke", shopOrigin, nil, shopOrigin},
			{"userinfo preflight", http.MethodOptions, "/userinfo", shopOrigin, nil, shopOrigin},
			{"userinfo, unknown origin", http.MethodGet, "/userinfo", evilOrigin, nil, ""},
			{"introspection preflight: never", http.MethodOptions, "/oauth2/introspect", shopOrigin, nil, ""},
			{"authorization endpoint: never", http.MethodGet, "/oauth2/auth?client_id=spa", shopOrigin, nil, ""},
			{"sign-in page: never", http.MethodGet, "/login", shopOrigin, nil, ""},
		}
		for _, c := range cases {
			res := corsRequest(t, e, c.method, c.path, c.origin, c.form)
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != c.want {
				t.Errorf("%s: Access-Control-Allow-Origin %q, want %q (status %d)", c.name, got, c.want, res.StatusCode)
			}
			if res.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("%s: credentials allowed", c.name)
			}
			if c.want != "" && c.want != "*" && !strings.Contains(res.Header.Get("Vary"), "Origin") {
				t.Errorf("%s: an answer that depends on the origin without Vary: Origin", c.name)
			}
		}

		// A disabled client's origins go with it.
		actor := manage.Actor{ID: "cli:test", Roles: []string{identity.RoleSuperAdmin}}
		if _, err := e.srv.Manage.SetClientDisabled(context.Background(), actor, "spa", true, nil); err != nil {
			t.Fatal(err)
		}
		if got := corsRequest(t, e, http.MethodOptions, "/oauth2/token", shopOrigin, nil).Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("a disabled client's origin is still allowed: %q", got)
		}
	})
}

func TestAllowedOriginsAreOrigins(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, nil)
	actor := manage.Actor{ID: "cli:test", Roles: []string{identity.RoleSuperAdmin}}
	for _, c := range []struct {
		origins []string
		grants  []string
		ok      bool
	}{
		{[]string{shopOrigin}, nil, true},
		{[]string{"http://localhost:5173", "http://127.0.0.1:8080"}, nil, true},
		{[]string{"*"}, nil, false},
		{[]string{shopOrigin + "/"}, nil, false},
		{[]string{shopOrigin + "/app"}, nil, false},
		{[]string{"https://Shop.Example.co"}, nil, false},
		{[]string{"http://shop.example.co"}, nil, false},
		{[]string{"https://user@shop.example.co"}, nil, false},
		{[]string{shopOrigin}, []string{"client_credentials"}, false},
	} {
		sp := manage.ClientSpec{ID: "app", Public: true, RedirectURIs: []string{shopOrigin + "/cb"}, GrantTypes: c.grants, AllowedOrigins: c.origins}
		_, _, err := e.srv.Manage.CreateClient(context.Background(), actor, sp)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, identity.ErrInvalid)) {
			t.Errorf("%v %v: %v", c.origins, c.grants, err)
		}
		if err == nil {
			if err := e.srv.Manage.DeleteClient(context.Background(), actor, "app", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}
