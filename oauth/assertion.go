package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
)

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Client assertions (private_key_jwt, RFC 7523) are short-lived proofs, not
// credentials: one whose lifetime (exp - iat) is longer than
// maxAssertionLifetime is refused, as is one issued more than clockSkew in
// the future (FAPI 2.0 Security Profile §5.3.2.1 bounds iat the same
// way). Each jti is still spent once (Storage.SetClientAssertionJWT).
const (
	maxAssertionLifetime = 5 * time.Minute
	assertionClockSkew   = time.Minute
)

// authenticateClient wraps fosite's client authentication: it bounds the
// lifetime of client assertions before fosite verifies them, and makes
// sure every refusal is an RFC 6749 invalid_client, never a server_error
// (fosite passes some JWT validation errors, an expired assertion's among
// them, through as plain errors, which would be answered 500).
func authenticateClient(f func() *fosite.Fosite, now func() time.Time) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		assertion := form.Get("client_assertion_type") == clientAssertionType
		if assertion {
			if err := checkAssertionTimes(form.Get("client_assertion"), now()); err != nil {
				return nil, err
			}
		}
		c, err := f().DefaultClientAuthenticationStrategy(ctx, r, form)
		var rfc *fosite.RFC6749Error
		if err != nil && assertion && !errors.As(err, &rfc) {
			// The JWT library's own validation errors (expired, not yet
			// valid, malformed) arrive unwrapped.
			return nil, fosite.ErrInvalidClient.WithHint("The client assertion could not be verified.").WithWrap(err)
		}
		return c, err
	}
}

// checkAssertionTimes reads exp and iat of an assertion (not yet verified:
// fosite does that next, and these checks only ever refuse).
func checkAssertionTimes(assertion string, now time.Time) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return fosite.ErrInvalidClient.WithHint("The client assertion is not a signed JWT.")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion is not a signed JWT.")
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
		Iat *json.Number `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion must carry an exp claim.")
	}
	exp, err := claims.Exp.Float64()
	if err != nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion's exp is not a number.")
	}
	expires := time.Unix(int64(exp), 0)
	if !now.Before(expires) {
		return fosite.ErrInvalidClient.WithHint("The client assertion has expired.")
	}
	issued := now
	if claims.Iat != nil {
		iat, err := claims.Iat.Float64()
		if err != nil {
			return fosite.ErrInvalidClient.WithHint("The client assertion's iat is not a number.")
		}
		issued = time.Unix(int64(iat), 0)
		if issued.After(now.Add(assertionClockSkew)) {
			return fosite.ErrInvalidClient.WithHint("The client assertion was issued in the future.")
		}
	}
	if expires.Sub(issued) > maxAssertionLifetime {
		return fosite.ErrInvalidClient.WithHintf("The client assertion may be valid for at most %s.", maxAssertionLifetime)
	}
	return nil
}
