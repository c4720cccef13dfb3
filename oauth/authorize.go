package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/requestinfo"
)

// LoginPath is where the dispatcher sends a browser that must sign in, and
// StepUpPath where it sends a signed-in browser that must add a second
// factor. Both send it back to /oauth2/auth?flow=ID and nowhere else.
const (
	LoginPath        = "/login"
	StepUpPath       = "/login/mfa"
	ConsentPath      = "/consent"
	ScopeConsentPath = "/consent/scopes"
)

// errUnmetAuthentication is OpenID Connect's answer when the requested
// authentication class cannot be reached (OIDC Core errata 2, 3.1.2.6).
var errUnmetAuthentication = &fosite.RFC6749Error{
	ErrorField:       "unmet_authentication_requirements",
	DescriptionField: "The requested authentication context class cannot be satisfied for this user.",
	CodeField:        http.StatusBadRequest,
}

// authorize is the dispatcher: fosite validates the request, then the
// dispatcher checks what the request still needs (today: a signed-in
// browser session fresh enough for prompt and max_age; the MFA, legal
// consent and scope consent steps slot in after the login check) and sends
// the browser to the page for it. A parked request resumes with ?flow=ID.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pending, ok := p.resumePending(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		p.writeAuthorizeError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The request could not be parsed."))
		return
	}
	if name := repeatedParam(r.Form); name != "" {
		// RFC 6749 §3.1: which value would be meant is unknowable, so the
		// redirect URI is not trusted either: an error page, no redirect.
		p.writeAuthorizeError(w, r, nil, fosite.ErrInvalidRequest.WithHintf("The %q parameter is repeated.", name))
		return
	}
	ar, err := p.fosite.NewAuthorizeRequest(ctx, r)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	requestinfo.SetClient(ctx, ar.GetClient().GetID())
	// The whole request is validated before any page is shown: a PKCE
	// mistake found only after the user signed in and consented would
	// waste their effort (fosite checks PKCE when it issues the code).
	if err := p.checkPKCE(ar); err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if mode := ar.GetResponseMode(); mode != fosite.ResponseModeDefault && mode != fosite.ResponseModeQuery {
		p.writeAuthorizeError(w, r, ar, fosite.ErrUnsupportedResponseMode.WithHint("Only the query response mode is supported."))
		return
	}

	browser, err := p.Sessions.Current(r)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	var user *identity.User
	if browser != nil {
		user, err = p.Store.UserByID(ctx, browser.UserID)
		switch {
		case errors.Is(err, identity.ErrNotFound) || (err == nil && user.Disabled):
			_ = p.Sessions.End(w, r)
			browser, user = nil, nil
		case err != nil:
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	}

	// One clock reading, truncated as the ID token will carry it, so that
	// the checks here and fosite's own prompt/max_age checks agree.
	now := p.Now().UTC().Truncate(time.Second)
	if p.needsLogin(ar, browser, pending, now) {
		if slices.Contains(promptValues(ar), "none") {
			p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired)
			return
		}
		extra := url.Values{}
		if hint := ar.GetRequestForm().Get("login_hint"); hint != "" && len(hint) <= 256 {
			extra.Set("login_hint", hint)
		}
		p.sendTo(w, r, ar, pending, LoginPath, extra)
		return
	}
	if required := p.requiredACR(ar, user); identity.ACRRank(browser.ACR) < identity.ACRRank(required) {
		// The session is too weak for this request: acr_values asked for
		// more, or the user's role requires a second factor.
		stepped := pending != nil && !browser.AuthTime.UTC().Truncate(time.Second).Before(pending.CreatedAt.Truncate(time.Second))
		totp, passkey, err := p.secondFactors(r, user)
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		switch {
		case required == identity.ACRPhishingResistant && !passkey:
			// Only a passkey reaches this class, and there is none to use.
			p.writeAuthorizeError(w, r, ar, errUnmetAuthentication)
			return
		case stepped && (totp || passkey):
			// The user signed in for this very request with the factors
			// they have and still fell short (say, TOTP where a passkey
			// was asked for): asking again would loop. Without any second
			// factor the step-up page enrols one instead.
			p.writeAuthorizeError(w, r, ar, errUnmetAuthentication)
			return
		case slices.Contains(promptValues(ar), "none"):
			p.writeAuthorizeError(w, r, ar, fosite.ErrInteractionRequired.WithHint("A stronger authentication is required."))
			return
		}
		p.sendTo(w, r, ar, pending, StepUpPath, nil)
		return
	}

	scopes := []string(ar.GetRequestedScopes())
	if p.Legal != nil {
		st, denied, err := p.consent(r, user, pending)
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		if p.Legal.Needs(st).Any() {
			switch {
			case denied:
				// The user said no at the consent page for this request.
				p.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user did not authorize the processing of their personal data."))
				return
			case slices.Contains(promptValues(ar), "none"):
				p.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired)
				return
			}
			p.sendTo(w, r, ar, pending, ConsentPath, nil)
			return
		}
		// Scopes whose purpose the user declined or revoked are not granted.
		scopes = p.Legal.AllowedScopes(st, scopes)
	}

	// Scope consent per client: first-party clients skip it; others need
	// a remembered consent covering the scopes, or a decision taken for
	// this very request. fosite has already limited scopes and audience
	// to what the client may ask.
	if c, ok := ar.GetClient().(*Client); ok && !c.FirstParty && len(scopes) > 0 {
		granted, decided, err := p.scopeConsent(r, user, c.ID, scopes, pending, slices.Contains(promptValues(ar), "consent"))
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		switch {
		case decided && granted == nil:
			p.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user did not let the application have the requested scopes."))
			return
		case !decided:
			if slices.Contains(promptValues(ar), "none") {
				p.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired)
				return
			}
			p.sendTo(w, r, ar, pending, ScopeConsentPath, nil)
			return
		}
		scopes = granted
	}
	for _, s := range scopes {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}

	requestedAt := now
	if pending != nil {
		requestedAt = pending.CreatedAt
	}
	sess := p.userSession(ar, user, browser, requestedAt)
	if c, ok := ar.GetClient().(*Client); ok {
		if err := p.addPermissions(ctx, &c.Client, sess); err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	}
	resp, err := p.fosite.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if pending != nil {
		if err := p.Store.DeletePendingAuthorization(ctx, pending.ID); err != nil && !errors.Is(err, identity.ErrNotFound) {
			p.Log.WarnContext(ctx, "delete pending authorization", "err", err)
		}
	}
	p.fosite.WriteAuthorizeResponse(ctx, &issWriter{ResponseWriter: w, iss: p.opts.Issuer}, ar, resp)
}

