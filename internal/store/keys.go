package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/portero-id/portero/identity"
)

// CreateSigningKey inserts k. A zero CreatedAt is filled with the current
// time and written back to k; an existing kid is identity.ErrConflict.
func (s *Store) CreateSigningKey(ctx context.Context, k *identity.SigningKey) error {
	if k.ID == "" {
		return errors.New("store: create signing key: empty kid")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	_, err := s.exec(ctx, `INSERT INTO signing_keys
		(id, algorithm, key_use, public_jwk, encrypted_private_jwk, created_at, active_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.Use, blobArg(k.PublicJWK), blobArg(k.EncryptedPrivateJWK),
		s.timeArg(k.CreatedAt), s.timeArg(k.ActiveAt))
	if isDuplicate(err) {
		return fmt.Errorf("create signing key %q: %w", k.ID, identity.ErrConflict)
	}
	if err != nil {
		return failed("create signing key", err)
	}
	return nil
}

// SigningKeys returns every key, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]identity.SigningKey, error) {
	var out []identity.SigningKey
	err := s.queryAll(ctx, func(row scanner) error {
		var (
			k               identity.SigningKey
			pub, priv       dbBytes
			created, active dbTime
		)
		if err := row.Scan(&k.ID, &k.Algorithm, &k.Use, &pub, &priv, &created, &active); err != nil {
			return err
		}
		k.PublicJWK, k.EncryptedPrivateJWK, k.CreatedAt, k.ActiveAt = pub, priv, created.Time, active.Time
		out = append(out, k)
		return nil
	}, `SELECT id, algorithm, key_use, public_jwk, encrypted_private_jwk, created_at, active_at
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, failed("signing keys", err)
	}
	return out, nil
}

// DeleteSigningKey removes one key; identity.ErrNotFound if there is none.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	n, err := s.exec(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
	if err != nil {
		return failed("delete signing key", err)
	}
	if n == 0 {
		return fmt.Errorf("signing key: %w", identity.ErrNotFound)
	}
	return nil
}
