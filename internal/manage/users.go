package manage

import (
	"context"
	"errors"
	"fmt"

	"github.com/portero-id/portero/identity"
)

// ResolveUser finds a user by username, e-mail address or id. A reference
// that is one user's login and another's id is refused: usernames are
// chosen at sign-up, and one shaped like a victim's id must not catch a
// command meant for the victim.
func (s *Service) ResolveUser(ctx context.Context, ref string) (*identity.User, error) {
	if ref == "" {
		return nil, fmt.Errorf("a user (username, e-mail or id) is required: %w", identity.ErrInvalid)
	}
	byLogin, err := s.Store.UserByLogin(ctx, ref)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, err
	}
	byID, err := s.Store.UserByID(ctx, ref)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, err
	}
	switch {
	case byLogin != nil && byID != nil && byLogin.ID != byID.ID:
		return nil, fmt.Errorf("%q is the id of %s and the username of another user (id %s): name the user by e-mail or by that id: %w",
			ref, byID.Username, byLogin.ID, identity.ErrConflict)
	case byID != nil:
		return byID, nil
	case byLogin != nil:
		return byLogin, nil
	}
	return nil, fmt.Errorf("no user with username, e-mail or id %q: %w", ref, identity.ErrNotFound)
}

// UserDetail returns a user with the summary of their second factors.
func (s *Service) UserDetail(ctx context.Context, id string) (*identity.User, identity.SecondFactors, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return nil, identity.SecondFactors{}, err
	}
	f, err := s.Store.SecondFactors(ctx, id)
	return u, f, err
}

// SearchUsers pages through users.
func (s *Service) SearchUsers(ctx context.Context, q identity.UserQuery) ([]identity.User, error) {
	return s.Store.SearchUsers(ctx, q)
}

// CreateUser creates an account (its password hash already set, or none)
// with roles the actor may grant.
func (s *Service) CreateUser(ctx context.Context, a Actor, u *identity.User) (*identity.User, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	for _, r := range u.Roles {
		if err := identity.ValidRoleName(r); err != nil {
			return nil, err
		}
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	if err := known(cat, u.Roles...); err != nil {
		return nil, err
	}
	if err := s.mayGrant(ctx, cat, a, "user.create", target{}, u.Roles); err != nil {
		return nil, err
	}
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.record(ctx, a, EventUserCreated, target{subject: u.ID}, map[string]any{"roles": nonNil(u.Roles)})
	})
	if err != nil {
		return nil, err
	}
	return s.Store.UserByID(ctx, u.ID)
}

// managedUser loads a user the actor may act on, for an action outside
// the database (Unlock).
func (s *Service) managedUser(ctx context.Context, a Actor, op, id string) (*identity.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.mayGrant(ctx, cat, a, op, target{subject: id}, u.Roles); err != nil {
		return nil, err
	}
	return u, nil
}

// onManagedUser runs fn in one transaction with the user's row locked,
// once the actor may act on the user as locked: a role granted between a
// read and the change cannot slip through. fn gets the catalog the check
// read and returns a *refusal for a guard rail of its own; refusals are
// recorded after the rollback.
func (s *Service) onManagedUser(ctx context.Context, a Actor, op, id string, fn func(ctx context.Context, u *identity.User, cat identity.RoleCatalog) error) error {
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		u, err := s.Store.LockUser(ctx, id)
		if err != nil {
			return err
		}
		cat, err := s.Catalog(ctx)
		if err != nil {
			return err
		}
		if no := above(cat, a, u.Roles); no != nil {
			return no
		}
		return fn(ctx, u, cat)
	})
	var no *refusal
	if errors.As(err, &no) {
		return s.Deny(ctx, a, op, id, "", no.reason)
	}
	return err
}

// DeleteUser erases an account through the same path as an answered
// supresión (identity.DeleteAccount: the account and everything hanging
// from it go, the ledger's entries about it stay under its pseudonymous
// id), with the administrator's entry beside it, in one transaction; the
// clients that held its tokens are told afterwards. The last super_admin
// stays.
func (s *Service) DeleteUser(ctx context.Context, a Actor, id string) error {
	var clients []string
	err := s.onManagedUser(ctx, a, "user.delete", id, func(ctx context.Context, u *identity.User, _ identity.RoleCatalog) error {
		var err error
		if clients, err = s.Store.SubjectGrantClients(ctx, u.ID); err != nil {
			return err
		}
		if err := identity.DeleteAccount(ctx, s.Store, u.ID, a.ID, s.now()); err != nil {
			return err
		}
		return s.record(ctx, a, EventUserDeleted, target{subject: u.ID}, nil)
	})
	if err != nil {
		return err
	}
	s.notifyLogout(ctx, id, clients)
	return nil
}

