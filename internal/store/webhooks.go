package store

import (
	"context"
	"fmt"
	"time"

	"github.com/portero-id/portero/identity"
)

func (s *Store) LeaseWebhookCursor(ctx context.Context, name, owner string, now, until time.Time) (int64, bool, error) {
	var (
		delivered int64
		ok        bool
	)
	err := s.InTx(ctx, func(ctx context.Context) error {
		// A new receiver starts at the ledger's end: it gets what happens
		// from now on, not the whole history.
		if _, err := s.exec(ctx, `INSERT INTO webhook_cursors (name, delivered_seq, lease_owner, lease_until)
			SELECT ?, COALESCE((SELECT MAX(seq) FROM ledger), 0), '', ?
			WHERE NOT EXISTS (SELECT 1 FROM webhook_cursors WHERE name = ?)`, name, s.timeArg(time.Unix(0, 0)), name); err != nil && !isDuplicate(err) {
			return failed("lease webhook cursor", err)
		}
		n, err := s.exec(ctx, `UPDATE webhook_cursors SET lease_owner = ?, lease_until = ?
			WHERE name = ? AND (lease_owner = ? OR lease_until < ?)`, owner, s.timeArg(until), name, owner, s.timeArg(now))
		if err != nil {
			return failed("lease webhook cursor", err)
		}
		ok = n == 1
		_, err = s.queryOne(ctx, func(row scanner) error { return row.Scan(&delivered) },
			`SELECT delivered_seq FROM webhook_cursors WHERE name = ?`, name)
		if err != nil {
			return failed("lease webhook cursor", err)
		}
		return nil
	})
	return delivered, ok, err
}

func (s *Store) AdvanceWebhookCursor(ctx context.Context, name, owner string, seq int64) error {
	n, err := s.exec(ctx, `UPDATE webhook_cursors SET delivered_seq = ? WHERE name = ? AND lease_owner = ? AND delivered_seq < ?`,
		seq, name, owner, seq)
	if err != nil {
		return failed("advance webhook cursor", err)
	}
	if n == 0 {
		return fmt.Errorf("webhook cursor %s: lease lost or already past %d: %w", name, seq, identity.ErrConflict)
	}
	return nil
}
