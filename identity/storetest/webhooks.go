package storetest

import (
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

func testWebhookCursors(t *testing.T, s identity.Store) {
	ctx := t.Context()
	noErr(t, "AppendLedger", s.AppendLedger(ctx, &identity.LedgerEntry{Kind: identity.LedgerAudit, Type: "login.success", Subject: "u-1"}))
	now := base
	// A new cursor starts at the end of the ledger.
	seq, ok, err := s.LeaseWebhookCursor(ctx, "siem", "replica-a", now, now.Add(time.Minute))
	noErr(t, "Lease", err)
	if !ok || seq != 1 {
		t.Fatalf("first lease: seq %d ok %v, want 1 true", seq, ok)
	}
	// Another replica waits while the lease runs, and takes it after.
	if _, ok, err := s.LeaseWebhookCursor(ctx, "siem", "replica-b", now.Add(30*time.Second), now.Add(90*time.Second)); err != nil || ok {
		t.Fatalf("lease while held: %v %v", ok, err)
	}
	noErr(t, "Advance", s.AdvanceWebhookCursor(ctx, "siem", "replica-a", 5))
	wantErr(t, "Advance(not the owner)", s.AdvanceWebhookCursor(ctx, "siem", "replica-b", 6), identity.ErrConflict)
	wantErr(t, "Advance(backwards)", s.AdvanceWebhookCursor(ctx, "siem", "replica-a", 4), identity.ErrConflict)
	seq, ok, err = s.LeaseWebhookCursor(ctx, "siem", "replica-b", now.Add(2*time.Minute), now.Add(3*time.Minute))
	noErr(t, "Lease(expired)", err)
	if !ok || seq != 5 {
		t.Fatalf("lease after expiry: seq %d ok %v, want 5 true", seq, ok)
	}
	wantErr(t, "Advance(old owner)", s.AdvanceWebhookCursor(ctx, "siem", "replica-a", 6), identity.ErrConflict)
}
