package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/testdb"
)

func TestPrivateKeyJWTClientAuthentication(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		signer := e.paymentsClient(t)
		assertion := func(aud string) string {
			now := time.Now()
			raw, err := jwt.Signed(signer).Claims(jwt.Claims{
				Issuer: "payments", Subject: "payments", Audience: jwt.Audience{aud},
				ID: randomString(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
			}).CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		form := func(a string) url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "scope": {"payments:write"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
		}
		a := assertion(e.issuer + "/oauth2/token")
		status, _, body := e.postForm("/oauth2/token", "", "", form(a))
		if status != http.StatusOK {
			t.Fatalf("private_key_jwt: %d %v", status, body)
		}
		// The same assertion twice is a replay.
		status, _, body = e.postForm("/oauth2/token", "", "", form(a))
		if status < 400 || status >= 500 || body["error"] == nil {
			t.Fatalf("replayed assertion: %d %v", status, body)
		}
		// An assertion for another audience is refused.
		status, _, body = e.postForm("/oauth2/token", "", "", form(assertion("https://elsewhere.example/token")))
		wantError(t, status, body, http.StatusUnauthorized, "invalid_client")
		// A secret does not authenticate a private_key_jwt client.
		status, _, body = e.postForm("/oauth2/token", "payments", "", url.Values{"grant_type": {"client_credentials"}})
		wantError(t, status, body, http.StatusUnauthorized, "invalid_client")
	})
}

// paymentsClient registers "payments", a private_key_jwt client with one
// ES256 key, and returns a signer for its assertions.
func (e *env) paymentsClient(t *testing.T) jose.Signer {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	e.createClient(&identity.Client{
		ID: "payments", Name: "Payments", TokenEndpointAuthMethod: identity.AuthMethodPrivateKey, JWKS: jwks,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"payments:write"},
		TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}
