package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/portero-id/portero/identity"
)

// Session IDs are digests of cookie values and pending authorization IDs
// are bearer references: neither appears in errors or logs.

// CreateSession inserts sess. Zero CreatedAt is filled with the current
// time and zero LastSeenAt with CreatedAt, both written back to sess. An
// unknown user is identity.ErrNotFound; an existing ID identity.ErrConflict.
func (s *Store) CreateSession(ctx context.Context, sess *identity.Session) error {
	if sess.ID == "" || sess.UserID == "" {
		return errors.New("store: create session: empty id or user id")
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now()
	}
	if sess.LastSeenAt.IsZero() {
		sess.LastSeenAt = sess.CreatedAt
	}
	// INSERT … SELECT rather than a foreign-key violation, which would abort
	// a surrounding PostgreSQL transaction.
	n, err := s.exec(ctx, `INSERT INTO sessions
		(id, user_id, auth_time, amr, acr, ip, user_agent, created_at, last_seen_at, expires_at)
		SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ? FROM users WHERE id = ?`,
		sess.ID, s.timeArg(sess.AuthTime), listArg(sess.AMR), sess.ACR, sess.IP, sess.UserAgent,
		s.timeArg(sess.CreatedAt), s.timeArg(sess.LastSeenAt), s.timeArg(sess.ExpiresAt), sess.UserID)
	if isDuplicate(err) {
		return fmt.Errorf("create session: %w", identity.ErrConflict)
	}
	if err != nil && !isForeignKey(err) { // the user was deleted meanwhile
		return failed("create session", err)
	}
	if n == 0 {
		return fmt.Errorf("create session: user %q: %w", sess.UserID, identity.ErrNotFound)
	}
	return nil
}

// SessionByID returns the session whatever its expiry; callers check it.
func (s *Store) SessionByID(ctx context.Context, id string) (*identity.Session, error) {
	sess := identity.Session{ID: id}
	found, err := s.queryOne(ctx, func(row scanner) error {
		var (
			amr                                  dbList
			authTime, created, lastSeen, expires dbTime
		)
		if err := row.Scan(&sess.UserID, &authTime, &amr, &sess.ACR, &sess.IP, &sess.UserAgent,
			&created, &lastSeen, &expires); err != nil {
			return err
		}
		sess.AMR = amr
		sess.AuthTime, sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = authTime.Time, created.Time, lastSeen.Time, expires.Time
		return nil
	}, `SELECT user_id, auth_time, amr, acr, ip, user_agent, created_at, last_seen_at, expires_at
		FROM sessions WHERE id = ?`, id)
	if err != nil {
		return nil, failed("session by id", err)
	}
	if !found {
		return nil, fmt.Errorf("session: %w", identity.ErrNotFound)
	}
	return &sess, nil
}

// TouchSession records activity at the given time.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, s.timeArg(at), id)
	if err != nil {
		return failed("touch session", err)
	}
	if n == 0 {
		return fmt.Errorf("session: %w", identity.ErrNotFound)
	}
	return nil
}

// DeleteSession removes one session; identity.ErrNotFound if it is gone.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return failed("delete session", err)
	}
	if n == 0 {
		return fmt.Errorf("session: %w", identity.ErrNotFound)
	}
	return nil
}

// DeleteUserSessions removes every session of the user and returns how many.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int64, error) {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, failed("delete user sessions", err)
	}
	return n, nil
}

// SessionsByUser returns the user's sessions, most recently seen first.
func (s *Store) SessionsByUser(ctx context.Context, userID string) ([]identity.Session, error) {
	var out []identity.Session
	err := s.queryAll(ctx, func(row scanner) error {
		var (
			sess                                 identity.Session
			amr                                  dbList
			authTime, created, lastSeen, expires dbTime
		)
		if err := row.Scan(&sess.ID, &authTime, &amr, &sess.ACR, &sess.IP, &sess.UserAgent,
			&created, &lastSeen, &expires); err != nil {
			return err
		}
		sess.UserID, sess.AMR = userID, amr
		sess.AuthTime, sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = authTime.Time, created.Time, lastSeen.Time, expires.Time
		out = append(out, sess)
		return nil
	}, `SELECT id, auth_time, amr, acr, ip, user_agent, created_at, last_seen_at, expires_at
		FROM sessions WHERE user_id = ? ORDER BY last_seen_at DESC, id`, userID)
	if err != nil {
		return nil, failed("sessions by user", err)
	}
	return out, nil
}

