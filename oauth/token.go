package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/requestinfo"
)

// writeJSON writes a JSON response that must never be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONError writes an RFC 6749 §5.2 error body.
func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	if status == http.StatusUnauthorized && code == "invalid_client" {
		// RFC 6749 §5.2 and RFC 9110 §11.6.1: a 401 names the scheme.
		w.Header().Set("WWW-Authenticate", `Basic realm="portero", error="invalid_client"`)
	}
	writeJSON(w, status, body)
}

// writeTokenError writes a fosite error from a back-channel endpoint in RFC
// 6749 form, logging only server-side failures (without request content).
const statusClientClosedRequest = 499

func (p *Provider) writeTokenError(w http.ResponseWriter, r *http.Request, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if (rfc.CodeField >= 500 || storageFailed(r.Context(), err)) && errors.Is(r.Context().Err(), context.Canceled) {
		// The client went away mid-request: not a server failure. 499 is
		// nginx's "client closed request", so metrics tell the two apart.
		p.Log.DebugContext(r.Context(), "client closed request", "path", r.URL.Path)
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	if storageFailed(r.Context(), err) {
		p.Log.ErrorContext(r.Context(), "storage unavailable", "path", r.URL.Path, "err", rfc.Error(), "cause", rfc.Unwrap())
		writeUnavailable(w)
		return
	}
	if rfc.CodeField >= 500 {
		p.Log.ErrorContext(r.Context(), "oauth endpoint failed", "path", r.URL.Path, "err", rfc.Error(), "cause", rfc.Unwrap(), "debug", rfc.DebugField)
		writeJSONError(w, http.StatusInternalServerError, "server_error", "The server could not complete the request.")
		return
	}
	if rfc.ErrorField == "invalid_request" && !presentsClient(r) {
		// RFC 6749 §5.2: "no client authentication included" is
		// invalid_client (401); fosite calls it invalid_request.
		writeJSONError(w, http.StatusUnauthorized, "invalid_client", "Client authentication is required.")
		return
	}
	desc := rfc.DescriptionField
	if rfc.HintField != "" {
		desc += " " + rfc.HintField
	}
	writeJSONError(w, rfc.CodeField, rfc.ErrorField, desc)
}

// supportedGrantTypes are the grants the token endpoint serves (the
// discovery document lists the same).
var supportedGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if name := repeatedParam(r.Form); name != "" {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("The %q parameter is repeated.", name))
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "" && !slices.Contains(supportedGrantTypes, gt) {
		// RFC 6749 §5.2 (fosite answers invalid_request).
		writeJSONError(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type is not supported.")
		return
	}
	sess := NewSession()
	ar, err := p.fosite.NewAccessRequest(ctx, r, sess)
	if err != nil {
		if r.PostForm.Get("grant_type") == "refresh_token" && errors.Is(err, fosite.ErrInactiveToken) {
			p.recordRefreshReuse(r, r.PostForm.Get("refresh_token"))
		}
		p.writeTokenError(w, r, err)
		return
	}
	requestinfo.SetClient(ctx, ar.GetClient().GetID())
	if !p.allowToken(ctx, w, ar) {
		WriteRateLimited(w)
		return
	}
	if err := p.grant(ctx, r, ar, sess); err != nil {
		p.writeTokenError(w, r, err)
		return
	}
	resp, err := p.fosite.NewAccessResponse(ctx, ar)
	if errors.Is(err, errRotationRace) {
		p.replayRefresh(w, r, ar)
		return
	}
	if err != nil {
		p.writeTokenError(w, r, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") {
		if err := p.keepRefreshResponse(ctx, r, ar, resp); err != nil {
			// Duplicates within the grace period will get invalid_grant
			// instead of this answer: worse for a retrying app, not unsafe.
			p.Log.WarnContext(ctx, "keep refresh response for duplicates", "err", err)
		}
	}
	p.Metrics.TokensIssued.WithLabelValues(grantTypeLabel(ar.GetGrantTypes())).Inc()
	p.fosite.WriteAccessResponse(ctx, w, ar, resp)
}

// allowToken meters the authenticated client at the token endpoint, with
// its own quota when it has one. Counted once the client has
// authenticated, so that nobody can spend another client's budget by
// sending its id.
func (p *Provider) allowToken(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester) bool {
	quota := 0
	if c, ok := ar.GetClient().(*Client); ok {
		quota = c.TokenRateLimit
	}
	return p.tokenLimit.AllowAt(ctx, w.Header(), ar.GetClient().GetID(), quota)
}

// grant is the application's part of a token request fosite validated:
// a refresh may not widen its scopes, and a client-credentials token
// stands for the client itself.
func (p *Provider) grant(ctx context.Context, r *http.Request, ar fosite.AccessRequester, sess *Session) error {
	if ar.GetGrantTypes().ExactOne("refresh_token") {
		// RFC 6749 §6: a refresh may not ask for a scope the grant does
		// not have (fosite silently grants the original scopes).
		for _, s := range strings.Fields(r.PostForm.Get("scope")) {
			if !ar.GetGrantedScopes().Has(s) {
				return fosite.ErrInvalidScope.WithHintf("The scope %q was not granted to this refresh token.", s)
			}
		}
	}
	if !ar.GetGrantTypes().ExactOne("client_credentials") {
		return nil
	}
	// RFC 9068 §2.2: with no user, the subject is the client itself, and
	// the roles are the client's own.
	client := ar.GetClient().(*Client)
	sess.Subject = client.ID
	sess.ClientID = client.ID
	sess.Roles = slices.Clone(client.Roles)
	sess.Stateless = p.Storage.Stateless != nil && !client.opaqueTokens()
	if sess.Stateless {
		if err := p.Storage.Stateless.awaitCut(ctx, client.ID); err != nil {
			return err
		}
	}
	if err := p.addPermissions(ctx, &client.Client, sess); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	// fosite has checked the requested scopes and audience against the
	// client's; granting them is the application's part (there is no user
	// to ask).
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	return nil
}

// presentsClient reports whether the request identifies a client at all.
func presentsClient(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.PostForm.Get("client_id") != "" || r.PostForm.Get("client_assertion") != ""
}

func grantTypeLabel(gt fosite.Arguments) string {
	for _, known := range []string{"authorization_code", "refresh_token", "client_credentials"} {
		if gt.ExactOne(known) {
			return known
		}
	}
	return "other"
}

// introspectionRequest is the parsed body of an RFC 7662 request.
type introspectionRequest struct {
	Token         string
	TokenTypeHint fosite.TokenUse
}

var errBadIntrospection = errors.New("invalid introspection request")

// parseIntrospection validates an introspection body. It is separate from
// the handler so it can be fuzzed.
func parseIntrospection(form map[string][]string) (introspectionRequest, error) {
	token := first(form["token"])
	if token == "" || len(form["token"]) > 1 {
		return introspectionRequest{}, errBadIntrospection
	}
	hint := first(form["token_type_hint"])
	switch hint {
	case "", "access_token", "refresh_token":
	default:
		// RFC 7662 §2.1: an unknown hint is ignored, not an error.
		hint = ""
	}
	return introspectionRequest{Token: token, TokenTypeHint: fosite.TokenUse(hint)}, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// introspect implements RFC 7662. The caller authenticates as a confidential
// client with any method the token endpoint accepts. A client sees its own
// tokens and those naming it in their audience; a client registered with
// IntrospectAny (a resource server) sees all. Anything else is active:false,
// which tells nothing about the token.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, ok := p.introspectionCaller(w, r)
	if !ok {
		return
	}
	req, err := parseIntrospection(r.PostForm)
	if err != nil {
		p.Metrics.Introspections.WithLabelValues("invalid_request").Inc()
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "The 'token' parameter is required exactly once.")
		return
	}
	use, ar, err := p.fosite.IntrospectToken(ctx, req.Token, req.TokenTypeHint, NewSession())
	if storageFailed(ctx, err) {
		// Never active:false because the database failed: to a resource
		// server that is revocation.
		p.Metrics.Introspections.WithLabelValues("unavailable").Inc()
		p.writeTokenError(w, r, err)
		return
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField >= 500 {
			p.Log.ErrorContext(ctx, "introspection failed", "err", rfc.Error(), "cause", rfc.Unwrap())
			writeJSONError(w, http.StatusInternalServerError, "server_error", "")
			return
		}
		p.inactive(w)
		return
	}
	if !mayIntrospect(caller, ar) {
		p.inactive(w)
		return
	}
	body, err := p.introspectionClaims(ctx, use, ar)
	switch {
	case errors.Is(err, ErrInactiveToken):
		p.inactive(w)
	case err != nil:
		p.writeStoreError(w, r, err)
	default:
		p.Metrics.Introspections.WithLabelValues("active").Inc()
		writeJSON(w, http.StatusOK, body)
	}
}

// introspectionCaller authenticates the client asking, meters it, and
// refuses public clients; false means it has answered.
func (p *Provider) introspectionCaller(w http.ResponseWriter, r *http.Request) (*Client, bool) {
	ctx := r.Context()
	caller, err := p.fosite.AuthenticateClient(ctx, r, r.PostForm)
	if err == nil {
		requestinfo.SetClient(ctx, caller.GetID())
		if !p.introspectionLimit.Allow(ctx, w.Header(), caller.GetID()) {
			p.Metrics.Introspections.WithLabelValues("rate_limited").Inc()
			WriteRateLimited(w)
			return nil, false
		}
	}
	if err == nil && caller.IsPublic() {
		err = fosite.ErrInvalidClient.WithHint("Public clients cannot introspect tokens.")
	}
	if err != nil {
		p.Metrics.Introspections.WithLabelValues("invalid_client").Inc()
		p.writeTokenError(w, r, err)
		return nil, false
	}
	return caller.(*Client), true
}

// inactive answers active:false, which tells nothing about the token.
func (p *Provider) inactive(w http.ResponseWriter) {
	p.Metrics.Introspections.WithLabelValues("inactive").Inc()
	writeJSON(w, http.StatusOK, map[string]bool{"active": false})
}

// introspectionClaims is what an active token stands for now. A user's
// roles are read now, not from the token's snapshot, so a role change is
// visible to resource servers at once; a disabled user's token is
// ErrInactiveToken. Permissions are expanded here, so JWTs can stay
// small: the roles and the catalog decide, as they are now.
func (p *Provider) introspectionClaims(ctx context.Context, use fosite.TokenUse, ar fosite.Requester) (map[string]any, error) {
	body := p.introspectionBody(use, ar)
	if sess, _ := ar.GetSession().(*Session); sess != nil && sess.Username != "" {
		u, err := p.activeUser(ctx, sess.Subject)
		if err != nil {
			return nil, err
		}
		roles := slices.Clone(u.Roles)
		if roles == nil {
			roles = []string{}
		}
		body["roles"] = roles
	}
	catalog, err := p.roleCatalog(ctx)
	if err != nil {
		return nil, err
	}
	roles, _ := body["roles"].([]string)
	_, perms := catalog.Expand(roles)
	if perms == nil {
		perms = []string{}
	}
	body["permissions"] = perms
	return body, nil
}

func mayIntrospect(caller *Client, ar fosite.Requester) bool {
	return caller.IntrospectAny ||
		ar.GetClient().GetID() == caller.ID ||
		slices.Contains(ar.GetGrantedAudience(), caller.ID)
}

func (p *Provider) introspectionBody(use fosite.TokenUse, ar fosite.Requester) map[string]any {
	sess, _ := ar.GetSession().(*Session)
	body := map[string]any{
		"active":    true,
		"scope":     strings.Join(ar.GetGrantedScopes(), " "),
		"client_id": ar.GetClient().GetID(),
		"iss":       p.opts.Issuer,
		"iat":       ar.GetRequestedAt().Unix(),
		"token_use": string(use),
	}
	aud := []string(ar.GetGrantedAudience())
	if len(aud) == 0 {
		aud = []string{ar.GetClient().GetID()}
	}
	body["aud"] = aud
	if use == fosite.AccessToken {
		body["token_type"] = "Bearer"
	} else {
		body["token_type"] = "refresh_token"
	}
	if sess == nil {
		return body
	}
	tokenType := fosite.AccessToken
	if use == fosite.RefreshToken {
		tokenType = fosite.RefreshToken
	}
	if exp := sess.GetExpiresAt(tokenType); !exp.IsZero() {
		body["exp"] = exp.Unix()
	}
	body["sub"] = sess.Subject
	if sess.Username != "" {
		body["username"] = sess.Username
	}
	roles := sess.Roles
	if roles == nil {
		roles = []string{}
	}
	body["roles"] = roles
	if !sess.AuthTime.IsZero() {
		body["auth_time"] = sess.AuthTime.Unix()
		if sess.ACR != "" {
			body["acr"] = sess.ACR
		}
		if len(sess.AMR) > 0 {
			body["amr"] = sess.AMR
		}
	}
	return body
}

// revoke implements RFC 7009. fosite refuses (silently, with 200) to revoke
// a token of another client.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if len(r.PostForm["token"]) != 1 || r.PostForm.Get("token") == "" {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "The 'token' parameter is required exactly once.")
		return
	}
	err := p.fosite.NewRevocationRequest(ctx, r)
	if storageFailed(ctx, err) {
		// fosite answers an unknown token with success (RFC 7009 §2.2);
		// a token it could not look up is not revoked, and must not look so.
		p.writeStoreError(w, r, err)
		return
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		switch {
		case errors.Is(err, fosite.ErrInvalidClient):
			p.writeTokenError(w, r, err)
			return
		case errors.Is(err, fosite.ErrInvalidRequest):
			p.writeTokenError(w, r, err)
			return
		case rfc.CodeField >= 500:
			p.Log.ErrorContext(ctx, "revocation failed", "err", rfc.Error(), "cause", rfc.Unwrap())
			writeJSONError(w, http.StatusInternalServerError, "server_error", "")
			return
		}
	}
	requestinfo.SetClient(ctx, claimedClientID(r)) // fosite has authenticated it
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// recordRefreshReuse records a refresh token presented again after it was
// rotated (fosite has revoked its family): a security event in the ledger,
// counted and alerted on. A token that was revoked without being rotated
// (a sign-out, a password change) is not reuse: the app simply has not
// heard yet. The client is the one the request named; the request may
// have been the thief's.
func (p *Provider) recordRefreshReuse(r *http.Request, token string) {
	g, err := p.Store.GrantBySignature(r.Context(), identity.GrantRefreshToken, p.strategy.RefreshTokenSignature(r.Context(), token))
	if err != nil || g.RotatedAt == nil {
		return
	}
	client := claimedClientID(r)
	if len(client) > 128 {
		client = client[:128]
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	e := &identity.AuditEvent{Type: identity.AuditRefreshReused, UserID: g.Subject, IP: ip, UserAgent: ua,
		Details: map[string]string{"client_id": client}}
	if err := p.Store.AppendAudit(context.WithoutCancel(r.Context()), e); err != nil {
		p.Log.ErrorContext(r.Context(), "refresh token reuse not recorded", "err", err)
	}
}

// WriteRateLimited answers a request over its budget at an OAuth
// endpoint: 429 with an RFC 6749-style body (the headers, Retry-After
// included, are already set). The server's per-address limits answer the
// same way.
func WriteRateLimited(w http.ResponseWriter) {
	writeJSONError(w, http.StatusTooManyRequests, "temporarily_unavailable",
		"Too many requests: retry after the number of seconds in Retry-After.")
}

// claimedClientID is the client the request names: its HTTP Basic user
// (RFC 6749 §2.3.1 form-encodes it) or the form's client_id (public
// clients, client_secret_post). Authenticated only if fosite said so.
func claimedClientID(r *http.Request) string {
	id, _, ok := r.BasicAuth()
	if !ok {
		return r.PostForm.Get("client_id")
	}
	if u, err := url.QueryUnescape(id); err == nil {
		return u
	}
	return id
}

// userinfo implements OIDC Core §5.3 from the user's current record.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token, inQuery := bearerToken(r)
	if inQuery {
		bearerError(w, http.StatusBadRequest, "invalid_request", "", "The access token must not be sent in the URL: use the Authorization header.")
		return
	}
	if token == "" {
		bearerError(w, http.StatusUnauthorized, "", "invalid_token", "An access token is required.")
		return
	}
	use, ar, err := p.fosite.IntrospectToken(ctx, token, fosite.AccessToken, NewSession())
	if err == nil {
		requestinfo.SetClient(ctx, ar.GetClient().GetID())
	}
	if err != nil && (storageFailed(ctx, err) || fosite.ErrorToRFC6749Error(err).CodeField >= 500) {
		p.writeTokenError(w, r, err)
		return
	}
	if err != nil || use != fosite.AccessToken {
		// Not active, or a token of another kind (a refresh token is not
		// a bearer credential).
		bearerError(w, http.StatusUnauthorized, "invalid_token", "", "The access token is not active.")
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portero", error="insufficient_scope", scope="openid"`)
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "insufficient_scope", "error_description": "The access token lacks the openid scope."})
		return
	}
	user, err := p.activeUser(ctx, ar.GetSession().(*Session).Subject)
	if errors.Is(err, ErrInactiveToken) {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "", "The account no longer exists.")
		return
	}
	if err != nil {
		p.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userinfoClaims(user, ar.GetGrantedScopes()))
}

