package oauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/portero-id/portero/internal/testdb"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func kids(k *Keyring, alg string) []string {
	var out []string
	for _, key := range k.JWKS().Keys {
		if key.Algorithm == alg {
			out = append(out, key.KeyID)
		}
	}
	return out
}

func TestKeyringRotation(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := context.Background()
		st := b.Open(t)
		c := &clock{t: time.Now()}
		secret := []byte("first-system-secret-0123456789abcdef")
		ring, err := NewKeyring(ctx, st, [][]byte{secret}, 10*time.Minute, c.now)
		if err != nil {
			t.Fatal(err)
		}
		first, err := ring.Active(AlgES256)
		if err != nil {
			t.Fatalf("no active key on first start: %v", err)
		}
		if _, err := ring.Active(AlgRS256); err != nil {
			t.Fatalf("no RS256 key: %v", err)
		}
		signer := &keySigner{keys: ring, alg: AlgES256}
		oldToken, _, err := signer.Generate(ctx, jwt.MapClaims{"sub": "x", "exp": c.t.Add(time.Hour).Unix()}, &jwt.Headers{})
		if err != nil {
			t.Fatal(err)
		}

		if _, err := ring.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		// Published at once, but signing only after the cache period.
		if got := kids(ring, AlgES256); len(got) != 2 {
			t.Fatalf("after rotate, ES256 kids = %v, want 2", got)
		}
		if k, _ := ring.Active(AlgES256); k.KeyID != first.KeyID {
			t.Fatal("a rotated key signs before the JWKS cache period has passed")
		}
		c.t = c.t.Add(10*time.Minute + time.Second)
		second, _ := ring.Active(AlgES256)
		if second.KeyID == first.KeyID {
			t.Fatal("the rotated key never became active")
		}
		// The previous key stays published, so its tokens still verify.
		if _, err := signer.Decode(ctx, oldToken); err != nil {
			t.Fatalf("token of the previous key: %v", err)
		}

		// After one more rotation the first key leaves the JWKS.
		if _, err := ring.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		c.t = c.t.Add(10*time.Minute + time.Second)
		got := kids(ring, AlgES256)
		if len(got) != 2 || strings.Contains(strings.Join(got, ","), first.KeyID) {
			t.Fatalf("after two rotations ES256 kids = %v, want 2 without %s", got, first.KeyID)
		}
		if _, err := signer.Decode(ctx, oldToken); err == nil {
			t.Fatal("a token of an unpublished key still verifies")
		}

		// The keys are encrypted with the system secret: another secret
		// cannot read them, and a rotated-out secret still can.
		if _, err := NewKeyring(ctx, st, [][]byte{[]byte("another-system-secret-0123456789abcd")}, time.Minute, c.now); err == nil {
			t.Fatal("keys decrypted with the wrong system secret")
		}
		if _, err := NewKeyring(ctx, st, [][]byte{[]byte("another-system-secret-0123456789abcd"), secret}, time.Minute, c.now); err != nil {
			t.Fatalf("previous system secret no longer opens the keys: %v", err)
		}
	})
}

func TestKeySignerRejectsAlgorithmConfusion(t *testing.T) {
	ctx := context.Background()
	st := testdb.SQLite(t)
	ring, err := NewKeyring(ctx, st, [][]byte{[]byte("first-system-secret-0123456789abcdef")}, time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	es := &keySigner{keys: ring, alg: AlgES256}
	token, _, err := es.Generate(ctx, jwt.MapClaims{"sub": "x"}, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	// Swap the header's alg: the key, not the token, decides.
	parts := strings.Split(token, ".")
	parts[0] = "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9" // {"alg":"RS256","kid":""}
	if _, err := es.Decode(ctx, strings.Join(parts, ".")); err == nil {
		t.Fatal("a token with a forged header verified")
	}
	var ve *jwt.ValidationError
	if _, err := es.Decode(ctx, "not.a.jwt"); !errors.As(err, &ve) {
		t.Fatalf("malformed token error = %v", err)
	}
}
