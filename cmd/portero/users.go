package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/server"
)

func (g *globals) printUser(v adminview.User) error {
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "id\t%s\n", v.ID)
	fmt.Fprintf(w, "username\t%s\n", v.Username)
	verified := "not verified"
	if v.EmailVerifiedAt != nil {
		verified = "verified " + v.EmailVerifiedAt.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "email\t%s\t(%s)\n", v.Email, verified)
	fmt.Fprintf(w, "roles\t%s\n", strings.Join(v.Roles, ","))
	fmt.Fprintf(w, "disabled\t%v\n", v.Disabled)
	fmt.Fprintf(w, "password\t%v\n", v.HasPassword)
	if v.MFA != nil {
		fmt.Fprintf(w, "second factors\ttotp=%v passkeys=%d recovery codes=%d\n", v.MFA.TOTP, v.MFA.Passkeys, v.MFA.RecoveryCodes)
	}
	fmt.Fprintf(w, "created\t%s\n", v.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "updated\t%s\n", v.UpdatedAt.Format(time.RFC3339))
	return w.Flush()
}

// userDetail is one user with the summary of their second factors.
func (a *adminSession) userDetail(ctx context.Context, id string) (adminview.User, error) {
	u, f, err := a.svc.UserDetail(ctx, id)
	if err != nil {
		return adminview.User{}, err
	}
	return adminview.UserDetailOf(u, f), nil
}

func (g *globals) users(ctx context.Context, args []string) error {
	verb, args, err := subcommand("users", args, "create", "list", "get", "disable", "enable", "unlock", "reset-mfa",
		"sessions", "revoke-sessions", "consents", "delete")
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		return g.usersCreate(ctx, args)
	case "list":
		return g.usersList(ctx, args)
	}
	cmd := "users " + verb
	fs := newFlags(cmd, g)
	userFlag := fs.String("user", "", "username, e-mail or user id (or give it as the argument)")
	session, all := new(string), new(bool)
	if verb == "revoke-sessions" {
		fs.StringVar(session, "session", "", "the session id to end")
		fs.BoolVar(all, "all", false, "end every session of the user")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	ref, err := argOrFlag(cmd, "user", *userFlag, pos)
	if err != nil {
		return err
	}
	if verb == "revoke-sessions" && (*session == "") == !*all {
		return errors.New("users revoke-sessions: give either --session ID or --all")
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.svc.ResolveUser(ctx, ref)
	if err != nil {
		return explain(cmd, err)
	}
	switch verb {
	case "get":
	case "disable", "enable":
		_, err = a.svc.SetUserDisabled(ctx, a.actor, u.ID, verb == "disable")
		if err == nil && verb == "disable" {
			fmt.Fprintln(g.stderr, "note: sessions and tokens ended; clients are not told over the back channel from the CLI")
		}
	case "unlock":
		if err = a.svc.Unlock(ctx, a.actor, u.ID); errors.Is(err, manage.ErrNoLockouts) {
			// Nothing was unlocked, and nothing is recorded.
			return fmt.Errorf("users unlock: %w: without redis.url each server process keeps its own counters,"+
				" which end when it restarts; unlock through the admin pages or API (POST /admin/v1/users/{id}/unlock)"+
				" of each running server instead", err)
		}
	case "reset-mfa":
		err = a.svc.ResetMFA(ctx, a.actor, u.ID)
	case "sessions":
		return g.userSessions(ctx, a, u)
	case "revoke-sessions":
		if err := a.svc.RevokeSession(ctx, a.actor, u.ID, *session); err != nil {
			return explain(cmd, err)
		}
		out := map[string]string{"user_id": u.ID, "revoked": "all"}
		if *session != "" {
			out["revoked"] = *session
		}
		return g.output(out, func() error {
			if *session == "" {
				fmt.Fprintf(g.stdout, "ended every session of %s\n", u.Username)
			} else {
				fmt.Fprintf(g.stdout, "ended session %s of %s\n", *session, u.Username)
			}
			return nil
		})
	case "consents":
		return g.userConsents(ctx, a, u)
	case "delete":
		if err := a.svc.DeleteUser(ctx, a.actor, u.ID); err != nil {
			return explain(cmd, err)
		}
		return g.output(map[string]string{"user_id": u.ID, "deleted": "true"}, func() error {
			fmt.Fprintf(g.stdout, "erased %s (%s); the ledger keeps its entries under that id\n", u.Username, u.ID)
			return nil
		})
	}
	if err != nil {
		return explain(cmd, err)
	}
	v, err := a.userDetail(ctx, u.ID)
	if err != nil {
		return explain(cmd, err)
	}
	return g.output(v, func() error { return g.printUser(v) })
}

func (g *globals) userSessions(ctx context.Context, a *adminSession, u *identity.User) error {
	sessions, err := a.svc.Sessions(ctx, u.ID)
	if err != nil {
		return explain("users sessions", err)
	}
	views := []adminview.Session{}
	for i := range sessions {
		views = append(views, adminview.SessionOf(&sessions[i]))
	}
	return g.output(views, func() error {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SESSION\tSIGNED IN\tAMR\tIP\tLAST SEEN\tEXPIRES")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.AuthTime.Format(time.RFC3339), strings.Join(v.AMR, ","), v.IP,
				v.LastSeenAt.Format(time.RFC3339), v.ExpiresAt.Format(time.RFC3339))
		}
		return w.Flush()
	})
}

