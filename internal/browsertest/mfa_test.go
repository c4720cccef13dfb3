package browsertest

import (
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

// totpCode is the authenticator app's code for secret at t.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := identity.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrolTOTP completes the TOTP set-up page the browser is on and returns
// the secret, the code used and the recovery codes shown after it.
func enrolTOTP(b *browser, shots bool) (secret, code string, recovery []string) {
	b.t.Helper()
	secret = b.text("#totp-secret")
	if !regexp.MustCompile(`^[A-Z2-7]{16,}$`).MatchString(secret) {
		b.fatalf("the set-up page shows no base32 secret: %q", secret)
	}
	if !evalJS[bool](b, `(() => { const i = document.querySelector('main img'); return !!i && i.complete && i.naturalWidth > 0 })()`) {
		b.t.Error("the QR code image did not load")
	}
	if shots {
		b.shot("totp-enrol")
	}
	code = totpCode(b.t, secret, time.Now())
	b.fill("#totp-code", code)
	if status := b.click(`main form button[type=submit]`); status != http.StatusOK {
		b.fatalf("TOTP confirmation answered %d", status)
	}
	recovery = b.texts("#recovery-codes li code")
	if len(recovery) != 10 {
		b.fatalf("want 10 recovery codes, got %d", len(recovery))
	}
	if shots {
		b.shot("recovery-codes")
	}
	return secret, code, recovery
}

// TestTOTPEnrolmentAndSignIn: a vendor (a role that requires MFA) signs in
// with a password, is taken through TOTP enrolment and recovery codes, and
// gets an MFA ID token; the next sign-in asks for a code, refuses the one
// already used and takes the next.
func TestTOTPEnrolmentAndSignIn(t *testing.T) {
	e := newEnv(t, nil)
	user := e.createUser("vera", "vera@example.com", "vendor")
	b := newBrowser(t, e, "es-CO")
	a := e.authorize(nil)
	startAt(b, a)
	b.signIn("vera", testPassword)
	b.wantPage("/login/enroll")
	secret, used, _ := enrolTOTP(b, true)
	b.click("a#continue")
	b.wantApp()
	first := e.redeem(a)
	first.wantACR(t, acrMFA)
	first.wantAMR(t, true, "mfa", "otp", "pwd")
	first.wantAuthTimeRecent(t)

	// Sign in again: password, then the code.
	a = e.authorize(map[string]string{"prompt": "login"})
	startAt(b, a)
	b.signIn("vera", testPassword)
	b.wantPage("/login/mfa")
	if b.visible("#passkey-mfa") {
		t.Error("the MFA page offers a passkey the user does not have")
	}
	b.shotBoth("mfa")

	// The code that confirmed the enrolment is spent: replay refused.
	b.fill("#totp-code", used)
	if status := b.click(`form[action="/login/mfa"] button[type=submit]`); status != http.StatusUnauthorized {
		b.fatalf("a replayed TOTP code answered %d, want 401", status)
	}
	if got, want := b.text(`p.error[role=alert]`), T(t, b.lang, "mfa.failed"); got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	// The next time step's code is within the allowed skew and unused.
	b.fill("#totp-code", totpCode(t, secret, time.Now().Add(30*time.Second)))
	b.click(`form[action="/login/mfa"] button[type=submit]`)
	b.wantApp()
	second := e.redeem(a)
	second.wantACR(t, acrMFA)
	second.wantAMR(t, true, "mfa", "otp", "pwd")
	if second.AuthTime < first.AuthTime {
		t.Errorf("auth_time went back: %d then %d", first.AuthTime, second.AuthTime)
	}
	types := e.auditTypes(user.ID)
	for _, want := range []string{identity.AuditTOTPEnrolled, identity.AuditRecoveryGenerated, identity.AuditMFAFailure} {
		if !slices.Contains(types, want) {
			t.Errorf("audit trail lacks %s: %v", want, types)
		}
	}
}

// TestRecoveryCode: a vendor enrols TOTP through the sign-in (English
// pages), keeps a recovery code, and later signs in with the password and
// that code; the page warns that a code was used and how many are left,
// and the ID token is MFA.
func TestRecoveryCode(t *testing.T) {
	e := newEnv(t, nil)
	user := e.createUser("rita", "rita@example.com", "vendor")
	b := newBrowser(t, e, "en")
	a := e.authorize(nil)
	startAt(b, a)
	b.signIn("rita", testPassword)
	b.wantPage("/login/enroll")
	_, _, codes := enrolTOTP(b, true)
	b.click("a#continue")
	b.wantApp()
	e.redeem(a).wantACR(t, acrMFA)

	a = e.authorize(map[string]string{"prompt": "login"})
	startAt(b, a)
	b.signIn("rita", testPassword)
	b.wantPage("/login/mfa")
	if b.visible("#recovery-code") {
		t.Error("the recovery code field should be folded away")
	}
	b.clickHere("details > summary")
	b.fill("#recovery-code", codes[3])
	if status := b.click(`details form button[type=submit]`); status != http.StatusOK {
		b.fatalf("recovery code answered %d", status)
	}
	b.wantPage("/login/mfa") // the warning is the answer to the post
	if got, want := b.text(`main p[role=alert]`), T(t, b.lang, "recoveryused.text", 9); got != want {
		t.Errorf("warning %q, want %q", got, want)
	}
	b.shot("recovery-used")
	b.click("a#continue")
	b.wantApp()
	c := e.redeem(a)
	c.wantACR(t, acrMFA)
	c.wantAMR(t, false, "mfa", "pwd", "otp")

	types := e.auditTypes(user.ID)
	if !slices.Contains(types, identity.AuditRecoveryCodeUsed) {
		t.Errorf("audit trail lacks %s: %v", identity.AuditRecoveryCodeUsed, types)
	}
}

// TestAcrValuesStepUp: a customer (no MFA required) signed in with a
// password and TOTP enrolled on the account page gets a password-level
// token; a client asking acr_values=mfa gets the step-up page (no
// password again), and after the code an MFA token.
func TestAcrValuesStepUp(t *testing.T) {
	e := newEnv(t, nil)
	e.createUser("sofia", "sofia@example.com", "customer")
	b := newBrowser(t, e, "es-CO")
	a := e.authorize(nil)
	startAt(b, a)
	b.signIn("sofia", testPassword)
	b.wantApp()
	c := e.redeem(a)
	c.wantACR(t, acrPassword)
	c.wantAMR(t, true, "pwd")

	// TOTP from the account page (the session stays password-only).
	b.open(e.issuer + "/account")
	b.wantPage("/account")
	b.click("a#totp-setup")
	b.wantPage("/account/totp")
	secret, _, _ := enrolTOTP(b, false)
	b.click("a#continue")
	b.wantPage("/account")

	a = e.authorize(map[string]string{"acr_values": acrMFA})
	b.open(a.url)
	b.wantPage("/login/mfa")
	if b.visible("#password") {
		t.Error("the step-up asks for the password again")
	}
	b.fill("#totp-code", totpCode(t, secret, time.Now().Add(30*time.Second)))
	b.click(`form[action="/login/mfa"] button[type=submit]`)
	b.wantApp()
	c = e.redeem(a)
	c.wantACR(t, acrMFA)
	c.wantAMR(t, false, "mfa", "otp", "pwd")
}
