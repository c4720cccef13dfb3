package main

import (
	"context"
	"fmt"

	"github.com/portero-id/portero/internal/store"
)

// db prints the SQL that sets up a least-privilege runtime role on
// PostgreSQL (`portero db grants --role NAME [--schema S]`): run it as the
// role that owns the tables (the one `portero migrate` uses), then point the
// servers' database.url at the runtime role.
func (g *globals) db(_ context.Context, args []string) error {
	verb, args, err := subcommand("db", args, "grants")
	if err != nil {
		return err
	}
	fs := newFlags("db "+verb, g)
	role := fs.String("role", "portero_app", "the runtime role (create it first: CREATE ROLE name LOGIN PASSWORD '...')")
	schema := fs.String("schema", "public", "the schema that holds Portero's tables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stmts, err := store.RuntimeGrants(*schema, *role)
	if err != nil {
		return err
	}
	return g.output(stmts, func() error {
		for _, s := range stmts {
			if _, err := fmt.Fprintln(g.stdout, s+";"); err != nil {
				return err
			}
		}
		return nil
	})
}
