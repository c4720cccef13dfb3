package main

import (
	"context"
	"errors"
	"path/filepath"
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

// TestDrillDatabaseRestore is the runbook's "database lost": restore the
// last backup, then prove with the ledger head recorded at backup time that
// nothing up to it was lost, and learn from the latest recorded head which
// entries after the backup are gone.
func TestDrillDatabaseRestore(t *testing.T) {
	c := newCLI(t)
	c.ok("", "users", "create", "--username", "alice", "--email", "alice@example.com")
	// Nightly: an online backup, and the head printed next to it.
	var atBackup map[string]any
	c.jsonOut(&atBackup, "audit", "verify")
	backup := filepath.Join(t.TempDir(), "backup.db")
	st := c.sqliteStore()
	if err := st.DB().Exec(`VACUUM INTO ?`, backup).Error; err != nil {
		t.Fatal(err)
	}
	// The day goes on; its head is recorded by the monitoring job.
	c.ok("", "users", "create", "--username", "bob", "--email", "bob@example.com")
	var latest map[string]any
	c.jsonOut(&latest, "audit", "verify")

	// The database is lost; the backup is restored in its place.
	restored := c.withSQLite(backup)
	restored.ok("", "audit", "verify", "--head", atBackup["head"].(string))
	out, _, err := restored.run("", "audit", "verify", "--head", latest["head"].(string))
	if !errors.Is(err, errLedgerBroken) || !strings.Contains(out, "restored from an older backup") {
		t.Fatalf("verify against the latest head after the restore: %q, %v", out, err)
	}
	if _, _, err := restored.run("", "users", "get", "bob"); err == nil {
		t.Fatal("bob survived a restore from before he was created")
	}
	restored.ok("", "users", "get", "alice")
}

// withSQLite is the command line on another SQLite file.
func (c *cli) withSQLite(path string) *cli {
	env := slices.DeleteFunc(slices.Clone(c.env), func(kv string) bool { return strings.HasPrefix(kv, "PORTERO_DATABASE_SQLITE_PATH=") })
	return &cli{t: c.t, env: append(env, "PORTERO_DATABASE_SQLITE_PATH="+path)}
}

// TestDrillSigningKeyCompromise is the runbook's "signing key leaked":
// find the key, revoke it, check it is gone and recorded.
func TestDrillSigningKeyCompromise(t *testing.T) {
	c := newCLI(t)
	var keys []map[string]any
	c.jsonOut(&keys, "keys", "list", "--dev")
	var leaked string
	for _, k := range keys {
		if k["alg"] == "ES256" {
			leaked, _ = k["kid"].(string)
		}
	}
	if leaked == "" {
		t.Fatalf("no ES256 key in %v", keys)
	}
	var revoked map[string]any
	c.jsonOut(&revoked, "keys", "revoke", "--dev", leaked)
	c.jsonOut(&keys, "keys", "list", "--dev")
	for _, k := range keys {
		if k["kid"] == leaked {
			t.Fatalf("the revoked key %s is still listed", leaked)
		}
	}
	if repl, _ := revoked["replacement"].(map[string]any); repl == nil || repl["alg"] != "ES256" {
		t.Fatalf("revoke: %v", revoked)
	}
	wantRecorded(t, c.sqliteStore(), manage.EventKeyRevoked, 1)
}

// TestDrillClientSecretLeak is the runbook's "client secret leaked":
// rotate the secret, end every token of the client, both recorded.
func TestDrillClientSecretLeak(t *testing.T) {
	c := newCLI(t)
	var created map[string]any
	c.jsonOut(&created, "clients", "create", "--id", "vendor-sync", "--grant-types", "client_credentials", "--scopes", "openid")
	st := c.sqliteStore()
	ctx := context.Background()
	if err := st.CreateGrant(ctx, &identity.Grant{Kind: identity.GrantAccessToken, Signature: "t1", RequestID: "q1", ClientID: "vendor-sync",
		Active: true, RequestedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	var rotated map[string]any
	c.jsonOut(&rotated, "clients", "rotate-secret", "vendor-sync")
	if rotated["client_secret"] == created["client_secret"] || rotated["client_secret"] == nil {
		t.Fatalf("rotate-secret: %v", rotated)
	}
	var out map[string]int64
	c.jsonOut(&out, "tokens", "revoke", "--client", "vendor-sync")
	if g, err := st.GrantBySignature(ctx, identity.GrantAccessToken, "t1"); err != nil || g.Active || out["tokens_revoked"] != 1 {
		t.Fatalf("after the revocation: %+v, %v, %v", g, err, out)
	}
	wantRecorded(t, st, manage.EventClientSecret, 1)
	wantRecorded(t, st, manage.EventTokensRevoked, 1)
}

// TestDrillDataBreach is the runbook's "personal data exposed": contain
// (end the sessions and tokens issued before the detection), record the
// incident with its SIC deadline, and find it again.
func TestDrillDataBreach(t *testing.T) {
	c := newCLI(t)
	detected := time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	c.ok("", "tokens", "revoke", "--issued-before", detected)
	var rec map[string]any
	c.jsonOut(&rec, "incidents", "record", "--detected", detected, "--description", "export of customer e-mails found on a public bucket")
	due, err := time.Parse(time.RFC3339, rec["sic_due_at"].(string))
	if err != nil || time.Until(due) < 14*24*time.Hour {
		t.Fatalf("SIC due %v (%v): 15 business days are at least three weeks", rec["sic_due_at"], err)
	}
	var events []map[string]any
	c.jsonOut(&events, "events", "--type", "incident.recorded")
	if len(events) != 1 {
		t.Fatalf("events: %v", events)
	}
	c.ok("", "audit", "verify")
}

// TestNetworksCommands: the runbook's containment of a stuffing network
// from the shell.
func TestNetworksCommands(t *testing.T) {
	c := newCLI(t)
	var rule map[string]any
	c.jsonOut(&rule, "networks", "deny", "--note", "stuffing from this range", "198.51.100.23/24")
	if rule["prefix"] != "198.51.100.0/24" || rule["action"] != "deny" || rule["created_by"] != cliActor().ID {
		t.Fatalf("deny: %v", rule)
	}
	c.ok("", "networks", "allow", "198.51.100.7")
	out := c.ok("", "networks", "list")
	if !strings.Contains(out, "198.51.100.0/24  deny") || !strings.Contains(out, "198.51.100.7/32  allow") {
		t.Fatalf("list:\n%s", out)
	}
	c.ok("", "networks", "remove", "198.51.100.0/24")
	if _, _, err := c.run("", "networks", "remove", "198.51.100.0/24"); err == nil {
		t.Fatal("removed a rule twice")
	}
	if _, _, err := c.run("", "networks", "deny", "0.0.0.0/0"); err == nil {
		t.Fatal("denied every address")
	}
	wantRecorded(t, c.sqliteStore(), manage.EventNetworkRuleSet, 2)
	wantRecorded(t, c.sqliteStore(), manage.EventNetworkRuleRemoved, 1)
}

// TestRolesMustExistAndRedefineKeepsWhatIsNotGiven: a role name that is
// not in the catalog is refused (a grant to a user, a client's roles);
// redefining a role changes only the flags given, so a built-in role keeps
// its description.
func TestRolesMustExistAndRedefineKeepsWhatIsNotGiven(t *testing.T) {
	c := newCLI(t)
	c.ok("", "users", "create", "--username", "bea", "--email", "bea@example.com")
	if _, _, err := c.run("", "roles", "grant", "--user", "bea", "--role", "vendr"); err == nil || !strings.Contains(err.Error(), "not in the catalog") {
		t.Fatalf("granting an unknown role: %v", err)
	}
	if _, _, err := c.run("", "clients", "create", "--id", "svc", "--grant-types", "client_credentials", "--scopes", "openid", "--roles", "vendr"); err == nil {
		t.Fatal("a client was created with an unknown role")
	}
	var before []map[string]any
	c.jsonOut(&before, "roles", "get", "vendor")
	c.ok("", "roles", "define", "--name", "vendor", "--permissions", "orders:read,catalog:write")
	var after []map[string]any
	c.jsonOut(&after, "roles", "get", "vendor")
	if len(before) != 1 || len(after) != 1 || after[0]["description"] != before[0]["description"] || before[0]["description"] == "" {
		t.Fatalf("vendor before %v, after %v", before, after)
	}
	if perms, _ := after[0]["permissions"].([]any); len(perms) != 2 {
		t.Fatalf("permissions after: %v", after[0]["permissions"])
	}
}
