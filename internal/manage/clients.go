package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/oauth"
)

// ClientSpec is what an administrator sets on a client. Zero values take
// the defaults the CLI documents: a confidential client with a generated
// secret, client_secret_basic, the code flow, JWT access tokens, RS256 ID
// tokens.
type ClientSpec struct {
	ID                       string
	Name                     string
	Public                   bool
	TokenEndpointAuthMethod  string
	RedirectURIs             []string
	PostLogoutRedirectURIs   []string
	GrantTypes               []string
	Scopes                   []string
	Audience                 []string
	Roles                    []string
	JWKS                     []byte
	TokenFormat              string
	IDTokenSignedResponseAlg string
	IntrospectAny            bool
	FirstParty               bool
	PermissionsClaim         bool
	BackchannelLogoutURI     string
	TokenRateLimit           int
	AllowedOrigins           []string
	// Secret is a secret the operator chose (at least 32 characters);
	// "" generates one.
	Secret string
}

// What a client gets when its spec leaves them empty.
var (
	DefaultGrantTypes = []string{"authorization_code", "refresh_token"}
	DefaultScopes     = []string{"openid", "offline_access"}
)

// apply sets the spec's fields on c, with defaults.
func (sp *ClientSpec) apply(c *identity.Client) {
	c.Name = sp.Name
	if c.Name == "" {
		c.Name = c.ID
	}
	c.RedirectURIs, c.PostLogoutRedirectURIs = sp.RedirectURIs, sp.PostLogoutRedirectURIs
	c.GrantTypes = sp.GrantTypes
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = slices.Clone(DefaultGrantTypes)
	}
	c.Scopes = sp.Scopes
	if len(c.Scopes) == 0 {
		c.Scopes = slices.Clone(DefaultScopes)
	}
	c.Audience, c.Roles, c.JWKS = sp.Audience, sp.Roles, sp.JWKS
	c.TokenFormat = cmpOr(sp.TokenFormat, identity.TokenFormatJWT)
	c.IDTokenSignedResponseAlg = cmpOr(sp.IDTokenSignedResponseAlg, oauth.AlgRS256)
	c.IntrospectAny, c.FirstParty, c.PermissionsClaim = sp.IntrospectAny, sp.FirstParty, sp.PermissionsClaim
	c.BackchannelLogoutURI, c.TokenRateLimit = sp.BackchannelLogoutURI, sp.TokenRateLimit
	c.AllowedOrigins = sp.AllowedOrigins
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// validate checks a client as the token endpoint will use it.
func (s *Service) validate(c *identity.Client) error {
	if err := c.Validate(s.AllowedScopes); err != nil {
		return err
	}
	if len(c.JWKS) > 0 {
		if _, err := oauth.ParseClientJWKS(c.JWKS); err != nil {
			return invalidf("%v", err)
		}
	}
	return nil
}

// Privileged reports whether changing c changes who holds privilege: a
// client with one of Portero's own API scopes, a first-party client
// (users get its scopes without a consent page), or one whose roles
// include admin.
func Privileged(catalog identity.RoleCatalog, c *identity.Client) bool {
	if c.FirstParty || slices.ContainsFunc(c.Scopes, identity.PorteroScope) {
		return true
	}
	roles, _ := catalog.Expand(c.Roles)
	return slices.Contains(roles, "admin")
}

// mayChangeClients refuses (and records) a change to clients (as read,
// and as they would become) that hold a role the actor could not grant,
// or that are privileged when the actor lacks PermRoles.
func (s *Service) mayChangeClients(ctx context.Context, cat identity.RoleCatalog, a Actor, op string, clients ...*identity.Client) error {
	for _, c := range clients {
		t := target{clientID: c.ID}
		if err := s.mayGrant(ctx, cat, a, op, t, c.Roles); err != nil {
			return err
		}
		if Privileged(cat, c) {
			if err := s.mayChangePrivilege(ctx, cat, a, op, t,
				"a client with portero: scopes, first-party or with an admin role is changed only with "+PermRoles); err != nil {
				return err
			}
		}
	}
	return nil
}

