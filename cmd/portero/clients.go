package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/oauth"
)

// printClient shows a client, and its secret when it was just made.
func (g *globals) printClient(v adminview.Client, secret string) error {
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "client_id\t%s\n", v.ID)
	fmt.Fprintf(w, "name\t%s\n", v.Name)
	if secret != "" {
		fmt.Fprintf(w, "client_secret\t%s\t(shown once: store it now)\n", secret)
	}
	fmt.Fprintf(w, "disabled\t%v\n", v.Disabled)
	fmt.Fprintf(w, "public\t%v\n", v.Public)
	fmt.Fprintf(w, "auth method\t%s\n", v.TokenEndpointAuthMethod)
	fmt.Fprintf(w, "grant types\t%s\n", strings.Join(v.GrantTypes, " "))
	fmt.Fprintf(w, "scopes\t%s\n", strings.Join(v.Scopes, " "))
	fmt.Fprintf(w, "redirect uris\t%s\n", strings.Join(v.RedirectURIs, " "))
	fmt.Fprintf(w, "post-logout uris\t%s\n", strings.Join(v.PostLogoutRedirectURIs, " "))
	fmt.Fprintf(w, "back-channel logout\t%s\n", v.BackchannelLogoutURI)
	fmt.Fprintf(w, "allowed origins\t%s\n", strings.Join(v.AllowedOrigins, " "))
	fmt.Fprintf(w, "audience\t%s\n", strings.Join(v.Audience, " "))
	fmt.Fprintf(w, "roles\t%s\n", strings.Join(v.Roles, " "))
	fmt.Fprintf(w, "access tokens\t%s\n", v.TokenFormat)
	fmt.Fprintf(w, "id token alg\t%s\n", v.IDTokenSignedResponseAlg)
	fmt.Fprintf(w, "introspect any\t%v\n", v.IntrospectAny)
	fmt.Fprintf(w, "first party\t%v\n", v.FirstParty)
	fmt.Fprintf(w, "token rate limit\t%s\n", rateText(v.TokenRateLimit))
	fmt.Fprintf(w, "permissions claim\t%v\n", v.PermissionsClaim)
	fmt.Fprintf(w, "updated\t%s\n", v.UpdatedAt.Format(time.RFC3339))
	return w.Flush()
}

