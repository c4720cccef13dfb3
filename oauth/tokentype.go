package oauth

import (
	"net/http"
	"strings"

	"github.com/ory/fosite/token/jwt"
)

// Token-type confusion is one class of defect: a token of one kind taken
// for another (a refresh token as a bearer, an access token as an ID token
// hint). Portero's JWTs say what they are in their typ header (RFC 8725
// §3.11): ID tokens "JWT" (fosite's default), access tokens "at+jwt"
// (RFC 9068), logout tokens "logout+jwt". Every place that accepts a token
// of one kind asks one of the functions here.

// isIDToken reports whether a verified JWT of Portero's is an ID token:
// typ JWT, and none of the claims only access tokens carry.
func isIDToken(tok *jwt.Token) bool {
	typ, _ := tok.Header["typ"].(string)
	if !strings.EqualFold(typ, "JWT") {
		return false
	}
	for _, accessOnly := range []string{"client_id", "scope", "scp"} {
		if _, ok := tok.Claims[accessOnly]; ok {
			return false
		}
	}
	return true
}

// bearerToken returns the access token of a protected-resource request:
// from the Authorization header (RFC 6750 §2.1) or a form-encoded POST
// body (§2.2). A token in the URL query (§2.3) is refused, as RFC 9700
// §2.3 requires: URLs end up in logs, history and Referer headers.
// inQuery reports such a request, to be answered invalid_request.
func bearerToken(r *http.Request) (token string, inQuery bool) {
	if r.URL.Query().Has("access_token") {
		return "", true
	}
	if scheme, value, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(value), false
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err == nil {
			return r.PostForm.Get("access_token"), false
		}
	}
	return "", false
}
