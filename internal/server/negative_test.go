package server_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/testdb"
)

// authURL builds an authorization request for the mobile client.
func (e *env) authURL(extra url.Values) string {
	q := url.Values{
		"client_id":     {"mobile"},
		"response_type": {"code"},
		"redirect_uri":  {mobileScheme},
		"scope":         {"openid offline_access"},
		"state":         {randomString()},
	}
	for k, v := range extra {
		if v == nil {
			q.Del(k)
		} else {
			q[k] = v
		}
	}
	return e.issuer + "/oauth2/auth?" + q.Encode()
}

func pkcePair() (verifier string, challenge url.Values) {
	verifier = oauth2.GenerateVerifier()
	return verifier, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
}

func merge(vs ...url.Values) url.Values {
	out := url.Values{}
	for _, v := range vs {
		for k, x := range v {
			out[k] = x
		}
	}
	return out
}

// exchange redeems a code for the mobile client.
func (e *env) exchange(code, verifier string) (int, map[string]any) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {mobileScheme}, "client_id": {"mobile"}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	status, _, body := e.postForm("/oauth2/token", "", "", form)
	return status, body
}

// codeFor runs the browser flow and returns a code and its verifier.
func (e *env) codeFor(t *testing.T) (code, verifier string) {
	verifier, challenge := pkcePair()
	q := e.authorize(e.browser(), e.authURL(challenge))
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	return q.Get("code"), verifier
}