// SetUserDisabled disables or enables an account. Disabling ends its
// browser sessions and tokens at once and tells the clients that held
// them.
func (s *Service) SetUserDisabled(ctx context.Context, a Actor, id string, disabled bool) (*identity.User, error) {
	op, typ := "user.enable", EventUserEnabled
	if disabled {
		op, typ = "user.disable", EventUserDisabled
	}
	var clients []string
	err := s.onManagedUser(ctx, a, op, id, func(ctx context.Context, u *identity.User, _ identity.RoleCatalog) error {
		if err := s.Store.SetUserDisabled(ctx, id, disabled, s.now()); err != nil {
			return err
		}
		details := map[string]any{}
		if disabled {
			ended, err := identity.EndAccess(ctx, s.Store, id, "")
			if err != nil {
				return err
			}
			clients = ended.Clients
			details["sessions_ended"], details["tokens_revoked"] = ended.Sessions, ended.Tokens
		}
		return s.record(ctx, a, typ, target{subject: u.ID}, details)
	})
	if err != nil {
		return nil, err
	}
	s.notifyLogout(ctx, id, clients) // none when enabling
	return s.Store.UserByID(ctx, id)
}

// Unlock lifts the sign-in lockouts of a user (password and second
// factor, under every login name).
func (s *Service) Unlock(ctx context.Context, a Actor, id string) error {
	u, err := s.managedUser(ctx, a, "user.unlock", id)
	if err != nil {
		return err
	}
	keys := []string{identity.MFAGuardKey(u.ID), identity.PasswordGuardKey(u.ID)}
	if s.Lockouts == nil {
		return ErrNoLockouts
	}
	// Once the counters are reset the entry must be written, even if the
	// caller has gone.
	ctx = context.WithoutCancel(ctx)
	if err := s.Lockouts.Unlock(ctx, keys...); err != nil {
		return err
	}
	return s.record(ctx, a, EventUserUnlocked, target{subject: u.ID}, nil)
}

// SendResetLink mails the user a password-reset link (the one a
// "forgot password" sends): how an account an administrator created, with
// no password, gets one, and how support helps a user without handling
// their password. The actor must be allowed to act on the user.
func (s *Service) SendResetLink(ctx context.Context, a Actor, id string) error {
	u, err := s.managedUser(ctx, a, "user.reset_link", id)
	if err != nil {
		return err
	}
	switch {
	case s.ResetLinks == nil:
		return ErrNoResetLinks
	case u.Email == "":
		return ErrNoEmail
	}
	ctx = context.WithoutCancel(ctx)
	if err := s.ResetLinks.SendResetLink(ctx, u, a.Locale); err != nil {
		return err
	}
	return s.record(ctx, a, EventResetLinkSent, target{subject: u.ID}, nil)
}

// ResetMFA removes a user's second factors (TOTP, passkeys, recovery
// codes), for one who lost them; the next sign-in asks them to enrol again
// where policy requires a factor. Whoever held the lost factor may hold a
// session or tokens made with it: those end too (identity.EndAccess).
func (s *Service) ResetMFA(ctx context.Context, a Actor, id string) error {
	var clients []string
	err := s.onManagedUser(ctx, a, "user.reset_mfa", id, func(ctx context.Context, _ *identity.User, _ identity.RoleCatalog) error {
		if err := s.Store.DeleteTOTP(ctx, id); err != nil && !errors.Is(err, identity.ErrNotFound) {
			return err
		}
		passkeys, err := s.Store.WebAuthnCredentialsByUser(ctx, id)
		if err != nil {
			return err
		}
		for _, c := range passkeys {
			if err := s.Store.DeleteWebAuthnCredential(ctx, id, c.ID); err != nil {
				return err
			}
		}
		if err := s.Store.ReplaceRecoveryCodes(ctx, id, nil, s.now()); err != nil {
			return err
		}
		ended, err := identity.EndAccess(ctx, s.Store, id, "")
		if err != nil {
			return err
		}
		clients = ended.Clients
		return s.record(ctx, a, EventMFAReset, target{subject: id}, map[string]any{"passkeys_removed": len(passkeys),
			"sessions_ended": ended.Sessions, "tokens_revoked": ended.Tokens})
	})
	if err == nil {
		s.notifyLogout(ctx, id, clients)
	}
	return err
}

