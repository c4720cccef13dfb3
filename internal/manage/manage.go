// Package manage is what administrators can do to Portero — clients,
// users, roles, signing keys, sessions — with the guard rails and the audit
// trail in one place, so that the admin API, the admin pages and the CLI
// cannot drift apart: each of them authenticates its administrator, then
// calls a Service method with an Actor.
//
// # Guard rails
//
//   - Nobody grants a role above their own (identity.RoleCatalog.CanGrant),
//     and nobody acts on a user or client holding such a role
//     (CanManage): an admin can neither disable, reset nor edit a
//     super_admin, nor a client that carries super_admin.
//   - Changing the role catalog itself needs the permission PermRoles
//     (super_admin's): editing a role an admin holds would otherwise let
//     them widen their own rights. So does any change to a privileged
//     client (one with a portero: scope, a first-party one, or one holding
//     a role that includes admin): an admin who could register such a
//     client, or add a redirect URI to the admin console, could phish a
//     super_admin's admin token through it, or mint an admin credential
//     that needs no second factor.
//   - The last enabled super_admin cannot be disabled or lose the role
//     (the store refuses, under a lock).
//
// # Audit
//
// Every change is a ledger entry of kind admin whose actor is the
// administrator ("admin:<user id>", "client:<client id>", "cli:<os user>"),
// written in the same transaction as the change where the store allows it.
// Every refusal by a guard rail is an "admin.denied" entry naming the
// operation and the target, so that an escalation attempt leaves a trace.
package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/throttle"
)

// PermRoles lets an administrator change who holds privilege: the role
// catalog and privileged clients (see Privileged).
const PermRoles = "portero:roles:admin"

// FreshAuth bounds how long after signing in (with a second factor) an
// administrator may act, on the pages or with a user's token through the
// API, without signing in again.
const FreshAuth = 15 * time.Minute

// ErrForbidden is a guard rail's refusal; the wrapped message says which.
var ErrForbidden = errors.New("forbidden")

// ErrPrecondition means the caller's view of the record is stale (an
// If-Match that no longer matches).
var ErrPrecondition = errors.New("the record changed since it was read")

// ErrNoLockouts: this Service cannot reach sign-in's throttle counters
// (the CLI, when they live in the server's memory rather than in Redis).
var ErrNoLockouts = errors.New("the sign-in lockout counters are not reachable from here (they live in the server's memory unless redis.url is set)")

// Ledger types of administrators' actions.
const (
	EventDenied          = "admin.denied"
	EventClientCreated   = "admin.client_created"
	EventClientUpdated   = "admin.client_updated"
	EventClientDeleted   = "admin.client_deleted"
	EventClientSecret    = "admin.client_secret_rotated"
	EventClientDisabled  = "admin.client_disabled"
	EventClientEnabled   = "admin.client_enabled"
	EventUserCreated     = "admin.user_created"
	EventUserDisabled    = "admin.user_disabled"
	EventUserEnabled     = "admin.user_enabled"
	EventUserUnlocked    = "admin.user_unlocked"
	EventMFAReset        = "admin.mfa_reset"
	EventRoleGranted     = "admin.role_granted"
	EventRoleRevoked     = "admin.role_revoked"
	EventRoleDefined     = "admin.role_defined"
	EventRoleDeleted     = "admin.role_deleted"
	EventKeysRotated     = "admin.keys_rotated"
	EventSessionRevoked  = "admin.session_revoked"
	EventSessionsRevoked = "admin.sessions_revoked"
	EventConsentsRead    = "admin.consents_read"
)

// Actor is the administrator acting: a user, a client (client
// credentials) or the operator at the CLI.
type Actor struct {
	// ID is the ledger's actor: "admin:<user id>", "client:<client id>",
	// "cli:<os user>".
	ID string
	// Roles bound what the actor may grant and whom it may act on.
	Roles     []string
	IP        string
	UserAgent string
	Locale    string
}