func TestAuthorizeRequestErrors(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		browser := e.browser()
		// Sign in once so the dispatcher reaches the checks after login.
		_, challenge := pkcePair()
		e.authorize(browser, e.authURL(challenge))

		tests := []struct {
			name      string
			params    url.Values
			wantError string
		}{
			{"missing PKCE", url.Values{}, "invalid_request"},
			{"plain PKCE", url.Values{"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}}, "invalid_request"},
			{"unknown scope", merge(challenge, url.Values{"scope": {"openid admin"}}), "invalid_scope"},
			{"implicit flow", merge(challenge, url.Values{"response_type": {"token"}}), "unsupported_response_type"},
			{"form_post", merge(challenge, url.Values{"response_mode": {"form_post"}}), "unsupported_response_mode"},
			{"prompt none with login required", merge(challenge, url.Values{"prompt": {"none"}, "max_age": {"0"}}), "login_required"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := browser.Get(e.authURL(tc.params))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				loc, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), mobileScheme) {
					t.Fatalf("want an error redirect to the client, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				q := loc.Query()
				if q.Get("error") != tc.wantError || q.Get("iss") != e.issuer || q.Get("state") == "" {
					t.Fatalf("redirect query = %v, want error=%s with iss and state", q, tc.wantError)
				}
			})
		}

		// Never redirect to an unregistered redirect URI or for an unknown
		// client: an HTML error page instead.
		for name, params := range map[string]url.Values{
			"unregistered redirect URI": merge(challenge, url.Values{"redirect_uri": {"https://evil.example/cb"}}),
			"redirect URI with suffix":  merge(challenge, url.Values{"redirect_uri": {mobileScheme + "/x"}}),
			"unknown client":            merge(challenge, url.Values{"client_id": {"nobody"}}),
		} {
			t.Run(name, func(t *testing.T) {
				resp, err := browser.Get(e.authURL(params))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.Header.Get("Location") != "" || resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Fatalf("got %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
				}
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<html") {
					t.Fatalf("want an HTML error page, got %q", resp.Header.Get("Content-Type"))
				}
				if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
					t.Fatal("error page lacks the CSP")
				}
			})
		}

		// RFC 8252 §7.3: a loopback redirect URI may use any port.
		t.Run("loopback port varies", func(t *testing.T) {
			resp, err := browser.Get(e.authURL(merge(challenge, url.Values{"redirect_uri": {"http://127.0.0.1:53117/callback"}})))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "http://127.0.0.1:53117/callback?code=") {
				t.Fatalf("loopback redirect: %d %q", resp.StatusCode, loc)
			}
		})
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)

		t.Run("wrong verifier", func(t *testing.T) {
			code, _ := e.codeFor(t)
			status, body := e.exchange(code, oauth2.GenerateVerifier())
			wantError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("missing verifier", func(t *testing.T) {
			code, _ := e.codeFor(t)
			status, body := e.exchange(code, "")
			wantError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("code reuse revokes the tokens issued from it", func(t *testing.T) {
			code, verifier := e.codeFor(t)
			status, first := e.exchange(code, verifier)
			if status != http.StatusOK {
				t.Fatalf("first exchange: %d %v", status, first)
			}
			status, body := e.exchange(code, verifier)
			wantError(t, status, body, http.StatusBadRequest, "invalid_grant")
			for _, kind := range []string{"access_token", "refresh_token"} {
				if e.introspect(first[kind].(string))["active"] != false {
					t.Errorf("%s issued from a replayed code is still active", kind)
				}
			}
		})
		t.Run("wrong client secret", func(t *testing.T) {
			status, header, body := e.postForm("/oauth2/token", "orders-api", "not-the-secret", url.Values{"grant_type": {"client_credentials"}})
			wantError(t, status, body, http.StatusUnauthorized, "invalid_client")
			if !strings.HasPrefix(header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("WWW-Authenticate = %q", header.Get("WWW-Authenticate"))
			}
		})
		t.Run("secret_basic client using secret_post", func(t *testing.T) {
			status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"},
				"client_id": {"orders-api"}, "client_secret": {e.secrets["orders-api"]}})
			wantError(t, status, body, http.StatusUnauthorized, "invalid_client")
		})
		t.Run("grant type not registered", func(t *testing.T) {
			status, _, body := e.postForm("/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {testPassword}})
			if status != http.StatusBadRequest || (body["error"] != "unsupported_grant_type" && body["error"] != "invalid_request") {
				t.Fatalf("password grant: %d %v", status, body)
			}
		})
		t.Run("unknown refresh token", func(t *testing.T) {
			status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "client_id": {"mobile"}, "refresh_token": {"portero_rt_nope.nope"}})
			wantError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("malformed body", func(t *testing.T) {
			for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
				req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader("%zz=%%%&&="))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("orders-api", e.secrets["orders-api"])
				status, body := do(t, req)
				wantError(t, status, body, http.StatusBadRequest, "invalid_request")
			}
		})
		t.Run("oversized body", func(t *testing.T) {
			for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
				big := "grant_type=client_credentials&token=" + strings.Repeat("a", 200<<10)
				req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(big))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("orders-api", e.secrets["orders-api"])
				status, body := do(t, req)
				wantError(t, status, body, http.StatusRequestEntityTooLarge, "invalid_request")
			}
		})
	})
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := map[string]any{}
	if err := jsonUnmarshal(raw, &body); err != nil {
		t.Fatalf("%s: non-JSON %d response %q", req.URL.Path, resp.StatusCode, raw)
	}
	return resp.StatusCode, body
}

func TestExpiredCode(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, func(c *config.Config) { c.OAuth.AuthorizeCodeLifespan = time.Second })
		code, verifier := e.codeFor(t)
		time.Sleep(1100 * time.Millisecond)
		status, body := e.exchange(code, verifier)
		wantError(t, status, body, http.StatusBadRequest, "invalid_grant")
	})
}

