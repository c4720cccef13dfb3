package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/oauth"
)

// load reads the configuration. Commands that need the system secret or
// serve traffic (strict) run every check; the management commands only
// need the database and skip the secret and issuer rules.
func (g *globals) load(dev, strict bool) (*config.Config, *slog.Logger, error) {
	path, ok := config.Resolve(g.configPath)
	if !ok {
		return nil, nil, fmt.Errorf("config file %q does not exist", g.configPath)
	}
	cfg, err := config.Load(path, g.env)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration:\n%w", err)
	}
	log := server.WithRequestIDs(cfg.Log.NewLogger(g.stderr, dev))
	if dev {
		if err := cfg.PrepareDev(log); err != nil {
			return nil, nil, err
		}
	}
	if strict {
		if err := cfg.Validate(dev); err != nil {
			return nil, nil, fmt.Errorf("configuration:\n%w", err)
		}
	}
	return cfg, log, nil
}

// openStore opens (and, as configured, migrates) the database.
func (g *globals) openStore(ctx context.Context, dev, strict bool) (*config.Config, *store.Store, *slog.Logger, error) {
	cfg, log, err := g.load(dev, strict)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, st, log, nil
}

func (g *globals) output(v any, text func()) error {
	if g.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text()
	return nil
}

func newFlags(name string, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(g.stderr)
	fs.BoolVar(&g.json, "json", g.json, "machine-readable output")
	return fs
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// splitList splits "a,b c" on commas and spaces.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func (g *globals) serve(ctx context.Context, args []string) error {
	fs := newFlags("serve", g)
	dev := fs.Bool("dev", false, "development mode: generate and keep a system secret, allow an http issuer on localhost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := g.load(*dev, true)
	if err != nil {
		return err
	}
	var opts []server.Option
	if *dev {
		log.Warn("development mode: not for production", "issuer", cfg.Issuer)
		opts = append(opts, server.Dev())
	}
	tuneGC(log)
	start := time.Now()
	srv, err := server.New(ctx, cfg, log, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.Run(ctx, func(net.Addr) {
		log.Info("ready", "startup", time.Since(start).String())
	})
}

// tuneGC trades memory for CPU where the operator has not chosen: Portero's
// live heap is a few MB, so Go's default GOGC=100 collects very often; at
// 400 the GC share of a request fell from ~15 % to ~4 % and peak RSS stayed
// near 60 MB (docs/benchmarks.md). The soft memory limit keeps bursts of
// argon2id hashing (19 MiB each) from growing the heap fivefold.
func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
	// SetMemoryLimit with a negative value reads the limit without changing it.
	log.Debug("garbage collector", "gogc_env", os.Getenv("GOGC"), "memory_limit", debug.SetMemoryLimit(-1))
}

func (g *globals) migrate(ctx context.Context, args []string) error {
	fs := newFlags("migrate", g)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := g.load(false, false)
	if err != nil {
		return err
	}
	cfg.Database.MigrateOnStart = false
	st, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	status, err := st.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	return g.output(status, func() {
		for _, m := range status {
			fmt.Fprintf(g.stdout, "%v\n", m)
		}
	})
}

// clientView is a client as the CLI shows it; the secret only on creation.
type clientView struct {
	ID                       string    `json:"client_id"`
	Name                     string    `json:"client_name"`
	Secret                   string    `json:"client_secret,omitempty"`
	Public                   bool      `json:"public"`
	TokenEndpointAuthMethod  string    `json:"token_endpoint_auth_method"`
	RedirectURIs             []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string  `json:"post_logout_redirect_uris"`
	GrantTypes               []string  `json:"grant_types"`
	ResponseTypes            []string  `json:"response_types"`
	Scopes                   []string  `json:"scopes"`
	Audience                 []string  `json:"audience"`
	Roles                    []string  `json:"roles"`
	TokenFormat              string    `json:"access_token_format"`
	IDTokenSignedResponseAlg string    `json:"id_token_signed_response_alg"`
	IntrospectAny            bool      `json:"introspect_any"`
	FirstParty               bool      `json:"first_party"`
	PermissionsClaim         bool      `json:"permissions_claim"`
	CreatedAt                time.Time `json:"created_at"`
}

func viewClient(c *identity.Client, secret string) clientView {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return clientView{
		ID: c.ID, Name: c.Name, Secret: secret, Public: c.Public,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs:            nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), ResponseTypes: nonNil(c.ResponseTypes), Scopes: nonNil(c.Scopes),
		Audience: nonNil(c.Audience), Roles: nonNil(c.Roles), TokenFormat: c.TokenFormat,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, IntrospectAny: c.IntrospectAny, FirstParty: c.FirstParty, PermissionsClaim: c.PermissionsClaim, CreatedAt: c.CreatedAt,
	}
}