// resumePending swaps in the parked request when the browser comes back
// with ?flow=ID. It reports false when it has answered the request itself.
func (p *Provider) resumePending(w http.ResponseWriter, r *http.Request) (*identity.PendingAuthorization, bool) {
	q := r.URL.Query()
	id := q.Get("flow")
	if id == "" {
		return nil, true
	}
	pending, err := p.Store.PendingAuthorizationByID(r.Context(), id)
	if err != nil || len(q) != 1 || !p.Now().Before(pending.ExpiresAt) {
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			p.writeAuthorizeError(w, r, nil, fosite.ErrServerError.WithWrap(noteOutage(r.Context(), err)))
			return nil, false
		}
		p.Pages.Error(w, r, http.StatusBadRequest, "invalid_request", "authorize.error.flow_expired")
		return nil, false
	}
	r.URL.RawQuery = pending.Query
	r.Method = http.MethodGet
	r.Form, r.PostForm = nil, nil
	return pending, true
}

// sendTo sends the browser to the page for what the request still needs,
// parking the request first if it is not parked yet; the page sends the
// browser back to /oauth2/auth?flow=ID.
func (p *Provider) sendTo(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester,
	pending *identity.PendingAuthorization, path string, extra url.Values) {
	if pending == nil {
		var err error
		if pending, err = p.park(r); err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	}
	q := url.Values{"flow": {pending.ID}}
	for k, v := range extra {
		q[k] = v
	}
	http.Redirect(w, r, path+"?"+q.Encode(), http.StatusSeeOther)
}

// park stores the authorization request while the user signs in.
func (p *Provider) park(r *http.Request) (*identity.PendingAuthorization, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	now := p.Now().UTC()
	form := url.Values{}
	for k, v := range r.Form {
		if k != "flow" {
			form[k] = v
		}
	}
	pending := &identity.PendingAuthorization{
		ID:        base64.RawURLEncoding.EncodeToString(b),
		Query:     form.Encode(),
		CreatedAt: now,
		ExpiresAt: now.Add(p.opts.PendingLifespan),
	}
	return pending, p.Store.CreatePendingAuthorization(r.Context(), pending)
}

func promptValues(ar fosite.AuthorizeRequester) []string {
	return strings.Fields(ar.GetRequestForm().Get("prompt"))
}