func TestIntrospectionAndRevocationAcrossClients(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		_, _, rep := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"reports"}, "client_secret": {e.secrets["reports"]}})
		reports := rep["access_token"].(string)

		// reports may not see orders-api's token; orders-api (a resource
		// server allowed to introspect) may see reports'.
		orders := e.clientCredentials("orders-api")["access_token"].(string)
		status, _, body := e.postForm("/oauth2/introspect", "webapp", e.secrets["webapp"], url.Values{"token": {orders}})
		if status != http.StatusOK || body["active"] != false || len(body) != 1 {
			t.Fatalf("foreign introspection: %d %v, want only active:false", status, body)
		}
		if e.introspect(reports)["active"] != true {
			t.Fatal("a resource server cannot introspect")
		}
		// A public client cannot introspect at all.
		status, _, body = e.postForm("/oauth2/introspect", "", "", url.Values{"token": {orders}, "client_id": {"mobile"}})
		wantError(t, status, body, http.StatusUnauthorized, "invalid_client")
		// Without credentials: 401.
		status, _, body = e.postForm("/oauth2/introspect", "", "", url.Values{"token": {orders}})
		wantError(t, status, body, http.StatusUnauthorized, "invalid_client")

		// A client revoking another client's token has no effect.
		status, _, _ = e.postForm("/oauth2/revoke", "reports-wrong", "", url.Values{"token": {orders}})
		if status != http.StatusUnauthorized {
			t.Fatalf("revoke with unknown client: %d", status)
		}
		status, _, _ = e.postForm("/oauth2/revoke", "", "", url.Values{"token": {orders}, "client_id": {"reports"}, "client_secret": {e.secrets["reports"]}})
		if status != http.StatusOK {
			t.Fatalf("foreign revoke: %d", status)
		}
		if e.introspect(orders)["active"] != true {
			t.Fatal("a client revoked another client's token")
		}
		// Unknown tokens revoke fine (RFC 7009 §2.2).
		status, _, _ = e.postForm("/oauth2/revoke", "orders-api", e.secrets["orders-api"], url.Values{"token": {"no-such-token"}})
		if status != http.StatusOK {
			t.Fatalf("revoke unknown token: %d", status)
		}
	})
}

func TestRefreshTokenReplayRevokesFamily(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, func(c *config.Config) { c.OAuth.RefreshGracePeriod = 200 * time.Millisecond })
		code, verifier := e.codeFor(t)
		_, first := e.exchange(code, verifier)
		rt1 := first["refresh_token"].(string)
		refresh := func(rt string) (int, map[string]any) {
			status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"mobile"}})
			return status, body
		}
		status, second := refresh(rt1)
		if status != http.StatusOK {
			t.Fatalf("refresh: %d %v", status, second)
		}
		time.Sleep(300 * time.Millisecond) // past the grace window
		status, body := refresh(rt1)
		wantError(t, status, body, http.StatusBadRequest, "invalid_grant")
		for _, tok := range []string{second["access_token"].(string), second["refresh_token"].(string), first["access_token"].(string)} {
			if e.introspect(tok)["active"] != false {
				t.Fatalf("token of the replayed family still active")
			}
		}
		status, body = refresh(second["refresh_token"].(string))
		wantError(t, status, body, http.StatusBadRequest, "invalid_grant")
		// The reuse of the rotated token is a security event: in the
		// ledger, about the user, and counted. The second token was revoked
		// with its family, never rotated: presenting it is not reuse (a
		// signed-out app's last try looks the same).
		events, err := e.store.LedgerEntries(t.Context(), identity.LedgerFilter{Types: []string{identity.AuditRefreshReused}, Limit: 10})
		if err != nil || len(events) != 1 || events[0].Subject != e.userID || !strings.Contains(string(events[0].Payload), `"client_id":"mobile"`) {
			t.Fatalf("reuse events: %+v %v", events, err)
		}
		if !strings.Contains(e.metrics(t), `portero_ledger_entries_total{kind="audit",type="token.refresh_reused"} 1`) {
			t.Fatal("refresh reuse is not counted")
		}
	})
}

