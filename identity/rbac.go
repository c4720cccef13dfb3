package identity

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Role is an entry of the role catalog: what holders of the role may do,
// and which other roles it includes (a holder of super_admin holds admin,
// and so on down).
type Role struct {
	Name        string
	Description string
	// Builtin roles (customer, vendor, admin, super_admin) cannot be
	// deleted.
	Builtin     bool
	Includes    []string
	Permissions []string
	CreatedAt   time.Time
}

// RoleStore keeps the role catalog.
type RoleStore interface {
	// PutRole creates the role or replaces its description, includes and
	// permissions; an included role that does not exist is ErrNotFound,
	// an inclusion cycle is ErrInvalid.
	PutRole(ctx context.Context, r *Role) error
	Roles(ctx context.Context) ([]Role, error)
	// DeleteRole removes a custom role (builtin ones are ErrConflict).
	DeleteRole(ctx context.Context, name string) error
}

var permissionPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]*(:[a-z0-9_.*-]+){0,4}$`)

// PorteroScope reports whether scope is one of Portero's own APIs' (the
// admin API's portero:admin:read and portero:admin:write): a client gets
// such a scope only from a super_admin, never by registering itself.
func PorteroScope(scope string) bool { return strings.HasPrefix(scope, "portero:") }

// ValidPermission checks a permission string such as "orders:read".
func ValidPermission(p string) error {
	if len(p) > 128 || !permissionPattern.MatchString(p) {
		return invalid("permission %q must be lower-case words separated by ':' (e.g. orders:read)", p)
	}
	return nil
}

// RoleCatalog expands roles through their inclusions.
type RoleCatalog map[string]Role

// NewRoleCatalog indexes roles by name.
func NewRoleCatalog(roles []Role) RoleCatalog {
	c := RoleCatalog{}
	for _, r := range roles {
		c[r.Name] = r
	}
	return c
}

// Expand returns every role the given ones include, themselves first, and
// the union of their permissions, both sorted and without duplicates.
// Roles missing from the catalog count as themselves, without permissions.
func (c RoleCatalog) Expand(names []string) (roles, permissions []string) {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return // also ends cycles
		}
		seen[n] = true
		roles = append(roles, n)
		r := c[n]
		permissions = append(permissions, r.Permissions...)
		for _, inc := range r.Includes {
			visit(inc)
		}
	}
	for _, n := range names {
		visit(n)
	}
	slices.Sort(roles)
	slices.Sort(permissions)
	return roles, slices.Compact(permissions)
}

// CanGrant reports whether a holder of granter may give role to someone:
// nobody grants a role above their own, so role must be one of the roles
// granter's roles include. super_admin is the top of the hierarchy: its
// holders may grant every role, custom roles that no built-in role
// includes among them.
func (c RoleCatalog) CanGrant(granter []string, role string) bool {
	all, _ := c.Expand(granter)
	return slices.Contains(all, RoleSuperAdmin) || slices.Contains(all, role)
}

// CanManage reports whether a holder of granter may act on a user or
// client holding roles (disable, reset, edit, take a role away): only if
// they could have granted each of them, so that an admin cannot lock out
// or take over a super_admin.
func (c RoleCatalog) CanManage(granter, roles []string) bool {
	for _, r := range roles {
		if !c.CanGrant(granter, r) {
			return false
		}
	}
	return true
}

// Cycle reports whether giving r its includes would make a role include
// itself.
func (c RoleCatalog) Cycle(r *Role) bool {
	next := RoleCatalog{}
	for k, v := range c {
		next[k] = v
	}
	next[r.Name] = *r
	for _, inc := range r.Includes {
		all, _ := next.Expand([]string{inc})
		if slices.Contains(all, r.Name) {
			return true
		}
	}
	return false
}
