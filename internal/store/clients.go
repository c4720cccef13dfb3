package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portero-id/portero/identity"
)

// clientFields are the columns a client's settings are stored in, besides
// id, created_at and updated_at; clientValues gives c's in this order, for
// the insert and the update alike.
var clientFields = []string{"name", "secret_hash", "is_public", "token_endpoint_auth_method",
	"redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types", "scopes", "audience", "roles",
	"jwks", "token_format", "id_token_signed_response_alg", "introspect_any", "first_party", "backchannel_logout_uri",
	"permissions_claim", "registration_token_hash", "disabled", "token_rate_limit", "allowed_origins"}

func clientValues(c *identity.Client) []any {
	// is_public and response_types are derived (Client.IsPublic,
	// Client.ResponseTypes) and never read: they are written only so
	// that a replica of the previous release, during a rolling upgrade,
	// reads what it expects. A later release drops them.
	return []any{c.Name, bytesArg(c.SecretHash), c.IsPublic(), c.TokenEndpointAuthMethod,
		listArg(c.RedirectURIs), listArg(c.PostLogoutRedirectURIs), listArg(c.GrantTypes),
		listArg(c.ResponseTypes()), listArg(c.Scopes), listArg(c.Audience), listArg(c.Roles),
		bytesArg(c.JWKS), c.TokenFormat, c.IDTokenSignedResponseAlg, c.IntrospectAny, c.FirstParty, c.BackchannelLogoutURI,
		c.PermissionsClaim, bytesArg(c.RegistrationTokenHash), c.Disabled, c.TokenRateLimit, listArg(c.AllowedOrigins)}
}

var (
	clientColumns = "id, " + strings.Join(clientFields, ", ") + ", created_at, updated_at"
	clientInsert  = "INSERT INTO clients (" + clientColumns + ") VALUES (?" + strings.Repeat(", ?", len(clientFields)+2) + ")"
	clientUpdate  = "UPDATE clients SET " + strings.Join(clientFields, " = ?, ") + " = ?, updated_at = ? WHERE id = ? AND updated_at = ?"
)

// CreateClient inserts c. An empty ID is filled with a random UUID, and zero
// CreatedAt/UpdatedAt with the current time; both are written back to c. An
// ID in use is identity.ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c *identity.Client) error {
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	args := append(append([]any{c.ID}, clientValues(c)...), s.timeArg(c.CreatedAt), s.timeArg(c.UpdatedAt))
	_, err := s.exec(ctx, clientInsert, args...)
	if isDuplicate(err) {
		return fmt.Errorf("create client %q: %w", c.ID, identity.ErrConflict)
	}
	if err != nil {
		return failed("create client", err)
	}
	return nil
}

func scanClient(row scanner, c *identity.Client) error {
	var (
		secret, jwks, regToken                                                   dbBytes
		redirect, postLogout, grantTypes, respTypes, scopes, aud, roles, origins dbList
		created, updated                                                         dbTime
	)
	var derivedPublic bool // is_public: see clientValues
	err := row.Scan(&c.ID, &c.Name, &secret, &derivedPublic, &c.TokenEndpointAuthMethod,
		&redirect, &postLogout, &grantTypes, &respTypes, &scopes, &aud, &roles,
		&jwks, &c.TokenFormat, &c.IDTokenSignedResponseAlg, &c.IntrospectAny, &c.FirstParty, &c.BackchannelLogoutURI, &c.PermissionsClaim, &regToken, &c.Disabled, &c.TokenRateLimit, &origins, &created, &updated)
	if err != nil {
		return err
	}
	c.SecretHash, c.JWKS, c.RegistrationTokenHash = secret, jwks, regToken
	c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes = redirect, postLogout, grantTypes
	c.Scopes, c.Audience, c.Roles, c.AllowedOrigins = scopes, aud, roles, origins
	c.CreatedAt, c.UpdatedAt = created.Time, updated.Time
	return nil
}

// ClientByID returns the client; one primary-key look-up.
func (s *Store) ClientByID(ctx context.Context, id string) (*identity.Client, error) {
	var c identity.Client
	found, err := s.queryOne(ctx, func(row scanner) error { return scanClient(row, &c) },
		`SELECT `+clientColumns+` FROM clients WHERE id = ?`, id)
	if err != nil {
		return nil, failed("client by id", err)
	}
	if !found {
		return nil, fmt.Errorf("client %q: %w", id, identity.ErrNotFound)
	}
	return &c, nil
}

// ListClients returns every client ordered by id.
func (s *Store) ListClients(ctx context.Context) ([]identity.Client, error) {
	var out []identity.Client
	err := s.queryAll(ctx, func(row scanner) error {
		var c identity.Client
		if err := scanClient(row, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	}, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, failed("list clients", err)
	}
	return out, nil
}

// UpdateClient replaces the client's fields if nobody changed it since
// prev.
func (s *Store) UpdateClient(ctx context.Context, c *identity.Client, prev time.Time) error {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now()
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		args := append(clientValues(c), s.timeArg(c.UpdatedAt), c.ID, s.timeArg(prev))
		n, err := s.exec(ctx, clientUpdate, args...)
		if err != nil {
			return failed("update client", err)
		}
		if n == 1 {
			return nil
		}
		found, err := s.queryOne(ctx, func(scanner) error { return nil }, `SELECT 1 FROM clients WHERE id = ?`, c.ID)
		if err != nil {
			return failed("update client", err)
		}
		if !found {
			return fmt.Errorf("client %q: %w", c.ID, identity.ErrNotFound)
		}
		return fmt.Errorf("client %q was changed meanwhile: %w", c.ID, identity.ErrConflict)
	})
}

// DeleteClient removes the client. Its grants stay until they expire and are
// pruned: they no longer resolve to a client, so they no longer validate.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	n, err := s.exec(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return failed("delete client", err)
	}
	if n == 0 {
		return fmt.Errorf("client %q: %w", id, identity.ErrNotFound)
	}
	return nil
}
