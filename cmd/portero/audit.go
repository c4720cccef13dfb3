package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/portero-id/portero/identity"
)

// errLedgerBroken makes "audit verify" exit non-zero once it has reported
// where the chain breaks.
var errLedgerBroken = errors.New("audit verify: the ledger's hash chain is broken")

// verifyView is the --json output of "audit verify".
type verifyView struct {
	OK       bool   `json:"ok"`
	Checked  int64  `json:"checked"`
	Head     string `json:"head"`
	BrokenAt int64  `json:"broken_at,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

func (g *globals) audit(ctx context.Context, args []string) error {
	_, args, err := subcommand("audit", args, "verify")
	if err != nil {
		return err
	}
	fs := newFlags("audit verify", g)
	fs.Usage = func() {
		fmt.Fprintln(g.stderr, "Usage: portero [--json] audit verify [--head SEQ:HASH]\n\n"+
			"Checks the ledger's hash chain (audit events, consents, requests, admin actions)\n"+
			"and exits non-zero, naming the first bad entry, if an entry was changed or deleted.\n"+
			"It prints the chain's head: keep a copy elsewhere, and give it to --head later\n"+
			"to prove that no entry up to it was lost (a cut chain verifies on its own).")
		fs.PrintDefaults()
	}
	headFlag := fs.String("head", "", "a head printed earlier (SEQ:HASH) that the chain must still hold")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var anchor identity.LedgerHead
	if *headFlag != "" {
		if anchor, err = identity.ParseLedgerHead(*headFlag); err != nil {
			return fmt.Errorf("audit verify: --head: %w", err)
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit verify: unexpected argument %q", fs.Arg(0))
	}
	_, st, _, err := g.openStore(ctx, false, false)
	if err != nil {
		return err
	}
	defer st.Close()
	head, err := identity.VerifyLedgerAgainst(ctx, st, anchor)
	var brk *identity.LedgerBreak
	if err != nil && !errors.As(err, &brk) {
		return fmt.Errorf("audit verify: %w", err)
	}
	v := verifyView{OK: brk == nil, Checked: head.Checked, Head: head.String()}
	if brk != nil {
		v.BrokenAt, v.Reason = brk.Seq, brk.Reason
	}
	err = g.output(v, func() error {
		if v.OK {
			fmt.Fprintf(g.stdout, "ledger intact: %d entries checked; head %s\n", v.Checked, v.Head)
		} else {
			fmt.Fprintf(g.stdout, "ledger broken at entry %d: %s\n", v.BrokenAt, v.Reason)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !v.OK {
		return errLedgerBroken
	}
	return nil
}