// DeleteUserSession removes one session of the user; a session of another
// user is identity.ErrNotFound, like a missing one.
func (s *Store) DeleteUserSession(ctx context.Context, userID, id string) error {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return failed("delete user session", err)
	}
	if n == 0 {
		return fmt.Errorf("session: %w", identity.ErrNotFound)
	}
	return nil
}

// DeleteExpiredSessions removes at most limit rows that expired before the
// given time and returns how many: sessions first, then, with what is left of
// limit, pending authorizations (the interface has no pruner of their own,
// and abandoned sign-ins would otherwise pile up). limit <= 0 removes
// nothing.
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`, s.timeArg(before), limit)
	if err != nil {
		return 0, failed("delete expired sessions", err)
	}
	if left := int64(limit) - n; left > 0 {
		m, err := s.exec(ctx, `DELETE FROM pending_authorizations WHERE id IN (
			SELECT id FROM pending_authorizations WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
			s.timeArg(before), left)
		if err != nil {
			return n, failed("delete expired pending authorizations", err)
		}
		n += m
	}
	return n, nil
}

// CreatePendingAuthorization inserts p. A zero CreatedAt is filled with the
// current time and written back to p; an existing ID is identity.ErrConflict.
func (s *Store) CreatePendingAuthorization(ctx context.Context, p *identity.PendingAuthorization) error {
	if p.ID == "" {
		return errors.New("store: create pending authorization: empty id")
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	_, err := s.exec(ctx, `INSERT INTO pending_authorizations (id, request_query, client_id, scopes, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, p.ID, p.Query, p.ClientID, listArg(p.Scopes), s.timeArg(p.CreatedAt), s.timeArg(p.ExpiresAt))
	if isDuplicate(err) {
		return fmt.Errorf("create pending authorization: %w", identity.ErrConflict)
	}
	if err != nil {
		return failed("create pending authorization", err)
	}
	return nil
}

// PendingAuthorizationByID returns the request whatever its expiry.
func (s *Store) PendingAuthorizationByID(ctx context.Context, id string) (*identity.PendingAuthorization, error) {
	p := identity.PendingAuthorization{ID: id}
	found, err := s.queryOne(ctx, func(row scanner) error {
		var created, expires dbTime
		var scopes dbList
		if err := row.Scan(&p.Query, &p.ClientID, &scopes, &created, &expires); err != nil {
			return err
		}
		p.Scopes, p.CreatedAt, p.ExpiresAt = scopes, created.Time, expires.Time
		return nil
	}, `SELECT request_query, client_id, scopes, created_at, expires_at FROM pending_authorizations WHERE id = ?`, id)
	if err != nil {
		return nil, failed("pending authorization by id", err)
	}
	if !found {
		return nil, fmt.Errorf("pending authorization: %w", identity.ErrNotFound)
	}
	if p.ClientID == "" {
		// Parked before migration 00013, by an older replica: its query
		// says the same (the dispatcher validated it then). Such rows
		// are gone once PendingLifespan has passed after the upgrade.
		q, _ := url.ParseQuery(p.Query)
		p.ClientID, p.Scopes = q.Get("client_id"), strings.Fields(q.Get("scope"))
	}
	return &p, nil
}

// DeletePendingAuthorization removes the request; identity.ErrNotFound if
// it is gone.
func (s *Store) DeletePendingAuthorization(ctx context.Context, id string) error {
	n, err := s.exec(ctx, `DELETE FROM pending_authorizations WHERE id = ?`, id)
	if err != nil {
		return failed("delete pending authorization", err)
	}
	if n == 0 {
		return fmt.Errorf("pending authorization: %w", identity.ErrNotFound)
	}
	return nil
}
