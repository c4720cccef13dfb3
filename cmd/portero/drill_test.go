package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/seal"
)

// The drills of docs/runbook.md that are command-line procedures. Each
// follows the runbook's steps in order, with the commands it names.

// withEnv returns a copy of the command line with extra settings; the
// base settings stay.
func (c *cli) withEnv(kv ...string) *cli {
	return &cli{t: c.t, env: append(slices.Clone(c.env), kv...)}
}

// TestDrillSystemSecretRotation is the runbook's "system secret leaked":
// set a new secret and keep the old one as previous, reseal, see what
// still needs the old one, end it, drop the old secret.
func TestDrillSystemSecretRotation(t *testing.T) {
	const oldSecret, newSecret = "old-system-secret-0123456789abcdefghij", "new-system-secret-0123456789abcdefghij"
	base := newCLI(t)
	const legal = "PORTERO_LEGAL_FILE=../../internal/legal/example/legal.yaml"
	withOld := base.withEnv(legal, "PORTERO_ISSUER=https://id.example.com", "PORTERO_SECRETS_SYSTEM="+oldSecret)
	// Before the leak: keys exist, alice has a TOTP seed and a session.
	withOld.ok("", "keys", "list")
	withOld.ok("", "users", "create", "--username", "alice", "--email", "alice@example.com")
	st := base.sqliteStore()
	ctx := context.Background()
	alice, err := st.UserByLogin(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := must(seal.New(seal.PurposeTOTP, []byte(oldSecret))).Seal([]byte("JBSWY3DPEHPK3PXP"), []byte(alice.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutTOTP(ctx, &identity.TOTPCredential{UserID: alice.ID, EncryptedSecret: sealed}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	if err := st.CreateGrant(ctx, &identity.Grant{Kind: identity.GrantRefreshToken, Signature: "r1", RequestID: "q1", ClientID: "shop",
		Subject: alice.ID, Active: true, RequestedAt: before, ExpiresAt: before.Add(24 * time.Hour), Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}

	// Step 1: the new secret takes over, the old one is kept as previous.
	rotatedAt := time.Now().UTC().Truncate(time.Second)
	rotating := base.withEnv(legal, "PORTERO_ISSUER=https://id.example.com", "PORTERO_SECRETS_SYSTEM="+newSecret, "PORTERO_SECRETS_SYSTEM_OLD="+oldSecret)
	newOnly := base.withEnv(legal, "PORTERO_ISSUER=https://id.example.com", "PORTERO_SECRETS_SYSTEM="+newSecret)
	// Dropping the old secret before the reseal would lose the signing keys.
	if _, _, err := newOnly.run("", "keys", "list"); err == nil || !strings.Contains(err.Error(), "cannot be decrypted") {
		t.Fatalf("keys opened without the secret that sealed them: %v", err)
	}

	// Step 2: reseal, and see what still needs the old secret.
	var report struct {
		TOTP        int                        `json:"totp_resealed"`
		SigningKeys int                        `json:"signing_keys_resealed"`
		Unreadable  []string                   `json:"unreadable"`
		Dependents  *identity.SecretDependents `json:"still_dependent"`
	}
	rotating.jsonOut(&report, "secrets", "reseal", "--rotated-at", rotatedAt.Format(time.RFC3339))
	if report.TOTP != 1 || report.SigningKeys < 2 || len(report.Unreadable) != 0 || report.Dependents == nil || report.Dependents.Tokens != 1 {
		t.Fatalf("reseal: %+v (dependents %+v)", report, report.Dependents)
	}
	out := rotating.ok("", "secrets", "reseal", "--rotated-at", rotatedAt.Format(time.RFC3339))
	if !strings.Contains(out, "0 TOTP seeds, 0 signing keys") || !strings.Contains(out, "portero tokens revoke --issued-before "+rotatedAt.Format(time.RFC3339)) {
		t.Fatalf("second reseal said:\n%s", out)
	}

	// Step 3: end what the old secret still protects, as the report says.
	rotating.ok("", "tokens", "revoke", "--issued-before", rotatedAt.Format(time.RFC3339))
	out = rotating.ok("", "secrets", "reseal", "--rotated-at", rotatedAt.Format(time.RFC3339))
	if !strings.Contains(out, "nothing depends on secrets.system_old any more") {
		t.Fatalf("after the revocation the reseal said:\n%s", out)
	}

	// Step 4: drop the old secret. Keys and the TOTP seed open under the new one alone.
	newOnly.ok("", "keys", "list")
	cred, err := st.TOTPByUser(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := must(seal.New(seal.PurposeTOTP, []byte(newSecret))).Open(cred.EncryptedSecret, []byte(alice.ID)); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("TOTP seed under the new secret: %q, %v", got, err)
	}
	wantRecorded(t, st, manage.EventSecretsResealed, 3)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
