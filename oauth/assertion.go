package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v3/jwt"
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

// checkAssertionTimes reads exp and iat of an assertion with go-jose,
// without verifying it: fosite verifies it next, and these checks only
// ever refuse.
func checkAssertionTimes(assertion string, now time.Time) error {
	tok, err := jwt.ParseSigned(assertion)
	if err != nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion is not a signed JWT.")
	}
	var claims jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil || claims.Expiry == nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion must carry a numeric exp claim.")
	}
	expires := claims.Expiry.Time()
	if !now.Before(expires) {
		return fosite.ErrInvalidClient.WithHint("The client assertion has expired.")
	}
	issued := now
	if claims.IssuedAt != nil {
		issued = claims.IssuedAt.Time()
		if issued.After(now.Add(assertionClockSkew)) {
			return fosite.ErrInvalidClient.WithHint("The client assertion was issued in the future.")
		}
	}
	if expires.Sub(issued) > maxAssertionLifetime {
		return fosite.ErrInvalidClient.WithHintf("The client assertion may be valid for at most %s.", maxAssertionLifetime)
	}
	return nil
}
