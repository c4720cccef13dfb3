package resource

import "errors"

var (
	// ErrInvalidToken is wrapped by every error that means "this token is
	// not acceptable": malformed, badly signed, expired, revoked, for another
	// issuer or audience. Middleware answers 401 invalid_token.
	ErrInvalidToken = errors.New("resource: invalid access token")
	// ErrUnavailable is wrapped by errors that mean Portero could not be
	// asked (introspection or key set unreachable, or refusing the service's
	// credentials). Middleware answers 503; nothing is cached.
	ErrUnavailable = errors.New("resource: token validation unavailable")
)

// tokenError is an ErrInvalidToken with a description safe to show the
// caller (it never contains the token).
type tokenError struct{ desc string }

func invalidToken(desc string) error { return &tokenError{desc: desc} }

func (e *tokenError) Error() string        { return ErrInvalidToken.Error() + ": " + e.desc }
func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken }

// describe returns the caller-safe description of a validation error.
func describe(err error) string {
	var te *tokenError
	if errors.As(err, &te) {
		return te.desc
	}
	return "the access token is invalid"
}
