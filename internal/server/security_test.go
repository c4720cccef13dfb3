package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/testdb"
)

// Regression tests for the defects an outside attack run found (one test
// per finding, named after it). docs/security.md lists the class each
// belongs to and the one mechanism that now prevents it.

// send makes one request without following redirects.
func (e *env) send(c *http.Client, method, path string, form url.Values) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.issuer+path, strings.NewReader(form.Encode()))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *env) givePasskey(t *testing.T, userID string) {
	t.Helper()
	err := e.store.CreateWebAuthnCredential(context.Background(), &identity.WebAuthnCredential{
		ID: "cred-" + randomString(), UserID: userID, Name: "phone", Credential: []byte(`{}`), CreatedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) hasTOTP(t *testing.T, userID string) bool {
	t.Helper()
	_, err := e.store.TOTPByUser(context.Background(), userID)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// Finding 1 (critical): a password alone must not enrol TOTP on an account
// whose only second factor is a passkey; every sign-in step checks, on
// POST as on GET, that it is the step the flow is at.
func TestSec01PasswordAloneCannotEnrolAFactorOnAPasskeyAccount(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		e.givePasskey(t, e.userID)
		c := e.browser()
		resp := e.send(c, http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login/mfa" {
			t.Fatalf("password sign-in of a passkey account: %d %q, want 303 /login/mfa", resp.StatusCode, loc)
		}
		for _, tc := range []struct {
			method string
			form   url.Values
		}{
			{http.MethodPost, url.Values{"code": {"000000"}}},
			{http.MethodGet, nil},
			{http.MethodPost, url.Values{"code": {"123456"}}},
		} {
			resp := e.send(c, tc.method, "/login/enroll", tc.form)
			body := readAll(t, resp)
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login/mfa" {
				t.Errorf("%s /login/enroll with a passkey account: %d %q, want 303 /login/mfa", tc.method, resp.StatusCode, loc)
			}
			if totpSecretPattern.MatchString(body) {
				t.Errorf("%s /login/enroll showed a TOTP secret", tc.method)
			}
		}
		if e.hasTOTP(t, e.userID) {
			t.Error("a TOTP secret was stored on the passkey account")
		}
		if e.hasSession(t, c) {
			t.Error("the password alone signed the browser in")
		}
		if n, _ := e.store.UnusedRecoveryCodes(context.Background(), e.userID); n != 0 {
			t.Errorf("recovery codes were issued: %d", n)
		}
	})
}

// Finding 3 (medium): a session older than the freshness window cannot
// enrol TOTP through the sign-in enrolment step; it must sign in again,
// as on the account page.
func TestSec03StaleSessionCannotEnrolThroughSignIn(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	if resp, _ := e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}}); resp.Request.URL.Path != "/account" {
		t.Fatalf("sign-in: %s", resp.Request.URL)
	}
	e.advance(identity.FreshAuthWindow + time.Minute)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/login/mfa"}, {http.MethodGet, "/login/enroll"}, {http.MethodPost, "/login/enroll"},
	} {
		resp := e.send(c, tc.method, tc.path, url.Values{"code": {"000000"}})
		body := readAll(t, resp)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?notice=reauth") {
			t.Errorf("%s %s with a stale session: %d %q, want a redirect to sign in again", tc.method, tc.path, resp.StatusCode, loc)
		}
		if totpSecretPattern.MatchString(body) {
			t.Errorf("%s %s showed a TOTP secret", tc.method, tc.path)
		}
	}
	if e.hasTOTP(t, e.userID) {
		t.Error("a stale session stored a TOTP secret")
	}
	// Freshly signed in, the same step-up enrols.
	e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})
	if resp, body := e.page(c, "/login/mfa"); resp.Request.URL.Path != "/login/enroll" || !totpSecretPattern.MatchString(body) {
		t.Fatalf("a fresh session's step-up should reach enrolment, got %d %s", resp.StatusCode, resp.Request.URL)
	}
}