// Client returns one client.
func (s *Service) Client(ctx context.Context, id string) (*identity.Client, error) {
	return s.Store.ClientByID(ctx, id)
}

// Clients lists the clients whose id or name contains text, ignoring case
// ("" for all), ordered by id byte-wise (whatever the database's
// collation, so that a cursor on the id pages the same way everywhere).
func (s *Service) Clients(ctx context.Context, text string) ([]identity.Client, error) {
	all, err := s.Store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	text = strings.ToLower(text)
	out := slices.DeleteFunc(all, func(c identity.Client) bool {
		return text != "" && !strings.Contains(strings.ToLower(c.ID), text) && !strings.Contains(strings.ToLower(c.Name), text)
	})
	slices.SortFunc(out, func(x, y identity.Client) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// CreateClient registers a client and returns it with its secret, shown
// once ("" for public and private_key_jwt clients, and for a secret the
// operator chose).
func (s *Service) CreateClient(ctx context.Context, a Actor, sp ClientSpec) (*identity.Client, string, error) {
	if sp.ID == "" {
		return nil, "", invalidf("client id is required")
	}
	if sp.ID == "new" {
		// /admin/clients/new is the pages' form: a client of that id
		// could not be opened there.
		return nil, "", invalidf("client id %q is reserved", sp.ID)
	}
	if sp.Public && sp.Secret != "" {
		return nil, "", invalidf("a public client has no secret")
	}
	c := &identity.Client{ID: sp.ID, TokenEndpointAuthMethod: sp.TokenEndpointAuthMethod}
	sp.apply(c)
	if len(c.JWKS) > 0 && c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = identity.AuthMethodPrivateKey
	}
	var shown string
	switch {
	case sp.Public:
		c.TokenEndpointAuthMethod = cmpOr(c.TokenEndpointAuthMethod, identity.AuthMethodNone)
	case c.TokenEndpointAuthMethod == identity.AuthMethodPrivateKey:
	case sp.Secret != "":
		if len(sp.Secret) < 32 {
			return nil, "", invalidf("a client secret must be at least 32 characters")
		}
		c.SecretHash = oauth.HashClientSecret(sp.Secret)
	default:
		var err error
		if shown, c.SecretHash, err = oauth.GenerateClientSecret(); err != nil {
			return nil, "", err
		}
	}
	c.TokenEndpointAuthMethod = cmpOr(c.TokenEndpointAuthMethod, identity.AuthMethodBasic)
	if err := s.validate(c); err != nil {
		return nil, "", err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := known(cat, c.Roles...); err != nil {
		return nil, "", err
	}
	if err := s.mayChangeClients(ctx, cat, a, "client.create", c); err != nil {
		return nil, "", err
	}
	c.CreatedAt = s.now()
	c.UpdatedAt = c.CreatedAt
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.CreateClient(ctx, c); err != nil {
			return err
		}
		return s.record(ctx, a, EventClientCreated, target{clientID: c.ID}, map[string]any{"roles": nonNil(c.Roles), "scopes": c.Scopes})
	})
	if err != nil {
		return nil, "", err
	}
	return c, shown, nil
}

// managedClient loads a client the actor may act on (with the catalog
// the check read) and checks the caller's precondition (If-Match) on it.
func (s *Service) managedClient(ctx context.Context, a Actor, op, id string, check func(*identity.Client) error) (*identity.Client, identity.RoleCatalog, error) {
	c, err := s.Store.ClientByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := s.mayChangeClients(ctx, cat, a, op, c); err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(c); err != nil {
			return nil, nil, err
		}
	}
	return c, cat, nil
}

// change stores next over prev (as read) and records it.
func (s *Service) change(ctx context.Context, a Actor, next *identity.Client, prev *identity.Client, typ string, details map[string]any) error {
	next.UpdatedAt = s.now()
	if !next.UpdatedAt.After(prev.UpdatedAt) {
		// Two changes within a microsecond must still differ in version.
		next.UpdatedAt = prev.UpdatedAt.Add(1000)
	}
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.UpdateClient(ctx, next, prev.UpdatedAt); err != nil {
			if errors.Is(err, identity.ErrConflict) {
				return ErrPrecondition
			}
			return err
		}
		return s.record(ctx, a, typ, target{clientID: next.ID}, details)
	})
	if err == nil {
		s.invalidate(next.ID)
	}
	return err
}