func (g *globals) printClient(v clientView) {
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "client_id\t%s\n", v.ID)
	fmt.Fprintf(w, "name\t%s\n", v.Name)
	if v.Secret != "" {
		fmt.Fprintf(w, "client_secret\t%s\t(shown once: store it now)\n", v.Secret)
	}
	fmt.Fprintf(w, "public\t%v\n", v.Public)
	fmt.Fprintf(w, "auth method\t%s\n", v.TokenEndpointAuthMethod)
	fmt.Fprintf(w, "grant types\t%s\n", strings.Join(v.GrantTypes, " "))
	fmt.Fprintf(w, "scopes\t%s\n", strings.Join(v.Scopes, " "))
	fmt.Fprintf(w, "redirect uris\t%s\n", strings.Join(v.RedirectURIs, " "))
	fmt.Fprintf(w, "post-logout uris\t%s\n", strings.Join(v.PostLogoutRedirectURIs, " "))
	fmt.Fprintf(w, "audience\t%s\n", strings.Join(v.Audience, " "))
	fmt.Fprintf(w, "roles\t%s\n", strings.Join(v.Roles, " "))
	fmt.Fprintf(w, "access tokens\t%s\n", v.TokenFormat)
	fmt.Fprintf(w, "id token alg\t%s\n", v.IDTokenSignedResponseAlg)
	fmt.Fprintf(w, "introspect any\t%v\n", v.IntrospectAny)
	fmt.Fprintf(w, "first party\t%v\n", v.FirstParty)
	fmt.Fprintf(w, "permissions claim\t%v\n", v.PermissionsClaim)
	w.Flush()
}

func (g *globals) clients(ctx context.Context, args []string) error {
	verb, args, err := subcommand("clients", args, "create", "list", "get", "delete")
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		return g.clientsCreate(ctx, args)
	case "list":
		fs := newFlags("clients list", g)
		if err := fs.Parse(args); err != nil {
			return err
		}
		_, st, _, err := g.openStore(ctx, false, false)
		if err != nil {
			return err
		}
		defer st.Close()
		list, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		views := make([]clientView, len(list))
		for i := range list {
			views[i] = viewClient(&list[i], "")
		}
		return g.output(views, func() {
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CLIENT ID\tNAME\tPUBLIC\tGRANT TYPES")
			for _, v := range views {
				fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", v.ID, v.Name, v.Public, strings.Join(v.GrantTypes, ","))
			}
			w.Flush()
		})
	default: // get, delete
		fs := newFlags("clients "+verb, g)
		id := fs.String("id", "", "client id")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *id == "" && fs.NArg() == 1 {
			*id = fs.Arg(0)
		}
		if *id == "" {
			return fmt.Errorf("clients %s: --id is required", verb)
		}
		_, st, _, err := g.openStore(ctx, false, false)
		if err != nil {
			return err
		}
		defer st.Close()
		if verb == "delete" {
			if err := st.DeleteClient(ctx, *id); err != nil {
				return err
			}
			return g.output(map[string]string{"deleted": *id}, func() { fmt.Fprintf(g.stdout, "deleted client %s\n", *id) })
		}
		c, err := st.ClientByID(ctx, *id)
		if err != nil {
			return err
		}
		v := viewClient(c, "")
		return g.output(v, func() { g.printClient(v) })
	}
}