// refreshTokenFor signs alice in with c and returns a refresh token of the
// mobile app.
func (e *env) refreshTokenFor(t *testing.T, c *http.Client) string {
	t.Helper()
	verifier, challenge := pkcePair()
	q := e.redirectQuery(e.login(c, e.authURL(challenge), "alice", testPassword))
	status, body := e.exchange(q.Get("code"), verifier)
	if status != http.StatusOK || body["refresh_token"] == nil {
		t.Fatalf("token exchange: %d %v", status, body)
	}
	return body["refresh_token"].(string)
}

func (e *env) refresh(rt string) (int, map[string]any) {
	status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"mobile"}})
	return status, body
}

// Finding 2 (medium): every credential event ends the user's grants
// (refresh families and access tokens), not only their sessions.
func TestSec02CredentialEventsRevokeRefreshTokens(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		root := e.newAdmin(t, "root")
		alice := "/admin/users/" + e.userID
		newPassword := "a different horse battery staple"
		events := []struct {
			name string
			do   func(t *testing.T, c *http.Client)
			// undo restores alice's password or account for the next event.
			undo func(t *testing.T)
		}{
			{"password change", func(t *testing.T, c *http.Client) {
				resp, _ := e.submit(c, "/account/password", url.Values{"current_password": {testPassword}, "new_password": {newPassword}})
				if resp.Request.URL.Path != "/account" {
					t.Fatalf("password change: %d %s", resp.StatusCode, resp.Request.URL)
				}
			}, func(t *testing.T) { e.setPassword(t, testPassword) }},
			{"password reset", func(t *testing.T, c *http.Client) {
				e.submit(e.browser(), "/password/forgot", url.Values{"login": {"alice@example.com"}})
				m, ok := e.lastMail("alice@example.com")
				if !ok {
					t.Fatal("no reset mail")
				}
				link := linkPattern.FindString(m.Text)
				token, _ := url.Parse(link)
				resp, body := e.submit(e.browser(), "/password/reset", url.Values{"token": {token.Query().Get("token")}, "password": {newPassword}})
				if resp.Request.URL.Path != "/login" {
					t.Fatalf("reset: %d %s %s", resp.StatusCode, resp.Request.URL, body)
				}
			}, func(t *testing.T) { e.setPassword(t, testPassword) }},
			{"sign out everywhere", func(t *testing.T, c *http.Client) {
				e.submit(c, "/account/sessions/revoke-all", nil)
			}, func(*testing.T) {}},
			{"admin disables the user", func(t *testing.T, _ *http.Client) {
				if resp, _ := e.submit(root.c, alice+"/disable", nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("disable: %d", resp.StatusCode)
				}
			}, func(t *testing.T) {
				if resp, _ := e.submit(root.c, alice+"/enable", nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("enable: %d", resp.StatusCode)
				}
			}},
			{"admin ends every session", func(t *testing.T, _ *http.Client) {
				if resp, _ := e.submit(root.c, alice+"/end-sessions", nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("end sessions: %d", resp.StatusCode)
				}
			}, func(*testing.T) {}},
			{"admin resets MFA", func(t *testing.T, _ *http.Client) {
				if resp, _ := e.submit(root.c, alice+"/reset-mfa", nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("reset MFA: %d", resp.StatusCode)
				}
			}, func(*testing.T) {}},
		}
		for _, ev := range events {
			t.Run(ev.name, func(t *testing.T) {
				c := e.browser()
				rt := e.refreshTokenFor(t, c)
				defer ev.undo(t)
				ev.do(t, c)
				status, body := e.refresh(rt)
				wantError(t, status, body, http.StatusBadRequest, "invalid_grant")
			})
		}
	})
}

