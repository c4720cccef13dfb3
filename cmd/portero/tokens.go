package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portero-id/portero/identity"
)

// tokens revokes grants in bulk: `portero tokens revoke --client X |
// --user U | --issued-before T` (any combination; at least one).
func (g *globals) tokens(ctx context.Context, args []string) error {
	verb, args, err := subcommand("tokens", args, "revoke")
	if err != nil {
		return err
	}
	cmd := "tokens " + verb
	fs := newFlags(cmd, g)
	client := fs.String("client", "", "revoke the tokens issued to this client")
	user := fs.String("user", "", "revoke the tokens of this user (username, e-mail or id)")
	before := fs.String("issued-before", "", "revoke the tokens whose authorization began before this time (RFC 3339)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var f identity.GrantFilter
	f.ClientID = *client
	if *before != "" {
		t, err := time.Parse(time.RFC3339, *before)
		if err != nil {
			return fmt.Errorf("%s: --issued-before: want an RFC 3339 time such as 2026-12-02T10:00:00Z: %w", cmd, err)
		}
		f.IssuedBefore = t
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	if *user != "" {
		u, err := a.svc.ResolveUser(ctx, *user)
		if err != nil {
			return explain(cmd, err)
		}
		f.Subject = u.ID
	}
	if f.Empty() {
		return fmt.Errorf("%s: give --client, --user or --issued-before (revoking every token needs one of them, e.g. --issued-before now)", cmd)
	}
	n, err := a.svc.RevokeTokens(ctx, a.actor, f)
	if errors.Is(err, identity.ErrEmptyGrantFilter) {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if err != nil {
		return explain(cmd, err)
	}
	return g.output(map[string]int64{"tokens_revoked": n}, func() error {
		_, err := fmt.Fprintf(g.stdout, "revoked %d tokens, codes and refresh tokens (they are inactive at introspection now; JWTs verified locally stay valid until they expire)\n", n)
		return err
	})
}
