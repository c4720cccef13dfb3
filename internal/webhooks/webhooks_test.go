package webhooks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

// oneEntry is a store with one undelivered ledger entry.
type oneEntry struct{}

func (oneEntry) LedgerEntries(context.Context, identity.LedgerFilter) ([]identity.LedgerEntry, error) {
	return []identity.LedgerEntry{{Seq: 1, Kind: identity.LedgerAudit, Type: "login.failure", Payload: []byte("{}")}}, nil
}

func (oneEntry) LeaseWebhookCursor(context.Context, string, string, time.Time, time.Time) (int64, bool, error) {
	return 0, true, nil
}

func (oneEntry) AdvanceWebhookCursor(context.Context, string, string, int64) error { return nil }

// TestDeliveryErrorsDoNotCarryTheURL: a failed delivery is logged, and a
// receiver's URL may hold its token in the query.
func TestDeliveryErrorsDoNotCarryTheURL(t *testing.T) {
	d, err := New("http://127.0.0.1:1/hook?token=receiver-secret", []string{"whsec_" + strings.Repeat("QUJD", 8)})
	if err != nil {
		t.Fatal(err)
	}
	d.Store, d.Owner = oneEntry{}, "test"
	_, err = d.DeliverPending(context.Background())
	if err == nil || strings.Contains(err.Error(), "receiver-secret") || !strings.Contains(err.Error(), "ledger-1") {
		t.Fatalf("delivery error: %v", err)
	}
}