func (e *env) setPassword(t *testing.T, password string) {
	t.Helper()
	hash, err := identity.HashPassword(password, identity.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.UpdatePasswordHash(context.Background(), e.userID, hash); err != nil {
		t.Fatal(err)
	}
}

// Finding 10 (low): an expired but validly signed client assertion is
// invalid_client (401), not server_error; assertions valid for long are
// refused; a jti is still spent once.
func TestSec10ClientAssertionLifetime(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		signer := e.paymentsClient(t)
		call := func(iat, exp time.Time, jti string) (int, map[string]any) {
			raw, err := jwt.Signed(signer).Claims(jwt.Claims{
				Issuer: "payments", Subject: "payments", Audience: jwt.Audience{e.issuer + "/oauth2/token"},
				ID: jti, IssuedAt: jwt.NewNumericDate(iat), Expiry: jwt.NewNumericDate(exp),
			}).CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {raw}})
			return status, body
		}
		now := time.Now()
		for _, tc := range []struct {
			name     string
			iat, exp time.Time
		}{
			{"expired", now.Add(-2 * time.Minute), now.Add(-time.Minute)},
			{"valid for a year", now, now.AddDate(1, 0, 0)},
			{"issued an hour ago", now.Add(-time.Hour), now.Add(time.Minute)},
			{"issued in the future", now.Add(10 * time.Minute), now.Add(11 * time.Minute)},
		} {
			status, body := call(tc.iat, tc.exp, randomString())
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Errorf("%s: %d %v, want 401 invalid_client", tc.name, status, body)
			}
		}
		jti := randomString()
		if status, body := call(now, now.Add(time.Minute), jti); status != http.StatusOK {
			t.Fatalf("a one-minute assertion: %d %v", status, body)
		}
		if status, body := call(now, now.Add(time.Minute), jti); status < 400 || status >= 500 {
			t.Fatalf("a replayed jti: %d %v", status, body)
		}
	})
}

// tokensFor signs alice in with c and returns the mobile app's token
// response (a JWT access token, a refresh token, an ID token).
func (e *env) tokensFor(t *testing.T, c *http.Client) map[string]any {
	t.Helper()
	verifier, challenge := pkcePair()
	q := e.redirectQuery(e.login(c, e.authURL(challenge), "alice", testPassword))
	status, body := e.exchange(q.Get("code"), verifier)
	if status != http.StatusOK || body["refresh_token"] == nil || body["id_token"] == nil {
		t.Fatalf("token exchange: %d %v", status, body)
	}
	return body
}

func (e *env) userinfo(t *testing.T, path, bearer string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{}
	if err := json.Unmarshal([]byte(readAll(t, resp)), &body); err != nil {
		t.Fatalf("%s: not JSON: %v", path, err)
	}
	return resp.StatusCode, resp.Header, body
}

// Finding 8 (low): a refresh token used as a bearer at /userinfo is 401
// invalid_token, not a recovered panic (500).
func TestSec08RefreshTokenIsNotABearerToken(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	tok := e.tokensFor(t, e.browser())
	status, hdr, body := e.userinfo(t, "/userinfo", tok["refresh_token"].(string))
	wantError(t, status, body, http.StatusUnauthorized, "invalid_token")
	if !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate: %q", hdr.Get("WWW-Authenticate"))
	}
	if status, _, body := e.userinfo(t, "/userinfo", tok["access_token"].(string)); status != http.StatusOK || body["sub"] != e.userID {
		t.Fatalf("the access token itself: %d %v", status, body)
	}
}

// Finding 11 (low): /userinfo refuses an access token in the URL query
// (RFC 9700 §2.3, RFC 6750 §2.3).
func TestSec11UserinfoRefusesTokensInTheURL(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	tok := e.tokensFor(t, e.browser())
	status, _, body := e.userinfo(t, "/userinfo?access_token="+url.QueryEscape(tok["access_token"].(string)), "")
	wantError(t, status, body, http.StatusBadRequest, "invalid_request")
	// The header, and a form body (RFC 6750 §2.2), still work.
	if status, _, _ := e.userinfo(t, "/userinfo", tok["access_token"].(string)); status != http.StatusOK {
		t.Fatalf("header: %d", status)
	}
	status, _, body = e.postForm("/userinfo", "", "", url.Values{"access_token": {tok["access_token"].(string)}})
	if status != http.StatusOK || body["sub"] != e.userID {
		t.Fatalf("form body: %d %v", status, body)
	}
}

