package main

import (
	"context"
	"fmt"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/seal"
	"github.com/portero-id/portero/internal/server"
)

// secrets reseal finishes a system-secret rotation (docs/runbook.md): with
// the new secret in secrets.system and the old one in secrets.system_old,
// it re-encrypts what is sealed at rest, then says what still needs the
// old secret and until when, so the operator knows when dropping it is
// safe.
func (g *globals) secrets(ctx context.Context, args []string) error {
	verb, args, err := subcommand("secrets", args, "reseal")
	if err != nil {
		return err
	}
	cmd := "secrets " + verb
	fs := newFlags(cmd, g)
	dev := fs.Bool("dev", false, "use the development system secret (as serve --dev)")
	rotatedAt := fs.String("rotated-at", "", "when the new secret took over (RFC 3339): also count what still needs the old one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var since time.Time
	if *rotatedAt != "" {
		if since, err = time.Parse(time.RFC3339, *rotatedAt); err != nil {
			return fmt.Errorf("%s: --rotated-at: %w", cmd, err)
		}
	}
	a, err := g.manage(ctx, adminOptions{keys: true, dev: *dev})
	if err != nil {
		return err
	}
	defer a.Close()
	secrets := server.Secrets(a.cfg)
	totp, err := seal.New(seal.PurposeTOTP, secrets...)
	if err != nil {
		return err
	}
	keys, err := seal.New(seal.PurposeSigningKey, secrets...)
	if err != nil {
		return err
	}
	report, deps, err := a.svc.ResealSecrets(ctx, a.actor, totp.Reseal, keys.Reseal, since)
	if err != nil {
		return explain(cmd, err)
	}
	v := resealView{TOTP: report.TOTP, SigningKeys: report.SigningKeys, Unreadable: report.Unreadable,
		PreviousSecrets: len(secrets) - 1, Dependents: deps}
	if v.Unreadable == nil {
		v.Unreadable = []string{}
	}
	return g.output(v, func() error { return v.explain(g) })
}

type resealView struct {
	TOTP            int                        `json:"totp_resealed"`
	SigningKeys     int                        `json:"signing_keys_resealed"`
	Unreadable      []string                   `json:"unreadable"`
	PreviousSecrets int                        `json:"previous_secrets"`
	Dependents      *identity.SecretDependents `json:"still_dependent,omitempty"`
}

func (v resealView) explain(g *globals) error {
	out := g.stdout
	fmt.Fprintf(out, "resealed under the current system secret: %d TOTP seeds, %d signing keys\n", v.TOTP, v.SigningKeys)
	if len(v.Unreadable) > 0 {
		fmt.Fprintf(out, "no configured secret opens %d values (sealed with a secret no longer configured; left as they were): %v\n",
			len(v.Unreadable), v.Unreadable)
	}
	if v.PreviousSecrets == 0 {
		_, err := fmt.Fprintln(out, "secrets.system_old is empty: nothing depends on a previous secret")
		return err
	}
	d := v.Dependents
	if d == nil {
		_, err := fmt.Fprintln(out, "nothing stored is sealed with secrets.system_old any more; give --rotated-at to see what else still needs it")
		return err
	}
	since := d.Since.Format(time.RFC3339)
	if d.Tokens > 0 {
		until := "they expire by " + d.TokensUntil.Format(time.RFC3339)
		if d.TokensUnbounded > 0 {
			until = fmt.Sprintf("%d of them never expire", d.TokensUnbounded)
		}
		fmt.Fprintf(out, "%d active codes and tokens issued before %s are checked with the old secret; %s, or end them now: portero tokens revoke --issued-before %s\n",
			d.Tokens, since, until, since)
	}
	if d.Sessions > 0 {
		fmt.Fprintf(out, "%d browser sessions started before %s carry cookies under the old secret until %s; after the drop those people sign in again\n",
			d.Sessions, since, d.SessionsUntil.Format(time.RFC3339))
	}
	if d.RecoveryCodeOwners > 0 {
		fmt.Fprintf(out, "%d accounts have recovery codes made before %s: they stop working when the old secret is dropped; ask those people to make new ones\n",
			d.RecoveryCodeOwners, since)
	}
	if d.Tokens == 0 && d.Sessions == 0 && d.RecoveryCodeOwners == 0 {
		_, err := fmt.Fprintln(out, "nothing depends on secrets.system_old any more: remove it and restart")
		return err
	}
	return nil
}
