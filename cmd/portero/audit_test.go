package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/store"
)

// sqliteStore opens the CLI's SQLite database directly.
func (c *cli) sqliteStore() *store.Store {
	c.t.Helper()
	var path string
	for _, kv := range c.env {
		if p, ok := strings.CutPrefix(kv, "PORTERO_DATABASE_SQLITE_PATH="); ok {
			path = p
		}
	}
	st, err := store.Open(context.Background(), store.Options{SQLitePath: path})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	return st
}

func TestAuditVerifyCommand(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "audit", "verify"); out != "ledger intact: 0 entries checked\n" {
		t.Fatalf("fresh database: %q", out)
	}

	st := c.sqliteStore()
	ctx := context.Background()
	for i := range 4 {
		if err := st.AppendAudit(ctx, &identity.AuditEvent{Type: identity.AuditLoginSuccess, UserID: fmt.Sprintf("u-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AppendLedger(ctx, &identity.LedgerEntry{Kind: identity.LedgerConsent, Type: "consent.accepted",
		Subject: "u-1", Payload: []byte(`{"purposes":[{"id":"marketing","granted":true}]}`)}); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("", "audit", "verify"); out != "ledger intact: 5 entries checked\n" {
		t.Fatalf("after appending: %q", out)
	}
	var v map[string]any
	c.jsonOut(&v, "audit", "verify")
	if v["ok"] != true || v["checked"] != float64(5) || v["broken_at"] != nil {
		t.Fatalf("--json: %v", v)
	}

	// The application cannot edit the ledger...
	if err := st.DB().Exec(`UPDATE ledger SET subject = 'u-mallory' WHERE seq = 3`).Error; err == nil {
		t.Fatal("UPDATE of the ledger was accepted")
	}
	// ...but whoever drops the trigger can: verify names the entry.
	for _, q := range []string{`DROP TRIGGER ledger_no_update`, `UPDATE ledger SET subject = 'u-mallory' WHERE seq = 3`} {
		if err := st.DB().Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	out, _, err := c.run("", "audit", "verify")
	if !errors.Is(err, errLedgerBroken) || !strings.HasPrefix(out, "ledger broken at entry 3: ") {
		t.Fatalf("after tampering: %q, %v", out, err)
	}
	out, _, err = c.run("", "--json", "audit", "verify")
	v = nil
	if jerr := json.Unmarshal([]byte(out), &v); err == nil || jerr != nil ||
		v["ok"] != false || v["checked"] != float64(2) || v["broken_at"] != float64(3) || v["reason"] == "" {
		t.Fatalf("--json after tampering: %q, %v", out, err)
	}

	if _, _, err := c.run("", "audit", "frobnicate"); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}
