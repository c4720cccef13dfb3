package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
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

// authorize is the dispatcher: it resumes a parked request, has fosite
// validate it, gathers what is true now about the browser and its user,
// and lets identity.Next decide the one thing the request needs next: a
// page (the browser comes back with ?flow=ID), an error for the client,
// or the code. Every rule of the browser flow lives in identity.Next.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	pending, ar, ok := p.validateAuthorize(w, r)
	if !ok {
		return
	}
	fl, ok := p.gather(w, r, ar, pending)
	if !ok {
		return
	}
	step, scopes := identity.Next(fl.req, fl.facts)
	if path, ok := stepPages[step]; ok {
		p.sendTo(w, r, ar, pending, path, stepExtra(step, ar))
		return
	}
	if err, ok := stepErrors[step]; ok {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	p.issueCode(w, r, ar, pending, fl, scopes)
}

// stepPages are the steps the browser takes on a page, stepErrors those
// that end the request with an error to the client (OIDC Core 3.1.2.6).
var (
	stepPages = map[identity.Step]string{
		identity.StepSignIn:       LoginPath,
		identity.StepSecondFactor: StepUpPath,
		identity.StepLegalConsent: ConsentPath,
		identity.StepScopeConsent: ScopeConsentPath,
	}
	stepErrors = map[identity.Step]error{
		identity.StepLoginRequired:       fosite.ErrLoginRequired,
		identity.StepInteractionRequired: fosite.ErrInteractionRequired.WithHint("A stronger authentication is required."),
		identity.StepConsentRequired:     fosite.ErrConsentRequired,
		identity.StepUnmetAuthentication: errUnmetAuthentication,
		identity.StepLegalDenied:         fosite.ErrAccessDenied.WithHint("The user did not authorize the processing of their personal data."),
		identity.StepScopesDenied:        fosite.ErrAccessDenied.WithHint("The user did not let the application have the requested scopes."),
	}
)

// validateAuthorize resumes a parked request (?flow=ID) and validates it
// whole before any page is shown: a mistake found only after the user
// signed in and consented would waste their effort. It reports false when
// it has answered the request itself.
func (p *Provider) validateAuthorize(w http.ResponseWriter, r *http.Request) (*identity.PendingAuthorization, fosite.AuthorizeRequester, bool) {
	pending, ok := p.resumePending(w, r)
	if !ok {
		return nil, nil, false
	}
	if err := r.ParseForm(); err != nil {
		p.writeAuthorizeError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The request could not be parsed."))
		return nil, nil, false
	}
	if name := repeatedParam(r.Form); name != "" {
		// RFC 6749 §3.1: which value would be meant is unknowable, so the
		// redirect URI is not trusted either: an error page, no redirect.
		p.writeAuthorizeError(w, r, nil, fosite.ErrInvalidRequest.WithHintf("The %q parameter is repeated.", name))
		return nil, nil, false
	}
	ar, err := p.fosite.NewAuthorizeRequest(r.Context(), r)
	if err == nil {
		requestinfo.SetClient(r.Context(), ar.GetClient().GetID())
		err = p.checkRequest(ar)
	}
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return nil, nil, false
	}
	return pending, ar, true
}

// checkRequest adds what fosite leaves to later or does not check: PKCE
// (fosite checks it only when it issues the code) and the response mode.
func (p *Provider) checkRequest(ar fosite.AuthorizeRequester) error {
	if err := p.checkPKCE(ar); err != nil {
		return err
	}
	if mode := ar.GetResponseMode(); mode != fosite.ResponseModeDefault && mode != fosite.ResponseModeQuery {
		return fosite.ErrUnsupportedResponseMode.WithHint("Only the query response mode is supported.")
	}
	return nil
}

// flowState is what the dispatcher gathered for identity.Next, with the
// records the code is issued from.
type flowState struct {
	req     identity.FlowRequest
	facts   identity.FlowFacts
	user    *identity.User
	browser *identity.Session
}

// stepExtra is what a step's page is given besides the flow: the sign-in
// page gets the login hint.
func stepExtra(step identity.Step, ar fosite.AuthorizeRequester) url.Values {
	out := url.Values{}
	if hint := ar.GetRequestForm().Get("login_hint"); step == identity.StepSignIn && hint != "" && len(hint) <= 256 {
		out.Set("login_hint", hint)
	}
	return out
}

