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

func TestH11AuditVerifyCommand(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "audit", "verify"); out != "ledger intact: 0 entries checked; head 0:"+identity.LedgerGenesis+"\n" {
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
	if out := c.ok("", "audit", "verify"); !strings.HasPrefix(out, "ledger intact: 5 entries checked; head 5:") {
		t.Fatalf("after appending: %q", out)
	}
	var v map[string]any
	c.jsonOut(&v, "audit", "verify")
	if v["ok"] != true || v["checked"] != float64(5) || v["broken_at"] != nil {
		t.Fatalf("--json: %v", v)
	}
	head, _ := v["head"].(string)
	c.ok("", "audit", "verify", "--head", head)
	if _, _, err := c.run("", "audit", "verify", "--head", "not-a-head"); err == nil {
		t.Fatal("a malformed --head was accepted")
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

// TestH10IncidentDeadline: a security incident is recorded in the ledger
// with the SIC deadline, 15 business days after detection.
func TestH10IncidentDeadline(t *testing.T) {
	c := newCLI(t)
	var rec map[string]any
	c.jsonOut(&rec, "incidents", "record", "--detected", "2026-03-16T09:30:00-05:00", "--description", "lost backup tape")
	// From Tuesday 17 March 2026, skipping 23 March and Holy Thursday and
	// Good Friday (2 and 3 April): the 15th business day is 9 April, as
	// for the reclamo example of HABEAS_DATA.md.
	if due, _ := rec["sic_due_at"].(string); !strings.HasPrefix(due, "2026-04-10T04:59:59") {
		t.Fatalf("SIC due %v, want the end of 9 April 2026 in Colombia", rec["sic_due_at"])
	}
	var list []map[string]any
	c.jsonOut(&list, "incidents", "list")
	if len(list) != 1 || list[0]["description"] != "lost backup tape" || list[0]["overdue"] != true {
		t.Fatalf("list: %v", list)
	}
	if out := c.ok("", "audit", "verify"); !strings.Contains(out, "ledger intact: 1 entries") {
		t.Fatalf("verify: %q", out)
	}
	if _, _, err := c.run("", "incidents", "record", "--detected", "yesterday", "--description", "x"); err == nil {
		t.Fatal("a bad date was accepted")
	}
}

func TestRolesCatalogCommands(t *testing.T) {
	c := newCLI(t)
	var roles []map[string]any
	c.jsonOut(&roles, "roles", "define", "--name", "support", "--includes", "customer", "--permissions", "orders:read,tickets:write",
		"--description", "Atención al cliente")
	if len(roles) != 1 || roles[0]["name"] != "support" || len(roles[0]["permissions"].([]any)) != 2 {
		t.Fatalf("define: %v", roles)
	}
	c.jsonOut(&roles, "roles", "list")
	if len(roles) != 5 {
		t.Fatalf("list: %v", roles)
	}
	if _, _, err := c.run("", "roles", "define", "--name", "customer", "--includes", "support"); err == nil {
		t.Fatal("a cycle was accepted")
	}
}
