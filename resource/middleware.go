package resource

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

type ctxKey struct{}

// authInfo is what Middleware leaves in the context.
type authInfo struct {
	claims *Claims
	realm  string
}

// FromContext returns the claims Middleware validated for this request.
func FromContext(ctx context.Context) (*Claims, bool) {
	info, ok := ctx.Value(ctxKey{}).(*authInfo)
	if !ok || info.claims == nil {
		return nil, false
	}
	return info.claims, true
}

// Middleware validates the "Authorization: Bearer" token of every request
// and calls next with the *Claims in the context (see FromContext).
// Otherwise it answers as RFC 6750 §3 says:
//
//   - no bearer token (no header, another scheme): 401 with
//     `WWW-Authenticate: Bearer realm="..."` and no error code;
//   - a malformed header (empty or non-b64token value, several
//     Authorization headers): 400 with error="invalid_request";
//   - a token that is not acceptable: 401 with error="invalid_token";
//   - Portero unreachable: 503 (nothing is cached, the next request asks
//     again).
//
// The token is taken from the header only, never from the URL or the body.
func (v *Validator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, status := bearerToken(r)
		switch status {
		case tokenMissing:
			challenge(w, v.realm, http.StatusUnauthorized, "", "", "")
			return
		case tokenMalformed:
			challenge(w, v.realm, http.StatusBadRequest, "invalid_request", "the Authorization header is not a valid Bearer credential", "")
			return
		}
		claims, err := v.Validate(r.Context(), token)
		switch {
		case errors.Is(err, ErrInvalidToken):
			challenge(w, v.realm, http.StatusUnauthorized, "invalid_token", describe(err), "")
			return
		case err != nil:
			if r.Context().Err() == nil {
				v.log.WarnContext(r.Context(), "resource: cannot validate the access token", "err", err)
			}
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the access token cannot be validated now")
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, &authInfo{claims: claims, realm: v.realm})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type tokenStatus int

const (
	tokenOK tokenStatus = iota
	tokenMissing
	tokenMalformed
)

// bearerToken extracts the RFC 6750 §2.1 credential.
func bearerToken(r *http.Request) (string, tokenStatus) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", tokenMissing
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(values[0], " "), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		if len(values) > 1 {
			return "", tokenMalformed
		}
		return "", tokenMissing // another scheme: the client did not know
	}
	if len(values) > 1 {
		return "", tokenMalformed
	}
	token := strings.Trim(rest, " ")
	if !isB64Token(token) {
		return "", tokenMalformed
	}
	return token, tokenOK
}

// isB64Token checks b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
// "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// RequireScope lets a request through only if its token was granted scope;
// otherwise 403 with error="insufficient_scope" and scope="...". It must run
// inside Middleware (without it every request is 401).
func RequireScope(scope string) func(http.Handler) http.Handler {
	return require(func(c *Claims) bool { return c.HasScope(scope) }, "the access token lacks the scope "+scope, scope)
}

// RequireRole lets a request through only if its token carries at least one
// of roles; otherwise 403 with error="insufficient_scope".
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	return require(func(c *Claims) bool {
		for _, r := range roles {
			if c.HasRole(r) {
				return true
			}
		}
		return false
	}, "the access token lacks the role "+strings.Join(roles, " or "), "")
}

// RequirePermission lets a request through only if Claims.Permissions holds
// perm; otherwise 403 with error="insufficient_scope". Permissions come from
// the token's "permissions" claim, which Portero issues from a later release
// on: until then this refuses every token.
func RequirePermission(perm string) func(http.Handler) http.Handler {
	return require(func(c *Claims) bool { return c.HasPermission(perm) }, "the access token lacks the permission "+perm, "")
}

func require(ok func(*Claims) bool, desc, scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info, _ := r.Context().Value(ctxKey{}).(*authInfo)
			if info == nil || info.claims == nil {
				// Not behind Middleware: fail closed.
				challenge(w, "api", http.StatusUnauthorized, "", "", "")
				return
			}
			if !ok(info.claims) {
				challenge(w, info.realm, http.StatusForbidden, "insufficient_scope", desc, scope)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// challenge writes an RFC 6750 §3 response: the WWW-Authenticate header
// and, with an error code, a JSON body with the same code.
func challenge(w http.ResponseWriter, realm string, status int, code, desc, scope string) {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quote(realm))
	b.WriteByte('"')
	if code != "" {
		b.WriteString(`, error="`)
		b.WriteString(code)
		b.WriteByte('"')
		if desc != "" {
			b.WriteString(`, error_description="`)
			b.WriteString(quote(desc))
			b.WriteByte('"')
		}
		if scope != "" {
			b.WriteString(`, scope="`)
			b.WriteString(quote(scope))
			b.WriteByte('"')
		}
	}
	w.Header().Set("WWW-Authenticate", b.String())
	if code == "" {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return
	}
	writeError(w, status, code, desc)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	_ = json.NewEncoder(w).Encode(body)
}

// quote keeps a value inside an RFC 9110 quoted-string: RFC 6750 limits
// error_description and scope to printable ASCII without '"' and '\'.
func quote(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