// gather reads what identity.Next decides from: the browser's session and
// its user (a session of a disabled or deleted user is ended), the user's
// second factors, their legal authorization, and the client's scope
// consent. It reports false when it has answered the request itself.
func (p *Provider) gather(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, pending *identity.PendingAuthorization) (*flowState, bool) {
	form := ar.GetRequestForm()
	fl := &flowState{req: identity.FlowRequest{
		Prompt: strings.Fields(form.Get("prompt")), MaxAge: form.Get("max_age"), ACRValues: strings.Fields(form.Get("acr_values")),
		Scopes: []string(ar.GetRequestedScopes()),
	}}
	if c, ok := ar.GetClient().(*Client); ok {
		fl.req.FirstParty = c.FirstParty
	}
	if pending != nil {
		fl.req.ParkedAt = pending.CreatedAt
	}
	// One clock reading, truncated as the ID token will carry it, so that
	// these checks and fosite's own prompt/max_age checks agree.
	fl.facts.Now = p.Now().UTC().Truncate(time.Second)
	if err := p.gatherUser(w, r, fl, ar, pending); err != nil {
		p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return nil, false
	}
	return fl, true
}

// gatherUser fills in the facts about the signed-in user, if any.
func (p *Provider) gatherUser(w http.ResponseWriter, r *http.Request, fl *flowState, ar fosite.AuthorizeRequester, pending *identity.PendingAuthorization) error {
	ctx := r.Context()
	browser, err := p.Sessions.Current(r)
	if errors.Is(err, identity.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	user, err := p.Store.UserByID(ctx, browser.UserID)
	if errors.Is(err, identity.ErrNotFound) || (err == nil && user.Disabled) {
		_ = p.Sessions.End(w, r)
		return nil
	}
	if err != nil {
		return err
	}
	fl.user, fl.browser = user, browser
	fl.facts.Session = &identity.FlowSession{AuthTime: browser.AuthTime, ACR: browser.ACR}
	fl.facts.MFARequired = p.opts.MFA.Requires(user)
	factors, err := p.Store.SecondFactors(ctx, user.ID)
	if err != nil {
		return err
	}
	fl.facts.TOTP, fl.facts.Passkey = factors.TOTP, factors.Passkeys > 0
	if p.Legal != nil {
		st, denied, err := p.consent(r, user, pending)
		if err != nil {
			return err
		}
		fl.facts.Legal = &identity.LegalFacts{Needed: p.Legal.Needs(st).Any(), Denied: denied,
			AllowedScopes: p.Legal.AllowedScopes(st, fl.req.Scopes)}
	}
	if fl.req.FirstParty || len(fl.req.Scopes) == 0 {
		return nil
	}
	clientID := ar.GetClient().GetID()
	if fl.facts.Decision, err = p.scopeDecision(r, user, clientID, pending); err != nil {
		return err
	}
	remembered, err := p.Store.ScopeConsent(ctx, user.ID, clientID)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return err
	}
	fl.facts.Remembered = remembered
	return nil
}

// issueCode grants the scopes identity.Next settled on and answers with
// the code.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester,
	pending *identity.PendingAuthorization, fl *flowState, scopes []string) {
	ctx := r.Context()
	for _, s := range scopes {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	requestedAt := fl.facts.Now
	if pending != nil {
		requestedAt = pending.CreatedAt
	}
	sess := p.userSession(ar, fl.user, fl.browser, requestedAt)
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
		if pending, err = p.park(r, ar); err != nil {
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

// park stores the validated authorization request while the user signs
// in: its query, to validate again on every resume, and its client and
// scopes as the pages show them.
func (p *Provider) park(r *http.Request, ar fosite.AuthorizeRequester) (*identity.PendingAuthorization, error) {
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
		ClientID:  ar.GetClient().GetID(),
		Scopes:    slices.Clone([]string(ar.GetRequestedScopes())),
		CreatedAt: now,
		ExpiresAt: now.Add(p.opts.PendingLifespan),
	}
	return pending, p.Store.CreatePendingAuthorization(r.Context(), pending)
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

// scopeDecision is what the user chose at the scope page for this very
// request, if anything: a decision answers the one request it was shown
// for (its flow), not every request of the client parked at the time.
func (p *Provider) scopeDecision(r *http.Request, user *identity.User, clientID string, pending *identity.PendingAuthorization) (*identity.ScopeDecision, error) {
	if pending == nil {
		return nil, nil
	}
	recent, err := p.Store.LedgerEntries(r.Context(), identity.LedgerFilter{Subject: user.ID, Kind: identity.LedgerConsent, ClientID: clientID,
		Types: []string{identity.ScopesGranted, identity.ScopesDenied}, Newest: true, Limit: 20})
	if err != nil {
		return nil, err
	}
	flow := identity.Digest(pending.ID)
	for _, e := range recent {
		if e.OccurredAt.Before(pending.CreatedAt.Truncate(time.Microsecond)) {
			break
		}
		var rec identity.ScopeRecord
		if err := json.Unmarshal(e.Payload, &rec); err != nil {
			return nil, err
		}
		if rec.Flow == flow {
			return &identity.ScopeDecision{Denied: e.Type == identity.ScopesDenied, Scopes: rec.Scopes}, nil
		}
	}
	return nil, nil
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
