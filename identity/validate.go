package identity

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// ErrInvalid marks a record that breaks a domain rule; the wrapped message
// says which, and is safe to show to the operator.
var ErrInvalid = newError(KindInvalid, "invalid", "invalid")

// ErrRedirectURI marks a redirect URI that breaks the rules (RFC 7591's
// invalid_redirect_uri, as against other invalid client metadata).
var ErrRedirectURI = &Error{Kind: KindInvalid, Code: "invalid-redirect-uri", Message: "invalid", refines: ErrInvalid}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// badRedirect is invalid for a redirect URI.
func badRedirect(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRedirectURI}, args...)...)
}

var (
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	roleNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_:-]{0,63}$`)
	usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$`)
)

// MaxTokenRateLimit bounds a client's token budget (requests per minute).
const MaxTokenRateLimit = 1_000_000

// Grant types a client can be registered for.
var knownGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}

// ValidRoleName reports whether name is a well-formed role name.
func ValidRoleName(name string) error {
	if !roleNamePattern.MatchString(name) {
		return invalid("role %q must be 1-64 lower-case letters, digits, '_', ':' or '-', starting with a letter", name)
	}
	return nil
}

// Validate checks a new user's username and e-mail.
func (u *User) Validate() error {
	var errs []error
	if !usernamePattern.MatchString(u.Username) {
		errs = append(errs, invalid("username must be 3-64 letters, digits, '.', '_' or '-'"))
	}
	if at := strings.IndexByte(u.Email, '@'); at < 1 || at == len(u.Email)-1 || len(u.Email) > 254 || strings.ContainsAny(u.Email, " \t\r\n") {
		errs = append(errs, invalid("email %q is not an e-mail address", u.Email))
	}
	for _, r := range u.Roles {
		if err := ValidRoleName(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Validate checks a client registration against the rules of RFC 6749,
// RFC 8252 (native apps) and RFC 9700 (no implicit grant, no password
// grant, exact redirect URIs).
func (c *Client) Validate(allowedScopes []string) error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if !clientIDPattern.MatchString(c.ID) {
		add(invalid("client id %q must be 1-128 letters, digits, '.', '_', ':' or '-'", c.ID))
	}
	if len(c.GrantTypes) == 0 {
		add(invalid("at least one grant type is required"))
	}
	if c.TokenRateLimit < 0 || c.TokenRateLimit > MaxTokenRateLimit {
		add(invalid("token_rate_limit must be 0 (the default) to %d requests per minute", MaxTokenRateLimit))
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrantTypes, g) {
			add(invalid("grant type %q is not supported (use %s)", g, strings.Join(knownGrantTypes, ", ")))
		}
	}
	hasCode := slices.Contains(c.GrantTypes, "authorization_code")
	if hasCode && len(c.RedirectURIs) == 0 {
		add(badRedirect("the authorization_code grant needs at least one redirect URI"))
	}
	if slices.Contains(c.GrantTypes, "refresh_token") && !hasCode {
		add(invalid("the refresh_token grant is only issued with authorization_code"))
	}
	for _, u := range c.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			add(err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			add(err)
		}
	}
	if len(c.AllowedOrigins) > MaxAllowedOrigins {
		add(invalid("at most %d allowed origins", MaxAllowedOrigins))
	}
	for _, o := range c.AllowedOrigins {
		if err := ValidateOrigin(o); err != nil {
			add(err)
		}
	}
	if len(c.AllowedOrigins) > 0 && !slices.Contains(c.GrantTypes, "authorization_code") {
		add(invalid("allowed origins are for browser apps, which use the authorization_code grant"))
	}
	if u := c.BackchannelLogoutURI; u != "" {
		p, err := url.Parse(u)
		loopback := err == nil && (p.Hostname() == "localhost" || net.ParseIP(p.Hostname()).IsLoopback())
		if err != nil || p.Fragment != "" || p.Host == "" || !(p.Scheme == "https" || (p.Scheme == "http" && loopback)) {
			add(invalid("backchannel logout uri %q must be an absolute https URL without a fragment (http only on a loopback host)", u))
		}
	}
	for _, s := range c.Scopes {
		if allowedScopes != nil && !slices.Contains(allowedScopes, s) {
			add(invalid("scope %q is not one of the allowed scopes (%s)", s, strings.Join(allowedScopes, " ")))
		}
	}
	for _, r := range c.Roles {
		if err := ValidRoleName(r); err != nil {
			add(err)
		}
	}
	switch c.TokenFormat {
	case TokenFormatJWT, TokenFormatOpaque:
	default:
		add(invalid("token format must be %q or %q", TokenFormatJWT, TokenFormatOpaque))
	}
	switch c.IDTokenSignedResponseAlg {
	case "RS256", "ES256":
	default:
		add(invalid("id_token_signed_response_alg must be RS256 or ES256"))
	}
	switch c.TokenEndpointAuthMethod {
	case AuthMethodNone:
		if slices.Contains(c.GrantTypes, "client_credentials") {
			add(invalid("a public client cannot use client_credentials"))
		}
		if c.IntrospectAny {
			add(invalid("a public client cannot introspect tokens"))
		}
	case AuthMethodBasic, AuthMethodPost:
		if len(c.SecretHash) == 0 {
			add(invalid("auth method %s needs a confidential client with a secret", c.TokenEndpointAuthMethod))
		}
	case AuthMethodPrivateKey:
		if len(c.JWKS) == 0 {
			add(invalid("auth method private_key_jwt needs a confidential client with a JWKS"))
		}
	default:
		add(invalid("auth method %q is not supported", c.TokenEndpointAuthMethod))
	}
	if c.IsPublic() && len(c.SecretHash) > 0 {
		add(invalid("a public client has no secret"))
	}
	return errors.Join(errs...)
}