// Finding 9 (low): only an ID token is an id_token_hint. An access token
// (signed by the same keys) gets the confirmation page, and the session
// stays.
func TestSec09AccessTokenIsNotAnIDTokenHint(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	tok := e.tokensFor(t, c)
	for _, hint := range []string{tok["access_token"].(string), tok["refresh_token"].(string)} {
		resp := e.send(c, http.MethodGet, "/oauth2/logout?"+url.Values{"id_token_hint": {hint}}.Encode(), nil)
		body := readAll(t, resp)
		if resp.StatusCode == http.StatusSeeOther || strings.Contains(body, "loggedout") && !strings.Contains(body, `name="confirm"`) {
			t.Fatalf("a non-ID token as hint ended the session: %d", resp.StatusCode)
		}
		if !e.hasSession(t, c) {
			t.Fatal("the session ended")
		}
	}
	resp := e.send(c, http.MethodGet, "/oauth2/logout?"+url.Values{"id_token_hint": {tok["id_token"].(string)}}.Encode(), nil)
	resp.Body.Close()
	if e.hasSession(t, c) {
		t.Fatalf("the ID token as hint did not end the session: %d", resp.StatusCode)
	}
}

// Finding 6 (low): /metrics is not on the public listener; it is on the
// metrics listener (or the admin listener) only.
func TestSec06MetricsAreNotPublic(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	if status, _, body := get(t, e.issuer+"/metrics"); status != http.StatusNotFound || strings.Contains(body, "portero_") {
		t.Fatalf("public /metrics: %d", status)
	}
	if !strings.Contains(e.metrics(t), "portero_http_requests_total") {
		t.Fatal("the metrics listener lacks the series")
	}
	// Without a metrics address, the admin listener serves them.
	e2 := newEnv(t, sqlite(), func(c *config.Config) { c.HTTP.MetricsAddress, c.HTTP.AdminAddress = "", "127.0.0.1:0" })
	if e2.srv.MetricsHandler != nil {
		t.Fatal("a metrics handler without a metrics address")
	}
	rec := httptest.NewRecorder()
	e2.srv.AdminHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "# TYPE ") {
		t.Fatalf("admin listener /metrics: %d", rec.Code)
	}
	if status, _, _ := get(t, e2.issuer+"/metrics"); status != http.StatusNotFound {
		t.Fatalf("public /metrics with an admin listener: %d", status)
	}
}

// Finding 7 (low): every endpoint bounds its body (http.max_body_bytes)
// and answers 413 above it: pages, OAuth endpoints and the admin API,
// with a declared length or chunked.
func TestSec07EveryEndpointLimitsItsBody(t *testing.T) {
	e := newEnv(t, sqlite(), func(c *config.Config) { c.HTTP.MaxBodyBytes = 4096 })
	big := "username=alice&password=" + strings.Repeat("x", 8192)
	for _, path := range []string{"/login", "/signup", "/password/forgot", "/consent", "/oauth2/token", "/oauth2/introspect", "/oauth2/logout", "/lang", "/admin/v1/users", "/account/password"} {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(big)
			if chunked {
				body = io.MultiReader(strings.NewReader(big)) // no length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, e.issuer+path, body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("POST %s with %d bytes (chunked %v): %d, want 413", path, len(big), chunked, resp.StatusCode)
			}
		}
	}
	// A browser gets the page; a small body still works.
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(big))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if page := readAll(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "<html") {
		t.Fatalf("browser 413: %d", resp.StatusCode)
	}
	if resp, _ := e.submit(e.browser(), "/login", url.Values{"username": {"alice"}, "password": {testPassword}}); resp.Request.URL.Path != "/account" {
		t.Fatalf("a normal sign-in: %s", resp.Request.URL)
	}
}

