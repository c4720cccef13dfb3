package oauth

import (
	"maps"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is what Portero stores with every grant: who the token is about,
// their roles and how they signed in. It serves fosite's OIDC handlers (ID
// token claims) and the JWT access-token strategy (RFC 9068 claims).
type Session struct {
	openid.DefaultSession
	ClientID string   `json:"client_id"`
	Roles    []string `json:"roles"`
	// Permissions, when the client asked for them, go in the JWT access
	// token (expanded from Roles when the token was issued).
	Permissions []string  `json:"permissions,omitempty"`
	AuthTime    time.Time `json:"auth_time,omitzero"`
	ACR         string    `json:"acr,omitempty"`
	AMR         []string  `json:"amr,omitempty"`
	// BrowserSession is the digest of the browser session the grant came
	// from, so a logout can find its tokens.
	BrowserSession string `json:"browser_session,omitempty"`
	// Stateless: the access token has no row (stateless.go); it says so
	// in a signed claim.
	Stateless bool `json:"-"`
}

var (
	_ openid.Session             = (*Session)(nil)
	_ oauth2.JWTSessionContainer = (*Session)(nil)
)

// NewSession returns an empty session ready for fosite.
func NewSession() *Session {
	return &Session{DefaultSession: openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{Extra: map[string]interface{}{}},
		Headers: &jwt.Headers{Extra: map[string]interface{}{}},
	}}
}

// GetJWTClaims returns the RFC 9068 claims of an access token; fosite adds
// iss, aud, exp, iat, scope and jti.
func (s *Session) GetJWTClaims() jwt.JWTClaimsContainer {
	extra := map[string]interface{}{"client_id": s.ClientID}
	if s.Roles != nil {
		extra["roles"] = slices.Clone(s.Roles)
	} else {
		extra["roles"] = []string{}
	}
	if s.Permissions != nil {
		extra["permissions"] = slices.Clone(s.Permissions)
	}
	if s.Stateless {
		extra[statelessClaim] = true
	}
	if !s.AuthTime.IsZero() {
		extra["auth_time"] = s.AuthTime.Unix()
		if s.ACR != "" {
			extra["acr"] = s.ACR
		}
		if len(s.AMR) > 0 {
			extra["amr"] = slices.Clone(s.AMR)
		}
	}
	return &jwt.JWTClaims{Subject: s.Subject, Extra: extra}
}

// GetJWTHeader marks access tokens as RFC 9068 tokens, which fosite v0.49
// does not do by itself.
func (s *Session) GetJWTHeader() *jwt.Headers {
	return &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}}
}

// Clone deep-copies the session; fosite clones before it mutates.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.ExpiresAt = maps.Clone(s.ExpiresAt)
	c.Roles = slices.Clone(s.Roles)
	c.Permissions = slices.Clone(s.Permissions)
	c.AMR = slices.Clone(s.AMR)
	if s.Claims != nil {
		claims := *s.Claims
		claims.Audience = slices.Clone(s.Claims.Audience)
		claims.AuthenticationMethodsReferences = slices.Clone(s.Claims.AuthenticationMethodsReferences)
		claims.Extra = maps.Clone(s.Claims.Extra)
		c.Claims = &claims
	}
	if s.Headers != nil {
		c.Headers = &jwt.Headers{Extra: maps.Clone(s.Headers.Extra)}
	}
	return &c
}
