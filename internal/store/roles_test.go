package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/testdb"
)

// TestRuntimeRoleCannotRewriteTheLedger: with the grants of
// store.RuntimeGrants, a runtime role runs Portero's statements, appends
// to the ledger, and can neither change nor delete ledger rows nor disable
// the append-only triggers; it does not own the tables, the owner does.
func TestRuntimeRoleCannotRewriteTheLedger(t *testing.T) {
	owner := testdb.Postgres(t) // skips without PORTERO_TEST_DATABASE_URL
	ctx := context.Background()
	var schema string
	if err := owner.DB().Raw("SELECT current_schema()").Scan(&schema).Error; err != nil {
		t.Fatal(err)
	}
	if owns, err := owner.OwnsTables(ctx); err != nil || !owns {
		t.Fatalf("the migrating role owns the tables: %v %v", owns, err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := "portero_rt_" + hex.EncodeToString(b)
	if err := owner.DB().Exec("CREATE ROLE " + role + " LOGIN").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		owner.DB().Exec("DROP OWNED BY " + role)
		owner.DB().Exec("DROP ROLE " + role)
	})
	grants, err := store.RuntimeGrants(schema, role)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if err := owner.DB().Exec(g).Error; err != nil {
			t.Fatalf("%s: %v", g, err)
		}
	}
	u, _ := url.Parse(os.Getenv(testdb.EnvPostgres))
	u.User = url.User(role)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	rt, err := store.Open(ctx, store.Options{URL: u.String(), MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	if owns, err := rt.OwnsTables(ctx); err != nil || owns {
		t.Fatalf("the runtime role owns the tables: %v %v", owns, err)
	}
	if err := rt.CreateUser(ctx, &identity.User{Username: "ana", Email: "ana@example.com"}); err != nil {
		t.Fatalf("the runtime role cannot create a user: %v", err)
	}
	if err := rt.AppendLedger(ctx, &identity.LedgerEntry{Kind: identity.LedgerAudit, Type: "test.appended", Payload: []byte("{}")}); err != nil {
		t.Fatalf("the runtime role cannot append to the ledger: %v", err)
	}
	for _, stmt := range []string{
		"UPDATE ledger SET actor = 'mallory'",
		"DELETE FROM ledger",
		"TRUNCATE ledger",
		"ALTER TABLE ledger DISABLE TRIGGER ledger_append_only",
		"DROP TRIGGER ledger_append_only ON ledger",
		"UPDATE audit_events SET type = 'x'",
	} {
		if err := rt.DB().Exec(stmt).Error; err == nil {
			t.Errorf("the runtime role ran %q", stmt)
		}
	}
}
