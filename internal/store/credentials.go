package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portero-id/portero/identity"
)

// PutTOTP stores an unconfirmed enrolment, replacing an unconfirmed one. A
// confirmed credential is never overwritten here: removing it is a separate,
// audited step.
func (s *Store) PutTOTP(ctx context.Context, c *identity.TOTPCredential) error {
	if c.UserID == "" || len(c.EncryptedSecret) == 0 {
		return errors.New("store: put totp: empty user id or secret")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.exec(ctx, `DELETE FROM totp_credentials WHERE user_id = ? AND confirmed_at IS NULL`, c.UserID); err != nil {
			return failed("put totp", err)
		}
		n, err := s.exec(ctx, `INSERT INTO totp_credentials (user_id, encrypted_secret, confirmed_at, last_step, created_at)
			SELECT id, ?, NULL, 0, ? FROM users WHERE id = ?`,
			c.EncryptedSecret, s.timeArg(c.CreatedAt), c.UserID)
		if isDuplicate(err) {
			return fmt.Errorf("put totp: confirmed credential %w", identity.ErrConflict)
		}
		if err != nil {
			return failed("put totp", err)
		}
		if n == 0 {
			return fmt.Errorf("user %q: %w", c.UserID, identity.ErrNotFound)
		}
		return nil
	})
}

// TOTPByUser returns the user's TOTP credential, confirmed or not.
func (s *Store) TOTPByUser(ctx context.Context, userID string) (*identity.TOTPCredential, error) {
	c := identity.TOTPCredential{UserID: userID}
	found, err := s.queryOne(ctx, func(row scanner) error {
		var (
			secret             dbBytes
			confirmed, created dbTime
		)
		if err := row.Scan(&secret, &confirmed, &c.LastStep, &created); err != nil {
			return err
		}
		c.EncryptedSecret, c.ConfirmedAt, c.CreatedAt = secret, confirmed.ptr(), created.Time
		return nil
	}, `SELECT encrypted_secret, confirmed_at, last_step, created_at FROM totp_credentials WHERE user_id = ?`, userID)
	if err != nil {
		return nil, failed("totp by user", err)
	}
	if !found {
		return nil, fmt.Errorf("totp: %w", identity.ErrNotFound)
	}
	return &c, nil
}

// ConfirmTOTP confirms a pending enrolment and records step as used.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, at time.Time, step int64) error {
	n, err := s.exec(ctx, `UPDATE totp_credentials SET confirmed_at = ?, last_step = ?
		WHERE user_id = ? AND confirmed_at IS NULL`, s.timeArg(at), step, userID)
	if err != nil {
		return failed("confirm totp", err)
	}
	if n == 0 {
		return fmt.Errorf("pending totp: %w", identity.ErrNotFound)
	}
	return nil
}

// UseTOTPStep accepts step only if it is later than the last one accepted.
// The condition is in the UPDATE, so two requests racing with one code
// cannot both win.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	n, err := s.exec(ctx, `UPDATE totp_credentials SET last_step = ?
		WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?`, step, userID, step)
	if err != nil {
		return false, failed("use totp step", err)
	}
	return n == 1, nil
}

// DeleteTOTP removes the user's TOTP credential.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	n, err := s.exec(ctx, `DELETE FROM totp_credentials WHERE user_id = ?`, userID)
	if err != nil {
		return failed("delete totp", err)
	}
	if n == 0 {
		return fmt.Errorf("totp: %w", identity.ErrNotFound)
	}
	return nil
}

// CreateWebAuthnCredential stores a new passkey; a known credential id is
// identity.ErrConflict (an authenticator registered twice).
func (s *Store) CreateWebAuthnCredential(ctx context.Context, c *identity.WebAuthnCredential) error {
	if c.ID == "" || c.UserID == "" || len(c.Credential) == 0 {
		return errors.New("store: create webauthn credential: empty id, user id or credential")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	n, err := s.exec(ctx, `INSERT INTO webauthn_credentials (id, user_id, name, credential, created_at, last_used_at)
		SELECT ?, id, ?, ?, ?, NULL FROM users WHERE id = ?`,
		c.ID, c.Name, string(c.Credential), s.timeArg(c.CreatedAt), c.UserID)
	if isDuplicate(err) {
		return fmt.Errorf("create webauthn credential: %w", identity.ErrConflict)
	}
	if err != nil {
		return failed("create webauthn credential", err)
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w", c.UserID, identity.ErrNotFound)
	}
	return nil
}

const webAuthnColumns = `id, user_id, name, credential, created_at, last_used_at`

func scanWebAuthn(row scanner, c *identity.WebAuthnCredential) error {
	var (
		cred          string
		created, used dbTime
	)
	if err := row.Scan(&c.ID, &c.UserID, &c.Name, &cred, &created, &used); err != nil {
		return err
	}
	c.Credential, c.CreatedAt, c.LastUsedAt = []byte(cred), created.Time, used.ptr()
	return nil
}

// WebAuthnCredentialsByUser returns the user's credentials, oldest first.
func (s *Store) WebAuthnCredentialsByUser(ctx context.Context, userID string) ([]identity.WebAuthnCredential, error) {
	var out []identity.WebAuthnCredential
	err := s.queryAll(ctx, func(row scanner) error {
		var c identity.WebAuthnCredential
		if err := scanWebAuthn(row, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	}, `SELECT `+webAuthnColumns+` FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, failed("webauthn credentials by user", err)
	}
	return out, nil
}

