package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
)

// networks manages the denied and allowed networks (docs/operations.md,
// "Network rules"); running servers follow within a second on PostgreSQL
// and within 30 seconds otherwise.
func (g *globals) networks(ctx context.Context, args []string) error {
	verb, args, err := subcommand("networks", args, "list", "deny", "allow", "remove")
	if err != nil {
		return err
	}
	cmd := "networks " + verb
	fs := newFlags(cmd, g)
	note := fs.String("note", "", "why (shown to operators; no personal data)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	if verb != "list" {
		if len(rest) != 1 {
			return fmt.Errorf("%s: give one address or CIDR range", cmd)
		}
		if verb == "remove" {
			if err := a.svc.RemoveNetworkRule(ctx, a.actor, rest[0]); err != nil {
				return explain(cmd, err)
			}
			_, err := fmt.Fprintf(g.stdout, "removed the rule for %s\n", rest[0])
			return err
		}
		r, err := a.svc.SetNetworkRule(ctx, a.actor, identity.NetworkRule{Prefix: rest[0], Action: verb, Note: *note})
		if err != nil {
			return explain(cmd, err)
		}
		v := adminview.NetworkRuleOf(r)
		return g.output(v, func() error {
			_, err := fmt.Fprintf(g.stdout, "%s %s (running servers follow within a second on PostgreSQL, 30 s otherwise)\n", v.Action, v.Prefix)
			return err
		})
	}
	rules, err := a.svc.NetworkRules(ctx)
	if err != nil {
		return explain(cmd, err)
	}
	views := make([]adminview.NetworkRule, len(rules))
	for i := range rules {
		views[i] = adminview.NetworkRuleOf(&rules[i])
	}
	return g.output(views, func() error {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PREFIX\tACTION\tSET BY\tSET AT\tNOTE")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.Prefix, v.Action, v.CreatedBy, v.CreatedAt.Format(time.RFC3339), v.Note)
		}
		return w.Flush()
	})
}