// ClientActor is the actor of a client-credentials token.
func ClientActor(clientID string) string { return "client:" + clientID }

// RequestActor is the same actor for identity.Requests.
func (a Actor) RequestActor() identity.RequestActor {
	return identity.RequestActor{Actor: a.ID, IP: a.IP, UserAgent: a.UserAgent, Locale: a.Locale}
}

// Service carries out administrators' actions.
type Service struct {
	Store    identity.Store
	Requests *identity.Requests
	Keys     interface {
		Rotate(ctx context.Context) ([]identity.SigningKey, error)
		Keys() []identity.SigningKey
	}
	// Lockouts are sign-in's throttle counters (a *throttle.Guard).
	Lockouts interface {
		Unlock(ctx context.Context, accounts ...string) error
	}
	// Logout tells clients over the back channel that a user's
	// authorization ended (a disabled account, an erased one).
	Logout interface {
		NotifyLogout(ctx context.Context, subject string, clientIDs []string)
	}
	// ClientCache drops a changed client from the OAuth provider's cache.
	ClientCache interface{ InvalidateClient(id string) }
	// AllowedScopes bound the scopes a client may be given.
	AllowedScopes []string
	Now           func() time.Time
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// target names what an action is about, for the ledger.
type target struct {
	subject  string // a user id
	clientID string
}

// record appends one admin ledger entry; details become its payload.
func (s *Service) record(ctx context.Context, a Actor, typ string, t target, details map[string]any) error {
	payload, err := json.Marshal(details)
	if err != nil {
		return err
	}
	if details == nil {
		payload = []byte("{}")
	}
	return s.Store.AppendLedger(ctx, &identity.LedgerEntry{
		OccurredAt: s.now(), Kind: identity.LedgerAdmin, Type: typ, Subject: t.subject, Actor: a.ID,
		ClientID: t.clientID, IP: a.IP, UserAgent: a.UserAgent, Locale: a.Locale, Payload: payload,
	})
}

// Deny records a refused attempt and returns the ErrForbidden to answer
// with. The API calls it too, for a token without the admin role or
// scope: an escalation attempt is evidence whoever refuses it.
func (s *Service) Deny(ctx context.Context, a Actor, operation, subject, clientID, reason string) error {
	// The refusal must be on record even if the caller has gone.
	ctx = context.WithoutCancel(ctx)
	if err := s.record(ctx, a, EventDenied, target{subject, clientID},
		map[string]any{"operation": operation, "reason": reason}); err != nil {
		return fmt.Errorf("record refusal: %w", err)
	}
	return fmt.Errorf("%w: %s", ErrForbidden, reason)
}

// Catalog is the role catalog as it is now.
func (s *Service) Catalog(ctx context.Context) (identity.RoleCatalog, error) {
	roles, err := s.Store.Roles(ctx)
	if err != nil {
		return nil, err
	}
	return identity.NewRoleCatalog(roles), nil
}

// mayManage refuses (and records) an action on a holder of roles the
// actor could not have granted.
func (s *Service) mayManage(ctx context.Context, a Actor, op string, t target, roles []string) error {
	catalog, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	if !catalog.CanManage(a.Roles, roles) {
		return s.Deny(ctx, a, op, t.subject, t.clientID, "the target holds a role above the actor's")
	}
	return nil
}

// mayGrant refuses (and records) giving roles the actor could not grant.
func (s *Service) mayGrant(ctx context.Context, a Actor, op string, t target, roles []string) error {
	catalog, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	for _, r := range roles {
		if !catalog.CanGrant(a.Roles, r) {
			return s.Deny(ctx, a, op, t.subject, t.clientID, fmt.Sprintf("role %q is above the actor's", r))
		}
	}
	return nil
}

// AdminRoles may administer Portero: holders of either, directly or
// through a role that includes it, are administrators.
var AdminRoles = []string{"admin", identity.RoleSuperAdmin}

// IsAdmin reports whether roles make their holder an administrator.
func (s *Service) IsAdmin(ctx context.Context, roles []string) (bool, error) {
	catalog, err := s.Catalog(ctx)
	if err != nil {
		return false, err
	}
	all, _ := catalog.Expand(roles)
	return slices.ContainsFunc(AdminRoles, func(r string) bool { return slices.Contains(all, r) }), nil
}

// HasPermission reports whether the actor's roles carry perm.
func (s *Service) HasPermission(ctx context.Context, a Actor, perm string) (bool, error) {
	catalog, err := s.Catalog(ctx)
	if err != nil {
		return false, err
	}
	_, perms := catalog.Expand(a.Roles)
	return slices.Contains(perms, perm), nil
}

// --- users ---

// User returns one user.
func (s *Service) User(ctx context.Context, id string) (*identity.User, error) {
	return s.Store.UserByID(ctx, id)
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
	if err := s.mayGrant(ctx, a, "user.create", target{}, u.Roles); err != nil {
		return nil, err
	}
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
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

// managedUser loads a user the actor may act on.
func (s *Service) managedUser(ctx context.Context, a Actor, op, id string) (*identity.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayManage(ctx, a, op, target{subject: id}, u.Roles); err != nil {
		return nil, err
	}
	return u, nil
}

// SetUserDisabled disables or enables an account. Disabling ends its
// browser sessions and tokens at once and tells the clients that held
// them.
func (s *Service) SetUserDisabled(ctx context.Context, a Actor, id string, disabled bool) (*identity.User, error) {
	op, typ := "user.enable", EventUserEnabled
	if disabled {
		op, typ = "user.disable", EventUserDisabled
	}
	u, err := s.managedUser(ctx, a, op, id)
	if err != nil {
		return nil, err
	}
	var clients []string
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.SetUserDisabled(ctx, id, disabled, s.now()); err != nil {
			return err
		}
		details := map[string]any{}
		if disabled {
			if clients, err = s.Store.SubjectGrantClients(ctx, id); err != nil {
				return err
			}
			sessions, err := s.Store.DeleteUserSessions(ctx, id)
			if err != nil {
				return err
			}
			tokens, err := s.Store.DeactivateSubjectGrants(ctx, id, "")
			if err != nil {
				return err
			}
			details["sessions_ended"], details["tokens_revoked"] = sessions, tokens
		}
		return s.record(ctx, a, typ, target{subject: u.ID}, details)
	})
	if err != nil {
		return nil, err
	}
	if disabled && len(clients) > 0 && s.Logout != nil {
		s.Logout.NotifyLogout(ctx, id, clients)
	}
	return s.Store.UserByID(ctx, id)
}

