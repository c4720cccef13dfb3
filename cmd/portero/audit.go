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
		fmt.Fprintln(g.stderr, "Usage: portero [--json] audit verify\n\n"+
			"Checks the ledger's hash chain (audit events, consents, requests, admin actions)\n"+
			"and exits non-zero, naming the first bad entry, if an entry was changed or deleted.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit verify: unexpected argument %q", fs.Arg(0))
	}
	_, st, _, err := g.openStore(ctx, false, false)
	if err != nil {
		return err
	}
	defer st.Close()
	checked, err := identity.VerifyLedger(ctx, st)
	var brk *identity.LedgerBreak
	if err != nil && !errors.As(err, &brk) {
		return fmt.Errorf("audit verify: %w", err)
	}
	v := verifyView{OK: brk == nil, Checked: checked}
	if brk != nil {
		v.BrokenAt, v.Reason = brk.Seq, brk.Reason
	}
	err = g.output(v, func() error {
		if v.OK {
			fmt.Fprintf(g.stdout, "ledger intact: %d entries checked\n", v.Checked)
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
