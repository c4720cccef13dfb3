package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/portero-id/portero/identity"
)

func (s *Store) PutScopeConsent(ctx context.Context, c *identity.ScopeConsent) error {
	if c.GrantedAt.IsZero() {
		c.GrantedAt = now()
	}
	_, err := s.exec(ctx, `INSERT INTO scope_consents (user_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, strings.Join(c.Scopes, " "), s.timeArg(c.GrantedAt))
	if isForeignKey(err) {
		return fmt.Errorf("scope consent of %q for %q: %w", c.UserID, c.ClientID, identity.ErrNotFound)
	}
	if err != nil {
		return failed("put scope consent", err)
	}
	return nil
}

func scanScopeConsent(row scanner, c *identity.ScopeConsent) error {
	var scopes string
	var at dbTime
	if err := row.Scan(&c.UserID, &c.ClientID, &scopes, &at); err != nil {
		return err
	}
	c.Scopes, c.GrantedAt = strings.Fields(scopes), at.Time
	return nil
}

func (s *Store) ScopeConsent(ctx context.Context, userID, clientID string) (*identity.ScopeConsent, error) {
	var c identity.ScopeConsent
	found, err := s.queryOne(ctx, func(row scanner) error { return scanScopeConsent(row, &c) },
		`SELECT user_id, client_id, scopes, granted_at FROM scope_consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
	if err != nil {
		return nil, failed("scope consent", err)
	}
	if !found {
		return nil, fmt.Errorf("scope consent: %w", identity.ErrNotFound)
	}
	return &c, nil
}

func (s *Store) ScopeConsentsByUser(ctx context.Context, userID string) ([]identity.ScopeConsent, error) {
	var out []identity.ScopeConsent
	err := s.queryAll(ctx, func(row scanner) error {
		var c identity.ScopeConsent
		if err := scanScopeConsent(row, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	}, `SELECT user_id, client_id, scopes, granted_at FROM scope_consents WHERE user_id = ? ORDER BY client_id`, userID)
	if err != nil {
		return nil, failed("scope consents", err)
	}
	return out, nil
}

func (s *Store) DeleteScopeConsent(ctx context.Context, userID, clientID string) error {
	n, err := s.exec(ctx, `DELETE FROM scope_consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
	if err != nil {
		return failed("delete scope consent", err)
	}
	if n == 0 {
		return fmt.Errorf("scope consent: %w", identity.ErrNotFound)
	}
	return nil
}
