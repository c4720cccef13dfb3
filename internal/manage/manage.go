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
)

// PermRoles lets an administrator change who holds privilege: the role
// catalog and privileged clients (see Privileged).
const PermRoles = "portero:roles:admin"

// ErrForbidden is a guard rail's refusal; the wrapped message says which.
var ErrForbidden = identity.NewError(identity.KindForbidden, "forbidden", "forbidden")

// ErrPrecondition means the caller's view of the record is stale (an
// If-Match that no longer matches).
var ErrPrecondition = identity.NewError(identity.KindPrecondition, "precondition-failed", "the record changed since it was read")

// ErrNoResetLinks: this Service cannot mail links (no mail relay, or the
// CLI, which has no mailer of its own).
var ErrNoResetLinks = identity.NewError(identity.KindConflict, "no-mail", "reset links need mail: set mail.smtp_address, and send them from the server (the admin API or pages)")

// ErrNoEmail: the account has no e-mail address to send a link to.
var ErrNoEmail = identity.NewError(identity.KindConflict, "no-email", "the account has no e-mail address")

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
	EventUserDeleted     = "admin.user_deleted"
	EventUserDisabled    = "admin.user_disabled"
	EventUserEnabled     = "admin.user_enabled"
	EventUserUnlocked    = "admin.user_unlocked"
	EventResetLinkSent   = "admin.reset_link_sent"
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
		Revoke(ctx context.Context, kid string) (revoked, replacement *identity.SigningKey, err error)
		Keys() []identity.SigningKey
	}
	// AccessTokenAlg is the algorithm access tokens are signed with: a
	// revoked key of it takes the active access tokens along.
	AccessTokenAlg string
	// Lockouts are sign-in's throttle counters (a *throttle.Guard).
	Lockouts interface {
		Unlock(ctx context.Context, accounts ...string) error
	}
	// ResetLinks mails a user a password-reset link; nil where there is
	// no mail (ErrNoResetLinks).
	ResetLinks interface {
		SendResetLink(ctx context.Context, u *identity.User, lang string) error
	}
	// Logout tells clients over the back channel that a user's
	// authorization ended (a disabled account, an erased one).
	Logout interface {
		NotifyLogout(ctx context.Context, subject string, clientIDs []string)
	}
	// OnNetworkChange, when set, is called after a network rule changed
	// (this process applies it at once).
	OnNetworkChange func()
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

// notifyLogout tells the clients that held a user's tokens, over the
// back channel, that the user's authorization ended; after the change has
// committed.
func (s *Service) notifyLogout(ctx context.Context, userID string, clients []string) {
	if len(clients) > 0 && s.Logout != nil {
		s.Logout.NotifyLogout(ctx, userID, clients)
	}
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

// mayGrant refuses (and records) an action by a that gives roles, or acts
// on a holder of roles, a could not have granted: nobody rises above
// their own roles, nor acts on someone above them (CanGrant, CanManage).
// The guard rails take the catalog as the caller read it once.
func (s *Service) mayGrant(ctx context.Context, cat identity.RoleCatalog, a Actor, op string, t target, roles []string) error {
	if no := above(cat, a, roles); no != nil {
		return s.Deny(ctx, a, op, t.subject, t.clientID, no.reason)
	}
	return nil
}

// above is the refusal of roles a could not grant, or nil.
func above(cat identity.RoleCatalog, a Actor, roles []string) *refusal {
	for _, r := range roles {
		if !cat.CanGrant(a.Roles, r) {
			return &refusal{fmt.Sprintf("role %q is above the actor's", r)}
		}
	}
	return nil
}

// mayChangePrivilege refuses (and records) a change of privilege by an
// actor without PermRoles.
func (s *Service) mayChangePrivilege(ctx context.Context, cat identity.RoleCatalog, a Actor, op string, t target, reason string) error {
	if !CanChangePrivilege(cat, a.Roles) {
		return s.Deny(ctx, a, op, t.subject, t.clientID, reason)
	}
	return nil
}

// refusal is a guard rail's verdict reached inside a transaction: it is
// recorded (Deny) once the transaction has rolled back, so that the
// entry does not go with it.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

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

// CanChangePrivilege reports whether holders of roles may change the role
// catalog and privileged clients (PermRoles); the pages ask it to offer
// only the forms the administrator may use.
func CanChangePrivilege(cat identity.RoleCatalog, roles []string) bool {
	_, perms := cat.Expand(roles)
	return slices.Contains(perms, PermRoles)
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
	s.notifyLogout(ctx, d.UserID, clients)
	return d, nil
}
