package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/seal"
)

// fakeReseal stands for a seal.Box: values starting "old:" are re-sealed as
// "new:" (bound to their ad), "new:" values are current, anything else
// opens under no secret.
func fakeReseal(sealed, ad []byte) ([]byte, bool, error) {
	switch {
	case bytes.HasPrefix(sealed, []byte("new:")):
		return sealed, false, nil
	case bytes.HasPrefix(sealed, []byte("old:")):
		return fmt.Appendf(nil, "new:%s:%s", ad, sealed[4:]), true, nil
	}
	return nil, false, seal.ErrOpen
}

func testResealSecrets(t *testing.T, s identity.Store) {
	ctx := t.Context()
	for _, name := range []string{"alice", "bob", "carol"} {
		mustCreateUser(t, s, newUser(name))
	}
	noErr(t, "PutTOTP", s.PutTOTP(ctx, &identity.TOTPCredential{UserID: "u-alice", EncryptedSecret: []byte("old:A"), CreatedAt: base}))
	noErr(t, "PutTOTP", s.PutTOTP(ctx, &identity.TOTPCredential{UserID: "u-bob", EncryptedSecret: []byte("new:B"), CreatedAt: base}))
	noErr(t, "PutTOTP", s.PutTOTP(ctx, &identity.TOTPCredential{UserID: "u-carol", EncryptedSecret: []byte("lost"), CreatedAt: base}))
	for _, k := range []struct{ id, sealed string }{{"k-old", "old:K"}, {"k-new", "new:K"}} {
		noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, &identity.SigningKey{ID: k.id, Algorithm: "ES256", Use: "sig",
			PublicJWK: []byte(`{}`), EncryptedPrivateJWK: []byte(k.sealed), CreatedAt: base, ActiveAt: base}))
	}

	report, err := s.ResealSecrets(ctx, fakeReseal, fakeReseal)
	noErr(t, "ResealSecrets", err)
	if report.TOTP != 1 || report.SigningKeys != 1 || !slices.Equal(report.Unreadable, []string{"totp:u-carol"}) {
		t.Fatalf("report = %+v", report)
	}
	for user, want := range map[string]string{"u-alice": "new:u-alice:A", "u-bob": "new:B", "u-carol": "lost"} {
		c, err := s.TOTPByUser(ctx, user)
		noErr(t, "TOTPByUser", err)
		if string(c.EncryptedSecret) != want {
			t.Errorf("totp of %s = %q, want %q", user, c.EncryptedSecret, want)
		}
	}
	keys, err := s.SigningKeys(ctx)
	noErr(t, "SigningKeys", err)
	for _, k := range keys {
		if want := map[string]string{"k-old": "new:k-old:K", "k-new": "new:K"}[k.ID]; string(k.EncryptedPrivateJWK) != want {
			t.Errorf("key %s = %q, want %q", k.ID, k.EncryptedPrivateJWK, want)
		}
	}
	// A second pass has nothing left to do.
	report, err = s.ResealSecrets(ctx, fakeReseal, fakeReseal)
	noErr(t, "ResealSecrets(again)", err)
	if report.TOTP != 0 || report.SigningKeys != 0 {
		t.Fatalf("second report = %+v", report)
	}
}

func testSecretDependents(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("alice"))
	mustCreateUser(t, s, newUser("bob"))
	rotatedAt := base.Add(time.Hour)

	before := newGrant(identity.GrantRefreshToken, "sig-before", "req-1")
	before.ExpiresAt = base.Add(30 * 24 * time.Hour)
	unbounded := newGrant(identity.GrantAuthorizeCode, "sig-unbounded", "req-2")
	unbounded.ExpiresAt = time.Time{}
	after := newGrant(identity.GrantRefreshToken, "sig-after", "req-3")
	after.RequestedAt = rotatedAt.Add(time.Minute)
	inactive := newGrant(identity.GrantAccessToken, "sig-inactive", "req-4")
	inactive.Active = false
	pkce := newGrant(identity.GrantPKCE, "sig-pkce", "req-5") // not derived from the secret
	for _, g := range []*identity.Grant{before, unbounded, after, inactive, pkce} {
		mustCreateGrant(t, s, g)
	}
	noErr(t, "CreateSession", s.CreateSession(ctx, newSession("s-before", "u-alice")))
	late := newSession("s-after", "u-alice")
	late.CreatedAt = rotatedAt.Add(time.Minute)
	noErr(t, "CreateSession", s.CreateSession(ctx, late))
	noErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, "u-alice", []string{"h1", "h2"}, base))
	noErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, "u-bob", []string{"h3"}, rotatedAt.Add(time.Minute)))

	d, err := s.SecretDependents(ctx, rotatedAt)
	noErr(t, "SecretDependents", err)
	want := identity.SecretDependents{Since: rotatedAt.UTC(), Tokens: 2, TokensUnbounded: 1, TokensUntil: trunc(before.ExpiresAt).UTC(),
		Sessions: 1, SessionsUntil: trunc(newSession("", "").ExpiresAt).UTC(), RecoveryCodeOwners: 1}
	checkFields(t, "SecretDependents", d, want)
}
