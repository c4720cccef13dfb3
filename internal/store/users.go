package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portero-id/portero/identity"
)

// normLogin is the case-insensitive form of a username or e-mail that the
// unique indexes and look-ups use.
func normLogin(s string) string { return strings.ToLower(s) }

// nullNormEmail is the stored email_norm: NULL for no e-mail, so that any
// number of users may lack one.
func nullNormEmail(email string) any {
	if email == "" {
		return nil
	}
	return normLogin(email)
}

// CreateUser inserts u and its roles. An empty ID is filled with a random
// UUID, and zero CreatedAt/UpdatedAt with the current time; both are written
// back to u. A username or e-mail already in use (ignoring case) is
// identity.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *identity.User) error {
	if u.Username == "" {
		return errors.New("store: create user: empty username")
	}
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	roles := slices.Clone(u.Roles)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if slices.Contains(roles, "") {
		return errors.New("store: create user: empty role")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		_, err := s.exec(ctx, `INSERT INTO users
			(id, username, username_norm, email, email_norm, password_hash, disabled, created_at, updated_at, email_verified_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, normLogin(u.Username), u.Email, nullNormEmail(u.Email), u.PasswordHash,
			u.Disabled, s.timeArg(u.CreatedAt), s.timeArg(u.UpdatedAt), s.nullTimePtrArg(u.EmailVerifiedAt))
		if isDuplicate(err) {
			return fmt.Errorf("create user %q: id, username or e-mail %w", u.Username, identity.ErrConflict)
		}
		if err != nil {
			return failed("create user", err)
		}
		if len(roles) == 0 {
			return nil
		}
		q := "INSERT INTO user_roles (user_id, role) VALUES " + strings.Repeat("(?, ?), ", len(roles)-1) + "(?, ?)"
		args := make([]any, 0, 2*len(roles))
		for _, r := range roles {
			args = append(args, u.ID, r)
		}
		if _, err := s.exec(ctx, q, args...); err != nil {
			return failed("create user roles", err)
		}
		return nil
	})
}

// userColumns are scanned by scanUserRow, followed by the role of a LEFT
// JOIN on user_roles.
const userColumns = `u.id, u.username, u.email, u.password_hash, u.disabled, u.created_at, u.updated_at, u.email_verified_at, r.role`

// userRows collects users from rows of userColumns, in row order.
type userRows struct {
	users []identity.User
}

func (ur *userRows) scan(row scanner) error {
	var (
		u                identity.User
		created, updated dbTime
		verified         dbTime
		role             *string
	)
	if err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.Disabled, &created, &updated, &verified, &role); err != nil {
		return err
	}
	if n := len(ur.users); n == 0 || ur.users[n-1].ID != u.ID {
		u.CreatedAt, u.UpdatedAt = created.Time, updated.Time
		u.EmailVerifiedAt = verified.ptr()
		ur.users = append(ur.users, u)
	}
	if role != nil {
		last := &ur.users[len(ur.users)-1]
		last.Roles = append(last.Roles, *role)
	}
	return nil
}

func (ur *userRows) sortRoles() {
	for i := range ur.users {
		slices.Sort(ur.users[i].Roles)
	}
}

// UserByID returns the user with its roles, sorted.
func (s *Store) UserByID(ctx context.Context, id string) (*identity.User, error) {
	var ur userRows
	err := s.queryAll(ctx, ur.scan, `SELECT `+userColumns+`
		FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
		WHERE u.id = ?`, id)
	if err != nil {
		return nil, failed("user by id", err)
	}
	if len(ur.users) == 0 {
		return nil, fmt.Errorf("user %q: %w", id, identity.ErrNotFound)
	}
	ur.sortRoles()
	return &ur.users[0], nil
}

// UserByLogin finds a user by username or e-mail, ignoring case. Should one
// user's username be another's e-mail, the username wins.
func (s *Store) UserByLogin(ctx context.Context, login string) (*identity.User, error) {
	if login == "" {
		return nil, fmt.Errorf("user %q: %w", login, identity.ErrNotFound)
	}
	n := normLogin(login)
	var ur userRows
	err := s.queryAll(ctx, ur.scan, `SELECT `+userColumns+`
		FROM (SELECT * FROM users WHERE username_norm = ? OR email_norm = ?
		      ORDER BY CASE WHEN username_norm = ? THEN 0 ELSE 1 END LIMIT 1) u
		LEFT JOIN user_roles r ON r.user_id = u.id`, n, n, n)
	if err != nil {
		return nil, failed("user by login", err)
	}
	if len(ur.users) == 0 {
		return nil, fmt.Errorf("user %q: %w", login, identity.ErrNotFound)
	}
	ur.sortRoles()
	return &ur.users[0], nil
}

// UpdatePasswordHash replaces the user's password hash.
func (s *Store) UpdatePasswordHash(ctx context.Context, userID, hash string) error {
	n, err := s.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`,
		hash, s.timeArg(now()), userID)
	if err != nil {
		return failed("update password hash", err)
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w", userID, identity.ErrNotFound)
	}
	return nil
}

