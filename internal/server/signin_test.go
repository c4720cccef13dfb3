package server_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/mail"
	"github.com/portero-id/portero/internal/testdb"
)

// The browser sign-in flows over plain HTTP: the pages' forms posted by a
// cookie-keeping client, the result checked as a client sees it (tokens
// and ID token claims). internal/browsertest drives the same pages in
// Chromium, with JavaScript and passkeys.

func sqlite() testdb.Backend { return testdb.Backend{Name: "sqlite", Open: testdb.SQLite} }

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// page GETs path (relative to the issuer) and follows Portero's redirects.
func (e *env) page(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(e.issuer + path)
	if err != nil {
		e.t.Fatal(err)
	}
	resp = e.follow(c, resp)
	return resp, readAll(e.t.(*testing.T), resp)
}

// submit POSTs a form to path and follows Portero's redirects.
func (e *env) submit(c *http.Client, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.PostForm(e.issuer+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp = e.follow(c, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
		return resp, ""
	}
	return resp, readAll(e.t.(*testing.T), resp)
}

var (
	totpSecretPattern = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryPattern   = regexp.MustCompile(`<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>`)
	continuePattern   = regexp.MustCompile(`href="([^"]+)" id="continue"`)
	linkPattern       = regexp.MustCompile(`https?://\S+token=[A-Za-z0-9_-]+`)
)

func match(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page lacks %s:\n%s", re, body)
	}
	return html.UnescapeString(m[len(m)-1])
}

// idTokenFor redeems the code in the client's redirect and returns the ID
// token's claims.
func (e *env) idTokenFor(t *testing.T, resp *http.Response, verifier string) map[string]any {
	t.Helper()
	q := e.redirectQuery(resp)
	if q.Get("code") == "" {
		t.Fatalf("no code in the redirect: %v", q)
	}
	status, body := e.exchange(q.Get("code"), verifier)
	if status != http.StatusOK {
		t.Fatalf("token exchange: %d %v", status, body)
	}
	_, claims := decodeJWT(t, body["id_token"].(string))
	return claims
}

func amrOf(claims map[string]any) []string {
	var out []string
	for _, v := range claims["amr"].([]any) {
		out = append(out, v.(string))
	}
	slices.Sort(out)
	return out
}

// authorizeWith starts an authorization request for the mobile client
// with extra parameters and returns the verifier and the first response
// that is not a redirect inside Portero.
func (e *env) authorizeWith(c *http.Client, extra url.Values) (string, *http.Response) {
	e.t.Helper()
	verifier, challenge := pkcePair()
	resp, err := c.Get(e.authURL(merge(challenge, url.Values{"scope": {"openid"}}, extra)))
	if err != nil {
		e.t.Fatal(err)
	}
	return verifier, e.follow(c, resp)
}

