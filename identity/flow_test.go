package identity_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

var (
	parkedAt = time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	now      = parkedAt.Add(10 * time.Second)
	old      = parkedAt.Add(-time.Hour) // a sign-in from before the request
	here     = parkedAt.Add(5 * time.Second)
	scopes   = []string{"openid", "profile", "orders.read"}
)

func session(at time.Time, acr string) *identity.FlowSession {
	return &identity.FlowSession{AuthTime: at, ACR: acr}
}

// TestNextRules names each rule of the browser flow once.
func TestNextRules(t *testing.T) {
	mfa, pwd, phr := identity.ACRMFA, identity.ACRPassword, identity.ACRPhishingResistant
	legalOK := &identity.LegalFacts{AllowedScopes: scopes}
	parked := identity.FlowRequest{Scopes: scopes, ParkedAt: parkedAt, FirstParty: true}
	with := func(r identity.FlowRequest, edit func(*identity.FlowRequest)) identity.FlowRequest {
		edit(&r)
		return r
	}
	for _, tc := range []struct {
		name   string
		req    identity.FlowRequest
		facts  identity.FlowFacts
		want   identity.Step
		scopes []string
	}{
		{"nobody signed in", parked, identity.FlowFacts{}, identity.StepSignIn, nil},
		{"nobody signed in, prompt=none", with(parked, func(r *identity.FlowRequest) { r.Prompt = []string{"none"} }),
			identity.FlowFacts{}, identity.StepLoginRequired, nil},
		{"an earlier sign-in is enough", parked, identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: legalOK}, identity.StepDone, scopes},
		{"prompt=login wants a new sign-in", with(parked, func(r *identity.FlowRequest) { r.Prompt = []string{"login"} }),
			identity.FlowFacts{Now: now, Session: session(old, pwd)}, identity.StepSignIn, nil},
		{"prompt=login is met by a sign-in for this request", with(parked, func(r *identity.FlowRequest) { r.Prompt = []string{"login"} }),
			identity.FlowFacts{Now: now, Session: session(here, pwd)}, identity.StepDone, scopes},
		{"prompt=login before the request is parked", with(parked, func(r *identity.FlowRequest) { r.Prompt = []string{"login"}; r.ParkedAt = time.Time{} }),
			identity.FlowFacts{Now: now, Session: session(here, pwd)}, identity.StepSignIn, nil},
		{"max_age=0", with(parked, func(r *identity.FlowRequest) { r.MaxAge = "0" }),
			identity.FlowFacts{Now: now, Session: session(old, pwd)}, identity.StepSignIn, nil},
		{"max_age exceeded", with(parked, func(r *identity.FlowRequest) { r.MaxAge = "600" }),
			identity.FlowFacts{Now: now, Session: session(old, pwd)}, identity.StepSignIn, nil},
		{"max_age met", with(parked, func(r *identity.FlowRequest) { r.MaxAge = "7200" }),
			identity.FlowFacts{Now: now, Session: session(old, pwd)}, identity.StepDone, scopes},
		{"max_age not a number is ignored", with(parked, func(r *identity.FlowRequest) { r.MaxAge = "soon" }),
			identity.FlowFacts{Now: now, Session: session(old, pwd)}, identity.StepDone, scopes},
		{"role requires MFA: password session steps up", parked,
			identity.FlowFacts{Now: now, Session: session(old, pwd), MFARequired: true, TOTP: true}, identity.StepSecondFactor, nil},
		{"role requires MFA, no factor yet: enrol", parked,
			identity.FlowFacts{Now: now, Session: session(here, pwd), MFARequired: true}, identity.StepSecondFactor, nil},
		{"role requires MFA, met", parked,
			identity.FlowFacts{Now: now, Session: session(old, mfa), MFARequired: true, TOTP: true}, identity.StepDone, scopes},
		{"acr_values mfa on a password session", with(parked, func(r *identity.FlowRequest) { r.ACRValues = []string{mfa} }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), TOTP: true}, identity.StepSecondFactor, nil},
		{"acr_values: the least known one counts", with(parked, func(r *identity.FlowRequest) { r.ACRValues = []string{"urn:other", phr, pwd} }),
			identity.FlowFacts{Now: now, Session: session(old, pwd)}, identity.StepDone, scopes},
		{"acr_values phr without a passkey", with(parked, func(r *identity.FlowRequest) { r.ACRValues = []string{phr} }),
			identity.FlowFacts{Now: now, Session: session(old, mfa), TOTP: true}, identity.StepUnmetAuthentication, nil},
		{"signed in here with TOTP, phr wanted, passkey exists: no loop", with(parked, func(r *identity.FlowRequest) { r.ACRValues = []string{phr} }),
			identity.FlowFacts{Now: now, Session: session(here, mfa), TOTP: true, Passkey: true}, identity.StepUnmetAuthentication, nil},
		{"old TOTP session, phr wanted, passkey exists: step up", with(parked, func(r *identity.FlowRequest) { r.ACRValues = []string{phr} }),
			identity.FlowFacts{Now: now, Session: session(old, mfa), Passkey: true}, identity.StepSecondFactor, nil},
		{"step-up needed, prompt=none", with(parked, func(r *identity.FlowRequest) { r.ACRValues = []string{mfa}; r.Prompt = []string{"none"} }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), TOTP: true}, identity.StepInteractionRequired, nil},
		{"legal consent missing", parked,
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: &identity.LegalFacts{Needed: true}}, identity.StepLegalConsent, nil},
		{"legal consent refused for this request", parked,
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: &identity.LegalFacts{Needed: true, Denied: true}}, identity.StepLegalDenied, nil},
		{"legal consent missing, prompt=none", with(parked, func(r *identity.FlowRequest) { r.Prompt = []string{"none"} }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: &identity.LegalFacts{Needed: true}}, identity.StepConsentRequired, nil},
		{"declined purposes drop their scopes", parked,
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: &identity.LegalFacts{AllowedScopes: []string{"openid"}}}, identity.StepDone, []string{"openid"}},
		{"third party: ask for the scopes", with(parked, func(r *identity.FlowRequest) { r.FirstParty = false }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: legalOK}, identity.StepScopeConsent, nil},
		{"third party: remembered consent covers", with(parked, func(r *identity.FlowRequest) { r.FirstParty = false }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: legalOK, Remembered: &identity.ScopeConsent{Scopes: scopes}}, identity.StepDone, scopes},
		{"third party: remembered consent is short", with(parked, func(r *identity.FlowRequest) { r.FirstParty = false }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: legalOK, Remembered: &identity.ScopeConsent{Scopes: scopes[:1]}}, identity.StepScopeConsent, nil},
		{"third party: prompt=consent asks again", with(parked, func(r *identity.FlowRequest) { r.FirstParty = false; r.Prompt = []string{"consent"} }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: legalOK, Remembered: &identity.ScopeConsent{Scopes: scopes}}, identity.StepScopeConsent, nil},
		{"third party: approved here, some scopes", with(parked, func(r *identity.FlowRequest) { r.FirstParty = false; r.Prompt = []string{"consent"} }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: legalOK, Decision: &identity.ScopeDecision{Scopes: []string{"openid", "admin"}}}, identity.StepDone, []string{"openid"}},
		{"third party: refused here", with(parked, func(r *identity.FlowRequest) { r.FirstParty = false }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: legalOK, Decision: &identity.ScopeDecision{Denied: true}}, identity.StepScopesDenied, nil},
		{"third party, prompt=none, no consent", with(parked, func(r *identity.FlowRequest) { r.FirstParty = false; r.Prompt = []string{"none"} }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: legalOK}, identity.StepConsentRequired, nil},
		{"third party, no scope left to ask for", with(parked, func(r *identity.FlowRequest) { r.FirstParty = false }),
			identity.FlowFacts{Now: now, Session: session(old, pwd), Legal: &identity.LegalFacts{}}, identity.StepDone, nil},
	} {
		step, got := identity.Next(tc.req, tc.facts)
		if step != tc.want || !slices.Equal(got, tc.scopes) {
			t.Errorf("%s: Next = %s %v, want %s %v", tc.name, step, got, tc.want, tc.scopes)
		}
	}
}