// Finding 5 (low): password guesses are counted per account, whichever
// login name they use: the username and the e-mail share one budget.
func TestSec05LockoutCountsPerAccount(t *testing.T) {
	e := newEnv(t, sqlite(), func(c *config.Config) {
		c.Throttle.Account = config.ThrottlePolicy{FreeAttempts: 10, BaseDelay: time.Second, MaxDelay: time.Minute,
			LockoutAfter: 4, LockoutFor: 15 * time.Minute, Window: time.Hour}
	})
	guess := func(login string) int {
		resp, _ := e.submit(e.browser(), "/login", url.Values{"username": {login}, "password": {"not the password"}})
		return resp.StatusCode
	}
	for _, login := range []string{"alice", "ALICE", "alice@example.com"} {
		if status := guess(login); status != http.StatusUnauthorized {
			t.Fatalf("guess with %s: %d", login, status)
		}
	}
	if status := guess("Alice@Example.com"); status != http.StatusTooManyRequests {
		t.Fatalf("the fourth guess at the account, by another name: %d, want 429", status)
	}
	if resp, _ := e.submit(e.browser(), "/login", url.Values{"username": {"alice"}, "password": {testPassword}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d", resp.StatusCode)
	}
	// Unknown names are throttled per name, like accounts.
	for range 3 {
		guess("nobody")
	}
	if status := guess("nobody"); status != http.StatusTooManyRequests {
		t.Fatalf("unknown name: %d", status)
	}
}

// Finding 13 (info): the language switcher's return target goes through
// the one local-redirect check: tabs, newlines and backslashes that a
// browser would turn into another origin are refused.
func TestSec13LanguageSwitcherStaysLocal(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	for target, want := range map[string]string{
		"/\t/evil.example/":    "/login",
		"/\\evil.example/":     "/login",
		"//evil.example/":      "/login",
		"/\r\n/evil.example/":  "/login",
		"https://evil.example": "/login",
		"/account?x=1":         "/account?x=1",
	} {
		resp := e.send(e.browser(), http.MethodPost, "/lang", url.Values{"lang": {"en"}, "return": {target}})
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("return=%q: %d %q, want %q", target, resp.StatusCode, loc, want)
		}
	}
}

// Finding 16 (info): where a change must be based on the client as read,
// If-Match: * (and a weak tag) is 428, not a pass.
func TestSec16IfMatchStarIsNotTheETagAsRead(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	spec := loadAdminSpec(t, e.issuer)
	ops := e.serviceClient(t, spec, "ops", []string{"admin"}, "portero:admin:read", "portero:admin:write")
	r := ops.want(t, ops.do(t, http.MethodGet, "/clients/reports", nil), http.StatusOK)
	update := map[string]any{"client_name": "Reports v2", "grant_types": []string{"client_credentials"},
		"scopes": []string{"openid"}, "token_format": "opaque"}
	for _, tag := range []string{"*", "W/" + r.header.Get("ETag"), " "} {
		ops.want(t, ops.do(t, http.MethodPut, "/clients/reports", update, "If-Match", tag), http.StatusPreconditionRequired)
	}
	if c, _ := e.store.ClientByID(context.Background(), "reports"); c.Name != "Reports job" {
		t.Fatalf("the client changed: %q", c.Name)
	}
	ops.want(t, ops.do(t, http.MethodPut, "/clients/reports", update, "If-Match", r.header.Get("ETag")), http.StatusOK)
}

