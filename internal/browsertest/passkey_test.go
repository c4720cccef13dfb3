package browsertest

import (
	"slices"
	"testing"

	"github.com/portero-id/portero/identity"
)

// TestPasskeyRegistrationAndPasswordlessSignIn: a signed-in user adds a
// passkey on the account page (Chromium's virtual authenticator), then
// signs in to the application with the passkey alone and gets a
// phishing-resistant ID token.
func TestPasskeyRegistrationAndPasswordlessSignIn(t *testing.T) {
	e := newEnv(t, nil)
	user := e.createUser("pablo", "pablo@example.com", "customer")
	b := newBrowser(t, e, "es-CO")
	b.addAuthenticator()

	a := e.authorize(nil)
	startAt(b, a)
	b.signIn("pablo", testPassword)
	b.wantApp()
	e.redeem(a).wantACR(t, acrPassword)

	b.open(e.issuer + "/account")
	b.wantPage("/account")
	const name = "Portátil de pruebas"
	b.fill("#passkey-name", name)
	b.click(`#passkey-register button[type=submit]`)
	if u := b.wantPage("/account"); u.Query().Get("notice") != "passkey_added" {
		b.fatalf("after registering a passkey: want /account?notice=passkey_added")
	}
	if got, want := b.text("p.notice"), T(t, b.lang, "account.notice.passkey_added"); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	if names := b.texts("#passkey-list li strong"); !slices.Equal(names, []string{name}) {
		t.Errorf("passkey list %v, want [%s]", names, name)
	}
	b.shotBoth("passkey")
	creds := b.credentials()
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
		t.Fatalf("the authenticator holds %d credentials, want one discoverable for localhost: %+v", len(creds), creds)
	}
	stored, err := e.store.WebAuthnCredentialsByUser(t.Context(), user.ID)
	if err != nil || len(stored) != 1 || stored[0].Name != name {
		t.Fatalf("stored passkeys %+v, %v", stored, err)
	}

	// Passwordless, with the button: a fresh sign-in for the app with the
	// passkey only (in a browser without passkey autofill).
	restore := b.withoutPasskeyAutofill()
	a = e.authorize(map[string]string{"prompt": "login"})
	startAt(b, a)
	b.waitVisible("#passkey-login")
	b.click("#passkey-login")
	b.wantApp()
	first := e.redeem(a)
	wantPasskeyOnly(t, first)
	if first.Subject != user.ID {
		t.Errorf("sub %q, want %q", first.Subject, user.ID)
	}

	// The passkey as the second factor after the password.
	a = e.authorize(map[string]string{"prompt": "login"})
	startAt(b, a)
	b.signIn("pablo", testPassword)
	b.wantPage("/login/mfa")
	if b.visible("#totp-code") {
		t.Error("the MFA page asks for a TOTP code the user does not have")
	}
	b.click("#passkey-mfa")
	b.wantApp()
	second := e.redeem(a)
	second.wantACR(t, acrPasskey)
	second.wantAMR(t, false, "pwd", "user", "mfa")
	restore()

	// Passkey autofill: the sign-in page's conditional request (which the
	// virtual authenticator answers at once) signs in by itself.
	a = e.authorize(map[string]string{"prompt": "login"})
	startAt(b, a)
	b.waitApp()
	wantPasskeyOnly(t, e.redeem(a))

	types := e.auditTypes(user.ID)
	if !slices.Contains(types, identity.AuditPasskeyAdded) {
		t.Errorf("audit trail lacks %s: %v", identity.AuditPasskeyAdded, types)
	}
}

// wantPasskeyOnly checks the claims of a passwordless passkey sign-in.
func wantPasskeyOnly(t *testing.T, c claims) {
	t.Helper()
	c.wantACR(t, acrPasskey)
	c.wantAMR(t, false, "user")
	if !slices.Contains(c.AMR, "hwk") && !slices.Contains(c.AMR, "swk") {
		t.Errorf("amr %v names no key (hwk or swk)", c.AMR)
	}
	if slices.Contains(c.AMR, "pwd") {
		t.Errorf("amr %v claims a password for a passwordless sign-in", c.AMR)
	}
	c.wantAuthTimeRecent(t)
}
