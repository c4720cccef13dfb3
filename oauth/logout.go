package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/ory/fosite/token/jwt"

	"github.com/portero-id/portero/identity"
)

type logoutRequest struct {
	hintSubject string // sub of a valid id_token_hint
	client      *Client
	redirect    string // validated post_logout_redirect_uri
	state       string
}

// logout implements OpenID Connect RP-Initiated Logout 1.0. Without a valid
// id_token_hint for the signed-in user the user confirms first, so a link on
// another site cannot sign people out. The browser is only ever redirected
// to a post_logout_redirect_uri registered by the client.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		p.Pages.Error(w, r, http.StatusBadRequest, "invalid_request", "logout.error.invalid")
		return
	}
	req, msg := p.parseLogout(r)
	if msg != "" && storageFailed(ctx, nil) {
		// The client could not be looked up: not an unknown client.
		p.Pages.Failure(w, r, identity.ErrUnavailable)
		return
	}
	if msg != "" {
		p.Pages.Error(w, r, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	browser, err := p.Sessions.Current(r)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		p.Log.ErrorContext(ctx, "logout session lookup", "err", err)
		p.Pages.Failure(w, r, err)
		return
	}
	confirmed := browser != nil && r.Method == http.MethodPost &&
		hmac.Equal([]byte(r.PostForm.Get("confirm")), []byte(p.logoutToken(browser)))
	hintMatches := browser != nil && req.hintSubject != "" && req.hintSubject == browser.UserID
	if browser != nil && !confirmed && !hintMatches {
		params := map[string]string{}
		for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
			if v := r.Form.Get(k); v != "" {
				params[k] = v
			}
		}
		p.Pages.Render(w, r, http.StatusOK, "logout", struct {
			Params  map[string]string
			Confirm string
		}{params, p.logoutToken(browser)})
		return
	}
	if err := p.Sessions.End(w, r); err != nil {
		p.Log.ErrorContext(ctx, "end browser session", "err", err)
		p.Pages.Failure(w, r, err)
		return
	}
	if req.redirect == "" {
		p.Pages.Render(w, r, http.StatusOK, "loggedout", nil)
		return
	}
	target := req.redirect
	if req.state != "" {
		u, _ := url.Parse(target) // validated in parseLogout
		q := u.Query()
		q.Set("state", req.state)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// parseLogout validates the request's parameters; a non-empty message is
// shown to the user.
func (p *Provider) parseLogout(r *http.Request) (logoutRequest, string) {
	ctx := r.Context()
	var req logoutRequest
	req.state = r.Form.Get("state")
	clientID := r.Form.Get("client_id")
	if hint := r.Form.Get("id_token_hint"); hint != "" {
		tok, err := p.strategy.Decode(ctx, hint)
		var ve *jwt.ValidationError
		// An expired hint still identifies the user and client (spec §2).
		if err != nil && !(errors.As(err, &ve) && ve.Errors == jwt.ValidationErrorExpired) {
			return req, "logout.error.bad_hint"
		}
		if !isIDToken(tok) {
			// An access or logout token is signed by the same keys; only
			// an ID token names the user to the relying party.
			return req, "logout.error.bad_hint"
		}
		claims := tok.Claims
		if iss, _ := claims["iss"].(string); iss != p.opts.Issuer {
			return req, "logout.error.foreign_hint"
		}
		req.hintSubject, _ = claims["sub"].(string)
		aud := audienceOf(claims)
		if clientID == "" && len(aud) > 0 {
			clientID = aud[0]
		} else if clientID != "" && !slices.Contains(aud, clientID) {
			return req, "logout.error.client_mismatch"
		}
	}
	redirect := r.Form.Get("post_logout_redirect_uri")
	if clientID != "" {
		c, err := p.Clients.Get(ctx, clientID)
		if err != nil {
			return req, "logout.error.unknown_client"
		}
		req.client = c
	}
	if redirect != "" {
		if req.client == nil {
			return req, "logout.error.no_client"
		}
		if !slices.Contains(req.client.PostLogoutRedirectURIs, redirect) {
			return req, "logout.error.unregistered_redirect"
		}
		if _, err := url.Parse(redirect); err != nil {
			return req, "logout.error.bad_redirect"
		}
		req.redirect = redirect
	}
	return req, ""
}

// logoutToken binds the confirmation form to the browser session, so a
// cross-site form cannot confirm a logout (the endpoint must accept
// cross-site POSTs from relying parties, so origin checks cannot be used).
func (p *Provider) logoutToken(s *identity.Session) string {
	mac := hmac.New(sha256.New, p.logoutKey)
	mac.Write([]byte(s.ID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func audienceOf(claims jwt.MapClaims) []string {
	switch v := claims["aud"].(type) {
	case string:
		return []string{v}
	case []interface{}:
		out := make([]string, 0, len(v))
		for _, a := range v {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
