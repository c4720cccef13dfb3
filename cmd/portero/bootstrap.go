package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/url"
	"time"

	"github.com/portero-id/portero/identity"
)

// bootstrapLinkLifespan bounds the first administrator's link.
const bootstrapLinkLifespan = 24 * time.Hour

type bootstrapView struct {
	UserID    string    `json:"user_id"`
	Username  string    `json:"username"`
	Link      string    `json:"link"`
	ExpiresAt time.Time `json:"expires_at"`
}

// bootstrap creates the first super_admin on a database without users and
// prints a one-time link where they choose a password; signing in then
// takes them through the second-factor enrolment their role requires. The
// link is the password reset link (single-use, stored as a digest), so no
// password ever passes through the command line or the logs.
func (g *globals) bootstrap(ctx context.Context, args []string) error {
	fs := newFlags("bootstrap", g)
	email := fs.String("admin-email", "", "e-mail of the first administrator (required)")
	username := fs.String("admin-username", "admin", "username of the first administrator")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("bootstrap: --admin-email is required")
	}
	cfg, st, _, err := g.openStore(ctx, false, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.Issuer == "" {
		return fmt.Errorf("bootstrap: issuer is not configured; the link needs it")
	}
	existing, err := st.SearchUsers(ctx, identity.UserQuery{Limit: 1})
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return fmt.Errorf("bootstrap: the database already has users; grant roles with `portero roles grant`")
	}
	u := &identity.User{Username: *username, Email: *email, Roles: []string{"super_admin"}}
	if err := u.Validate(); err != nil {
		return fmt.Errorf("bootstrap:\n%w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	value := base64.RawURLEncoding.EncodeToString(b)
	now := time.Now().UTC()
	v := bootstrapView{Username: u.Username, Link: cfg.Issuer + "/password/reset?token=" + url.QueryEscape(value),
		ExpiresAt: now.Add(bootstrapLinkLifespan)}
	err = st.InTx(ctx, func(ctx context.Context) error {
		if err := st.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := st.CreateOneTimeToken(ctx, &identity.OneTimeToken{ID: identity.Digest(value), Purpose: identity.PurposeResetPassword,
			UserID: u.ID, CreatedAt: now, ExpiresAt: v.ExpiresAt}); err != nil {
			return err
		}
		return st.AppendLedger(ctx, &identity.LedgerEntry{Kind: identity.LedgerAdmin, Type: "admin.bootstrapped", Subject: u.ID,
			Actor: cliActor().ID, Payload: []byte(`{"roles":["super_admin"]}`)})
	})
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	v.UserID = u.ID
	return g.output(v, func() error {
		fmt.Fprintf(g.stdout, "created super_admin %q (%s)\n", u.Username, u.ID)
		fmt.Fprintf(g.stdout, "open this link within 24 hours to choose a password (it works once):\n%s\n", v.Link)
		return nil
	})
}