// needsLogin decides whether the browser must (re-)authenticate. A login
// completed after the request was parked satisfies prompt=login and max_age.
func (p *Provider) needsLogin(ar fosite.AuthorizeRequester, browser *identity.Session, pending *identity.PendingAuthorization, now time.Time) bool {
	if browser == nil {
		return true
	}
	authTime := browser.AuthTime.UTC().Truncate(time.Second)
	freshForRequest := pending != nil && !authTime.Before(pending.CreatedAt.Truncate(time.Second))
	if freshForRequest {
		return false
	}
	prompts := promptValues(ar)
	if slices.Contains(prompts, "login") || slices.Contains(prompts, "select_account") {
		return true
	}
	if v := ar.GetRequestForm().Get("max_age"); v != "" {
		maxAge, err := strconv.ParseInt(v, 10, 64)
		// max_age=0 asks for a fresh login, as prompt=login does.
		if err == nil && (maxAge == 0 || now.Sub(authTime) > time.Duration(maxAge)*time.Second) {
			return true
		}
	}
	return false
}

// consent folds the user's authorizations and reports whether the last
// decision, taken after this request was parked, was a denial.
func (p *Provider) consent(r *http.Request, user *identity.User, pending *identity.PendingAuthorization) (identity.ConsentState, bool, error) {
	entries, err := identity.ConsentEntries(r.Context(), p.Store, user.ID)
	if err != nil {
		return identity.ConsentState{}, false, err
	}
	st, err := identity.FoldConsent(entries)
	if err != nil {
		return st, false, err
	}
	denied := false
	if n := len(entries); n > 0 && pending != nil {
		last := entries[n-1]
		denied = last.Type == identity.ConsentDenied && !last.OccurredAt.Before(pending.CreatedAt.Truncate(time.Microsecond))
	}
	return st, denied, nil
}

// scopeConsent decides the client's scopes: a decision taken at the scope
// consent page after this request was parked wins (nil granted: denied);
// else a remembered consent that covers every scope, unless prompt=consent
// asks anew. decided false means the page must ask.
func (p *Provider) scopeConsent(r *http.Request, user *identity.User, clientID string, scopes []string,
	pending *identity.PendingAuthorization, prompt bool) (granted []string, decided bool, err error) {
	ctx := r.Context()
	if pending != nil {
		// A decision taken at the scope page answers the one request it was
		// shown for (its flow), not every request of the client parked at
		// the time: the user approved what they saw.
		recent, err := p.Store.LedgerEntries(ctx, identity.LedgerFilter{Subject: user.ID, Kind: identity.LedgerConsent, ClientID: clientID,
			Types: []string{identity.ScopesGranted, identity.ScopesDenied}, Newest: true, Limit: 20})
		if err != nil {
			return nil, false, err
		}
		flow := identity.Digest(pending.ID)
		for _, e := range recent {
			if e.OccurredAt.Before(pending.CreatedAt.Truncate(time.Microsecond)) {
				break
			}
			var rec identity.ScopeRecord
			if err := json.Unmarshal(e.Payload, &rec); err != nil {
				return nil, false, err
			}
			if rec.Flow != flow {
				continue
			}
			if e.Type == identity.ScopesDenied {
				return nil, true, nil
			}
			return intersect(scopes, rec.Scopes), true, nil
		}
	}
	if prompt {
		return nil, false, nil
	}
	remembered, err := p.Store.ScopeConsent(ctx, user.ID, clientID)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !remembered.Covers(scopes) {
		return nil, false, nil
	}
	return scopes, true, nil
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

// requiredACR is the weakest class this request accepts: the least of the
// known acr_values (any of them satisfies the client, OIDC Core 3.1.2.1;
// unknown values are ignored, as the claim is voluntary), raised to MFA
// when the user's roles require a second factor.
func (p *Provider) requiredACR(ar fosite.AuthorizeRequester, user *identity.User) string {
	required := ""
	for _, v := range strings.Fields(ar.GetRequestForm().Get("acr_values")) {
		if rank := identity.ACRRank(v); rank >= 0 && (required == "" || rank < identity.ACRRank(required)) {
			required = v
		}
	}
	if p.opts.MFA.Requires(user) && identity.ACRRank(required) < identity.ACRRank(identity.ACRMFA) {
		required = identity.ACRMFA
	}
	return required
}

// secondFactors reports which second factors the user has enrolled.
func (p *Provider) secondFactors(r *http.Request, user *identity.User) (totp, passkey bool, err error) {
	f, err := p.Store.SecondFactors(r.Context(), user.ID)
	return f.TOTP, f.Passkeys > 0, err
}

// userSession builds the grant's session from the signed-in user.
func (p *Provider) userSession(ar fosite.AuthorizeRequester, user *identity.User, browser *identity.Session, requestedAt time.Time) *Session {
	s := NewSession()
	s.Subject = user.ID
	s.Username = user.Username
	s.ClientID = ar.GetClient().GetID()
	s.Roles = slices.Clone(user.Roles)
	if s.Roles == nil {
		s.Roles = []string{}
	}
	s.AuthTime = browser.AuthTime.UTC().Truncate(time.Second)
	s.ACR = browser.ACR
	s.AMR = slices.Clone(browser.AMR)
	s.BrowserSession = browser.ID

	c := s.Claims
	c.Subject = user.ID
	c.AuthTime = s.AuthTime
	c.RequestedAt = requestedAt.Truncate(time.Second)
	c.AuthenticationContextClassReference = browser.ACR
	c.AuthenticationMethodsReferences = slices.Clone(browser.AMR)
	if ar.GetGrantedScopes().Has("roles") {
		c.Extra["roles"] = slices.Clone(s.Roles)
	}
	return s
}

// writeAuthorizeError answers a failed authorization request. Without a
// verified redirect URI the error is an HTML page: an unregistered
// redirect_uri must never receive a redirect.
func (p *Provider) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if storageFailed(r.Context(), err) {
		p.Log.ErrorContext(r.Context(), "storage unavailable", "path", r.URL.Path, "err", rfc.Error(), "cause", rfc.Unwrap())
		p.Pages.Failure(w, r, identity.ErrUnavailable)
		return
	}
	if rfc.CodeField >= 500 {
		p.Log.ErrorContext(r.Context(), "authorization request failed", "err", rfc.Error(), "cause", rfc.Unwrap(), "debug", rfc.DebugField)
	}
	if ar == nil || !ar.IsRedirectURIValid() {
		status := rfc.CodeField
		if status < 400 || status >= 500 {
			status = http.StatusBadRequest
		}
		p.Pages.ErrorDetail(w, r, status, rfc.ErrorField, "authorize.error.invalid", rfc.HintField)
		return
	}
	if req, ok := ar.(*fosite.AuthorizeRequest); ok && req.ResponseMode != fosite.ResponseModeQuery {
		// Errors go back the one way Portero supports, with iss added.
		req.ResponseMode = fosite.ResponseModeQuery
	}
	p.fosite.WriteAuthorizeError(r.Context(), &issWriter{ResponseWriter: w, iss: p.opts.Issuer}, ar, err)
}

