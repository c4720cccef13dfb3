package store

import (
	"context"
	"errors"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/seal"
)

// ResealSecrets reads every sealed value first and writes afterwards, so
// that no statement runs while a cursor is open (SQLite holds one
// connection).
func (s *Store) ResealSecrets(ctx context.Context, totp, keys identity.Reseal) (identity.ResealReport, error) {
	var report identity.ResealReport
	err := s.InTx(ctx, func(ctx context.Context) error {
		type sealed struct {
			id    string
			value []byte
		}
		read := func(query string) ([]sealed, error) {
			var out []sealed
			err := s.queryAll(ctx, func(row scanner) error {
				var v sealed
				var b dbBytes
				if err := row.Scan(&v.id, &b); err != nil {
					return err
				}
				v.value = b
				out = append(out, v)
				return nil
			}, query)
			return out, err
		}
		for _, table := range []struct {
			label, query, update string
			reseal               identity.Reseal
			count                *int
		}{
			{"totp", `SELECT user_id, encrypted_secret FROM totp_credentials ORDER BY user_id`,
				`UPDATE totp_credentials SET encrypted_secret = ? WHERE user_id = ?`, totp, &report.TOTP},
			{"key", `SELECT id, encrypted_private_jwk FROM signing_keys ORDER BY id`,
				`UPDATE signing_keys SET encrypted_private_jwk = ? WHERE id = ?`, keys, &report.SigningKeys},
		} {
			rows, err := read(table.query)
			if err != nil {
				return failed("reseal "+table.label, err)
			}
			for _, r := range rows {
				out, changed, err := table.reseal(r.value, []byte(r.id))
				if errors.Is(err, seal.ErrOpen) {
					report.Unreadable = append(report.Unreadable, table.label+":"+r.id)
					continue
				}
				if err != nil {
					return err
				}
				if !changed {
					continue
				}
				if _, err := s.exec(ctx, table.update, out, r.id); err != nil {
					return failed("reseal "+table.label, err)
				}
				*table.count++
			}
		}
		return nil
	})
	if err != nil {
		return identity.ResealReport{}, err
	}
	return report, nil
}

func (s *Store) SecretDependents(ctx context.Context, since time.Time) (identity.SecretDependents, error) {
	d := identity.SecretDependents{Since: since.UTC()}
	at, now := s.timeArg(since), s.timeArg(time.Now())
	var tokensUntil, sessionsUntil dbTime
	_, err := s.queryOne(ctx, func(row scanner) error {
		return row.Scan(&d.Tokens, &d.TokensUnbounded, &tokensUntil)
	}, `SELECT COUNT(*), COUNT(*) - COUNT(expires_at), MAX(expires_at) FROM grants
		WHERE active AND kind IN (?, ?, ?) AND requested_at < ? AND (expires_at IS NULL OR expires_at > ?)`,
		string(identity.GrantAuthorizeCode), string(identity.GrantAccessToken), string(identity.GrantRefreshToken), at, now)
	if err != nil {
		return d, failed("secret dependents", err)
	}
	_, err = s.queryOne(ctx, func(row scanner) error {
		return row.Scan(&d.Sessions, &sessionsUntil)
	}, `SELECT COUNT(*), MAX(expires_at) FROM sessions WHERE created_at < ? AND expires_at > ?`, at, now)
	if err != nil {
		return d, failed("secret dependents", err)
	}
	_, err = s.queryOne(ctx, func(row scanner) error {
		return row.Scan(&d.RecoveryCodeOwners)
	}, `SELECT COUNT(DISTINCT user_id) FROM recovery_codes WHERE used_at IS NULL AND created_at < ?`, at)
	if err != nil {
		return d, failed("secret dependents", err)
	}
	d.TokensUntil, d.SessionsUntil = tokensUntil.Time, sessionsUntil.Time
	return d, nil
}