// Unlock lifts the sign-in lockouts of a user (password and second
// factor, under every login name).
func (s *Service) Unlock(ctx context.Context, a Actor, id string) error {
	u, err := s.managedUser(ctx, a, "user.unlock", id)
	if err != nil {
		return err
	}
	keys := []string{throttle.MFAKey(u.ID)}
	for _, login := range []string{u.Username, u.Email} {
		if login != "" {
			keys = append(keys, throttle.LoginKey(login))
		}
	}
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

// ResetMFA removes a user's second factors (TOTP, passkeys, recovery
// codes), for one who lost them; the next sign-in asks them to enrol again
// where policy requires a factor.
func (s *Service) ResetMFA(ctx context.Context, a Actor, id string) error {
	if _, err := s.managedUser(ctx, a, "user.reset_mfa", id); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context) error {
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
		return s.record(ctx, a, EventMFAReset, target{subject: id}, map[string]any{"passkeys_removed": len(passkeys)})
	})
}

// GrantRole gives a user a role the actor may grant.
func (s *Service) GrantRole(ctx context.Context, a Actor, id, role string) (*identity.User, error) {
	if err := identity.ValidRoleName(role); err != nil {
		return nil, err
	}
	u, err := s.managedUser(ctx, a, "user.grant_role", id)
	if err != nil {
		return nil, err
	}
	if err := s.mayGrant(ctx, a, "user.grant_role", target{subject: id}, []string{role}); err != nil {
		return nil, err
	}
	if u.HasRole(role) {
		return u, nil
	}
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
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
	if _, err := s.managedUser(ctx, a, "user.revoke_role", id); err != nil {
		return nil, err
	}
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
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

// RevokeSession ends one of a user's sessions ("" ends all of them).
func (s *Service) RevokeSession(ctx context.Context, a Actor, userID, sessionID string) error {
	if _, err := s.managedUser(ctx, a, "session.revoke", userID); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		if sessionID == "" {
			n, err := s.Store.DeleteUserSessions(ctx, userID)
			if err != nil {
				return err
			}
			return s.record(ctx, a, EventSessionsRevoked, target{subject: userID}, map[string]any{"sessions_ended": n})
		}
		if err := s.Store.DeleteUserSession(ctx, userID, sessionID); err != nil {
			return err
		}
		return s.record(ctx, a, EventSessionRevoked, target{subject: userID}, map[string]any{"session": sessionID})
	})
}

