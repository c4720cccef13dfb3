package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
)

func (g *globals) roles(ctx context.Context, args []string) error {
	verb, args, err := subcommand("roles", args, "grant", "revoke", "define", "delete", "get", "list")
	if err != nil {
		return err
	}
	if verb != "grant" && verb != "revoke" {
		return g.roleCatalog(ctx, verb, args)
	}
	cmd := "roles " + verb
	fs := newFlags(cmd, g)
	user := fs.String("user", "", "username, e-mail or user id (required)")
	role := fs.String("role", "", "role name (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" || *role == "" {
		return fmt.Errorf("%s: --user and --role are required", cmd)
	}
	if err := identity.ValidRoleName(*role); err != nil {
		return explain(cmd, err)
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.svc.ResolveUser(ctx, *user)
	if err != nil {
		return explain(cmd, err)
	}
	if verb == "grant" {
		u, err = a.svc.GrantRole(ctx, a.actor, u.ID, *role)
	} else {
		u, err = a.svc.RevokeRole(ctx, a.actor, u.ID, *role)
	}
	if err != nil {
		return explain(cmd, err)
	}
	v := adminview.UserOf(u)
	return g.output(v, func() error {
		fmt.Fprintf(g.stdout, "%s: roles now %s\n", v.Username, strings.Join(v.Roles, ","))
		return nil
	})
}

// roleCatalog defines, deletes, shows or lists the roles of the catalog.
// Defining replaces the role's description, includes and permissions.
func (g *globals) roleCatalog(ctx context.Context, verb string, args []string) error {
	cmd := "roles " + verb
	fs := newFlags(cmd, g)
	name := fs.String("name", "", "role name (or give it as the argument)")
	var description, includes, permissions *string
	if verb == "define" {
		description = fs.String("description", "", "what the role is for")
		includes = fs.String("includes", "", "comma-separated roles this role includes")
		permissions = fs.String("permissions", "", "comma-separated permissions, e.g. orders:read")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if verb != "list" {
		if *name, err = argOrFlag(cmd, "name", *name, pos); err != nil {
			return err
		}
	} else if len(pos) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, pos[0])
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	switch verb {
	case "define":
		r := &identity.Role{Name: *name, Description: *description, Includes: splitList(*includes), Permissions: splitList(*permissions)}
		// Redefining a role changes only what the flags give: the rest
		// (a built-in role's description above all) is kept.
		if err := keepUnsetRoleFields(ctx, a, fs, r); err != nil {
			return explain(cmd, err)
		}
		if err := a.svc.PutRole(ctx, a.actor, r); err != nil {
			return explain(cmd, err)
		}
	case "delete":
		if err := a.svc.DeleteRole(ctx, a.actor, *name); err != nil {
			return explain(cmd, err)
		}
		return g.output(map[string]string{"deleted": *name}, func() error { fmt.Fprintf(g.stdout, "deleted role %s\n", *name); return nil })
	}
	roles, err := a.svc.Roles(ctx)
	if err != nil {
		return explain(cmd, err)
	}
	views := []adminview.Role{}
	for i := range roles {
		if verb != "list" && roles[i].Name != *name {
			continue
		}
		views = append(views, adminview.RoleOf(&roles[i]))
	}
	if verb == "get" && len(views) == 0 {
		return explain(cmd, fmt.Errorf("role %q: %w", *name, identity.ErrNotFound))
	}
	return g.output(views, func() error {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ROLE\tINCLUDES\tPERMISSIONS\tDESCRIPTION")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.Name, strings.Join(v.Includes, ","), strings.Join(v.Permissions, ","), v.Description)
		}
		return w.Flush()
	})
}

func (g *globals) keys(ctx context.Context, args []string) error {
	verb, args, err := subcommand("keys", args, "rotate", "list", "revoke")
	if err != nil {
		return err
	}
	cmd := "keys " + verb
	fs := newFlags(cmd, g)
	dev := fs.Bool("dev", false, "use the development system secret (as serve --dev)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := g.manage(ctx, adminOptions{keys: true, dev: *dev})
	if err != nil {
		return err
	}
	defer a.Close()
	if verb == "revoke" {
		if fs.NArg() != 1 {
			return fmt.Errorf("%s: give the kid of the key to revoke (portero keys list)", cmd)
		}
		replacement, tokens, err := a.svc.RevokeKey(ctx, a.actor, fs.Arg(0))
		if err != nil {
			return explain(cmd, err)
		}
		v := map[string]any{"revoked": fs.Arg(0), "replacement": adminview.KeyOf(replacement), "access_tokens_revoked": tokens}
		return g.output(v, func() error {
			_, err := fmt.Fprintf(g.stdout, "revoked %s; %s signs from now on; %d access tokens revoked (running servers follow within a second on PostgreSQL, a minute otherwise)\n",
				fs.Arg(0), replacement.ID, tokens)
			return err
		})
	}
	var keys []identity.SigningKey
	if verb == "rotate" {
		if keys, err = a.svc.RotateKeys(ctx, a.actor); err != nil {
			return explain(cmd, err)
		}
	} else {
		keys = a.svc.SigningKeys()
	}
	views := make([]adminview.Key, len(keys))
	for i := range keys {
		views[i] = adminview.KeyOf(&keys[i])
	}
	return g.output(views, func() error {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KID\tALG\tCREATED\tSIGNS FROM")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.ID, v.Algorithm, v.CreatedAt.Format(time.RFC3339), v.ActiveAt.Format(time.RFC3339))
		}
		return w.Flush()
	})
}

// keepUnsetRoleFields fills the fields of r whose flags were not given
// from the role as defined now, if it exists.
func keepUnsetRoleFields(ctx context.Context, a *adminSession, fs *flag.FlagSet, r *identity.Role) error {
	roles, err := a.svc.Roles(ctx)
	if err != nil {
		return err
	}
	for _, old := range roles {
		if old.Name != r.Name {
			continue
		}
		if !flagSet(fs, "description") {
			r.Description = old.Description
		}
		if !flagSet(fs, "includes") {
			r.Includes = old.Includes
		}
		if !flagSet(fs, "permissions") {
			r.Permissions = old.Permissions
		}
	}
	return nil
}