func (e *env) auditTypes(t *testing.T, userID string) []string {
	t.Helper()
	events, err := e.store.AuditEvents(context.Background(), identity.AuditFilter{UserID: userID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		out = append(out, ev.Type)
	}
	return out
}

// TestMFAPolicyEnrolmentTOTPReplayAndRecoveryCodes: a vendor (a role the
// policy names) signs in with a password, is taken through TOTP
// enrolment, gets recovery codes and an MFA ID token; a code is never
// accepted twice; a recovery code signs in once and warns.
func TestMFAPolicyEnrolmentTOTPReplayAndRecoveryCodes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, func(c *config.Config) { c.Accounts.MFARequiredRoles = []string{"vendor"} })
		c := e.browser()
		verifier, challenge := pkcePair()
		resp := e.login(c, e.authURL(merge(challenge, url.Values{"scope": {"openid"}})), "alice", testPassword)
		body := readAll(t, resp)
		if resp.Request.URL.Path != "/login/enroll" {
			t.Fatalf("a vendor without a second factor should enrol, got %s", resp.Request.URL)
		}
		// The page shows a secret; the wrong code below replaces it.
		match(t, totpSecretPattern, body)
		flow := resp.Request.URL.Query().Get("flow")

		// A wrong first code is refused and a new secret is shown.
		resp, body = e.submit(c, "/login/enroll", url.Values{"flow": {flow}, "code": {"000000"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong enrolment code: %d", resp.StatusCode)
		}
		secret := match(t, totpSecretPattern, body)
		code, err := identity.TOTPCode(secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, body = e.submit(c, "/login/enroll", url.Values{"flow": {flow}, "code": {code}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("enrolment: %d %s", resp.StatusCode, body)
		}
		codes := recoveryPattern.FindAllStringSubmatch(body, -1)
		if len(codes) != 10 {
			t.Fatalf("want 10 recovery codes, got %d", len(codes))
		}
		resp, err = c.Get(e.issuer + match(t, continuePattern, body))
		if err != nil {
			t.Fatal(err)
		}
		claims := e.idTokenFor(t, e.follow(c, resp), verifier)
		if claims["acr"] != identity.ACRMFA || !slices.Equal(amrOf(claims), []string{"mfa", "otp", "pwd"}) {
			t.Fatalf("after enrolment: acr %v amr %v", claims["acr"], claims["amr"])
		}

		// A new browser: password, then the TOTP code already used.
		c2 := e.browser()
		verifier, challenge = pkcePair()
		resp = e.login(c2, e.authURL(merge(challenge, url.Values{"scope": {"openid"}})), "alice", testPassword)
		readAll(t, resp)
		if resp.Request.URL.Path != "/login/mfa" {
			t.Fatalf("a user with TOTP should be asked for it, got %s", resp.Request.URL)
		}
		flow = resp.Request.URL.Query().Get("flow")
		resp, body = e.submit(c2, "/login/mfa", url.Values{"flow": {flow}, "method": {"totp"}, "code": {code}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `role="alert"`) {
			t.Fatalf("a replayed TOTP code must be refused: %d", resp.StatusCode)
		}

		// A recovery code works once, and the page says how many are left.
		recovery := codes[0][1]
		resp, body = e.submit(c2, "/login/mfa", url.Values{"flow": {flow}, "method": {"recovery"}, "code": {strings.ToUpper(recovery)}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "9") {
			t.Fatalf("recovery code: %d %s", resp.StatusCode, body)
		}
		resp, err = c2.Get(e.issuer + match(t, continuePattern, body))
		if err != nil {
			t.Fatal(err)
		}
		claims = e.idTokenFor(t, e.follow(c2, resp), verifier)
		if claims["acr"] != identity.ACRMFA {
			t.Fatalf("recovery code sign-in: acr %v", claims["acr"])
		}
		c3 := e.browser()
		resp = e.login(c3, e.authURL(merge(challenge, url.Values{"scope": {"openid"}})), "alice", testPassword)
		readAll(t, resp)
		flow = resp.Request.URL.Query().Get("flow")
		if resp, _ = e.submit(c3, "/login/mfa", url.Values{"flow": {flow}, "method": {"recovery"}, "code": {recovery}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a used recovery code must be refused: %d", resp.StatusCode)
		}

		types := e.auditTypes(t, e.userID)
		for _, want := range []string{identity.AuditTOTPEnrolled, identity.AuditRecoveryGenerated, identity.AuditRecoveryCodeUsed,
			identity.AuditMFAFailure, identity.AuditLoginSuccess} {
			if !slices.Contains(types, want) {
				t.Errorf("audit trail lacks %s: %v", want, types)
			}
		}
	})
}

// enrolTOTP signs the browser in as alice (password only) and enrols TOTP
// from the account page; it returns the secret.
func (e *env) enrolTOTP(t *testing.T, c *http.Client) string {
	t.Helper()
	resp, _ := e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})
	if resp.Request.URL.Path != "/account" {
		t.Fatalf("sign-in without a flow should land on /account, got %s", resp.Request.URL)
	}
	_, body := e.page(c, "/account/totp")
	secret := match(t, totpSecretPattern, body)
	code, _ := identity.TOTPCode(secret, time.Now().Add(-30*time.Second))
	resp, body = e.submit(c, "/account/totp", url.Values{"code": {code}})
	if resp.StatusCode != http.StatusOK || len(recoveryPattern.FindAllString(body, -1)) != 10 {
		t.Fatalf("TOTP enrolment on the account page: %d %s", resp.StatusCode, body)
	}
	return secret
}

// TestAcrValuesStepUp: a password session meets acr_values=mfa only after
// a second factor at /login/mfa; prompt=none gets interaction_required;
// the phishing-resistant class without a passkey is unmet.
func TestAcrValuesStepUp(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	secret := e.enrolTOTP(t, c)

	// A fresh browser signs in with a password only... which is not
	// possible any more: TOTP is enrolled, so sign-in asks for it. Use a
	// password-only session by signing in before enrolment instead: c is
	// still the session that enrolled (acr pwd).
	_, resp := e.authorizeWith(c, url.Values{"acr_values": {identity.ACRMFA}, "prompt": {"none"}})
	if q := e.redirectQuery(resp); q.Get("error") != "interaction_required" {
		t.Fatalf("prompt=none with a weaker session: %v", q)
	}
	verifier, resp := e.authorizeWith(c, url.Values{"acr_values": {identity.ACRMFA}})
	body := readAll(t, resp)
	if resp.Request.URL.Path != "/login/mfa" {
		t.Fatalf("acr_values=mfa should step up at /login/mfa, got %d %s", resp.StatusCode, resp.Request.URL)
	}
	flow := resp.Request.URL.Query().Get("flow")
	_ = body
	code, _ := identity.TOTPCode(secret, time.Now())
	resp, _ = e.submit(c, "/login/mfa", url.Values{"flow": {flow}, "method": {"totp"}, "code": {code}})
	claims := e.idTokenFor(t, resp, verifier)
	if claims["acr"] != identity.ACRMFA || !slices.Contains(amrOf(claims), "otp") {
		t.Fatalf("after step-up: acr %v amr %v", claims["acr"], claims["amr"])
	}

	// The MFA session already satisfies a password-level request, and any
	// of several acr_values.
	verifier, resp = e.authorizeWith(c, url.Values{"acr_values": {"urn:example:unknown " + identity.ACRPassword}})
	if claims := e.idTokenFor(t, resp, verifier); claims["acr"] != identity.ACRMFA {
		t.Fatalf("acr %v", claims["acr"])
	}

	// No passkey: the phishing-resistant class cannot be met.
	_, resp = e.authorizeWith(c, url.Values{"acr_values": {identity.ACRPhishingResistant}})
	if q := e.redirectQuery(resp); q.Get("error") != "unmet_authentication_requirements" {
		t.Fatalf("phr without a passkey: %v", q)
	}
}

// TestPromptLoginAndMaxAge: a signed-in browser is asked to sign in again
// for prompt=login and for an exceeded max_age, and auth_time moves on.
func TestPromptLoginAndMaxAge(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	verifier, challenge := pkcePair()
	first := e.idTokenFor(t, e.login(c, e.authURL(merge(challenge, url.Values{"scope": {"openid"}})), "alice", testPassword), verifier)

	// Signed in: no login page.
	verifier, resp := e.authorizeWith(c, nil)
	e.idTokenFor(t, resp, verifier)

	for _, extra := range []url.Values{{"prompt": {"login"}}, {"max_age": {"0"}}} {
		_, resp := e.authorizeWith(c, extra)
		readAll(t, resp)
		if resp.Request.URL.Path != "/login" {
			t.Fatalf("%v should show the login page, got %s", extra, resp.Request.URL)
		}
	}
	time.Sleep(1100 * time.Millisecond) // auth_time has second precision
	verifier, challenge = pkcePair()
	again := e.idTokenFor(t, e.login(c, e.authURL(merge(challenge, url.Values{"scope": {"openid"}, "prompt": {"login"}})), "alice", testPassword), verifier)
	if again["auth_time"].(float64) <= first["auth_time"].(float64) {
		t.Fatalf("auth_time did not move: %v then %v", first["auth_time"], again["auth_time"])
	}
	// login_hint pre-fills the username.
	_, resp = e.authorizeWith(e.browser(), url.Values{"login_hint": {"alice@example.com"}})
	if body := readAll(t, resp); !strings.Contains(body, `value="alice@example.com"`) {
		t.Fatalf("login_hint not pre-filled:\n%s", body)
	}
}

// TestLockout: repeated failures throttle the account (429, Retry-After,
// a translated message), the right password is refused while locked, and
// the lockout is audited once.
func TestLockout(t *testing.T) {
	e := newEnv(t, sqlite(), func(c *config.Config) {
		c.Throttle.Account = config.ThrottlePolicy{FreeAttempts: 2, BaseDelay: time.Minute, MaxDelay: time.Hour,
			LockoutAfter: 4, LockoutFor: 15 * time.Minute, Window: time.Hour}
	})
	try := func(password string) (*http.Response, string) {
		return e.submit(e.browser(), "/login", url.Values{"username": {"alice"}, "password": {password}})
	}
	for i := range 2 {
		if resp, _ := try("wrong password " + string(rune('a'+i))); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("free attempt %d: %d", i, resp.StatusCode)
		}
	}
	// The third failure starts the back-off: the next attempt, even with
	// the right password, waits.
	try("wrong password c")
	resp, body := try(testPassword)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "minuto") {
		t.Fatalf("backed-off attempt: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	types := e.auditTypes(t, e.userID)
	if n := countOf(types, identity.AuditLoginFailure); n != 3 {
		t.Fatalf("want 3 failures audited, got %d: %v", n, types)
	}
	// A differently spelt login name is the same account.
	resp, _ = e.submit(e.browser(), "/login", url.Values{"username": {"  ALICE "}, "password": {testPassword}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("case variant of a throttled name: %d", resp.StatusCode)
	}
	// English pages for an English browser.
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, r); r.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed attempts") || r.Header.Get("Content-Language") != "en" {
		t.Fatalf("English lockout page: %d %s", r.StatusCode, body)
	}
}

// lastMail is the last message sent to addr, once the mail the pages
// send in the background has gone out.
func (e *env) lastMail(addr string) (mail.Sent, bool) {
	e.srv.WaitBackground()
	return e.mails.Last(addr)
}

func countOf(list []string, v string) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}