// Finding 14 (info): an unknown grant type is unsupported_grant_type
// (RFC 6749 §5.2); a repeated parameter is invalid_request at the token
// and the authorization endpoints (§3.1, §3.2), and the latter does not
// redirect on it.
func TestSec14GrantTypeAndRepeatedParameters(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	status, _, body := e.postForm("/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"password"}})
	wantError(t, status, body, http.StatusBadRequest, "unsupported_grant_type")
	status, _, body = e.postForm("/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"client_credentials", "client_credentials"}})
	wantError(t, status, body, http.StatusBadRequest, "invalid_request")
	code, verifier := e.codeFor(t)
	status, _, body = e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"client_id": {"mobile"}, "redirect_uri": {mobileScheme, "https://evil.example/"}})
	wantError(t, status, body, http.StatusBadRequest, "invalid_request")

	_, challenge := pkcePair()
	resp := e.send(e.browser(), http.MethodGet, "/oauth2/auth?"+merge(challenge, url.Values{"client_id": {"mobile"}, "response_type": {"code"},
		"scope": {"openid"}, "state": {randomString()}, "redirect_uri": {mobileScheme, "http://127.0.0.1/callback"}}).Encode(), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("repeated redirect_uri at /oauth2/auth: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// Finding 15 (info): PKCE is validated with the rest of the authorization
// request, before the login page: a 3-character or ill-formed challenge,
// the plain method, or none for a public client is an error redirect now,
// not after the user signed in.
func TestSec15PKCEValidatedBeforeTheLoginPage(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	_, good := pkcePair()
	for name, extra := range map[string]url.Values{
		"3 characters":     {"code_challenge": {"abc"}, "code_challenge_method": {"S256"}},
		"129 characters":   {"code_challenge": {strings.Repeat("a", 129)}, "code_challenge_method": {"S256"}},
		"outside the set":  {"code_challenge": {strings.Repeat("a", 42) + "+"}, "code_challenge_method": {"S256"}},
		"plain":            {"code_challenge": good["code_challenge"], "code_challenge_method": {"plain"}},
		"no method":        {"code_challenge": good["code_challenge"]},
		"none for public":  {},
		"method, no value": {"code_challenge_method": {"S256"}},
	} {
		resp := e.send(e.browser(), http.MethodGet, strings.TrimPrefix(e.authURL(extra), e.issuer), nil)
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), mobileScheme) ||
			loc.Query().Get("error") != "invalid_request" {
			t.Errorf("%s: %d Location=%q, want an invalid_request redirect to the client", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A good challenge goes to the login page.
	resp := e.send(e.browser(), http.MethodGet, strings.TrimPrefix(e.authURL(good), e.issuer), nil)
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("a good challenge: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// Finding 12 (info): a scope-consent decision answers the flow it was
// taken for: a second request of the same client, parked at the same
// time, still needs its own approval.
func TestSec12ScopeConsentBindsToTheFlow(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	e.createClient(&identity.Client{
		ID: "partner", Name: "Partner app", TokenEndpointAuthMethod: identity.AuthMethodNone,
		RedirectURIs: []string{mobileScheme}, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid", "email"}, TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
	})
	c := e.browser()
	e.signIn(t, c, "alice")
	partner := url.Values{"client_id": {"partner"}, "scope": {"openid email"}}
	_, first := e.authorizeWith(c, partner)
	readAll(t, first)
	_, second := e.authorizeWith(c, partner)
	readAll(t, second)
	if first.Request.URL.Path != "/consent/scopes" || second.Request.URL.Path != "/consent/scopes" {
		t.Fatalf("both requests should wait at the scope page: %s, %s", first.Request.URL, second.Request.URL)
	}
	resp, _ := e.submit(c, "/consent/scopes", url.Values{"flow": {first.Request.URL.Query().Get("flow")}, "decision": {"allow"}})
	if e.redirectQuery(resp).Get("code") == "" {
		t.Fatal("the approved flow got no code")
	}
	// Resuming the other parked flow shows the page again, no code.
	resp, _ = e.page(c, "/oauth2/auth?flow="+second.Request.URL.Query().Get("flow"))
	if resp.Request.URL.Path != "/consent/scopes" || strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatalf("the second flow went through on the first one's approval: %d %s %s", resp.StatusCode, resp.Request.URL, resp.Header.Get("Location"))
	}
}

// Finding 4 (low): URLs Portero itself calls are refused at registration
// when they name loopback, link-local or private addresses, and again at
// connect time on the address dialled; only configuration allows them.
func TestSec04OutboundURLsCannotReachPrivateAddresses(t *testing.T) {
	e := newEnv(t, sqlite(), func(c *config.Config) {
		c.Secrets.ClientRegistration = registrationToken
		c.OAuth.OutboundAllowedNetworks = nil
	})
	for _, uri := range []string{"https://127.0.0.1/bcl", "https://[::1]/bcl", "https://169.254.169.254/latest/meta-data",
		"https://10.0.0.5/bcl", "https://localhost:8443/bcl", "https://[::ffff:127.0.0.1]/bcl"} {
		status, body := e.registerCall(t, http.MethodPost, "/oauth2/register", registrationToken, map[string]any{
			"client_name": "Partner", "grant_types": []string{"client_credentials"}, "scope": "openid", "backchannel_logout_uri": uri})
		if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
			t.Errorf("backchannel_logout_uri %s: %d %v", uri, status, body)
		}
	}

	// Connect time: a client whose URI reaches loopback (set by whatever
	// means, or a name that now resolves there) gets no call, unless the
	// configuration allows the network.
	deliveries := func(e *env) int {
		var got atomic.Int32
		rp := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }))
		defer rp.Close()
		e.createShop(rp.URL + "/backchannel")
		c := e.browser()
		e.signIn(t, c, "alice")
		verifier, resp := e.authorizeWith(c, url.Values{"client_id": {"shop"}})
		e.idTokenForClient(t, resp, verifier, "shop")
		e.submit(c, "/account/sessions/revoke-all", nil)
		e.srv.WaitBackground()
		return int(got.Load())
	}
	if n := deliveries(e); n != 0 {
		t.Fatalf("a loopback back-channel URI was called %d times", n)
	}
	allowed := newEnv(t, sqlite(), nil) // the harness allows 127.0.0.0/8
	if n := deliveries(allowed); n != 1 {
		t.Fatalf("with loopback allowed: %d deliveries, want 1", n)
	}
}

func (e *env) idTokenForClient(t *testing.T, resp *http.Response, verifier, clientID string) {
	t.Helper()
	q := e.redirectQuery(resp)
	status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {mobileScheme}, "client_id": {clientID}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
}

// Also seen by the attack run: /static/ listed its directory; a refresh
// asking for more scopes silently got the originals; http://localhost
// redirect URIs were accepted (RFC 8252 §8.3 wants the IP literal).
func TestSecAlsoSeenStaticListingRefreshScopeAndLocalhostRedirects(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	for _, path := range []string{"/static/", "/static", "/static/../static/"} {
		if status, _, body := get(t, e.issuer+path); status == http.StatusOK || strings.Contains(body, "passkeys.js") {
			t.Errorf("GET %s lists the directory: %d", path, status)
		}
	}
	if status, _, _ := get(t, e.issuer+"/static/passkeys.js"); status != http.StatusOK {
		t.Errorf("a static file: %d", status)
	}

	rt := e.refreshTokenFor(t, e.browser())
	status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {"mobile"}, "scope": {"openid offline_access roles"}})
	wantError(t, status, body, http.StatusBadRequest, "invalid_scope")
	status, _, body = e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {"mobile"}, "scope": {"openid"}})
	if status != http.StatusOK {
		t.Fatalf("a refresh within the granted scopes: %d %v", status, body)
	}

	c := &identity.Client{ID: "native", Name: "Native", TokenEndpointAuthMethod: identity.AuthMethodNone,
		RedirectURIs: []string{"http://localhost:7777/cb"}, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid"}, TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256"}
	if err := c.Validate(nil); err == nil {
		t.Fatal("an http://localhost redirect URI was accepted")
	}
	c.RedirectURIs = []string{"http://127.0.0.1:7777/cb", "http://[::1]/cb"}
	if err := c.Validate(nil); err != nil {
		t.Fatalf("loopback IP literals: %v", err)
	}
}
