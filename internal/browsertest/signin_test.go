package browsertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
)

// startAt opens the authorization request in the browser and checks that
// Portero shows its sign-in page for it; it returns the flow id.
func startAt(b *browser, a *authz) string {
	b.t.Helper()
	b.open(a.url)
	u := b.wantPage("/login")
	flow := u.Query().Get("flow")
	if flow == "" {
		b.fatalf("the dispatcher sent the browser to /login without a flow")
	}
	return flow
}

// TestSignUpVerifyEmailAndSignIn: from an application's sign-in, a new
// user signs up, follows the e-mailed verification link, signs in with the
// password and the application gets tokens for them.
func TestSignUpVerifyEmailAndSignIn(t *testing.T) {
	e := newEnv(t, nil)
	b := newBrowser(t, e, "es-CO")
	a := e.authorize(nil)
	flow := startAt(b, a)

	b.click(`a[href^="/signup"]`)
	if u := b.wantPage("/signup"); u.Query().Get("flow") != flow {
		b.fatalf("the sign-up link lost the flow")
	}
	b.shotBoth("signup")

	const username, email, password = "carla", "carla@example.com", "violet-harmonica-trellis-42"
	b.fill("#username", username)
	b.fill("#email", email)
	b.fill("#password", password)
	if status := b.click(`form[action="/signup"] button[type=submit]`); status != http.StatusOK {
		b.fatalf("sign-up answered %d", status)
	}
	if got, want := b.text("h1"), T(t, b.lang, "checkmail.title"); got != want {
		b.fatalf("after sign-up: heading %q, want %q", got, want)
	}

	msg, ok := e.mails.Last(email)
	if !ok {
		t.Fatal("no verification mail was sent")
	}
	link := regexp.MustCompile(`https?://\S+/verify-email\?token=[A-Za-z0-9_%-]+`).FindString(msg.Text)
	if !strings.HasPrefix(link, e.issuer+"/") {
		t.Fatalf("no verification link to %s in the mail:\n%s", e.issuer, msg.Text)
	}
	b.open(link)
	b.wantPage("/verify-email")
	b.click(`form[action="/verify-email"] button[type=submit]`)
	u := b.wantPage("/login")
	if u.Query().Get("notice") != "verified" || u.Query().Get("flow") != flow {
		b.fatalf("after verification: want /login?notice=verified with the flow")
	}
	if got, want := b.text("p.notice"), T(t, b.lang, "notice.verified"); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	user, err := e.store.UserByLogin(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	if user.EmailVerifiedAt == nil {
		t.Error("the address is not marked verified")
	}

	b.signIn(username, password)
	// A new account meets the consent page (Ley 1581): nothing ticked,
	// the required purpose ticked by the user, then "Autorizo".
	b.wantPage("/consent")
	b.shotBoth("consent")
	if b.visible(`input[type=checkbox]:checked`) {
		b.fatalf("the consent page has a pre-ticked box")
	}
	b.clickHere(`#purpose-account`)
	evalJS[string](b, `document.getElementById("birth_date").value = "1990-05-01"`)
	b.click(`#accept`)
	b.wantApp()
	c := e.redeem(a)
	c.wantACR(t, acrPassword)
	c.wantAMR(t, true, "pwd")
	c.wantAuthTimeRecent(t)
	if c.Subject != user.ID {
		t.Errorf("sub %q, want the new user %q", c.Subject, user.ID)
	}

	// The proof of that authorization: the account's data page lists it,
	// the printable receipt shows the texts, and the JSON receipt carries
	// the ledger hash the page shows.
	b.open(e.issuer + "/account/data")
	b.wantPage("/account/data")
	b.shotBoth("mydata")
	b.click(`#consent-history a[href^="/account/data/receipts/"]`)
	receipt := b.url()
	if !strings.HasPrefix(receipt.Path, "/account/data/receipts/") {
		b.fatalf("expected a receipt page")
	}
	b.checkPage()
	b.shot("receipt")
	if !b.visible("#receipt-policy") || !b.visible("#receipt-purposes") {
		b.fatalf("the receipt lacks the policy text or the purposes")
	}
	body := evalJS[string](b, fmt.Sprintf(`(() => { const x = new XMLHttpRequest(); x.open("GET", %q, false); x.send(); return x.responseText })()`,
		receipt.Path+".json"))
	var rc struct {
		Hash    string `json:"hash"`
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal([]byte(body), &rc); err != nil || rc.Subject != user.ID || len(rc.Hash) != 64 {
		t.Fatalf("JSON receipt: %v %s", err, body)
	}
	if !strings.Contains(b.pageText(), rc.Hash) {
		t.Errorf("the printable receipt does not show the ledger hash %s", rc.Hash)
	}
}

// TestPasswordSignIn: a seeded customer signs in with a password (after
// one wrong try) and the application gets tokens.
func TestPasswordSignIn(t *testing.T) {
	e := newEnv(t, nil)
	user := e.createUser("dana", "dana@example.com", "customer")
	b := newBrowser(t, e, "es-CO")
	a := e.authorize(nil)
	startAt(b, a)
	b.waitVisible("#passkey-login") // the script offers passkeys
	if got := evalJS[string](b, `document.querySelector("#username").autocomplete`); got != "username webauthn" {
		t.Errorf("username autocomplete %q, want passkey autofill", got)
	}
	for _, href := range []string{"/password/forgot", "/signup?flow="} {
		if !evalJS[bool](b, `!!document.querySelector('a[href^="`+href+`"]')`) {
			t.Errorf("the sign-in page has no link to %s", href)
		}
	}
	b.shotBoth("login")

	if status := b.signIn("dana", "not the password"); status != http.StatusUnauthorized {
		b.fatalf("a wrong password answered %d, want 401", status)
	}
	b.wantPage("/login")
	if got, want := b.text(`p.error[role=alert]`), T(t, b.lang, "login.failed"); got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if e.app.count() != a.seen {
		t.Fatal("the app was called after a wrong password")
	}

	b.signIn("dana", testPassword)
	b.wantApp()
	c := e.redeem(a)
	c.wantACR(t, acrPassword)
	c.wantAMR(t, true, "pwd")
	c.wantAuthTimeRecent(t)
	if c.Subject != user.ID || c.PreferredUsername != "dana" {
		t.Errorf("sub %q preferred_username %q, want %q dana", c.Subject, c.PreferredUsername, user.ID)
	}
}

// TestLockout: wrong passwords lock the account; the page says so (429,
// translated), the right password is refused while locked, the app gets
// nothing, and the lockout is audited once.
func TestLockout(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Throttle.Account = config.ThrottlePolicy{FreeAttempts: 2, BaseDelay: time.Second, MaxDelay: time.Minute,
			LockoutAfter: 3, LockoutFor: 15 * time.Minute, Window: time.Hour}
	})
	user := e.createUser("lena", "lena@example.com", "customer")
	b := newBrowser(t, e, "es-CO")
	a := e.authorize(nil)
	startAt(b, a)

	for i, want := range []int64{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		if status := b.signIn("lena", fmt.Sprintf("wrong password %d", i)); status != want {
			b.fatalf("wrong password #%d answered %d, want %d", i+1, status, want)
		}
	}
	b.wantPage("/login")
	if got, want := b.text(`p.error[role=alert]`), T(t, b.lang, "login.locked", 15); got != want {
		t.Errorf("locked message %q, want %q", got, want)
	}
	b.shot("lockout")

	// The right password, from an English browser: still locked.
	b.setLang("en")
	if status := b.signIn("lena", testPassword); status != http.StatusTooManyRequests {
		b.fatalf("the right password while locked answered %d, want 429", status)
	}
	if got, want := b.text(`p.error[role=alert]`), T(t, "en", "login.locked", 15); got != want {
		t.Errorf("locked message %q, want %q", got, want)
	}
	b.shot("lockout")
	if e.app.count() != a.seen {
		t.Error("the app was called while the account was locked")
	}

	types := e.auditTypes(user.ID)
	if n := countOf(types, identity.AuditLockout); n != 1 {
		t.Errorf("want one %s audit event, got %d: %v", identity.AuditLockout, n, types)
	}
	if n := countOf(types, identity.AuditLoginFailure); n != 3 {
		t.Errorf("want 3 %s audit events, got %d: %v", identity.AuditLoginFailure, n, types)
	}
	if slices.Contains(types, identity.AuditLoginSuccess) {
		t.Errorf("a sign-in succeeded while locked: %v", types)
	}
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

// TestLanguageSwitcherKeepsTheFlow: switching the language with the
// footer's switcher in the middle of an application's sign-in shows the
// page in that language and keeps the sign-in going back to the app.
func TestLanguageSwitcherKeepsTheFlow(t *testing.T) {
	e := newEnv(t, nil)
	e.createUser("ines", "ines@example.com", "customer")
	b := newBrowser(t, e, "es-CO")
	a := e.authorize(nil)
	flow := startAt(b, a)

	b.lang = "en" // what the page must now be in
	b.click(`footer button[name=lang][value=en]`)
	u := b.wantPage("/login")
	if got := u.Query().Get("flow"); got != flow {
		b.fatalf("the language switcher lost the application's sign-in: back on %s, want flow=%s (signing in now would end on /account, not at the app)", u.RequestURI(), flow)
	}
	b.signIn("ines", testPassword)
	b.wantApp()
	e.redeem(a).wantACR(t, acrPassword)
}

// TestProofOfWorkUnderStuffing: once a stuffing wave has marked the
// network, the sign-in form carries a challenge; the page's script solves
// it within the strict CSP, and the person signs in as usual.
func TestProofOfWorkUnderStuffing(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.RateLimits = config.Defaults().RateLimits
		c.Throttle.IP.FreeAttempts = 1000 // this test's guesses all come from 127.0.0.1
	})
	e.createUser("erin", "erin@example.com", "customer")
	for i := range 25 {
		resp, err := http.PostForm(e.issuer+"/login", url.Values{"username": {fmt.Sprintf("victim%d", i)}, "password": {"Winter2026!"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	b := newBrowser(t, e, "en")
	a := e.authorize(nil)
	startAt(b, a)
	if !evalJS[bool](b, `!!document.querySelector("#pow-challenge") && !!document.querySelector('script[src="/static/pow.js"]')`) {
		b.fatalf("no proof-of-work challenge on the sign-in page of a marked network")
	}
	b.signIn("erin", testPassword)
	b.wantApp()
	if c := e.redeem(a); c.PreferredUsername != "erin" {
		t.Fatalf("signed in as %q", c.PreferredUsername)
	}
}