// TestLockoutAfterRepeatedFailures reaches the lockout proper with a
// policy without back-off, and checks its single audit event; with the
// counters in memory and, when PORTERO_TEST_REDIS_URL is set, in Redis,
// where a second replica sees the lockout.
func TestLockoutAfterRepeatedFailures(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testLockout(t, "") })
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv("PORTERO_TEST_REDIS_URL")
		if url == "" {
			t.Skip("set PORTERO_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run the Redis throttle test")
		}
		testLockout(t, url)
	})
}

func testLockout(t *testing.T, redisURL string) {
	prefix := "portero-test:" + randomString() + ":"
	tweak := func(c *config.Config) {
		c.Throttle.Account = config.ThrottlePolicy{FreeAttempts: 10, BaseDelay: time.Second, MaxDelay: time.Minute,
			LockoutAfter: 3, LockoutFor: 15 * time.Minute, Window: time.Hour}
		c.Redis.URL, c.Redis.KeyPrefix = redisURL, prefix
	}
	e := newEnv(t, sqlite(), tweak)
	var last *http.Response
	for range 3 {
		last, _ = e.submit(e.browser(), "/login", url.Values{"username": {"alice"}, "password": {"not the password"}})
	}
	if last.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the locking failure: %d", last.StatusCode)
	}
	if resp, _ := e.submit(e.browser(), "/login", url.Values{"username": {"alice"}, "password": {testPassword}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d", resp.StatusCode)
	}
	if n := countOf(e.auditTypes(t, e.userID), identity.AuditLockout); n != 1 {
		t.Fatalf("want one lockout event, got %d", n)
	}
	if redisURL != "" {
		// Another replica sharing the Redis server refuses alice too.
		other := e.replica(t, tweak)
		if resp, _ := other.submit(other.browser(), "/login", url.Values{"username": {"alice"}, "password": {testPassword}}); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("the other replica let a locked account in: %d", resp.StatusCode)
		}
		opts, _ := redis.ParseURL(redisURL)
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("no throttle keys under %s: %v", prefix, err)
		}
		rdb.Del(context.Background(), keys...)
	}
}

