package store

import (
	"context"
	"fmt"
	"regexp"
)

// Least privilege on PostgreSQL: the role that owns Portero's tables runs
// `portero migrate`; the servers run as a runtime role that can read and
// write what they need but cannot change the schema, and on the ledger
// (and the old audit_events) can only read and append. The append-only
// triggers refuse UPDATE, DELETE and TRUNCATE to everyone; only an owner
// could disable them, and the runtime role is none.

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// appendOnlyTables are the tables the runtime role may only read and
// append to.
var appendOnlyTables = []string{"ledger", "audit_events"}

// RuntimeGrants returns the statements, run by the owner in the schema
// that holds the tables, that let role run Portero and nothing more. The
// role must exist (CREATE ROLE name LOGIN PASSWORD '...').
func RuntimeGrants(schema, role string) ([]string, error) {
	for _, n := range []string{schema, role} {
		if !roleName.MatchString(n) {
			return nil, fmt.Errorf("store: %q is not a plain PostgreSQL name (lower case letters, digits and _)", n)
		}
	}
	stmts := []string{
		fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", schema, role),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO %s", schema, role),
		fmt.Sprintf("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s", schema, role),
	}
	for _, t := range appendOnlyTables {
		stmts = append(stmts, fmt.Sprintf("REVOKE UPDATE, DELETE, TRUNCATE ON %s.%s FROM %s", schema, t, role))
	}
	return stmts, nil
}

// OwnsTables reports whether the connected role owns Portero's tables (or
// is a superuser, or a member of the owner): it could disable the ledger's
// append-only triggers. Always false on SQLite, which has no roles.
func (s *Store) OwnsTables(ctx context.Context) (bool, error) {
	if s.dialect != DialectPostgres {
		return false, nil
	}
	var owns bool
	found, err := s.queryOne(ctx, func(row scanner) error { return row.Scan(&owns) },
		`SELECT r.rolsuper OR pg_has_role(current_user, c.relowner, 'MEMBER')
		FROM pg_class c JOIN pg_roles r ON r.rolname = current_user
		WHERE c.oid = to_regclass('ledger')`)
	if err != nil {
		return false, failed("table ownership", err)
	}
	return found && owns, nil
}
