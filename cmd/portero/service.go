package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/throttle"
	"github.com/portero-id/portero/oauth"
)

// The management commands do what the admin API does, through the same
// manage.Service: the same guard rails, the same ledger entries. They only
// differ in how the administrator is known (the operator at the shell,
// see cliActor) and in what of the running server they cannot reach:
//
//   - the OAuth provider's client cache: a changed, disabled or deleted
//     client is seen by each replica within oauth.client_cache_ttl (30 s by
//     default), not at once as through the API (ClientCache is nil);
//   - back-channel logout: disabling or erasing an account ends its
//     sessions and tokens in the database, but the clients are not told
//     over the back channel (Logout is nil);
//   - sign-in lockouts kept in memory: without redis.url the throttle's
//     counters live in each server process and end with it; Lockouts is
//     then nil and "users unlock" fails with manage.ErrNoLockouts, saying
//     where to unlock instead, rather than record an unlock that did not
//     happen.

// adminSession is the service and what it was built from, for one command.
type adminSession struct {
	cfg     *config.Config
	st      *store.Store
	svc     *manage.Service
	actor   manage.Actor
	closers []func() error
	// stderr hears about a failure to close: the command's work is done
	// by then, so it does not change the exit status.
	stderr io.Writer
}

func (a *adminSession) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			fmt.Fprintln(a.stderr, "portero: closing:", err)
		}
	}
}

// adminOptions say what a command needs beyond the database.
type adminOptions struct {
	// keys opens the signing keyring, which needs the system secret (the
	// strict configuration checks); dev uses the development secret as
	// "serve --dev" does.
	keys, dev bool
}

// manage opens the store and builds the administrators' service on it.
// The caller closes the returned session.
func (g *globals) manage(ctx context.Context, o adminOptions) (*adminSession, error) {
	cfg, st, _, err := g.openStore(ctx, o.dev, o.keys)
	if err != nil {
		return nil, err
	}
	a := &adminSession{cfg: cfg, st: st, actor: cliActor(), closers: []func() error{st.Close}, stderr: g.stderr}
	a.svc = &manage.Service{
		Store:          st,
		Requests:       &identity.Requests{Store: st, Calendar: server.Calendar(cfg), Now: time.Now},
		AllowedScopes:  cfg.OAuth.AllowedScopes,
		AccessTokenAlg: oauth.AccessTokenAlg,
		Now:            time.Now,
		// Logout and ClientCache stay nil: see the comment at the top.
	}
	if o.keys {
		ring, err := oauth.NewKeyring(ctx, st, server.Secrets(cfg), cfg.OAuth.JWKSCachePeriod, time.Now)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.svc.Keys = ring
	}
	if cfg.Redis.URL != "" {
		// The replicas share their sign-in counters in Redis (as in
		// internal/server newSite): unlocking there unlocks everywhere.
		// Only Unlock is used, which resets counters: the policies do not
		// matter here.
		client, err := throttle.DialRedis(cfg.Redis.URL)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		a.closers = append(a.closers, client.Close)
		a.svc.Lockouts = &throttle.Guard{Store: throttle.NewRedis(client, cfg.Redis.KeyPrefix+"throttle:")}
	}
	// Without Redis, Lockouts stays nil: the counters are in the memory of
	// each server process, which the CLI cannot reach; they end when it
	// restarts, and the admin pages and API (inside it) can lift them.
	return a, nil
}

// cliActor is the operator at the shell. It acts as super_admin: whoever
// can run this command has the database and the configuration (with the
// system secret), so they can already write any row, sign any token and
// grant themselves any role; a lower rank here would only be theatre. What
// the service still gives them is the guard rails that protect the system
// from mistakes (the last super_admin, roles still held, stale edits) and
// the ledger entry naming the OS user, "cli:<name>".
func cliActor() manage.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return manage.Actor{ID: "cli:" + name, Roles: []string{identity.RoleSuperAdmin}}
}

// explain prefixes err with the command and says what a refusal means.
func explain(cmd string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, identity.ErrLastSuperAdmin):
		return fmt.Errorf("%s: refused: %w (grant super_admin to another user first)", cmd, err)
	case errors.Is(err, manage.ErrForbidden):
		return fmt.Errorf("%s: refused by a guard rail (recorded in the ledger as %s): %w", cmd, manage.EventDenied, err)
	case errors.Is(err, manage.ErrPrecondition):
		return fmt.Errorf("%s: %w while the command ran; run it again", cmd, err)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// parseArgs parses flags wherever they are among the positional
// arguments ("users disable alice --json" as well as "users disable --json
// alice"); everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// argOrFlag returns a flag's value, or the single positional argument
// when the flag is empty ("clients get ID" as well as "--id ID").
func argOrFlag(cmd, name, v string, rest []string) (string, error) {
	if v == "" && len(rest) == 1 {
		v, rest = rest[0], nil
	}
	if len(rest) > 0 {
		return "", fmt.Errorf("%s: unexpected argument %q", cmd, rest[0])
	}
	if v == "" {
		return "", fmt.Errorf("%s: --%s is required", cmd, name)
	}
	return v, nil
}

// flagSet reports whether the flag name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