// normalizePage strips what legitimately differs between two answers: the
// echoed username.
func normalizePage(body, username string) string {
	return strings.ReplaceAll(body, username, "USERNAME")
}

// TestNoUserEnumeration: sign-in, password reset and sign-up answer a
// known and an unknown account with the same status and page. (That both
// cost one argon2id verification is measured in BenchmarkSignIn.)
func TestNoUserEnumeration(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	type answer struct {
		status int
		body   string
	}
	ask := func(path string, form url.Values, echoed string) answer {
		resp, body := e.submit(e.browser(), path, form)
		return answer{resp.StatusCode, normalizePage(body, echoed)}
	}
	cases := []struct {
		name           string
		path           string
		known, unknown url.Values
		knownEcho      string
		unknownEcho    string
	}{
		{"sign-in", "/login",
			url.Values{"username": {"alice"}, "password": {"a wrong password"}},
			url.Values{"username": {"mallory"}, "password": {"a wrong password"}}, "alice", "mallory"},
		{"reset", "/password/forgot", url.Values{"login": {"alice@example.com"}}, url.Values{"login": {"nobody@example.com"}}, "", ""},
		{"sign-up", "/signup",
			url.Values{"username": {"alice2"}, "email": {"alice@example.com"}, "password": {"a fine long passphrase"}},
			url.Values{"username": {"newbie"}, "email": {"newbie@example.com"}, "password": {"a fine long passphrase"}}, "", ""},
	}
	for _, tc := range cases {
		known, unknown := ask(tc.path, tc.known, tc.knownEcho), ask(tc.path, tc.unknown, tc.unknownEcho)
		if known != unknown {
			t.Errorf("%s: known account answered %d, unknown %d; bodies equal: %v\nknown:\n%s\nunknown:\n%s",
				tc.name, known.status, unknown.status, known.body == unknown.body, known.body, unknown.body)
		}
	}
	// The messages differ only in the mailbox: alice is told she already
	// has an account, the newcomer gets a verification link.
	if m, ok := e.lastMail("alice@example.com"); !ok || strings.Contains(m.Text, "verify-email") {
		t.Errorf("existing account: %+v", m)
	}
	if m, ok := e.lastMail("newbie@example.com"); !ok || !strings.Contains(m.Text, "/verify-email?token=") {
		t.Errorf("new account: %+v", m)
	}
}