// TestNextInvariants runs Next on every combination of session, prompt,
// max_age, acr_values, MFA policy, factors, legal state and scope state,
// and checks the rules that must hold whatever the combination; above all
// that nothing is issued to a session weaker than the request or the
// user's roles require (the MFA bypass class).
func TestNextInvariants(t *testing.T) {
	mfa, pwd, phr := identity.ACRMFA, identity.ACRPassword, identity.ACRPhishingResistant
	sessions := []*identity.FlowSession{nil, session(old, pwd), session(old, mfa), session(old, phr),
		session(here, pwd), session(here, mfa), session(here, phr)}
	prompts := [][]string{nil, {"none"}, {"login"}, {"consent"}, {"select_account"}, {"login", "consent"}}
	maxAges := []string{"", "0", "60", "7200", "x"}
	acrs := [][]string{nil, {pwd}, {mfa}, {phr}, {pwd, mfa}, {"urn:unknown"}}
	legals := []*identity.LegalFacts{nil, {AllowedScopes: scopes}, {AllowedScopes: scopes[:1]}, {Needed: true}, {Needed: true, Denied: true}}
	decisions := []*identity.ScopeDecision{nil, {Denied: true}, {Scopes: scopes[1:]}}
	remembered := []*identity.ScopeConsent{nil, {Scopes: scopes}, {Scopes: scopes[:1]}}
	n := 0
	for _, parked := range []bool{false, true} {
		for _, s := range sessions {
			for _, prompt := range prompts {
				for _, maxAge := range maxAges {
					for _, acr := range acrs {
						for _, firstParty := range []bool{false, true} {
							req := identity.FlowRequest{Prompt: prompt, MaxAge: maxAge, ACRValues: acr, FirstParty: firstParty, Scopes: scopes}
							if parked {
								req.ParkedAt = parkedAt
							}
							for _, mfaRequired := range []bool{false, true} {
								for factors := range 4 {
									for _, legal := range legals {
										for _, decision := range decisions {
											for _, rem := range remembered {
												f := identity.FlowFacts{Now: now, Session: s, MFARequired: mfaRequired,
													TOTP: factors&1 != 0, Passkey: factors&2 != 0, Legal: legal, Decision: decision, Remembered: rem}
												step, granted := identity.Next(req, f)
												checkInvariants(t, req, f, step, granted)
												n++
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

func checkInvariants(t *testing.T, req identity.FlowRequest, f identity.FlowFacts, step identity.Step, granted []string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Fatalf("%s\nrequest %+v\nfacts %+v session %+v legal %+v\n", fmt.Sprintf(format, args...), req, f, f.Session, f.Legal)
	}
	interactive := map[identity.Step]bool{identity.StepSignIn: true, identity.StepSecondFactor: true,
		identity.StepLegalConsent: true, identity.StepScopeConsent: true}
	if slices.Contains(req.Prompt, "none") && interactive[step] {
		fail("prompt=none got the page %s", step)
	}
	if f.Session == nil && step != identity.StepSignIn && step != identity.StepLoginRequired {
		fail("nobody signed in, got %s", step)
	}
	if step != identity.StepDone {
		if granted != nil {
			fail("%s with scopes %v", step, granted)
		}
		return
	}
	// Done: everything the request and the policy ask for holds.
	if f.MFARequired && identity.ACRRank(f.Session.ACR) < identity.ACRRank(identity.ACRMFA) {
		fail("issued to a %s session of a user who must use a second factor", f.Session.ACR)
	}
	known := slices.ContainsFunc(req.ACRValues, func(v string) bool { return identity.ACRRank(v) >= 0 })
	met := slices.ContainsFunc(req.ACRValues, func(v string) bool {
		return identity.ACRRank(v) >= 0 && identity.ACRRank(f.Session.ACR) >= identity.ACRRank(v)
	})
	if known && !met {
		fail("issued to a %s session for acr_values %v", f.Session.ACR, req.ACRValues)
	}
	if f.Legal != nil && f.Legal.Needed {
		fail("issued without the legal consent")
	}
	for _, s := range granted {
		if !slices.Contains(req.Scopes, s) || (f.Legal != nil && !slices.Contains(f.Legal.AllowedScopes, s)) {
			fail("granted %q, which was not requested or whose purpose was declined", s)
		}
	}
	if !req.FirstParty && len(granted) > 0 {
		approved := f.Decision != nil && !f.Decision.Denied
		rememberedOK := f.Remembered != nil && f.Remembered.Covers(granted) && !slices.Contains(req.Prompt, "consent")
		if !approved && !rememberedOK {
			fail("a third-party client got %v without the user's consent", granted)
		}
	}
	if slices.Contains(req.Prompt, "login") && !(!req.ParkedAt.IsZero() && !f.Session.AuthTime.Before(req.ParkedAt)) {
		fail("prompt=login met by a sign-in from before the request")
	}
}
