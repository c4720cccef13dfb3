package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// allowedAlgs are the signature algorithms accepted on access tokens; "none"
// and the HMAC algorithms never are.
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256}

const (
	// minRefreshInterval rate-limits JWKS fetches caused by unknown kids.
	minRefreshInterval = 10 * time.Second
	// The key set is fetched again after its Cache-Control max-age, within
	// these bounds (default when absent: defaultJWKSMaxAge).
	defaultJWKSMaxAge = 10 * time.Minute
	minJWKSMaxAge     = time.Minute
	maxJWKSMaxAge     = time.Hour
)

// verifyJWT checks an RFC 9068 access token locally.
func (v *Validator) verifyJWT(ctx context.Context, token string) (*Claims, error) {
	jws, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		// Also "alg":"none" and HS256, which are not in allowedAlgs.
		return nil, invalidToken("the access token is malformed or uses an unsupported algorithm")
	}
	h := jws.Signatures[0].Protected
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !isAccessTokenType(typ) {
		return nil, invalidToken("the access token is not an RFC 9068 access token (typ is not at+jwt)")
	}
	keys, err := v.keys.candidates(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = jws.Verify(k); err == nil {
			break
		}
	}
	if payload == nil {
		return nil, invalidToken("the access token's signature is invalid")
	}
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, invalidToken("the access token's claims are malformed")
	}
	c := claimsFrom(raw)
	if c.Issuer != v.cfg.Issuer {
		return nil, invalidToken("the access token is from another issuer")
	}
	if err := v.checkAudience(c.Audience); err != nil {
		return nil, err
	}
	now := v.now()
	exp, ok := numericDate(raw["exp"])
	switch {
	case !ok:
		return nil, invalidToken("the access token has no expiry")
	case !now.Before(exp.Add(leeway)):
		return nil, invalidToken("the access token expired")
	}
	if _, present := raw["nbf"]; present {
		nbf, ok := numericDate(raw["nbf"])
		if !ok || now.Add(leeway).Before(nbf) {
			return nil, invalidToken("the access token is not valid yet")
		}
	}
	if _, present := raw["iat"]; present {
		iat, ok := numericDate(raw["iat"])
		if !ok || now.Add(leeway).Before(iat) {
			return nil, invalidToken("the access token was issued in the future")
		}
	}
	return c, nil
}

// isAccessTokenType accepts the RFC 9068 media type, short or long.
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// keySet is Portero's published JWKS, fetched on demand.
type keySet struct {
	uri    string
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
	flight singleflight.Group

	mu        sync.RWMutex
	keys      []jose.JSONWebKey
	fetched   time.Time // last successful fetch
	attempted time.Time // last fetch, successful or not
	maxAge    time.Duration
}

// candidates returns the published keys that may have signed a token with
// this kid and alg, fetching the set again when the kid is unknown (at most
// every minRefreshInterval) or the set is stale.
func (s *keySet) candidates(ctx context.Context, kid, alg string) ([]*jose.JSONWebKey, error) {
	now := s.now()
	s.mu.RLock()
	keys := s.findLocked(kid, alg)
	stale := now.Sub(s.fetched) >= s.maxAge
	mayRefresh := now.Sub(s.attempted) >= minRefreshInterval
	s.mu.RUnlock()
	if (len(keys) == 0 || stale) && mayRefresh {
		if err := s.refreshShared(ctx); err != nil {
			if len(keys) == 0 {
				return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			// Keep verifying with the keys we have.
		} else {
			s.mu.RLock()
			keys = s.findLocked(kid, alg)
			s.mu.RUnlock()
		}
	}
	if len(keys) == 0 {
		return nil, invalidToken("the access token's signing key is unknown")
	}
	return keys, nil
}

func (s *keySet) findLocked(kid, alg string) []*jose.JSONWebKey {
	var out []*jose.JSONWebKey
	for i := range s.keys {
		k := &s.keys[i]
		if (kid == "" || k.KeyID == kid) && keyFits(k, alg) {
			out = append(out, k)
		}
	}
	return out
}

// keyFits reports whether k may verify a signature made with alg: the key,
// not the token, decides (no algorithm confusion).
func keyFits(k *jose.JSONWebKey, alg string) bool {
	if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != alg) {
		return false
	}
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && pub.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return (alg == string(jose.RS256) || alg == string(jose.PS256)) && pub.N.BitLen() >= 2048
	}
	return false
}

// refreshShared fetches the set once for all concurrent callers.
func (s *keySet) refreshShared(ctx context.Context) error {
	ch := s.flight.DoChan("jwks", func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), introspectionTimeout)
		defer cancel()
		return nil, s.refresh(cctx)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refresh fetches the key set. Keys that cannot be parsed or used are
// skipped; a set without a usable key is an error.
func (s *keySet) refresh(ctx context.Context) error {
	s.mu.Lock()
	s.attempted = s.now()
	s.mu.Unlock()
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	header, err := fetchJSON(ctx, s.client, s.uri, "application/jwk-set+json, application/json", &doc)
	if err != nil {
		s.log.WarnContext(ctx, "resource: fetching the JWKS failed", "err", err)
		return fmt.Errorf("jwks: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !k.IsPublic() || !k.Valid() {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		s.log.WarnContext(ctx, "resource: the JWKS holds no usable key", "uri", s.uri)
		return errors.New("jwks: no usable key")
	}
	s.mu.Lock()
	s.keys, s.fetched, s.maxAge = keys, s.now(), maxAge(header.Get("Cache-Control"))
	s.mu.Unlock()
	return nil
}

// maxAge reads max-age from a Cache-Control header, within bounds.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		if !strings.EqualFold(name, "max-age") {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(val, `"`))
		if err != nil || n < 0 {
			break
		}
		return min(max(time.Duration(n)*time.Second, minJWKSMaxAge), maxJWKSMaxAge)
	}
	return defaultJWKSMaxAge
}