// issWriter adds RFC 9207's iss parameter to the redirect fosite writes,
// for success and error responses alike (fosite v0.49 lacks RFC 9207).
type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w *issWriter) WriteHeader(status int) {
	if loc := w.Header().Get("Location"); loc != "" && status >= 300 && status < 400 {
		if u, err := url.Parse(loc); err == nil {
			param := "iss=" + url.QueryEscape(w.iss)
			if u.RawQuery == "" {
				u.RawQuery = param
			} else {
				u.RawQuery += "&" + param
			}
			w.Header().Set("Location", u.String())
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// repeatedParam returns the name of a parameter given more than once, or
// "". RFC 6749 §3.1 and §3.2: request parameters MUST NOT be included more
// than once.
func repeatedParam(form url.Values) string {
	for name, values := range form {
		if len(values) > 1 {
			return name
		}
	}
	return ""
}

// checkPKCE validates the request's PKCE parameters as RFC 7636 §4.2 and
// §4.3 define them: S256 only, a challenge of 43 to 128 characters of the
// unreserved set, and required where PKCE is enforced (public clients
// always, every client with oauth.enforce_pkce).
func (p *Provider) checkPKCE(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	if challenge == "" {
		if method != "" {
			return fosite.ErrInvalidRequest.WithHint("code_challenge_method was sent without code_challenge.")
		}
		if p.opts.EnforcePKCE || ar.GetClient().IsPublic() {
			return fosite.ErrInvalidRequest.WithHint("This client must use PKCE: send code_challenge and code_challenge_method=S256.")
		}
		return nil
	}
	if method != "S256" {
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256.")
	}
	if len(challenge) < 43 || len(challenge) > 128 || strings.IndexFunc(challenge, func(c rune) bool { return !isUnreserved(c) }) >= 0 {
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'.")
	}
	return nil
}

// isUnreserved is RFC 3986's unreserved set, PKCE's alphabet.
func isUnreserved(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