// UpdateClient replaces a client's settings. Whether it is public and how
// it authenticates cannot change (that is a new client); its secret stays.
func (s *Service) UpdateClient(ctx context.Context, a Actor, id string, sp ClientSpec, check func(*identity.Client) error) (*identity.Client, error) {
	prev, cat, err := s.managedClient(ctx, a, "client.update", id, check)
	if err != nil {
		return nil, err
	}
	if sp.Public != prev.IsPublic() || (sp.TokenEndpointAuthMethod != "" && sp.TokenEndpointAuthMethod != prev.TokenEndpointAuthMethod) {
		return nil, invalidf("public and token_endpoint_auth_method cannot change: register a new client")
	}
	next := *prev
	sp.apply(&next)
	if next.TokenEndpointAuthMethod == identity.AuthMethodPrivateKey && len(next.JWKS) == 0 {
		return nil, invalidf("a private_key_jwt client needs its jwks")
	}
	if err := s.validate(&next); err != nil {
		return nil, err
	}
	if err := known(cat, next.Roles...); err != nil {
		return nil, err
	}
	if err := s.mayChangeClients(ctx, cat, a, "client.update", &next); err != nil {
		return nil, err
	}
	if err := s.change(ctx, a, &next, prev, EventClientUpdated, map[string]any{"roles": nonNil(next.Roles), "scopes": next.Scopes}); err != nil {
		return nil, err
	}
	return &next, nil
}

// SetClientDisabled disables or enables a client.
func (s *Service) SetClientDisabled(ctx context.Context, a Actor, id string, disabled bool, check func(*identity.Client) error) (*identity.Client, error) {
	op, typ := "client.enable", EventClientEnabled
	if disabled {
		op, typ = "client.disable", EventClientDisabled
	}
	prev, _, err := s.managedClient(ctx, a, op, id, check)
	if err != nil {
		return nil, err
	}
	next := *prev
	next.Disabled = disabled
	if err := s.change(ctx, a, &next, prev, typ, nil); err != nil {
		return nil, err
	}
	return &next, nil
}

// RotateClientSecret gives a confidential client a new secret, returned
// once; the old one stops working at once.
func (s *Service) RotateClientSecret(ctx context.Context, a Actor, id string, check func(*identity.Client) error) (*identity.Client, string, error) {
	prev, _, err := s.managedClient(ctx, a, "client.rotate_secret", id, check)
	if err != nil {
		return nil, "", err
	}
	if prev.IsPublic() || len(prev.SecretHash) == 0 {
		return nil, "", invalidf("client %q does not authenticate with a secret", id)
	}
	next := *prev
	secret, digest, err := oauth.GenerateClientSecret()
	if err != nil {
		return nil, "", err
	}
	next.SecretHash = digest
	if err := s.change(ctx, a, &next, prev, EventClientSecret, nil); err != nil {
		return nil, "", err
	}
	return &next, secret, nil
}

// DeleteClient removes a client; its tokens stop validating.
func (s *Service) DeleteClient(ctx context.Context, a Actor, id string, check func(*identity.Client) error) error {
	if _, _, err := s.managedClient(ctx, a, "client.delete", id, check); err != nil {
		return err
	}
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.DeleteClient(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, a, EventClientDeleted, target{clientID: id}, nil)
	})
	if err == nil {
		s.invalidate(id)
	}
	return err
}

// known refuses roles the catalog does not define: a typo granted would
// give nothing now and, once a role of that name is defined, whatever it
// holds then.
func known(cat identity.RoleCatalog, roles ...string) error {
	for _, r := range roles {
		if _, ok := cat[r]; !ok {
			return invalidf("role %q is not in the catalog (portero roles list)", r)
		}
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{identity.ErrInvalid}, args...)...)
}