func (g *globals) clientsCreate(ctx context.Context, args []string) error {
	fs := newFlags("clients create", g)
	var redirects, postLogout listFlag
	id := fs.String("id", "", "client id (required)")
	name := fs.String("name", "", "display name")
	secret := fs.String("secret", "", "client secret (at least 32 characters); generated when omitted")
	public := fs.Bool("public", false, "public client (mobile or single-page app): no secret, PKCE required")
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
	grantTypes := fs.String("grant-types", "authorization_code,refresh_token", "comma-separated grant types")
	scopes := fs.String("scopes", "openid offline_access", "space- or comma-separated scopes the client may request")
	audience := fs.String("audience", "", "comma-separated audiences the client may request")
	roles := fs.String("roles", "", "comma-separated roles of the client itself (client credentials tokens)")
	tokenFormat := fs.String("token-format", identity.TokenFormatJWT, "access token format: jwt or opaque")
	authMethod := fs.String("auth-method", "", "token endpoint auth method: client_secret_basic (default), client_secret_post, private_key_jwt, none (with --public)")
	jwksFile := fs.String("jwks-file", "", "file with the client's public JWK Set (private_key_jwt)")
	idTokenAlg := fs.String("id-token-alg", oauth.AlgRS256, "ID token signing algorithm: RS256 or ES256")
	introspect := fs.Bool("introspect", false, "allow introspecting tokens issued to any client (resource servers)")
	permissionsClaim := fs.Bool("permissions-claim", false, "put the permissions of the token's roles in JWT access tokens (default: services expand them through introspection)")
	firstParty := fs.Bool("first-party", false, "the marketplace's own application: no scope consent page (the legal consent is still asked)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("clients create: --id is required")
	}
	if *public && *secret != "" {
		return errors.New("clients create: --public and --secret exclude each other")
	}
	cfg, st, _, err := g.openStore(ctx, false, false)
	if err != nil {
		return err
	}
	defer st.Close()

	c := &identity.Client{
		ID: *id, Name: *name, Public: *public,
		RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
		GrantTypes: splitList(*grantTypes), Scopes: splitList(*scopes),
		Audience: splitList(*audience), Roles: splitList(*roles),
		TokenFormat: *tokenFormat, IDTokenSignedResponseAlg: *idTokenAlg,
		IntrospectAny: *introspect, FirstParty: *firstParty, PermissionsClaim: *permissionsClaim, TokenEndpointAuthMethod: *authMethod,
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if slices.Contains(c.GrantTypes, "authorization_code") {
		c.ResponseTypes = []string{"code"}
	}
	if *jwksFile != "" {
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			return err
		}
		c.JWKS = b
		if c.TokenEndpointAuthMethod == "" {
			c.TokenEndpointAuthMethod = identity.AuthMethodPrivateKey
		}
	}
	var shownSecret string
	switch {
	case c.Public:
		if c.TokenEndpointAuthMethod == "" {
			c.TokenEndpointAuthMethod = identity.AuthMethodNone
		}
	case c.TokenEndpointAuthMethod == identity.AuthMethodPrivateKey:
	case *secret != "":
		if len(*secret) < 32 {
			return errors.New("clients create: --secret must be at least 32 characters")
		}
		shownSecret, c.SecretHash = *secret, oauth.HashClientSecret(*secret)
	default:
		shownSecret, c.SecretHash, err = oauth.GenerateClientSecret()
		if err != nil {
			return err
		}
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = identity.AuthMethodBasic
	}
	if err := c.Validate(cfg.OAuth.AllowedScopes); err != nil {
		return fmt.Errorf("clients create:\n%w", err)
	}
	if len(c.JWKS) > 0 {
		if _, err := oauth.ParseClientJWKS(c.JWKS); err != nil {
			return fmt.Errorf("clients create: %w", err)
		}
	}
	if err := st.CreateClient(ctx, c); err != nil {
		return err
	}
	if *secret != "" {
		shownSecret = "" // the operator chose it; don't echo it
	}
	v := viewClient(c, shownSecret)
	return g.output(v, func() { g.printClient(v) })
}

type userView struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	Roles     []string  `json:"roles"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

func viewUser(u *identity.User) userView {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userView{ID: u.ID, Username: u.Username, Email: u.Email, Roles: roles, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

func (g *globals) users(ctx context.Context, args []string) error {
	verb, args, err := subcommand("users", args, "create", "list")
	if err != nil {
		return err
	}
	fs := newFlags("users "+verb, g)
	if verb == "list" {
		if err := fs.Parse(args); err != nil {
			return err
		}
		_, st, _, err := g.openStore(ctx, false, false)
		if err != nil {
			return err
		}
		defer st.Close()
		list, err := st.ListUsers(ctx, 1000)
		if err != nil {
			return err
		}
		views := make([]userView, len(list))
		for i := range list {
			views[i] = viewUser(&list[i])
		}
		return g.output(views, func() {
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tUSERNAME\tEMAIL\tROLES")
			for _, v := range views {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.ID, v.Username, v.Email, strings.Join(v.Roles, ","))
			}
			w.Flush()
		})
	}
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
	cfg, st, _, err := g.openStore(ctx, false, false)
	if err != nil {
		return err
	}
	defer st.Close()
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
	if err := st.CreateUser(ctx, u); err != nil {
		return err
	}
	created, err := st.UserByID(ctx, u.ID)
	if err != nil {
		return err
	}
	v := viewUser(created)
	return g.output(v, func() {
		fmt.Fprintf(g.stdout, "created user %s (%s) id=%s roles=%s\n", v.Username, v.Email, v.ID, strings.Join(v.Roles, ","))
	})
}

func (g *globals) roles(ctx context.Context, args []string) error {
	verb, args, err := subcommand("roles", args, "grant", "revoke", "define", "list")
	if err != nil {
		return err
	}
	if verb == "define" || verb == "list" {
		return g.roleCatalog(ctx, verb, args)
	}
	fs := newFlags("roles "+verb, g)
	user := fs.String("user", "", "username, e-mail or user id (required)")
	role := fs.String("role", "", "role name (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" || *role == "" {
		return fmt.Errorf("roles %s: --user and --role are required", verb)
	}
	if err := identity.ValidRoleName(*role); err != nil {
		return err
	}
	_, st, _, err := g.openStore(ctx, false, false)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByLogin(ctx, *user)
	if errors.Is(err, identity.ErrNotFound) {
		u, err = st.UserByID(ctx, *user)
	}
	if err != nil {
		return err
	}
	if verb == "grant" {
		err = st.GrantRole(ctx, u.ID, *role)
	} else {
		err = st.RevokeRole(ctx, u.ID, *role)
	}
	if err != nil {
		return err
	}
	updated, err := st.UserByID(ctx, u.ID)
	if err != nil {
		return err
	}
	v := viewUser(updated)
	return g.output(v, func() {
		fmt.Fprintf(g.stdout, "%s: roles now %s\n", v.Username, strings.Join(v.Roles, ","))
	})
}

type keyView struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"`
	CreatedAt time.Time `json:"created_at"`
	ActiveAt  time.Time `json:"active_at"`
}