// MaxAllowedOrigins bounds a client's CORS allow-list.
const MaxAllowedOrigins = 20

// ValidateOrigin accepts a web origin as browsers send it in the Origin
// header: scheme://host[:port], lower case, no path, query or fragment;
// https, or http on a loopback host (a developer's machine). Never "*":
// each browser app names its own origins.
func ValidateOrigin(o string) error {
	u, err := url.Parse(o)
	ok := err == nil && u.Host != "" && u.User == nil && u.Path == "" && u.RawQuery == "" && u.Fragment == "" &&
		!u.ForceQuery && o == strings.ToLower(o) && u.Scheme+"://"+u.Host == o
	if ok {
		loopback := u.Hostname() == "localhost" || net.ParseIP(u.Hostname()).IsLoopback()
		ok = u.Scheme == "https" || (u.Scheme == "http" && loopback)
	}
	if !ok {
		return invalid("allowed origin %q must be an origin like https://shop.example.co (scheme, host and port only, lower case; http only on a loopback host)", o)
	}
	return nil
}

// validateRedirectURI accepts https URIs, http only on loopback (RFC 8252
// §7.3) and private-use schemes of native apps (RFC 8252 §7.1); never a
// fragment, never user info.
func validateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return badRedirect("redirect URI %q is not an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return badRedirect("redirect URI %q must not have a fragment", raw)
	}
	if u.User != nil {
		return badRedirect("redirect URI %q must not carry user information", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return badRedirect("redirect URI %q has no host", raw)
		}
	case "http":
		// RFC 8252 §7.3 and §8.3: the loopback IP literal, not "localhost",
		// which a hosts file or resolver may send elsewhere and which a
		// firewall may let through on another interface.
		host := u.Hostname()
		if host != "127.0.0.1" && host != "::1" {
			return badRedirect("redirect URI %q: http is only allowed on the loopback IP literals 127.0.0.1 and [::1] (not localhost, RFC 8252 §8.3)", raw)
		}
	case "javascript", "data", "file", "vbscript":
		return badRedirect("redirect URI %q uses a forbidden scheme", raw)
	default:
		// Private-use scheme of a native app: RFC 8252 wants reverse DNS.
		if !strings.Contains(u.Scheme, ".") {
			return badRedirect("redirect URI %q: a native app's scheme must be a reverse domain name (e.g. com.example.app)", raw)
		}
	}
	return nil
}
