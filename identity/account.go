package identity

import (
	"context"
	"encoding/json"
	"time"
)

// AuditAccountDeleted records the erasure of an account.
const AuditAccountDeleted = "account.deleted"

// DeleteAccount erases a user's account (supresión, Ley 1581 art. 8e) and
// records it, in one transaction. What stays is what a legal duty
// requires: the ledger's entries about the user (proof of authorizations
// given and of requests answered, Ley 1581 art. 17b and Decreto 1377 art.
// 8), which name only the user's random id, meaningless once the account
// is gone. actor is who ordered it ("admin:<id>", "titular").
func DeleteAccount(ctx context.Context, s Store, userID, actor string, now time.Time) error {
	payload, _ := json.Marshal(map[string]string{
		"kept": "ledger entries under this pseudonymous subject id: proof of authorizations and requests",
	})
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.DeleteUser(ctx, userID); err != nil {
			return err
		}
		return s.AppendLedger(ctx, &LedgerEntry{OccurredAt: now, Kind: LedgerAudit, Type: AuditAccountDeleted,
			Subject: userID, Actor: actor, Payload: payload})
	})
}