// GrantRole gives a user a role the actor may grant.
func (s *Service) GrantRole(ctx context.Context, a Actor, id, role string) (*identity.User, error) {
	if err := identity.ValidRoleName(role); err != nil {
		return nil, err
	}
	err := s.onManagedUser(ctx, a, "user.grant_role", id, func(ctx context.Context, u *identity.User, cat identity.RoleCatalog) error {
		if err := known(cat, role); err != nil {
			return err
		}
		if no := above(cat, a, []string{role}); no != nil {
			return no
		}
		if u.HasRole(role) {
			return nil
		}
		if err := s.Store.GrantRole(ctx, id, role); err != nil {
			return err
		}
		return s.record(ctx, a, EventRoleGranted, target{subject: id}, map[string]any{"role": role})
	})
	if err != nil {
		return nil, err
	}
	return s.Store.UserByID(ctx, id)
}

// RevokeRole takes a role from a user the actor may manage.
func (s *Service) RevokeRole(ctx context.Context, a Actor, id, role string) (*identity.User, error) {
	err := s.onManagedUser(ctx, a, "user.revoke_role", id, func(ctx context.Context, _ *identity.User, _ identity.RoleCatalog) error {
		if err := s.Store.RevokeRole(ctx, id, role); err != nil {
			return err
		}
		return s.record(ctx, a, EventRoleRevoked, target{subject: id}, map[string]any{"role": role})
	})
	if err != nil {
		return nil, err
	}
	return s.Store.UserByID(ctx, id)
}

// Sessions lists a user's browser sessions.
func (s *Service) Sessions(ctx context.Context, userID string) ([]identity.Session, error) {
	if _, err := s.Store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	return s.Store.SessionsByUser(ctx, userID)
}

// RevokeSession ends one of a user's sessions. "" ends all of them and,
// like the user's own "sign out everywhere", every grant they gave
// (identity.EndAccess): a signed-out thief keeps no refresh token.
func (s *Service) RevokeSession(ctx context.Context, a Actor, userID, sessionID string) error {
	var clients []string
	err := s.onManagedUser(ctx, a, "session.revoke", userID, func(ctx context.Context, _ *identity.User, _ identity.RoleCatalog) error {
		if sessionID == "" {
			ended, err := identity.EndAccess(ctx, s.Store, userID, "")
			if err != nil {
				return err
			}
			clients = ended.Clients
			return s.record(ctx, a, EventSessionsRevoked, target{subject: userID}, map[string]any{"sessions_ended": ended.Sessions, "tokens_revoked": ended.Tokens})
		}
		if err := s.Store.DeleteUserSession(ctx, userID, sessionID); err != nil {
			return err
		}
		return s.record(ctx, a, EventSessionRevoked, target{subject: userID}, map[string]any{"session": sessionID})
	})
	if err == nil {
		s.notifyLogout(ctx, userID, clients)
	}
	return err
}

// Consents are a user's consent records: the decisions in the ledger
// (the proof), newest first, and the scope consents remembered now.
type Consents struct {
	Records []identity.LedgerEntry
	Scopes  []identity.ScopeConsent
}

// UserConsents returns a user's consent records. The read is itself
// recorded: who looked at a titular's authorizations is accountable
// (HABEAS_DATA H10).
func (s *Service) UserConsents(ctx context.Context, a Actor, userID string) (*Consents, error) {
	if _, err := s.Store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	if err := s.record(ctx, a, EventConsentsRead, target{subject: userID}, nil); err != nil {
		return nil, err
	}
	// Newest first: were there ever more than LedgerMaxLimit, the
	// decisions in force are the ones shown.
	records, err := s.Store.LedgerEntries(ctx, identity.LedgerFilter{Subject: userID, Kind: identity.LedgerConsent,
		Limit: identity.LedgerMaxLimit, Newest: true})
	if err != nil {
		return nil, err
	}
	scopes, err := s.Store.ScopeConsentsByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return &Consents{Records: records, Scopes: scopes}, nil
}

// Events searches the ledger (the audit trail, consents, requests and
// administrators' actions).
func (s *Service) Events(ctx context.Context, f identity.LedgerFilter) ([]identity.LedgerEntry, error) {
	return s.Store.LedgerEntries(ctx, f)
}