// bearerError answers a userinfo request per RFC 6750 §3: the challenge
// names challengeErr ("" for a request with no token at all, which gets
// a bare challenge), and the body carries bodyErr (challengeErr when
// empty) and the description.
func bearerError(w http.ResponseWriter, status int, challengeErr, bodyErr, description string) {
	challenge := `Bearer realm="portero"`
	if challengeErr != "" {
		challenge += `, error="` + challengeErr + `"`
	}
	if bodyErr == "" {
		bodyErr = challengeErr
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSON(w, status, map[string]string{"error": bodyErr, "error_description": description})
}

// userinfoClaims are the claims of the user the scopes let the client
// read.
func userinfoClaims(user *identity.User, scopes fosite.Arguments) map[string]any {
	claims := map[string]any{"sub": user.ID}
	if scopes.Has("profile") {
		claims["preferred_username"] = user.Username
	}
	if scopes.Has("email") {
		claims["email"] = user.Email
	}
	if scopes.Has("roles") {
		roles := user.Roles
		if roles == nil {
			roles = []string{}
		}
		claims["roles"] = roles
	}
	return claims
}

// cachedCatalog is the role catalog and until when it may be used.
type cachedCatalog struct {
	catalog identity.RoleCatalog
	until   time.Time
}

// roleCatalog is the role catalog, cached for the client cache's TTL (the
// catalog changes as rarely as clients do). Introspection calls it on every
// request, so a hit is one atomic load, no lock; when it expires, concurrent
// callers may each reload it once, which is harmless.
func (p *Provider) roleCatalog(ctx context.Context) (identity.RoleCatalog, error) {
	now := p.Now()
	if c := p.catalog.Load(); c != nil && now.Before(c.until) {
		return c.catalog, nil
	}
	roles, err := p.Store.Roles(ctx)
	if err != nil {
		return nil, err
	}
	c := &cachedCatalog{catalog: identity.NewRoleCatalog(roles), until: now.Add(p.Clients.TTL)}
	p.catalog.Store(c)
	return c.catalog, nil
}

// addPermissions expands the session's roles into permissions when the
// client wants them in its JWT access tokens.
func (p *Provider) addPermissions(ctx context.Context, c *identity.Client, sess *Session) error {
	if !c.PermissionsClaim {
		return nil
	}
	catalog, err := p.roleCatalog(ctx)
	if err != nil {
		return err
	}
	_, perms := catalog.Expand(sess.Roles)
	if perms == nil {
		perms = []string{}
	}
	sess.Permissions = perms
	return nil
}
