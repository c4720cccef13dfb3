package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/portero-id/portero/identity"
)

// SigningKeys lists the signing keys, newest first.
func (s *Service) SigningKeys() []identity.SigningKey { return s.Keys.Keys() }

// RotateKeys creates new signing keys; they sign once verifiers have had
// time to fetch them.
func (s *Service) RotateKeys(ctx context.Context, a Actor) ([]identity.SigningKey, error) {
	keys, err := s.Keys.Rotate(ctx)
	if err != nil {
		return nil, err
	}
	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = k.ID
	}
	// The keys exist either way: the entry is written even if the
	// caller has gone.
	if err := s.record(context.WithoutCancel(ctx), a, EventKeysRotated, target{}, map[string]any{"kids": kids}); err != nil {
		return nil, err
	}
	return keys, nil
}

// Roles lists the role catalog.
func (s *Service) Roles(ctx context.Context) ([]identity.Role, error) { return s.Store.Roles(ctx) }

// catalogChange is the reason a catalog change is refused without
// PermRoles.
const catalogChange = "changing the role catalog needs " + PermRoles

// PutRole creates or redefines a role.
func (s *Service) PutRole(ctx context.Context, a Actor, r *identity.Role) error {
	if err := identity.ValidRoleName(r.Name); err != nil {
		return err
	}
	for _, p := range r.Permissions {
		if err := identity.ValidPermission(p); err != nil {
			return err
		}
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	if err := s.mayChangePrivilege(ctx, cat, a, "role.put", target{}, catalogChange); err != nil {
		return err
	}
	// Even with PermRoles, a role may only come to include roles the actor
	// could grant: PermRoles given to a lesser role must not be a way up.
	if err := s.mayGrant(ctx, cat, a, "role.put", target{}, r.Includes); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.PutRole(ctx, r); errors.Is(err, identity.ErrNotFound) {
			return invalidf("an included role does not exist: %v", err)
		} else if err != nil {
			return err
		}
		return s.record(ctx, a, EventRoleDefined, target{}, map[string]any{
			"role": r.Name, "includes": nonNil(r.Includes), "permissions": nonNil(r.Permissions)})
	})
}

// DeleteRole removes a custom role that nobody holds. A role still held
// is refused rather than silently taken away: services authorize on role
// names, and its holders should lose it by a recorded revocation.
func (s *Service) DeleteRole(ctx context.Context, a Actor, name string) error {
	cat, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	if err := s.mayChangePrivilege(ctx, cat, a, "role.delete", target{}, catalogChange); err != nil {
		return err
	}
	holders, err := s.Store.SearchUsers(ctx, identity.UserQuery{Role: name, Limit: 1})
	if err != nil {
		return err
	}
	if len(holders) > 0 {
		return fmt.Errorf("role %q is still held by users (e.g. %s): revoke it first: %w", name, holders[0].Username, identity.ErrConflict)
	}
	clients, err := s.Store.ListClients(ctx)
	if err != nil {
		return err
	}
	for _, c := range clients {
		if slices.Contains(c.Roles, name) {
			return fmt.Errorf("role %q is still held by client %s: %w", name, c.ID, identity.ErrConflict)
		}
	}
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.DeleteRole(ctx, name); err != nil {
			return err
		}
		return s.record(ctx, a, EventRoleDeleted, target{}, map[string]any{"role": name})
	})
}
