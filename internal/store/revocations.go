package store

import (
	"context"
	"errors"
	"time"

	"github.com/portero-id/portero/identity"
)

func (s *Store) AddTokenRevocation(ctx context.Context, r *identity.TokenRevocation) error {
	if r.JTI == "" && r.IssuedBefore.IsZero() {
		return errors.New("store: a revocation rule needs a jti or a time")
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		_, err := s.queryOne(ctx, func(row scanner) error { return row.Scan(&r.Seq) },
			`INSERT INTO token_revocations (jti, subject, client_id, issued_before, expires_at)
			VALUES (?, ?, ?, ?, ?) RETURNING seq`,
			r.JTI, r.Subject, r.ClientID, s.nullTimeArg(r.IssuedBefore), s.timeArg(r.ExpiresAt))
		if err != nil {
			return failed("add token revocation", err)
		}
		s.afterCommit(ctx, func() { s.revocationsWritten.Add(1) })
		return nil
	})
	return err
}

func (s *Store) TokenRevocations(ctx context.Context, afterSeq int64, now time.Time) ([]identity.TokenRevocation, error) {
	var out []identity.TokenRevocation
	err := s.queryAll(ctx, func(row scanner) error {
		var r identity.TokenRevocation
		var before, expires dbTime
		if err := row.Scan(&r.Seq, &r.JTI, &r.Subject, &r.ClientID, &before, &expires); err != nil {
			return err
		}
		r.IssuedBefore, r.ExpiresAt = before.Time, expires.Time
		out = append(out, r)
		return nil
	}, `SELECT seq, jti, subject, client_id, issued_before, expires_at FROM token_revocations
		WHERE seq > ? AND expires_at > ? ORDER BY seq`, afterSeq, s.timeArg(now))
	if err != nil {
		return nil, failed("token revocations", err)
	}
	return out, nil
}

func (s *Store) DeleteExpiredTokenRevocations(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.exec(ctx, `DELETE FROM token_revocations WHERE seq IN (
		SELECT seq FROM token_revocations WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`, s.timeArg(before), limit)
	if err != nil {
		return 0, failed("delete expired token revocations", err)
	}
	return n, nil
}

func (s *Store) RevocationsWritten() uint64 { return s.revocationsWritten.Load() }
