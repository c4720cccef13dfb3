package resource

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Claims describe a validated access token.
type Claims struct {
	// Subject is the user, or the client itself for client credentials.
	Subject string
	// ClientID is the client the token was issued to.
	ClientID string
	Issuer   string
	Audience []string
	// Scopes are the granted scopes.
	Scopes []string
	// Roles are the user's roles (or the client's, for client credentials).
	Roles []string
	// Permissions come from a "permissions" claim when the token has one
	// (Portero adds it in a later release); empty otherwise.
	Permissions []string
	ExpiresAt   time.Time
	IssuedAt    time.Time
	// Raw holds every claim: the JWT's claim set, or the introspection
	// response. Numbers are float64.
	Raw map[string]any
}

// HasScope reports whether scope was granted.
func (c *Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// HasRole reports whether the token carries role.
func (c *Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// HasPermission reports whether the token carries perm.
func (c *Claims) HasPermission(perm string) bool { return slices.Contains(c.Permissions, perm) }

// claimsFrom builds Claims from a JWT claim set or an introspection
// response (they share the RFC 7519 names).
func claimsFrom(raw map[string]any) *Claims {
	c := &Claims{
		Subject:     str(raw["sub"]),
		ClientID:    str(raw["client_id"]),
		Issuer:      str(raw["iss"]),
		Audience:    strs(raw["aud"]),
		Roles:       strs(raw["roles"]),
		Permissions: strs(raw["permissions"]),
		Raw:         raw,
	}
	if s, ok := raw["scope"]; ok {
		c.Scopes = strs(s)
	} else {
		c.Scopes = strs(raw["scp"])
	}
	c.ExpiresAt, _ = numericDate(raw["exp"])
	c.IssuedAt, _ = numericDate(raw["iat"])
	return c
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// strs reads a claim that is a JSON array of strings or one string of
// space-separated values (as "scope" is).
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return slices.Clone(v)
	}
	return nil
}

// numericDate reads an RFC 7519 NumericDate; ok is false when the claim is
// absent or not a finite number.
func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// clone copies c so that callers may change it without touching the cache.
func (c *Claims) clone() *Claims {
	out := *c
	out.Audience = slices.Clone(c.Audience)
	out.Scopes = slices.Clone(c.Scopes)
	out.Roles = slices.Clone(c.Roles)
	out.Permissions = slices.Clone(c.Permissions)
	out.Raw = maps.Clone(c.Raw)
	return &out
}