// --- consent and audit ---

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

// --- signing keys ---

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

// --- the role catalog ---

// Roles lists the role catalog.
func (s *Service) Roles(ctx context.Context) ([]identity.Role, error) { return s.Store.Roles(ctx) }

// mayEditCatalog refuses (and records) a catalog change by an actor
// without PermRoles.
func (s *Service) mayEditCatalog(ctx context.Context, a Actor, op string) error {
	return s.mayChangePrivilege(ctx, a, op, target{}, "changing the role catalog needs "+PermRoles)
}

// mayChangePrivilege refuses (and records) a change of privilege by an
// actor without PermRoles.
func (s *Service) mayChangePrivilege(ctx context.Context, a Actor, op string, t target, reason string) error {
	ok, err := s.HasPermission(ctx, a, PermRoles)
	if err != nil {
		return err
	}
	if !ok {
		return s.Deny(ctx, a, op, t.subject, t.clientID, reason)
	}
	return nil
}

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
	if err := s.mayEditCatalog(ctx, a, "role.put"); err != nil {
		return err
	}
	// Even with PermRoles, a role may only come to include roles the actor
	// could grant: PermRoles given to a lesser role must not be a way up.
	if err := s.mayGrant(ctx, a, "role.put", target{}, r.Includes); err != nil {
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
	if err := s.mayEditCatalog(ctx, a, "role.delete"); err != nil {
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

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// invalidate drops a client from the OAuth provider's cache.
func (s *Service) invalidate(id string) {
	if s.ClientCache != nil {
		s.ClientCache.InvalidateClient(id)
	}
}

// AnswerRequest answers a data-subject request. Answering a supresión
// (identity.RequestDelete) carries it out (Ley 1581 art. 8e): the answer
// and the erasure are one transaction, so a failed erasure leaves the
// request open to answer again rather than answered and not done. The
// clients that held the titular's tokens are told afterwards.
func (s *Service) AnswerRequest(ctx context.Context, a Actor, id, answer string) (*identity.DataRequest, error) {
	var (
		d       *identity.DataRequest
		clients []string
	)
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if d, err = s.Requests.Answer(ctx, a.RequestActor(), id, answer); err != nil || d.Type != identity.RequestDelete {
			return err
		}
		if clients, err = s.Store.SubjectGrantClients(ctx, d.UserID); err != nil {
			return err
		}
		return identity.DeleteAccount(ctx, s.Store, d.UserID, a.ID, s.Now())
	})
	if err != nil {
		return nil, err
	}
	if len(clients) > 0 && s.Logout != nil {
		s.Logout.NotifyLogout(ctx, d.UserID, clients)
	}
	return d, nil
}
