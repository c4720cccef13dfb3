package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portero-id/portero/identity"
)

// CreateOneTimeToken inserts t. A zero CreatedAt is filled with the current
// time; an existing ID is identity.ErrConflict.
func (s *Store) CreateOneTimeToken(ctx context.Context, t *identity.OneTimeToken) error {
	if t.ID == "" || t.Purpose == "" {
		return errors.New("store: create one-time token: empty id or purpose")
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	var userID any
	if t.UserID != "" {
		userID = t.UserID
	}
	_, err := s.exec(ctx, `INSERT INTO one_time_tokens (id, purpose, user_id, data, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.Purpose, userID, t.Data, s.timeArg(t.CreatedAt), s.timeArg(t.ExpiresAt))
	switch {
	case isDuplicate(err):
		return fmt.Errorf("create one-time token: %w", identity.ErrConflict)
	case isForeignKey(err):
		return fmt.Errorf("user %q: %w", t.UserID, identity.ErrNotFound)
	case err != nil:
		return failed("create one-time token", err)
	}
	return nil
}

// ConsumeOneTimeToken deletes the token and returns it. The DELETE decides:
// of two concurrent consumers only one deletes the row, and only that one
// gets the token.
func (s *Store) ConsumeOneTimeToken(ctx context.Context, purpose, id string, at time.Time) (*identity.OneTimeToken, error) {
	var t *identity.OneTimeToken
	err := s.InTx(ctx, func(ctx context.Context) error {
		var (
			tok              identity.OneTimeToken
			userID           *string
			created, expires dbTime
		)
		found, err := s.queryOne(ctx, func(row scanner) error {
			return row.Scan(&tok.ID, &tok.Purpose, &userID, &tok.Data, &created, &expires)
		}, `SELECT id, purpose, user_id, data, created_at, expires_at FROM one_time_tokens WHERE id = ? AND purpose = ?`, id, purpose)
		if err != nil {
			return failed("consume one-time token", err)
		}
		if !found {
			return nil
		}
		n, err := s.exec(ctx, `DELETE FROM one_time_tokens WHERE id = ?`, id)
		if err != nil {
			return failed("consume one-time token", err)
		}
		if n == 0 || !at.Before(expires.Time) {
			return nil
		}
		if userID != nil {
			tok.UserID = *userID
		}
		tok.CreatedAt, tok.ExpiresAt = created.Time, expires.Time
		t = &tok
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("one-time token: %w", identity.ErrNotFound)
	}
	return t, nil
}

// DeleteUserOneTimeTokens drops the user's tokens of one purpose.
func (s *Store) DeleteUserOneTimeTokens(ctx context.Context, userID, purpose string) error {
	if _, err := s.exec(ctx, `DELETE FROM one_time_tokens WHERE user_id = ? AND purpose = ?`, userID, purpose); err != nil {
		return failed("delete user one-time tokens", err)
	}
	return nil
}

// DeleteExpiredOneTimeTokens removes at most limit expired tokens.
func (s *Store) DeleteExpiredOneTimeTokens(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.exec(ctx, `DELETE FROM one_time_tokens WHERE id IN (
		SELECT id FROM one_time_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`, s.timeArg(before), limit)
	if err != nil {
		return 0, failed("delete expired one-time tokens", err)
	}
	return n, nil
}
