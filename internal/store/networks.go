package store

import (
	"context"
	"fmt"

	"github.com/portero-id/portero/identity"
)

func (s *Store) NetworkRules(ctx context.Context) ([]identity.NetworkRule, error) {
	var out []identity.NetworkRule
	err := s.queryAll(ctx, func(row scanner) error {
		var r identity.NetworkRule
		var created dbTime
		if err := row.Scan(&r.Prefix, &r.Action, &r.Note, &r.CreatedBy, &created); err != nil {
			return err
		}
		r.CreatedAt = created.Time
		out = append(out, r)
		return nil
	}, `SELECT prefix, action, note, created_by, created_at FROM network_rules ORDER BY prefix`)
	if err != nil {
		return nil, failed("network rules", err)
	}
	return out, nil
}

func (s *Store) PutNetworkRule(ctx context.Context, r *identity.NetworkRule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now()
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.exec(ctx, `DELETE FROM network_rules WHERE prefix = ?`, r.Prefix); err != nil {
			return failed("put network rule", err)
		}
		if _, err := s.exec(ctx, `INSERT INTO network_rules (prefix, action, note, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
			r.Prefix, r.Action, r.Note, r.CreatedBy, s.timeArg(r.CreatedAt)); err != nil {
			return failed("put network rule", err)
		}
		return nil
	})
}

func (s *Store) DeleteNetworkRule(ctx context.Context, prefix string) error {
	p, err := identity.ParseNetwork(prefix)
	if err != nil {
		return err
	}
	n, err := s.exec(ctx, `DELETE FROM network_rules WHERE prefix = ?`, p.String())
	if err != nil {
		return failed("delete network rule", err)
	}
	if n == 0 {
		return fmt.Errorf("network rule %s: %w", p, identity.ErrNotFound)
	}
	return nil
}