func (g *globals) keys(ctx context.Context, args []string) error {
	verb, args, err := subcommand("keys", args, "rotate", "list")
	if err != nil {
		return err
	}
	fs := newFlags("keys "+verb, g)
	dev := fs.Bool("dev", false, "use the development system secret (as serve --dev)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, st, _, err := g.openStore(ctx, *dev, true)
	if err != nil {
		return err
	}
	defer st.Close()
	ring, err := oauth.NewKeyring(ctx, st, server.Secrets(cfg), cfg.OAuth.JWKSCachePeriod, time.Now)
	if err != nil {
		return err
	}
	var keys []identity.SigningKey
	if verb == "rotate" {
		if keys, err = ring.Rotate(ctx); err != nil {
			return err
		}
	} else {
		keys = ring.Keys()
	}
	views := make([]keyView, len(keys))
	for i, k := range keys {
		views[i] = keyView{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, ActiveAt: k.ActiveAt}
	}
	return g.output(views, func() {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KID\tALG\tCREATED\tSIGNS FROM")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.ID, v.Algorithm, v.CreatedAt.Format(time.RFC3339), v.ActiveAt.Format(time.RFC3339))
		}
		w.Flush()
	})
}

type roleView struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Builtin     bool     `json:"builtin"`
	Includes    []string `json:"includes"`
	Permissions []string `json:"permissions"`
}

// roleCatalog defines a role (its description, the roles it includes and
// its permissions) or lists the catalog.
func (g *globals) roleCatalog(ctx context.Context, verb string, args []string) error {
	fs := newFlags("roles "+verb, g)
	name := fs.String("name", "", "role name (define)")
	description := fs.String("description", "", "what the role is for (define)")
	includes := fs.String("includes", "", "comma-separated roles this role includes (define)")
	permissions := fs.String("permissions", "", "comma-separated permissions, e.g. orders:read (define)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, st, _, err := g.openStore(ctx, false, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if verb == "define" {
		if *name == "" {
			return fmt.Errorf("roles define: --name is required")
		}
		r := &identity.Role{Name: *name, Description: *description, Includes: splitList(*includes), Permissions: splitList(*permissions)}
		if err := st.PutRole(ctx, r); err != nil {
			return fmt.Errorf("roles define: %w", err)
		}
	}
	roles, err := st.Roles(ctx)
	if err != nil {
		return err
	}
	views := []roleView{}
	for _, r := range roles {
		if verb == "define" && r.Name != *name {
			continue
		}
		v := roleView{Name: r.Name, Description: r.Description, Builtin: r.Builtin, Includes: r.Includes, Permissions: r.Permissions}
		if v.Includes == nil {
			v.Includes = []string{}
		}
		if v.Permissions == nil {
			v.Permissions = []string{}
		}
		views = append(views, v)
	}
	return g.output(views, func() {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ROLE\tINCLUDES\tPERMISSIONS\tDESCRIPTION")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.Name, strings.Join(v.Includes, ","), strings.Join(v.Permissions, ","), v.Description)
		}
		w.Flush()
	})
}
