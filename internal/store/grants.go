package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portero-id/portero/identity"
)

// The grant statements are the token, introspection and revocation hot
// paths: each is one statement by an indexed key, hand-written and scanned
// by hand. Signatures and JTIs are secrets of a kind: they never appear in
// errors or logs.

// CreateGrant inserts g. A zero ExpiresAt is stored as NULL: the record
// never expires and is never pruned. An existing (kind, signature) is
// identity.ErrConflict.
func (s *Store) CreateGrant(ctx context.Context, g *identity.Grant) error {
	if g.Signature == "" || g.Kind == "" {
		return errors.New("store: create grant: empty kind or signature")
	}
	_, err := s.exec(ctx, `INSERT INTO grants
		(kind, signature, request_id, client_id, subject, active, rotated_at, requested_at, expires_at, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(g.Kind), g.Signature, g.RequestID, g.ClientID, g.Subject, g.Active,
		s.nullTimePtrArg(g.RotatedAt), s.timeArg(g.RequestedAt), s.nullTimeArg(g.ExpiresAt), blobArg(g.Data))
	if isDuplicate(err) {
		return fmt.Errorf("create grant %s: %w", g.Kind, identity.ErrConflict)
	}
	if err != nil {
		return failed("create grant", err)
	}
	return nil
}

// GrantBySignature returns the record whatever its state.
func (s *Store) GrantBySignature(ctx context.Context, kind identity.GrantKind, signature string) (*identity.Grant, error) {
	g := identity.Grant{Kind: kind, Signature: signature}
	found, err := s.queryOne(ctx, func(row scanner) error {
		var rotated, requested, expires dbTime
		var data dbBytes
		if err := row.Scan(&g.RequestID, &g.ClientID, &g.Subject, &g.Active, &rotated, &requested, &expires, &data); err != nil {
			return err
		}
		g.RotatedAt, g.RequestedAt, g.ExpiresAt, g.Data = rotated.ptr(), requested.Time, expires.Time, data
		return nil
	}, `SELECT request_id, client_id, subject, active, rotated_at, requested_at, expires_at, data
		FROM grants WHERE kind = ? AND signature = ?`, string(kind), signature)
	if err != nil {
		return nil, failed("grant by signature", err)
	}
	if !found {
		return nil, fmt.Errorf("grant %s: %w", kind, identity.ErrNotFound)
	}
	return &g, nil
}

// DeleteGrant removes one record; identity.ErrNotFound if there is none.
func (s *Store) DeleteGrant(ctx context.Context, kind identity.GrantKind, signature string) error {
	n, err := s.exec(ctx, `DELETE FROM grants WHERE kind = ? AND signature = ?`, string(kind), signature)
	if err != nil {
		return failed("delete grant", err)
	}
	if n == 0 {
		return fmt.Errorf("grant %s: %w", kind, identity.ErrNotFound)
	}
	return nil
}

// DeactivateGrant marks one record inactive; identity.ErrNotFound if there
// is none.
func (s *Store) DeactivateGrant(ctx context.Context, kind identity.GrantKind, signature string) error {
	n, err := s.exec(ctx, `UPDATE grants SET active = FALSE WHERE kind = ? AND signature = ?`, string(kind), signature)
	if err != nil {
		return failed("deactivate grant", err)
	}
	if n == 0 {
		return fmt.Errorf("grant %s: %w", kind, identity.ErrNotFound)
	}
	return nil
}

// DeactivateFamily marks every active record of kind issued under requestID
// inactive and returns how many changed.
func (s *Store) DeactivateFamily(ctx context.Context, kind identity.GrantKind, requestID string) (int64, error) {
	n, err := s.exec(ctx, `UPDATE grants SET active = FALSE WHERE request_id = ? AND kind = ? AND active`,
		requestID, string(kind))
	if err != nil {
		return 0, failed("deactivate grant family", err)
	}
	return n, nil
}

func (s *Store) DeactivateGrants(ctx context.Context, f identity.GrantFilter) (int64, error) {
	if f.Empty() {
		return 0, identity.ErrEmptyGrantFilter
	}
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		if n, err = s.deactivateRows(ctx, f); err != nil {
			return err
		}
		if rule := identity.RevocationRuleFor(f, now()); rule != nil {
			return s.AddTokenRevocation(ctx, rule)
		}
		return nil
	})
	return n, err
}

// deactivateRows marks the rows the filter selects inactive.
func (s *Store) deactivateRows(ctx context.Context, f identity.GrantFilter) (int64, error) {
	q, args := `UPDATE grants SET active = FALSE WHERE active`, []any{}
	if f.Kind != "" {
		q, args = q+` AND kind = ?`, append(args, string(f.Kind))
	}
	if f.Subject != "" {
		q, args = q+` AND subject = ?`, append(args, f.Subject)
	}
	if f.ClientID != "" {
		q, args = q+` AND client_id = ?`, append(args, f.ClientID)
	}
	if !f.IssuedBefore.IsZero() {
		q, args = q+` AND requested_at < ?`, append(args, s.timeArg(f.IssuedBefore))
	}
	n, err := s.exec(ctx, q, args...)
	if err != nil {
		return 0, failed("deactivate grants", err)
	}
	return n, nil
}

func (s *Store) SubjectGrantClients(ctx context.Context, subject string) ([]string, error) {
	var out []string
	err := s.queryAll(ctx, func(row scanner) error {
		var id string
		if err := row.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	}, `SELECT DISTINCT client_id FROM grants WHERE subject = ? AND active ORDER BY client_id`, subject)
	if err != nil {
		return nil, failed("subject grant clients", err)
	}
	return out, nil
}

// MarkRotated sets rotated_at on an active, not yet rotated refresh token in
// one conditional UPDATE, so that of concurrent callers exactly one wins.
func (s *Store) MarkRotated(ctx context.Context, signature string, at time.Time) (bool, error) {
	n, err := s.exec(ctx, `UPDATE grants SET rotated_at = ?
		WHERE kind = ? AND signature = ? AND rotated_at IS NULL AND active`,
		s.timeArg(at), string(identity.GrantRefreshToken), signature)
	if err != nil {
		return false, failed("mark refresh token rotated", err)
	}
	return n == 1, nil
}

// DeleteExpiredGrants removes at most limit records that expired before
// the given time, oldest first; limit <= 0 removes nothing.
func (s *Store) DeleteExpiredGrants(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.exec(ctx, `DELETE FROM grants WHERE (kind, signature) IN (
		SELECT kind, signature FROM grants WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
		s.timeArg(before), limit)
	if err != nil {
		return 0, failed("delete expired grants", err)
	}
	return n, nil
}

// jtiPruneEvery is how many UseJTI calls pass between two prunes of
// expired JTIs, and jtiPruneBatch how many one prune removes at most.
const (
	jtiPruneEvery = 64
	jtiPruneBatch = 256
)

// UseJTI records jti until exp in one upsert: a new JTI is inserted, an
// expired one is replaced, an unexpired one is identity.ErrConflict. Now and
// then (outside transactions) it also prunes a bounded batch of expired JTIs.
func (s *Store) UseJTI(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" {
		return errors.New("store: use jti: empty jti")
	}
	t := now()
	n, err := s.exec(ctx, `INSERT INTO used_jtis (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE used_jtis.expires_at <= ?`, jti, s.timeArg(exp), s.timeArg(t))
	if err != nil {
		return failed("use jti", err)
	}
	if n == 0 {
		return fmt.Errorf("jti: %w", identity.ErrConflict)
	}
	if s.jtiUses.Add(1)%jtiPruneEvery == 0 && s.tx(ctx) == nil {
		if _, err := s.deleteExpiredJTIs(ctx, t, jtiPruneBatch); err != nil {
			s.log.WarnContext(ctx, "store: pruning expired JTIs failed", "err", err)
		}
	}
	return nil
}

// deleteExpiredJTIs removes at most limit JTIs expired at the given time.
func (s *Store) deleteExpiredJTIs(ctx context.Context, at time.Time, limit int) (int64, error) {
	return s.exec(ctx, `DELETE FROM used_jtis WHERE jti IN (
		SELECT jti FROM used_jtis WHERE expires_at <= ? LIMIT ?)`, s.timeArg(at), limit)
}

// JTIUsed reports whether an unexpired jti is recorded.
func (s *Store) JTIUsed(ctx context.Context, jti string) (bool, error) {
	found, err := s.queryOne(ctx, func(scanner) error { return nil },
		`SELECT 1 FROM used_jtis WHERE jti = ? AND expires_at > ?`, jti, s.timeArg(now()))
	if err != nil {
		return false, failed("jti used", err)
	}
	return found, nil
}
