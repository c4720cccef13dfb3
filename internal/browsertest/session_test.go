package browsertest

import (
	"net/url"
	"testing"
	"time"
)

// TestLogout: signing out on the account page ends the session: the
// sign-in page says so, and a prompt=none request comes back to the app
// with login_required.
func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	e.createUser("olga", "olga@example.com", "customer")
	b := newBrowser(t, e, "es-CO")
	a := e.authorize(nil)
	startAt(b, a)
	b.signIn("olga", testPassword)
	b.wantApp()
	e.redeem(a)

	b.open(e.issuer + "/account")
	b.wantPage("/account")
	if got := b.text("#profile-username"); got != "olga" {
		t.Errorf("account page for %q, want olga", got)
	}
	if n := len(b.texts("#session-list > li")); n != 1 {
		t.Errorf("want this one session listed, got %d", n)
	}
	b.shotBoth("account")

	b.click("button#logout")
	if u := b.wantPage("/login"); u.Query().Get("notice") != "loggedout" {
		b.fatalf("after sign-out: want /login?notice=loggedout")
	}
	if got, want := b.text("p.notice"), T(t, b.lang, "notice.loggedout"); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}

	a = e.authorize(map[string]string{"prompt": "none"})
	b.open(a.url)
	b.wantApp()
	if got := e.callbackError(a); got != "login_required" {
		t.Errorf("prompt=none after sign-out: error=%q, want login_required", got)
	}
	b.open(e.issuer + "/account")
	b.wantPage("/login")
}

// TestPromptLoginAndMaxAge: a signed-in browser gets tokens without a
// sign-in page, but prompt=login and an exceeded max_age show it again,
// and auth_time moves on each time.
func TestPromptLoginAndMaxAge(t *testing.T) {
	e := newEnv(t, nil)
	e.createUser("max", "max@example.com", "customer")
	b := newBrowser(t, e, "es-CO")
	a := e.authorize(nil)
	startAt(b, a)
	b.signIn("max", testPassword)
	b.wantApp()
	first := e.redeem(a)

	// Signed in: straight back to the app, same auth_time.
	a = e.authorize(nil)
	b.open(a.url)
	b.wantApp()
	if c := e.redeem(a); c.AuthTime != first.AuthTime {
		t.Errorf("single sign-on changed auth_time: %d then %d", first.AuthTime, c.AuthTime)
	}

	time.Sleep(1100 * time.Millisecond) // auth_time has second precision
	a = e.authorize(map[string]string{"prompt": "login"})
	startAt(b, a)
	b.signIn("max", testPassword)
	b.wantApp()
	again := e.redeem(a)
	if again.AuthTime <= first.AuthTime {
		t.Errorf("prompt=login: auth_time %d, not after %d", again.AuthTime, first.AuthTime)
	}

	time.Sleep(2 * time.Second)
	a = e.authorize(map[string]string{"max_age": "1"})
	startAt(b, a)
	b.signIn("max", testPassword)
	b.wantApp()
	third := e.redeem(a)
	if third.AuthTime <= again.AuthTime {
		t.Errorf("max_age=1: auth_time %d, not after %d", third.AuthTime, again.AuthTime)
	}
	third.wantAuthTimeRecent(t)

	// A generous max_age is met by the session.
	a = e.authorize(map[string]string{"max_age": "600"})
	b.open(a.url)
	b.wantApp()
	if c := e.redeem(a); c.AuthTime != third.AuthTime {
		t.Errorf("max_age=600: auth_time %d, want %d", c.AuthTime, third.AuthTime)
	}
}

// TestRPInitiatedLogout: an application signs its user out of Portero
// (OpenID Connect RP-Initiated Logout): with its ID token as the hint the
// browser goes straight back to the app; without one the user confirms
// first. Either way the app's post-logout page gets its state back and the
// session is gone.
func TestRPInitiatedLogout(t *testing.T) {
	e := newEnv(t, nil)
	e.createUser("uma", "uma@example.com", "customer")
	b := newBrowser(t, e, "es-CO")
	signInToAccount := func() {
		b.t.Helper()
		b.open(e.issuer + "/login")
		b.signIn("uma", testPassword)
		b.wantPage("/account")
	}
	wantBye := func(state string) {
		b.t.Helper()
		u := b.url()
		if u.Scheme+"://"+u.Host+u.Path != e.app.loggedOut() || u.Query().Get("state") != state {
			b.fatalf("expected the app's post-logout page %s with state=%s", e.app.loggedOut(), state)
		}
	}
	signedOut := func() {
		b.t.Helper()
		a := e.authorize(map[string]string{"prompt": "none"})
		b.open(a.url)
		b.wantApp()
		if got := e.callbackError(a); got != "login_required" {
			t.Errorf("prompt=none after the app's logout: error=%q, want login_required", got)
		}
	}

	// With the ID token as the hint: no question asked.
	signInToAccount()
	a := e.authorize(nil)
	b.open(a.url) // single sign-on: straight back to the app
	b.wantApp()
	idToken := e.redeem(a).Raw
	b.open(e.issuer + "/oauth2/logout?" + url.Values{
		"id_token_hint": {idToken}, "post_logout_redirect_uri": {e.app.loggedOut()}, "state": {"s1"},
	}.Encode())
	wantBye("s1")
	signedOut()

	// Without a hint: the user confirms on Portero's page.
	signInToAccount()
	b.open(e.issuer + "/oauth2/logout?" + url.Values{
		"client_id": {clientID}, "post_logout_redirect_uri": {e.app.loggedOut()}, "state": {"s2"},
	}.Encode())
	b.wantPage("/oauth2/logout")
	if got, want := b.text("main p"), T(t, b.lang, "logout.question"); got != want {
		t.Errorf("confirmation %q, want %q", got, want)
	}
	b.shot("logout")
	b.click(`form[action="/oauth2/logout"] button[type=submit]`)
	wantBye("s2")
	signedOut()
}