func (g *globals) clients(ctx context.Context, args []string) error {
	verb, args, err := subcommand("clients", args, "create", "list", "get", "update", "delete", "rotate-secret", "disable", "enable")
	if err != nil {
		return err
	}
	cmd := "clients " + verb
	switch verb {
	case "create", "update":
		return g.clientsWrite(ctx, verb, args)
	case "list":
		fs := newFlags(cmd, g)
		q := fs.String("q", "", "only clients whose id or name contains this (ignoring case)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		a, err := g.manage(ctx, adminOptions{})
		if err != nil {
			return err
		}
		defer a.Close()
		list, err := a.svc.Clients(ctx, *q)
		if err != nil {
			return explain(cmd, err)
		}
		views := []adminview.Client{}
		for i := range list {
			views = append(views, adminview.ClientOf(&list[i]))
		}
		return g.output(views, func() error {
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CLIENT ID\tNAME\tPUBLIC\tDISABLED\tGRANT TYPES")
			for _, v := range views {
				fmt.Fprintf(w, "%s\t%s\t%v\t%v\t%s\n", v.ID, v.Name, v.Public, v.Disabled, strings.Join(v.GrantTypes, ","))
			}
			return w.Flush()
		})
	}

	// get, delete, rotate-secret, disable, enable: one client by id.
	fs := newFlags(cmd, g)
	idFlag := fs.String("id", "", "client id (or give it as the argument)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := argOrFlag(cmd, "id", *idFlag, pos)
	if err != nil {
		return err
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	var (
		c      *identity.Client
		secret string
	)
	switch verb {
	case "get":
		c, err = a.svc.Client(ctx, id)
	case "delete":
		if err := a.svc.DeleteClient(ctx, a.actor, id, nil); err != nil {
			return explain(cmd, err)
		}
		return g.output(map[string]string{"deleted": id}, func() error {
			fmt.Fprintf(g.stdout, "deleted client %s (running servers forget it within oauth.client_cache_ttl)\n", id)
			return nil
		})
	case "rotate-secret":
		c, secret, err = a.svc.RotateClientSecret(ctx, a.actor, id, nil)
	case "disable", "enable":
		c, err = a.svc.SetClientDisabled(ctx, a.actor, id, verb == "disable", nil)
	}
	if err != nil {
		return explain(cmd, err)
	}
	var out any = adminview.ClientOf(c)
	if secret != "" {
		out = adminview.ClientWithSecret{Client: adminview.ClientOf(c), Secret: secret}
	}
	return g.output(out, func() error {
		if err := g.printClient(adminview.ClientOf(c), secret); err != nil {
			return err
		}
		if verb != "get" {
			fmt.Fprintf(g.stdout, "(running servers see the change within oauth.client_cache_ttl, %s)\n", a.cfg.OAuth.ClientCacheTTL)
		}
		return nil
	})
}

// clientFlags are the settings of "clients create" and "clients update".
type clientFlags struct {
	id, name, secret                 *string
	public                           *bool
	redirects, postLogout, origins   listFlag
	grantTypes, scopes, audience     *string
	roles, tokenFormat, authMethod   *string
	jwksFile, idTokenAlg, backLogout *string
	introspect, permissions, first   *bool
	tokenRate                        *int
}

func newClientFlags(fs *flag.FlagSet, update bool) *clientFlags {
	f := &clientFlags{}
	// On update the defaults are not applied: a flag not given keeps the
	// client's current value.
	def := func(s string) string {
		if update {
			return ""
		}
		return s
	}
	f.id = fs.String("id", "", "client id (required)")
	f.name = fs.String("name", "", "display name (default: the id)")
	f.secret = fs.String("secret", "", "client secret (at least 32 characters); generated when omitted (create only)")
	f.public = fs.Bool("public", false, "public client (mobile or single-page app): no secret, PKCE required")
	fs.Var(&f.redirects, "redirect-uri", "redirect URI (repeatable)")
	fs.Var(&f.postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
	fs.Var(&f.origins, "allowed-origin", "web origin a browser app calls the token, revocation and userinfo endpoints from, e.g. https://shop.example.co (CORS; repeatable)")
	f.grantTypes = fs.String("grant-types", def(strings.Join(manage.DefaultGrantTypes, ",")), "comma-separated grant types")
	f.scopes = fs.String("scopes", def(strings.Join(manage.DefaultScopes, " ")), "space- or comma-separated scopes the client may request")
	f.audience = fs.String("audience", "", "comma-separated audiences the client may request")
	f.roles = fs.String("roles", "", "comma-separated roles of the client itself (client credentials tokens)")
	f.tokenFormat = fs.String("token-format", def(identity.TokenFormatJWT), "access token format: jwt or opaque")
	f.authMethod = fs.String("auth-method", "", "token endpoint auth method: client_secret_basic (default), client_secret_post, private_key_jwt, none (with --public); cannot change on update")
	f.jwksFile = fs.String("jwks-file", "", "file with the client's public JWK Set (private_key_jwt)")
	f.idTokenAlg = fs.String("id-token-alg", def(oauth.AlgRS256), "ID token signing algorithm: RS256 or ES256")
	f.backLogout = fs.String("backchannel-logout-uri", "", "OpenID Connect back-channel logout URI")
	f.introspect = fs.Bool("introspect", false, "allow introspecting tokens issued to any client (resource servers)")
	f.permissions = fs.Bool("permissions-claim", false, "put the permissions of the token's roles in JWT access tokens (default: services expand them through introspection)")
	f.tokenRate = fs.Int("token-rate-limit", 0, "the client's token requests per minute (0: rate_limits.token_per_client)")
	f.first = fs.Bool("first-party", false, "the marketplace's own application: no scope consent page (the legal consent is still asked)")
	return f
}

// specOf is the spec of an existing client, for an update to start from.
func specOf(c *identity.Client) manage.ClientSpec {
	return manage.ClientSpec{
		ID: c.ID, Name: c.Name, Public: c.IsPublic(), TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, GrantTypes: c.GrantTypes,
		Scopes: c.Scopes, Audience: c.Audience, Roles: c.Roles, JWKS: c.JWKS, TokenFormat: c.TokenFormat,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, IntrospectAny: c.IntrospectAny,
		FirstParty: c.FirstParty, PermissionsClaim: c.PermissionsClaim, BackchannelLogoutURI: c.BackchannelLogoutURI,
		TokenRateLimit: c.TokenRateLimit, AllowedOrigins: c.AllowedOrigins,
	}
}

// apply sets on sp the flags in set (all of them on create).
func (f *clientFlags) apply(sp *manage.ClientSpec, set map[string]bool) error {
	nonEmpty := func(l listFlag) []string {
		var out []string
		for _, v := range l {
			out = append(out, splitList(v)...)
		}
		return out
	}
	for name := range set {
		switch name {
		case "name":
			sp.Name = *f.name
		case "public":
			sp.Public = *f.public
		case "redirect-uri":
			sp.RedirectURIs = nonEmpty(f.redirects)
		case "post-logout-redirect-uri":
			sp.PostLogoutRedirectURIs = nonEmpty(f.postLogout)
		case "allowed-origin":
			sp.AllowedOrigins = nonEmpty(f.origins)
		case "grant-types":
			sp.GrantTypes = splitList(*f.grantTypes)
		case "scopes":
			sp.Scopes = splitList(*f.scopes)
		case "audience":
			sp.Audience = splitList(*f.audience)
		case "roles":
			sp.Roles = splitList(*f.roles)
		case "token-format":
			sp.TokenFormat = *f.tokenFormat
		case "auth-method":
			sp.TokenEndpointAuthMethod = *f.authMethod
		case "id-token-alg":
			sp.IDTokenSignedResponseAlg = *f.idTokenAlg
		case "backchannel-logout-uri":
			sp.BackchannelLogoutURI = *f.backLogout
		case "introspect":
			sp.IntrospectAny = *f.introspect
		case "permissions-claim":
			sp.PermissionsClaim = *f.permissions
		case "first-party":
			sp.FirstParty = *f.first
		case "token-rate-limit":
			sp.TokenRateLimit = *f.tokenRate
		case "secret":
			sp.Secret = *f.secret
		case "jwks-file":
			sp.JWKS = nil
			if *f.jwksFile != "" {
				b, err := os.ReadFile(*f.jwksFile)
				if err != nil {
					return err
				}
				sp.JWKS = b
			}
		}
	}
	return nil
}

// clientsWrite is "clients create" and "clients update". Update reads the
// client and changes only the flags given, refusing if someone else
// changed the client in between.
func (g *globals) clientsWrite(ctx context.Context, verb string, args []string) error {
	cmd := "clients " + verb
	fs := newFlags(cmd, g)
	f := newClientFlags(fs, verb == "update")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	if *f.id == "" {
		return fmt.Errorf("%s: --id is required", cmd)
	}
	set := map[string]bool{}
	if verb == "create" {
		fs.VisitAll(func(fl *flag.Flag) { set[fl.Name] = true })
		if *f.public && *f.secret != "" {
			return errors.New("clients create: --public and --secret exclude each other")
		}
	} else {
		fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		if set["secret"] {
			return errors.New("clients update: the secret is not a setting: use `clients rotate-secret`")
		}
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()

	if verb == "create" {
		sp := manage.ClientSpec{ID: *f.id}
		if err := f.apply(&sp, set); err != nil {
			return explain(cmd, err)
		}
		c, secret, err := a.svc.CreateClient(ctx, a.actor, sp)
		if err != nil {
			return explain(cmd, err)
		}
		v := adminview.ClientWithSecret{Client: adminview.ClientOf(c), Secret: secret}
		return g.output(v, func() error { return g.printClient(v.Client, v.Secret) })
	}

	prev, err := a.svc.Client(ctx, *f.id)
	if err != nil {
		return explain(cmd, err)
	}
	sp := specOf(prev)
	if err := f.apply(&sp, set); err != nil {
		return explain(cmd, err)
	}
	unchanged := func(c *identity.Client) error {
		if !c.UpdatedAt.Equal(prev.UpdatedAt) {
			return manage.ErrPrecondition
		}
		return nil
	}
	c, err := a.svc.UpdateClient(ctx, a.actor, *f.id, sp, unchanged)
	if err != nil {
		return explain(cmd, err)
	}
	v := adminview.ClientOf(c)
	return g.output(v, func() error {
		if err := g.printClient(v, ""); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "(running servers see the change within oauth.client_cache_ttl, %s)\n", a.cfg.OAuth.ClientCacheTTL)
		return nil
	})
}

// rateText shows a client's token budget.
func rateText(perMinute int) string {
	if perMinute == 0 {
		return "default (rate_limits.token_per_client)"
	}
	return fmt.Sprintf("%d per minute", perMinute)
}