// userConsents shows a user's consent records; the read is recorded
// (admin.consents_read), as through the API.
func (g *globals) userConsents(ctx context.Context, a *adminSession, u *identity.User) error {
	cs, err := a.svc.UserConsents(ctx, a.actor, u.ID)
	if err != nil {
		return explain("users consents", err)
	}
	out := adminview.ConsentsOf(cs)
	return g.output(out, func() error {
		fmt.Fprintf(g.stdout, "consent decisions of %s:\n", u.Username)
		if err := g.printEvents(out.Records); err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, "\nscope consents remembered:")
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "CLIENT\tSCOPES\tGRANTED")
		for _, s := range out.Scopes {
			fmt.Fprintf(w, "%s\t%s\t%s\n", s.ClientID, strings.Join(s.Scopes, " "), s.GrantedAt.Format(time.RFC3339))
		}
		return w.Flush()
	})
}

func (g *globals) usersList(ctx context.Context, args []string) error {
	fs := newFlags("users list", g)
	q := fs.String("q", "", "part of the username or e-mail (ignoring case)")
	role := fs.String("role", "", "only users holding this role directly")
	disabled := fs.Bool("disabled", false, "only disabled users (--disabled=false: only enabled ones)")
	limit := fs.Int("limit", identity.LedgerMaxLimit, fmt.Sprintf("at most this many users (1-%d), ordered by username", identity.LedgerMaxLimit))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *limit < 1 || *limit > identity.LedgerMaxLimit {
		return fmt.Errorf("users list: --limit must be from 1 to %d", identity.LedgerMaxLimit)
	}
	query := identity.UserQuery{Text: *q, Role: *role, Limit: *limit}
	if flagSet(fs, "disabled") {
		query.Disabled = disabled
	}
	if *limit < identity.LedgerMaxLimit {
		query.Limit++ // one more tells whether there are more
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	list, err := a.svc.SearchUsers(ctx, query)
	if err != nil {
		return explain("users list", err)
	}
	more := len(list) > *limit
	if more {
		list = list[:*limit]
	}
	views := make([]adminview.User, len(list))
	for i := range list {
		views[i] = adminview.UserOf(&list[i])
	}
	if more {
		fmt.Fprintf(g.stderr, "note: more than %d users match: narrow with --q or --role, or raise --limit\n", *limit)
	}
	return g.output(views, func() error {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tUSERNAME\tEMAIL\tROLES\tDISABLED")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\n", v.ID, v.Username, v.Email, strings.Join(v.Roles, ","), v.Disabled)
		}
		return w.Flush()
	})
}

// usersCreate creates an account through manage.Service (recorded, and
// with roles the operator may grant).
func (g *globals) usersCreate(ctx context.Context, args []string) error {
	fs := newFlags("users create", g)
	username := fs.String("username", "", "username (required)")
	email := fs.String("email", "", "e-mail address (required)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	roles := fs.String("roles", "", "comma-separated roles")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u := &identity.User{Username: *username, Email: *email, Roles: splitList(*roles)}
	if err := u.Validate(); err != nil {
		return fmt.Errorf("users create:\n%w", err)
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.cfg
	if *passwordStdin {
		line, err := bufio.NewReader(g.stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("users create: no password on standard input")
		}
		password := strings.TrimRight(line, "\r\n")
		policy := identity.PasswordPolicy{MinLength: cfg.Accounts.PasswordMinLength}
		if err := policy.Check(password, u.Username, u.Email); err != nil {
			return fmt.Errorf("users create: %w", err)
		}
		hasher := server.PasswordHasher(cfg)
		if u.PasswordHash, err = hasher.Hash(password); err != nil {
			return err
		}
	}
	created, err := a.svc.CreateUser(ctx, a.actor, u)
	if err != nil {
		return explain("users create", err)
	}
	v := adminview.UserOf(created)
	return g.output(v, func() error {
		fmt.Fprintf(g.stdout, "created user %s (%s) id=%s roles=%s\n", v.Username, v.Email, v.ID, strings.Join(v.Roles, ","))
		return nil
	})
}
