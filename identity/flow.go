package identity

import (
	"slices"
	"strconv"
	"time"
)

// Step is what an authorization request needs next: a page the browser is
// sent to, the code, or an error for the client.
type Step string

const (
	// StepSignIn: nobody is signed in, or the sign-in is too old for the
	// request's prompt or max_age.
	StepSignIn Step = "sign_in"
	// StepSecondFactor: the sign-in is weaker than the request or the
	// user's roles require: prove (or enrol) a second factor.
	StepSecondFactor Step = "second_factor"
	// StepLegalConsent: the habeas-data authorization is missing or out of
	// date.
	StepLegalConsent Step = "legal_consent"
	// StepScopeConsent: the user has not let this client have its scopes.
	StepScopeConsent Step = "scope_consent"
	// StepDone: issue the code, with the scopes Next returned.
	StepDone Step = "done"

	// The request ends in an error to the client:
	StepLoginRequired       Step = "login_required"       // prompt=none, sign-in needed
	StepInteractionRequired Step = "interaction_required" // prompt=none, second factor needed
	StepConsentRequired     Step = "consent_required"     // prompt=none, a consent needed
	StepUnmetAuthentication Step = "unmet_authentication_requirements"
	StepLegalDenied         Step = "legal_denied"  // the user refused the data processing for this request
	StepScopesDenied        Step = "scopes_denied" // the user refused the client its scopes for this request
)

// FlowRequest is what of a validated authorization request decides its
// steps.
type FlowRequest struct {
	Prompt     []string // the prompt values
	MaxAge     string   // max_age as sent; "" when absent
	ACRValues  []string // acr_values as sent
	FirstParty bool     // the client skips scope consent
	Scopes     []string // the requested scopes fosite admitted
	// ParkedAt is when the request was parked for the browser's steps;
	// zero before it is. A sign-in or a decision made after it answers
	// this very request.
	ParkedAt time.Time
}

// FlowSession is the browser's sign-in.
type FlowSession struct {
	AuthTime time.Time
	ACR      string
}

// LegalFacts is the user's habeas-data authorization against the texts
// in force.
type LegalFacts struct {
	// Needed: an authorization is missing or out of date.
	Needed bool
	// Denied: the user's last decision, taken for this request, refused.
	Denied bool
	// AllowedScopes are the requested scopes whose purposes the user has
	// not declined or revoked.
	AllowedScopes []string
}

// ScopeDecision is what the user chose at the scope page for this request.
type ScopeDecision struct {
	Denied bool
	Scopes []string // approved
}

// FlowFacts is what is true now about the browser and its user. Fields
// past Session matter only when someone is signed in.
type FlowFacts struct {
	Now     time.Time
	Session *FlowSession // nil: nobody is signed in
	// MFARequired: the user's roles require a second factor.
	MFARequired   bool
	TOTP, Passkey bool // the second factors the user has
	// Legal is nil when no legal texts are configured.
	Legal *LegalFacts
	// Decision is the scope page's answer for this request, nil if none.
	Decision *ScopeDecision
	// Remembered is the client's remembered scope consent, nil if none.
	Remembered *ScopeConsent
}

// Next decides what the request needs next, from the request and the
// facts alone (no I/O: every rule of the browser flow is here, and table
// tested). With StepDone it also returns the scopes to grant.
//
// The order is the order of the pages: sign in, second factor, legal
// consent, scope consent. prompt=none turns every page into its error
// (OIDC Core 3.1.2.6).
func Next(req FlowRequest, f FlowFacts) (Step, []string) {
	none := slices.Contains(req.Prompt, "none")
	if needsSignIn(req, f) {
		if none {
			return StepLoginRequired, nil
		}
		return StepSignIn, nil
	}
	if required := req.requiredACR(f.MFARequired); ACRRank(f.Session.ACR) < ACRRank(required) {
		switch {
		case required == ACRPhishingResistant && !f.Passkey:
			// Only a passkey reaches this class, and there is none.
			return StepUnmetAuthentication, nil
		case req.signedInHere(f.Session) && (f.TOTP || f.Passkey):
			// Signed in for this very request with the factors the user
			// has, and still short (TOTP where a passkey was asked for):
			// asking again would loop. Without any factor the second-factor
			// step enrols one instead.
			return StepUnmetAuthentication, nil
		case none:
			return StepInteractionRequired, nil
		}
		return StepSecondFactor, nil
	}
	scopes := req.Scopes
	if f.Legal != nil {
		switch {
		case f.Legal.Needed && f.Legal.Denied:
			return StepLegalDenied, nil
		case f.Legal.Needed && none:
			return StepConsentRequired, nil
		case f.Legal.Needed:
			return StepLegalConsent, nil
		}
		scopes = f.Legal.AllowedScopes
	}
	if req.FirstParty || len(scopes) == 0 {
		return StepDone, scopes
	}
	switch {
	case f.Decision != nil && f.Decision.Denied:
		return StepScopesDenied, nil
	case f.Decision != nil:
		return StepDone, intersect(scopes, f.Decision.Scopes)
	case !slices.Contains(req.Prompt, "consent") && f.Remembered != nil && f.Remembered.Covers(scopes):
		return StepDone, scopes
	case none:
		return StepConsentRequired, nil
	}
	return StepScopeConsent, nil
}

// needsSignIn: nobody is signed in, or the sign-in predates the request
// and prompt=login (or select_account) or max_age asks for a newer one. A
// sign-in made for this very request satisfies both.
func needsSignIn(req FlowRequest, f FlowFacts) bool {
	if f.Session == nil {
		return true
	}
	if req.signedInHere(f.Session) {
		return false
	}
	if slices.Contains(req.Prompt, "login") || slices.Contains(req.Prompt, "select_account") {
		return true
	}
	if req.MaxAge != "" {
		maxAge, err := strconv.ParseInt(req.MaxAge, 10, 64)
		// max_age=0 asks for a fresh sign-in, as prompt=login does.
		authTime := f.Session.AuthTime.UTC().Truncate(time.Second)
		if err == nil && (maxAge == 0 || f.Now.Sub(authTime) > time.Duration(maxAge)*time.Second) {
			return true
		}
	}
	return false
}

// signedInHere: the sign-in happened after the request was parked, to the
// second, as the ID token's auth_time carries it.
func (req FlowRequest) signedInHere(s *FlowSession) bool {
	return !req.ParkedAt.IsZero() && !s.AuthTime.UTC().Truncate(time.Second).Before(req.ParkedAt.Truncate(time.Second))
}

// requiredACR is the weakest class the request accepts: the least of the
// known acr_values (any of them satisfies the client, OIDC Core 3.1.2.1;
// unknown values are ignored, as the claim is voluntary), raised to MFA
// when the user's roles require a second factor.
func (req FlowRequest) requiredACR(mfaRequired bool) string {
	required := ""
	for _, v := range req.ACRValues {
		if rank := ACRRank(v); rank >= 0 && (required == "" || rank < ACRRank(required)) {
			required = v
		}
	}
	if mfaRequired && ACRRank(required) < ACRRank(ACRMFA) {
		required = ACRMFA
	}
	return required
}

func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}