// SetEmailVerified records when the user proved control of their e-mail.
func (s *Store) SetEmailVerified(ctx context.Context, userID string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE users SET email_verified_at = ?, updated_at = ? WHERE id = ?`,
		s.timeArg(at), s.timeArg(now()), userID)
	if err != nil {
		return failed("set e-mail verified", err)
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w", userID, identity.ErrNotFound)
	}
	return nil
}

func (s *Store) ChangeEmail(ctx context.Context, userID, email string, verifiedAt time.Time) error {
	n, err := s.exec(ctx, `UPDATE users SET email = ?, email_norm = ?, email_verified_at = ?, updated_at = ? WHERE id = ?`,
		email, nullNormEmail(email), s.timeArg(verifiedAt), s.timeArg(now()), userID)
	if isDuplicate(err) {
		return fmt.Errorf("change e-mail: %w", identity.ErrConflict)
	}
	if err != nil {
		return failed("change e-mail", err)
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w", userID, identity.ErrNotFound)
	}
	return nil
}

// DeleteUser deletes the user's tokens (grants name the subject, without a
// foreign key) and the user row, whose foreign keys cascade to sessions,
// roles, credentials, one-time tokens and scope consents.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.refuseLastSuperAdmin(ctx, id); err != nil {
			return err
		}
		if _, err := s.exec(ctx, `DELETE FROM grants WHERE subject = ?`, id); err != nil {
			return failed("delete user grants", err)
		}
		n, err := s.exec(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return failed("delete user", err)
		}
		if n == 0 {
			return fmt.Errorf("user %q: %w", id, identity.ErrNotFound)
		}
		return nil
	})
}

// lockEnabledSuperAdmins returns the ids of the enabled super_admins, in
// id order (the order every caller locks them in), with their rows locked
// until the transaction ends (SQLite: the writer lock
// already serialises), so that two administrators removing each other at
// the same moment cannot both succeed. A disabled super_admin does not
// count: nobody could sign in as them.
func (s *Store) lockEnabledSuperAdmins(ctx context.Context) ([]string, error) {
	lock := ""
	if s.dialect == DialectPostgres {
		lock = " FOR UPDATE"
	}
	var holders []string
	err := s.queryAll(ctx, func(row scanner) error {
		var id string
		if err := row.Scan(&id); err != nil {
			return err
		}
		holders = append(holders, id)
		return nil
	}, `SELECT u.id FROM user_roles r JOIN users u ON u.id = r.user_id
		WHERE r.role = ? AND NOT u.disabled ORDER BY u.id`+lock, identity.RoleSuperAdmin)
	if err != nil {
		return nil, failed("lock super admins", err)
	}
	return holders, nil
}

// LockUser locks the user's row (PostgreSQL: FOR UPDATE, which a
// concurrent user_roles insert's foreign-key check waits for; SQLite: the
// write transaction already holds the database) and returns the user.
// The enabled super_admins are locked first, in id order, as every change
// that could remove the last of them does: locks taken in one order
// cannot deadlock.
func (s *Store) LockUser(ctx context.Context, id string) (*identity.User, error) {
	if s.dialect == DialectPostgres {
		if _, err := s.lockEnabledSuperAdmins(ctx); err != nil {
			return nil, err
		}
		found, err := s.queryOne(ctx, func(scanner) error { return nil }, `SELECT 1 FROM users WHERE id = ? FOR UPDATE`, id)
		if err != nil {
			return nil, failed("lock user", err)
		}
		if !found {
			return nil, fmt.Errorf("user %q: %w", id, identity.ErrNotFound)
		}
	}
	return s.UserByID(ctx, id)
}

// refuseLastSuperAdmin is ErrLastSuperAdmin when id is the only enabled
// super_admin, who is about to be disabled, erased or demoted; the
// super_admins stay locked until the transaction ends.
func (s *Store) refuseLastSuperAdmin(ctx context.Context, id string) error {
	holders, err := s.lockEnabledSuperAdmins(ctx)
	if err != nil {
		return err
	}
	if len(holders) == 1 && holders[0] == id {
		return identity.ErrLastSuperAdmin
	}
	return nil
}

// SetUserDisabled disables or enables the account.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if disabled {
			if err := s.refuseLastSuperAdmin(ctx, id); err != nil {
				return err
			}
		}
		n, err := s.exec(ctx, `UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?`, disabled, s.timeArg(at), id)
		if err != nil {
			return failed("set user disabled", err)
		}
		if n == 0 {
			return fmt.Errorf("user %q: %w", id, identity.ErrNotFound)
		}
		return nil
	})
}

// SearchUsers pages through the users matching q by (lower-cased
// username, id), with their roles.
func (s *Store) SearchUsers(ctx context.Context, q identity.UserQuery) ([]identity.User, error) {
	var (
		where []string
		args  []any
	)
	if q.Text != "" {
		// The lower-cased columns make this case-insensitive on both
		// databases; LIKE's wildcards in the text are escaped.
		pattern := "%" + likeEscaper.Replace(strings.ToLower(q.Text)) + "%"
		where = append(where, `(username_norm LIKE ? ESCAPE '\' OR email_norm LIKE ? ESCAPE '\')`)
		args = append(args, pattern, pattern)
	}
	if q.Role != "" {
		where = append(where, `id IN (SELECT user_id FROM user_roles WHERE role = ?)`)
		args = append(args, q.Role)
	}
	if q.Disabled != nil {
		where = append(where, `disabled = ?`)
		args = append(args, *q.Disabled)
	}
	if q.After != nil {
		where = append(where, `(username_norm > ? OR (username_norm = ? AND id > ?))`)
		n := normLogin(q.After.Username)
		args = append(args, n, n, q.After.ID)
	}
	inner := `SELECT * FROM users`
	if len(where) > 0 {
		inner += ` WHERE ` + strings.Join(where, ` AND `)
	}
	inner += ` ORDER BY username_norm, id LIMIT ?`
	args = append(args, identity.LedgerFilter{Limit: q.Limit}.EffectiveLimit())
	var ur userRows
	err := s.queryAll(ctx, ur.scan, `SELECT `+userColumns+`
		FROM (`+inner+`) u LEFT JOIN user_roles r ON r.user_id = u.id
		ORDER BY u.username_norm, u.id`, args...)
	if err != nil {
		return nil, failed("search users", err)
	}
	ur.sortRoles()
	return ur.users, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// GrantRole gives the user role; granting a role twice is not an error. An
// unknown user is identity.ErrNotFound.
func (s *Store) GrantRole(ctx context.Context, userID, role string) error {
	if role == "" {
		return errors.New("store: grant role: empty role")
	}
	// INSERT … SELECT rather than a foreign-key violation, which would abort
	// a surrounding PostgreSQL transaction.
	n, err := s.exec(ctx, `INSERT INTO user_roles (user_id, role)
		SELECT id, ? FROM users WHERE id = ?
		ON CONFLICT (user_id, role) DO NOTHING`, role, userID)
	if err != nil {
		return failed("grant role", err)
	}
	if n > 0 {
		return nil
	}
	found, err := s.queryOne(ctx, func(scanner) error { return nil }, `SELECT 1 FROM users WHERE id = ?`, userID)
	if err != nil {
		return failed("grant role", err)
	}
	if !found {
		return fmt.Errorf("user %q: %w", userID, identity.ErrNotFound)
	}
	return nil
}

// RevokeRole takes role from the user; identity.ErrNotFound if the user does
// not hold it.
func (s *Store) RevokeRole(ctx context.Context, userID, role string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if role == identity.RoleSuperAdmin {
			// Nobody may remove the last enabled super_admin.
			if err := s.refuseLastSuperAdmin(ctx, userID); err != nil {
				return err
			}
		}
		n, err := s.exec(ctx, `DELETE FROM user_roles WHERE user_id = ? AND role = ?`, userID, role)
		if err != nil {
			return failed("revoke role", err)
		}
		if n == 0 {
			return fmt.Errorf("user %q role %q: %w", userID, role, identity.ErrNotFound)
		}
		return nil
	})
}
