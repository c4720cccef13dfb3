package oauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/ory/fosite/token/jwt"
)

// keySigner is a fosite jwt.Signer that signs with the keyring's active key
// of one algorithm and verifies with any published key, chosen by `kid`.
type keySigner struct {
	keys *Keyring
	alg  string
}

var _ jwt.Signer = (*keySigner)(nil)

func (s *keySigner) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	key, err := s.keys.Active(s.alg)
	if err != nil {
		return "", "", err
	}
	signer := jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return key, nil }}
	return signer.Generate(ctx, claims, header)
}

func (s *keySigner) Decode(_ context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, s.keyFunc)
}

func (s *keySigner) keyFunc(t *jwt.Token) (interface{}, error) {
	kid, _ := t.Header["kid"].(string)
	pub, ok := s.keys.PublicKey(kid)
	if !ok {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorUnverifiable, Inner: fmt.Errorf("unknown key id %q", kid)}
	}
	// The key decides the algorithm, never the token: no alg confusion.
	if string(t.Method) != pub.Algorithm {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorSignatureInvalid, Inner: errors.New("algorithm does not match key")}
	}
	return pub.Key, nil
}

func (s *keySigner) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

func (s *keySigner) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("header, body and signature must all be set")
	}
	return parts[2], nil
}

func (s *keySigner) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSigningMethodLength is the hash size of RS256 and ES256 alike, used for
// at_hash and c_hash.
func (s *keySigner) GetSigningMethodLength(context.Context) int { return sha256.Size }
