package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// tokenStrategy issues each client's access tokens in the format it chose
// (RFC 9068 JWT by default, opaque HMAC on request), refresh tokens and
// codes as opaque HMAC values, and ID tokens with the client's algorithm.
type tokenStrategy struct {
	opaque   *prefixedHMAC
	jwt      *oauth2.DefaultJWTStrategy
	idTokens map[string]*openid.DefaultStrategy // by algorithm
	// Signer verifies id_token_hint values (any published key).
	jwt.Signer
}

var (
	_ oauth2.CoreStrategy               = (*tokenStrategy)(nil)
	_ openid.OpenIDConnectTokenStrategy = (*tokenStrategy)(nil)
	_ jwt.Signer                        = (*tokenStrategy)(nil)
)

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// JWT access tokens are stored under a SHA-256 digest of the whole token
// rather than under their signature part. Finding the grant by that key
// proves the presented token is byte for byte the one Portero issued, so
// introspection need not verify the signature again (an ES256 verification
// was half of a JWT introspection's CPU), and a token whose header or claims
// were altered around a genuine signature can never match a grant.
func jwtDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *tokenStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		if isStateless(token) {
			return statelessSignature + token
		}
		return jwtDigest(token)
	}
	return s.opaque.AccessTokenSignature(ctx, token)
}

func (s *tokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if c, ok := r.GetClient().(*Client); ok && c.opaqueTokens() {
		return s.opaque.GenerateAccessToken(ctx, r)
	}
	token, _, err := s.jwt.GenerateAccessToken(ctx, r)
	if err != nil {
		return "", "", err
	}
	if sess, ok := r.GetSession().(*Session); ok && sess.Stateless {
		return token, statelessSignature + token, nil
	}
	return token, jwtDigest(token), nil
}

// ValidateAccessToken runs after fosite found the grant by the token's
// signature key (its only caller is introspection), so for a JWT only the
// stored expiry is left to check; see jwtDigest.
func (s *tokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if !isJWT(token) {
		return s.opaque.ValidateAccessToken(ctx, r, token)
	}
	if exp := r.GetSession().GetExpiresAt(fosite.AccessToken); exp.IsZero() || !exp.After(time.Now()) {
		return fosite.ErrTokenExpired.WithHint("The access token expired.")
	}
	return nil
}

func (s *tokenStrategy) RefreshTokenSignature(ctx context.Context, token string) string {
	return s.opaque.RefreshTokenSignature(ctx, token)
}

func (s *tokenStrategy) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	return s.opaque.GenerateRefreshToken(ctx, r)
}

func (s *tokenStrategy) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	return s.opaque.ValidateRefreshToken(ctx, r, token)
}

func (s *tokenStrategy) AuthorizeCodeSignature(ctx context.Context, token string) string {
	return s.opaque.AuthorizeCodeSignature(ctx, token)
}

func (s *tokenStrategy) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	return s.opaque.GenerateAuthorizeCode(ctx, r)
}

func (s *tokenStrategy) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	return s.opaque.ValidateAuthorizeCode(ctx, r, token)
}

func (s *tokenStrategy) GenerateIDToken(ctx context.Context, lifespan time.Duration, r fosite.Requester) (string, error) {
	alg := AlgRS256
	if c, ok := r.GetClient().(*Client); ok {
		alg = c.idTokenAlg()
	}
	return s.idTokens[alg].GenerateIDToken(ctx, lifespan, r)
}

// prefixedHMAC is fosite's HMAC strategy with Portero's own prefixes, so a
// leaked token is recognisable by secret scanners and by people.
type prefixedHMAC struct {
	*oauth2.HMACSHAStrategyUnPrefixed
}

const (
	prefixAccess  = "portero_at_"
	prefixRefresh = "portero_rt_"
	prefixCode    = "portero_ac_"
)

func withPrefix(prefix, token string, sig string, err error) (string, string, error) {
	if err != nil {
		return "", "", err
	}
	return prefix + token, sig, nil
}

func (h *prefixedHMAC) AccessTokenSignature(ctx context.Context, token string) string {
	return h.HMACSHAStrategyUnPrefixed.AccessTokenSignature(ctx, strings.TrimPrefix(token, prefixAccess))
}

func (h *prefixedHMAC) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	t, s, err := h.HMACSHAStrategyUnPrefixed.GenerateAccessToken(ctx, r)
	return withPrefix(prefixAccess, t, s, err)
}

func (h *prefixedHMAC) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	return h.HMACSHAStrategyUnPrefixed.ValidateAccessToken(ctx, r, strings.TrimPrefix(token, prefixAccess))
}

func (h *prefixedHMAC) RefreshTokenSignature(ctx context.Context, token string) string {
	return h.HMACSHAStrategyUnPrefixed.RefreshTokenSignature(ctx, strings.TrimPrefix(token, prefixRefresh))
}

func (h *prefixedHMAC) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	t, s, err := h.HMACSHAStrategyUnPrefixed.GenerateRefreshToken(ctx, r)
	return withPrefix(prefixRefresh, t, s, err)
}

func (h *prefixedHMAC) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	return h.HMACSHAStrategyUnPrefixed.ValidateRefreshToken(ctx, r, strings.TrimPrefix(token, prefixRefresh))
}

func (h *prefixedHMAC) AuthorizeCodeSignature(ctx context.Context, token string) string {
	return h.HMACSHAStrategyUnPrefixed.AuthorizeCodeSignature(ctx, strings.TrimPrefix(token, prefixCode))
}

func (h *prefixedHMAC) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	t, s, err := h.HMACSHAStrategyUnPrefixed.GenerateAuthorizeCode(ctx, r)
	return withPrefix(prefixCode, t, s, err)
}

func (h *prefixedHMAC) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	return h.HMACSHAStrategyUnPrefixed.ValidateAuthorizeCode(ctx, r, strings.TrimPrefix(token, prefixCode))
}

// accessTokenSigner adds the RFC 9068 defaults fosite leaves out: aud is
// required, and a token requested without a resource names its client.
type accessTokenSigner struct {
	*keySigner
}

func (s accessTokenSigner) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if aud, _ := claims["aud"].([]string); len(aud) == 0 {
		if clientID, ok := claims["client_id"].(string); ok {
			claims["aud"] = []string{clientID}
		}
	}
	return s.keySigner.Generate(ctx, claims, header)
}
