package manage

import (
	"context"

	"github.com/portero-id/portero/identity"
)

// Ledger entries of dynamic client registration (RFC 7591 and 7592). The
// actor is the registered client itself ("client:<id>"), which is who
// holds the registration access token.
const (
	EventClientRegistered   = "registration.client_created"
	EventRegistrationUpdate = "registration.client_updated"
	EventRegistrationDelete = "registration.client_deleted"
)

// The oauth package's registration endpoints change clients through these
// methods (oauth.Registrar), so a registration is stored and ledgered in
// one transaction like every other client change. The endpoints have
// already validated the metadata and refused privileged settings (Portero
// scopes, first-party, roles), which a registrant can never ask for.

// RegisterClient stores a newly registered client.
func (s *Service) RegisterClient(ctx context.Context, c *identity.Client) error {
	c.CreatedAt = s.now()
	c.UpdatedAt = c.CreatedAt
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.CreateClient(ctx, c); err != nil {
			return err
		}
		return s.record(ctx, registrant(c.ID), EventClientRegistered, target{clientID: c.ID},
			map[string]any{"scopes": nonNil(c.Scopes), "redirect_uris": nonNil(c.RedirectURIs)})
	})
}

// UpdateRegistration stores next over prev as the registrant read it;
// ErrPrecondition if it changed meanwhile.
func (s *Service) UpdateRegistration(ctx context.Context, next, prev *identity.Client) error {
	return s.change(ctx, registrant(next.ID), next, prev, EventRegistrationUpdate,
		map[string]any{"scopes": nonNil(next.Scopes), "redirect_uris": nonNil(next.RedirectURIs)})
}

// DeleteRegistration removes a registered client; its tokens stop
// validating.
func (s *Service) DeleteRegistration(ctx context.Context, id string) error {
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.DeleteClient(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, registrant(id), EventRegistrationDelete, target{clientID: id}, nil)
	})
	if err == nil {
		s.invalidate(id)
	}
	return err
}

func registrant(clientID string) Actor { return Actor{ID: ClientActor(clientID)} }
