package store

import (
	"context"
	"fmt"

	"github.com/portero-id/portero/identity"
)

// PutRole writes the role and its includes and permissions in one
// transaction, after checking the names and that no cycle appears.
func (s *Store) PutRole(ctx context.Context, r *identity.Role) error {
	if err := identity.ValidRoleName(r.Name); err != nil {
		return err
	}
	for _, p := range r.Permissions {
		if err := identity.ValidPermission(p); err != nil {
			return err
		}
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		roles, err := s.Roles(ctx)
		if err != nil {
			return err
		}
		catalog := identity.NewRoleCatalog(roles)
		for _, inc := range r.Includes {
			if _, ok := catalog[inc]; !ok && inc != r.Name {
				return fmt.Errorf("included role %q: %w", inc, identity.ErrNotFound)
			}
		}
		if catalog.Cycle(r) {
			return fmt.Errorf("%w: role %q would include itself", identity.ErrInvalid, r.Name)
		}
		existing, found := catalog[r.Name]
		if !found {
			if r.CreatedAt.IsZero() {
				r.CreatedAt = now()
			}
			if _, err := s.exec(ctx, `INSERT INTO roles (name, description, builtin, created_at) VALUES (?, ?, ?, ?)`,
				r.Name, r.Description, false, s.timeArg(r.CreatedAt)); err != nil {
				return failed("create role", err)
			}
		} else {
			r.Builtin, r.CreatedAt = existing.Builtin, existing.CreatedAt
			if _, err := s.exec(ctx, `UPDATE roles SET description = ? WHERE name = ?`, r.Description, r.Name); err != nil {
				return failed("update role", err)
			}
		}
		for _, q := range []string{`DELETE FROM role_includes WHERE role = ?`, `DELETE FROM role_permissions WHERE role = ?`} {
			if _, err := s.exec(ctx, q, r.Name); err != nil {
				return failed("replace role", err)
			}
		}
		for _, inc := range r.Includes {
			if _, err := s.exec(ctx, `INSERT INTO role_includes (role, includes) VALUES (?, ?) ON CONFLICT DO NOTHING`, r.Name, inc); err != nil {
				return failed("role includes", err)
			}
		}
		for _, p := range r.Permissions {
			if _, err := s.exec(ctx, `INSERT INTO role_permissions (role, permission) VALUES (?, ?) ON CONFLICT DO NOTHING`, r.Name, p); err != nil {
				return failed("role permissions", err)
			}
		}
		return nil
	})
}

// Roles returns the catalog ordered by name, with includes and
// permissions.
func (s *Store) Roles(ctx context.Context) ([]identity.Role, error) {
	var out []identity.Role
	index := map[string]int{}
	err := s.queryAll(ctx, func(row scanner) error {
		var r identity.Role
		var at dbTime
		if err := row.Scan(&r.Name, &r.Description, &r.Builtin, &at); err != nil {
			return err
		}
		r.CreatedAt = at.Time
		index[r.Name] = len(out)
		out = append(out, r)
		return nil
	}, `SELECT name, description, builtin, created_at FROM roles ORDER BY name`)
	if err != nil {
		return nil, failed("roles", err)
	}
	err = s.queryAll(ctx, func(row scanner) error {
		var role, inc string
		if err := row.Scan(&role, &inc); err != nil {
			return err
		}
		if i, ok := index[role]; ok {
			out[i].Includes = append(out[i].Includes, inc)
		}
		return nil
	}, `SELECT role, includes FROM role_includes ORDER BY role, includes`)
	if err != nil {
		return nil, failed("role includes", err)
	}
	err = s.queryAll(ctx, func(row scanner) error {
		var role, p string
		if err := row.Scan(&role, &p); err != nil {
			return err
		}
		if i, ok := index[role]; ok {
			out[i].Permissions = append(out[i].Permissions, p)
		}
		return nil
	}, `SELECT role, permission FROM role_permissions ORDER BY role, permission`)
	if err != nil {
		return nil, failed("role permissions", err)
	}
	return out, nil
}

func (s *Store) DeleteRole(ctx context.Context, name string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		var builtin bool
		found, err := s.queryOne(ctx, func(row scanner) error { return row.Scan(&builtin) }, `SELECT builtin FROM roles WHERE name = ?`, name)
		if err != nil {
			return failed("delete role", err)
		}
		if !found {
			return fmt.Errorf("role %q: %w", name, identity.ErrNotFound)
		}
		if builtin {
			return fmt.Errorf("role %q is built in: %w", name, identity.ErrConflict)
		}
		if _, err := s.exec(ctx, `DELETE FROM roles WHERE name = ?`, name); err != nil {
			return failed("delete role", err)
		}
		return nil
	})
}