// WebAuthnCredentialByID returns one credential.
func (s *Store) WebAuthnCredentialByID(ctx context.Context, id string) (*identity.WebAuthnCredential, error) {
	var c identity.WebAuthnCredential
	found, err := s.queryOne(ctx, func(row scanner) error { return scanWebAuthn(row, &c) },
		`SELECT `+webAuthnColumns+` FROM webauthn_credentials WHERE id = ?`, id)
	if err != nil {
		return nil, failed("webauthn credential by id", err)
	}
	if !found {
		return nil, fmt.Errorf("webauthn credential: %w", identity.ErrNotFound)
	}
	return &c, nil
}

// UpdateWebAuthnCredential stores the record after a sign-in.
func (s *Store) UpdateWebAuthnCredential(ctx context.Context, id string, credential []byte, usedAt time.Time) error {
	n, err := s.exec(ctx, `UPDATE webauthn_credentials SET credential = ?, last_used_at = ? WHERE id = ?`,
		string(credential), s.timeArg(usedAt), id)
	if err != nil {
		return failed("update webauthn credential", err)
	}
	if n == 0 {
		return fmt.Errorf("webauthn credential: %w", identity.ErrNotFound)
	}
	return nil
}

// DeleteWebAuthnCredential removes one of the user's credentials.
func (s *Store) DeleteWebAuthnCredential(ctx context.Context, userID, id string) error {
	n, err := s.exec(ctx, `DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return failed("delete webauthn credential", err)
	}
	if n == 0 {
		return fmt.Errorf("webauthn credential: %w", identity.ErrNotFound)
	}
	return nil
}

// ReplaceRecoveryCodes drops the user's codes and stores the new digests,
// in one transaction.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return failed("replace recovery codes", err)
		}
		for _, h := range hashes {
			n, err := s.exec(ctx, `INSERT INTO recovery_codes (user_id, code_hash, used_at, created_at)
				SELECT id, ?, NULL, ? FROM users WHERE id = ?`, h, s.timeArg(at), userID)
			if isDuplicate(err) {
				return fmt.Errorf("replace recovery codes: duplicate code %w", identity.ErrConflict)
			}
			if err != nil {
				return failed("replace recovery codes", err)
			}
			if n == 0 {
				return fmt.Errorf("user %q: %w", userID, identity.ErrNotFound)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks an unused code used, atomically.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error) {
	n, err := s.exec(ctx, `UPDATE recovery_codes SET used_at = ?
		WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`, s.timeArg(at), userID, hash)
	if err != nil {
		return false, failed("use recovery code", err)
	}
	return n == 1, nil
}

// UnusedRecoveryCodes counts the user's usable codes.
func (s *Store) SecondFactors(ctx context.Context, userID string) (identity.SecondFactors, error) {
	var f identity.SecondFactors
	var totp int
	_, err := s.queryOne(ctx, func(row scanner) error { return row.Scan(&totp, &f.Passkeys, &f.RecoveryCodes) },
		`SELECT
			(SELECT COUNT(*) FROM totp_credentials WHERE user_id = ? AND confirmed_at IS NOT NULL),
			(SELECT COUNT(*) FROM webauthn_credentials WHERE user_id = ?),
			(SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL)`, userID, userID, userID)
	if err != nil {
		return f, failed("second factors", err)
	}
	f.TOTP = totp > 0
	return f, nil
}

func (s *Store) UnusedRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	_, err := s.queryOne(ctx, func(row scanner) error { return row.Scan(&n) },
		`SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID)
	if err != nil {
		return 0, failed("unused recovery codes", err)
	}
	return n, nil
}