// TestSignUpVerifyAndReset walks sign-up, e-mail verification and a
// password reset through the mails Portero sends.
func TestSignUpVerifyAndReset(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	const password = "mi perro se llama Tornillo"
	form := url.Values{"username": {"carmen"}, "email": {"carmen@example.co"}, "password": {"password1234"}}
	if resp, body := e.submit(c, "/signup", form); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "común") {
		t.Fatalf("a common password: %d %s", resp.StatusCode, body)
	}
	form.Set("password", "carmen@example.co")
	if resp, _ := e.submit(c, "/signup", form); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the e-mail as password: %d", resp.StatusCode)
	}
	form.Set("password", password)
	if resp, _ := e.submit(c, "/signup", form); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-up: %d", resp.StatusCode)
	}
	u, err := e.store.UserByLogin(context.Background(), "carmen")
	if err != nil || u.EmailVerifiedAt != nil || !slices.Equal(u.Roles, []string{"customer"}) {
		t.Fatalf("new user: %+v %v", u, err)
	}
	m, _ := e.lastMail("carmen@example.co")
	link, _ := url.Parse(linkPattern.FindString(m.Text))
	if link == nil {
		t.Fatalf("no link in %q", m.Text)
	}
	// GET shows a button (a mail scanner must not spend the token)...
	_, body := e.page(c, link.RequestURI())
	token := link.Query().Get("token")
	if !strings.Contains(body, token) {
		t.Fatalf("verification page: %s", body)
	}
	if u, _ := e.store.UserByID(context.Background(), u.ID); u.EmailVerifiedAt != nil {
		t.Fatal("a GET verified the e-mail")
	}
	// ...and the POST verifies, once.
	resp, _ := e.submit(c, "/verify-email", url.Values{"token": {token}})
	if resp.Request.URL.Path != "/login" || resp.Request.URL.Query().Get("notice") != "verified" {
		t.Fatalf("after verification: %s", resp.Request.URL)
	}
	if u, _ := e.store.UserByID(context.Background(), u.ID); u.EmailVerifiedAt == nil {
		t.Fatal("e-mail not verified")
	}
	if resp, _ := e.submit(c, "/verify-email", url.Values{"token": {token}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a spent verification link: %d", resp.StatusCode)
	}

	// Sign in, then reset the password from another browser: the reset
	// ends the first browser's session.
	if resp, _ := e.submit(c, "/login", url.Values{"username": {"carmen@example.co"}, "password": {password}}); resp.Request.URL.Path != "/account" {
		t.Fatalf("sign-in: %s", resp.Request.URL)
	}
	other := e.browser()
	e.submit(other, "/password/forgot", url.Values{"login": {"carmen"}})
	m, _ = e.lastMail("carmen@example.co")
	link, _ = url.Parse(linkPattern.FindString(m.Text))
	if link == nil || link.Path != "/password/reset" {
		t.Fatalf("reset mail: %q", m.Text)
	}
	token = link.Query().Get("token")
	if resp, _ := e.submit(other, "/password/reset", url.Values{"token": {token}, "password": {"short"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a too-short new password: %d", resp.StatusCode)
	}
	const newPassword = "el nuevo secreto de Carmen"
	resp, _ = e.submit(other, "/password/reset", url.Values{"token": {token}, "password": {newPassword}})
	if resp.Request.URL.Query().Get("notice") != "reset" {
		t.Fatalf("after reset: %d %s", resp.StatusCode, resp.Request.URL)
	}
	if resp, _ := e.submit(other, "/password/reset", url.Values{"token": {token}, "password": {newPassword + "!"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a spent reset link: %d", resp.StatusCode)
	}
	if resp, _ := e.page(c, "/account"); resp.Request.URL.Path != "/login" {
		t.Fatalf("the old session survived the reset: %s", resp.Request.URL)
	}
	if resp, _ := e.submit(c, "/login", url.Values{"username": {"carmen"}, "password": {password}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password after reset: %d", resp.StatusCode)
	}
	if resp, _ := e.submit(c, "/login", url.Values{"username": {"carmen"}, "password": {newPassword}}); resp.Request.URL.Path != "/account" {
		t.Fatalf("new password: %s", resp.Request.URL)
	}
	types := e.auditTypes(t, u.ID)
	for _, want := range []string{identity.AuditSignup, identity.AuditEmailVerified, identity.AuditPasswordResetSent, identity.AuditPasswordReset} {
		if !slices.Contains(types, want) {
			t.Errorf("audit trail lacks %s: %v", want, types)
		}
	}
}

// TestAccountPage: change password (needs the current one), sessions
// listed and revoked, sign out everywhere, logout.
func TestAccountPage(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	a, b := e.browser(), e.browser()
	for _, c := range []*http.Client{a, b} {
		if resp, _ := e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}}); resp.Request.URL.Path != "/account" {
			t.Fatalf("sign-in: %s", resp.Request.URL)
		}
	}
	_, body := e.page(a, "/account")
	if n := strings.Count(body, `action="/account/sessions/revoke"`); n != 2 {
		t.Fatalf("want 2 sessions listed, got %d", n)
	}
	if !strings.Contains(body, `id="profile-username">alice<`) {
		t.Fatal("profile missing")
	}
	resp, body := e.submit(a, "/account/password", url.Values{"current_password": {"not it at all"}, "new_password": {"a brand new passphrase"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("wrong current password: %d", resp.StatusCode)
	}
	resp, _ = e.submit(a, "/account/password", url.Values{"current_password": {testPassword}, "new_password": {"a brand new passphrase"}})
	if resp.Request.URL.Query().Get("notice") != "password_changed" {
		t.Fatalf("change password: %d %s", resp.StatusCode, resp.Request.URL)
	}
	// The other browser was signed out by the change; this one stays.
	if resp, _ := e.page(b, "/account"); resp.Request.URL.Path != "/login" {
		t.Fatalf("other session survived a password change: %s", resp.Request.URL)
	}
	e.submit(b, "/login", url.Values{"username": {"alice"}, "password": {"a brand new passphrase"}})
	resp, _ = e.submit(a, "/account/sessions/revoke-all", nil)
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("sign out everywhere: %s", resp.Request.URL)
	}
	for _, c := range []*http.Client{a, b} {
		if resp, _ := e.page(c, "/account"); resp.Request.URL.Path != "/login" {
			t.Fatalf("a session survived sign-out everywhere: %s", resp.Request.URL)
		}
	}
	types := e.auditTypes(t, e.userID)
	for _, want := range []string{identity.AuditPasswordChanged, identity.AuditSessionsRevoked} {
		if !slices.Contains(types, want) {
			t.Errorf("audit trail lacks %s: %v", want, types)
		}
	}
}

// TestLanguage: es-CO by default, en for an English browser, and the
// switcher's choice wins and persists.
func TestLanguage(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	get := func(c *http.Client, accept string) (string, string) {
		req, _ := http.NewRequest(http.MethodGet, e.issuer+"/login", nil)
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		return resp.Header.Get("Content-Language"), body
	}
	c := e.browser()
	if lang, body := get(c, ""); lang != "es-CO" || !strings.Contains(body, `<html lang="es-CO">`) || !strings.Contains(body, "Iniciar sesión") {
		t.Fatalf("default: %s", lang)
	}
	if lang, body := get(c, "en-GB,en;q=0.8"); lang != "en" || !strings.Contains(body, "Sign in") {
		t.Fatalf("English browser: %s", lang)
	}
	if lang, _ := get(c, "es-MX,es;q=0.9"); lang != "es-CO" {
		t.Fatalf("Mexican Spanish: %s", lang)
	}
	resp, _ := e.submit(c, "/lang", url.Values{"lang": {"en"}, "return": {"/login"}})
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("switcher went to %s", resp.Request.URL)
	}
	if lang, _ := get(c, "es-CO"); lang != "en" {
		t.Fatalf("the switcher's choice must win: %s", lang)
	}
	// The switcher never redirects off-site.
	for _, bad := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example"} {
		resp, err := e.browser().PostForm(e.issuer+"/lang", url.Values{"lang": {"en"}, "return": {bad}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
			t.Fatalf("return %q redirected to %q", bad, loc)
		}
	}
}

// TestFactorChangesNeedAFreshSignIn: a session older than a quarter of an
// hour cannot add or remove second factors or recovery codes; signing in
// again (with login_hint) lets the user go on.
func TestFactorChangesNeedAFreshSignIn(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})
	e.advance(20 * time.Minute)
	noFollow := func(method, path string) *http.Response {
		req, _ := http.NewRequest(method, e.issuer+path, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/account/totp"}, {http.MethodPost, "/account/totp"}, {http.MethodPost, "/account/totp/remove"},
		{http.MethodPost, "/account/passkeys/remove"}, {http.MethodPost, "/account/recovery-codes"},
	} {
		resp := noFollow(tc.method, tc.path)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?notice=reauth&login_hint=alice" {
			t.Errorf("%s %s with a stale session: %d %q", tc.method, tc.path, resp.StatusCode, loc)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/webauthn/register/begin", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"reauth_required"`) {
		t.Errorf("passkey registration with a stale session: %d %s", resp.StatusCode, body)
	}
	// The account page itself still works, and signing in again unlocks.
	if resp, _ := e.page(c, "/account"); resp.Request.URL.Path != "/account" {
		t.Fatalf("account page: %s", resp.Request.URL)
	}
	e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})
	if resp, body := e.page(c, "/account/totp"); resp.StatusCode != http.StatusOK || !totpSecretPattern.MatchString(body) {
		t.Fatalf("TOTP setup after signing in again: %d", resp.StatusCode)
	}
}

// TestPolicyUsersKeepTheirLastFactor: a vendor (MFA required) cannot remove
// their only second factor.
func TestPolicyUsersKeepTheirLastFactor(t *testing.T) {
	e := newEnv(t, sqlite(), func(c *config.Config) { c.Accounts.MFARequiredRoles = []string{"vendor"} })
	c := e.browser()
	resp, body := e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})
	if resp.Request.URL.Path != "/login/enroll" {
		t.Fatalf("enrolment expected, got %s", resp.Request.URL)
	}
	code, _ := identity.TOTPCode(match(t, totpSecretPattern, body), time.Now())
	if resp, _ = e.submit(c, "/login/enroll", url.Values{"code": {code}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("enrol: %d", resp.StatusCode)
	}
	if resp, _ = e.submit(c, "/account/totp/remove", nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("removing the only factor: %d", resp.StatusCode)
	}
	if f, _ := e.store.SecondFactors(context.Background(), e.userID); !f.TOTP {
		t.Fatal("the only factor was removed")
	}
}
