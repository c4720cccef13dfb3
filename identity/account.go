package identity

import (
	"context"
	"encoding/json"
	"errors"
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

// AccessEnded is what EndAccess ended.
type AccessEnded struct {
	Sessions int64
	Tokens   int64
	// Clients held the user's tokens: they are told over the OpenID
	// Connect back channel once the change has committed.
	Clients []string
}

// EndAccess ends everything a user's credentials had opened: every browser
// session but keepSession (the one that just proved the new credential; ""
// keeps none) and every grant to every client (authorization codes, access
// tokens and refresh token families). It is the one mechanism behind every
// credential event (a password changed or reset, "sign out everywhere",
// the account disabled, its second factors reset), called inside the
// transaction that makes the change so that the change and the revocation
// land together or not at all.
func EndAccess(ctx context.Context, s Store, userID, keepSession string) (AccessEnded, error) {
	var ended AccessEnded
	clients, err := s.SubjectGrantClients(ctx, userID)
	if err != nil {
		return ended, err
	}
	ended.Clients = clients
	if keepSession == "" {
		if ended.Sessions, err = s.DeleteUserSessions(ctx, userID); err != nil {
			return ended, err
		}
	} else {
		sessions, err := s.SessionsByUser(ctx, userID)
		if err != nil {
			return ended, err
		}
		for _, o := range sessions {
			if o.ID == keepSession {
				continue
			}
			if err := s.DeleteUserSession(ctx, userID, o.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return ended, err
			}
			ended.Sessions++
		}
	}
	if ended.Tokens, err = s.DeactivateGrants(ctx, GrantFilter{Subject: userID}); err != nil {
		return ended, err
	}
	return ended, nil
}