// TestConcurrentRefreshWithinGrace: a mobile app that retries a refresh
// must not be taken for a thief: every concurrent duplicate within the
// grace window succeeds and nothing is revoked.
func TestConcurrentRefreshWithinGrace(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, func(c *config.Config) { c.OAuth.RefreshGracePeriod = 30 * time.Second })
		code, verifier := e.codeFor(t)
		_, first := e.exchange(code, verifier)
		rt := first["refresh_token"].(string)

		statuses, results := e.concurrentRefreshes(rt, 20)
		for i := range statuses {
			if statuses[i] != http.StatusOK {
				t.Fatalf("duplicate refresh %d failed: %d %v", i, statuses[i], results[i])
			}
			// Idempotent: every duplicate gets the very same pair, so one
			// stolen refresh token does not become twenty branches.
			if results[i]["refresh_token"] != results[0]["refresh_token"] || results[i]["access_token"] != results[0]["access_token"] {
				t.Fatalf("duplicate %d got another token pair", i)
			}
		}
		if e.introspect(results[0]["access_token"].(string))["active"] != true || e.introspect(results[0]["refresh_token"].(string))["active"] != true {
			t.Fatal("the pair the duplicates share was revoked")
		}
		// A duplicate from a second replica on the same database gets the
		// same pair too.
		other := e.replica(t, func(c *config.Config) { c.OAuth.RefreshGracePeriod = 30 * time.Second })
		status, _, again := other.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"mobile"}})
		if status != http.StatusOK || again["refresh_token"] != results[0]["refresh_token"] {
			t.Fatalf("a duplicate on another replica: %d %v", status, again)
		}
		// The next token in the family refreshes as usual.
		if status, _, next := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {results[0]["refresh_token"].(string)}, "client_id": {"mobile"}}); status != http.StatusOK {
			t.Fatalf("refreshing the shared pair: %d %v", status, next)
		}
	})
}

// TestConcurrentRefreshWithoutGrace: with no grace period, exactly one of
// twenty concurrent exchanges wins; the others get invalid_grant, and the
// race does not revoke the winner's family.
func TestConcurrentRefreshWithoutGrace(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, func(c *config.Config) { c.OAuth.RefreshGracePeriod = 0 })
		code, verifier := e.codeFor(t)
		_, first := e.exchange(code, verifier)
		statuses, results := e.concurrentRefreshes(first["refresh_token"].(string), 20)
		var winners []map[string]any
		for i := range statuses {
			switch {
			case statuses[i] == http.StatusOK:
				winners = append(winners, results[i])
			case statuses[i] != http.StatusBadRequest || results[i]["error"] != "invalid_grant":
				t.Errorf("loser %d: %d %v, want 400 invalid_grant", i, statuses[i], results[i])
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d winners, want exactly 1", len(winners))
		}
		if e.introspect(winners[0]["access_token"].(string))["active"] != true || e.introspect(winners[0]["refresh_token"].(string))["active"] != true {
			t.Fatal("the race revoked the winner's tokens")
		}
	})
}

// concurrentRefreshes exchanges rt n times at once.
func (e *env) concurrentRefreshes(rt string, n int) ([]int, []map[string]any) {
	var wg sync.WaitGroup
	results := make([]map[string]any, n)
	statuses := make([]int, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], _, results[i] = e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"mobile"}})
		}()
	}
	close(start)
	wg.Wait()
	return statuses, results
}

var _ = context.Background

// Only the exact token issued introspects as active: claims re-encoded
// around a genuine signature, or a token past its exp, are inactive (a
// stored JWT is found by a digest of the whole token; a stateless one's
// signature is verified).
func TestJWTIntrospectionAcceptsOnlyTheIssuedToken(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		// Two seconds: a stateless token's exp has whole seconds, so a
		// one-second token can be a few milliseconds from expiring when
		// it is issued.
		e := newEnv(t, b, func(c *config.Config) { c.OAuth.AccessTokenLifespan = 2 * time.Second })
		at, _ := e.clientCredentials("orders-api")["access_token"].(string)
		if e.introspect(at)["active"] != true {
			t.Fatal("fresh token inactive")
		}
		parts := strings.Split(at, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		forged := strings.Replace(string(payload), `"vendor"`, `"super_admin"`, 1)
		if forged == string(payload) {
			t.Fatalf("payload has no vendor role: %s", payload)
		}
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
		if in := e.introspect(tampered); in["active"] != false || len(in) != 1 {
			t.Fatalf("tampered token: %v", in)
		}
		time.Sleep(2100 * time.Millisecond)
		if in := e.introspect(at); in["active"] != false {
			t.Fatalf("expired token: %v", in)
		}
	})
}
