package identity_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

// TestLedgerHeadAnchorsTheChain: a chain cut after a recorded head, or
// rewritten up to it, verifies on its own but not against the head.
func TestLedgerHeadAnchorsTheChain(t *testing.T) {
	chain := func(n int) []identity.LedgerEntry {
		var out []identity.LedgerEntry
		prev := identity.LedgerGenesis
		for i := 1; i <= n; i++ {
			e := identity.LedgerEntry{Seq: int64(i), Kind: identity.LedgerAudit, Type: "login.success",
				Subject: fmt.Sprintf("u-%d", i), OccurredAt: time.Date(2026, 12, 1, 10, i, 0, 0, time.UTC), PrevHash: prev}
			e.Hash = e.ComputeHash()
			prev = e.Hash
			out = append(out, e)
		}
		return out
	}
	ctx := context.Background()
	full := chain(5)
	head, err := identity.VerifyLedgerAgainst(ctx, walker(full), identity.LedgerHead{})
	if err != nil || head.Seq != 5 || head.Hash != full[4].Hash || head.Checked != 5 {
		t.Fatalf("head = %+v, %v", head, err)
	}
	parsed, err := identity.ParseLedgerHead(head.String())
	if err != nil || parsed.Seq != 5 || parsed.Hash != head.Hash {
		t.Fatalf("ParseLedgerHead(%s) = %+v, %v", head, parsed, err)
	}
	// Restored from a backup taken at entry 3: fine alone, not against the head.
	var brk *identity.LedgerBreak
	if _, err := identity.VerifyLedger(ctx, walker(full[:3])); err != nil {
		t.Fatalf("a cut chain on its own: %v", err)
	}
	if _, err := identity.VerifyLedgerAgainst(ctx, walker(full[:3]), parsed); !errors.As(err, &brk) || brk.Seq != 4 {
		t.Fatalf("cut chain against the head: %v", err)
	}
	// A chain rebuilt with other contents up to the head.
	forged := chain(5)
	forged[0].Subject = "u-mallory"
	prev := identity.LedgerGenesis
	for i := range forged {
		forged[i].PrevHash = prev
		forged[i].Hash = forged[i].ComputeHash()
		prev = forged[i].Hash
	}
	if _, err := identity.VerifyLedgerAgainst(ctx, walker(forged), parsed); !errors.As(err, &brk) || brk.Seq != 5 {
		t.Fatalf("rewritten chain against the head: %v", err)
	}
	for _, bad := range []string{"", "5", "x:" + head.Hash, "0:" + head.Hash, "5:abc"} {
		if _, err := identity.ParseLedgerHead(bad); err == nil {
			t.Errorf("ParseLedgerHead(%q) accepted", bad)
		}
	}
}

// walker serves entries to VerifyLedgerAgainst.
type walker []identity.LedgerEntry

func (w walker) AppendLedger(context.Context, *identity.LedgerEntry) error {
	return errors.ErrUnsupported
}
func (w walker) LedgerEntries(context.Context, identity.LedgerFilter) ([]identity.LedgerEntry, error) {
	return w, nil
}
func (w walker) WalkLedger(_ context.Context, fn func(identity.LedgerEntry) error) error {
	for _, e := range w {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
