package manage

import (
	"context"
	"slices"
	"time"

	"github.com/portero-id/portero/identity"
)

// Ledger entries of emergency revocations.
const (
	EventTokensRevoked = "admin.tokens_revoked" // #nosec G101 -- an event name, not a credential
	EventKeyRevoked    = "admin.key_revoked"
)

// RevokeTokens ends every grant the filter selects: an incident's answer
// (a client's secret leaked: --client; a user's device stolen: --user; a
// signing key or the system secret compromised at a known time:
// --issued-before). It may end many users' access at once, so it takes
// the privilege that changes who holds privilege (PermRoles). Clients with
// a back-channel logout URI hear of a user's revocation.
func (s *Service) RevokeTokens(ctx context.Context, a Actor, f identity.GrantFilter) (int64, error) {
	if f.Empty() {
		return 0, identity.ErrEmptyGrantFilter
	}
	t := target{subject: f.Subject, clientID: f.ClientID}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.mayChangePrivilege(ctx, cat, a, "tokens.revoke", t, "mass token revocation needs "+PermRoles); err != nil {
		return 0, err
	}
	var (
		n       int64
		clients []string
	)
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if f.Subject != "" {
			var err error
			if clients, err = s.Store.SubjectGrantClients(ctx, f.Subject); err != nil {
				return err
			}
		}
		var err error
		if n, err = s.Store.DeactivateGrants(ctx, f); err != nil {
			return err
		}
		details := map[string]any{"tokens_revoked": n}
		if !f.IssuedBefore.IsZero() {
			details["issued_before"] = f.IssuedBefore.UTC().Format(time.RFC3339)
		}
		return s.record(ctx, a, EventTokensRevoked, t, details)
	})
	if err != nil {
		return 0, err
	}
	if f.ClientID != "" && slices.Contains(clients, f.ClientID) {
		clients = []string{f.ClientID}
	} else if f.ClientID != "" {
		clients = nil
	}
	s.notifyLogout(ctx, f.Subject, clients)
	return n, nil
}

// RevokeKey takes a compromised signing key out of use at once (see
// oauth.Keyring.Revoke: a replacement signs from now on, the key is no
// longer published). When it is a key of the access tokens' algorithm,
// every access token still active is revoked too: they are short-lived,
// their clients refresh, and introspection must not vouch for a token
// signed with a key that others may hold. It takes PermRoles.
func (s *Service) RevokeKey(ctx context.Context, a Actor, kid string) (replacement *identity.SigningKey, tokens int64, err error) {
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, 0, err
	}
	if err := s.mayChangePrivilege(ctx, cat, a, "key.revoke", target{}, "revoking a signing key needs "+PermRoles); err != nil {
		return nil, 0, err
	}
	revoked, replacement, err := s.Keys.Revoke(ctx, kid)
	if err != nil {
		return nil, 0, err
	}
	if revoked.Algorithm == s.AccessTokenAlg {
		if tokens, err = s.Store.DeactivateGrants(ctx, identity.GrantFilter{Kind: identity.GrantAccessToken}); err != nil {
			return nil, 0, err
		}
	}
	// The key is gone either way: the entry is written even if the
	// caller has gone.
	err = s.record(context.WithoutCancel(ctx), a, EventKeyRevoked, target{}, map[string]any{
		"kid": revoked.ID, "algorithm": revoked.Algorithm, "replacement": replacement.ID, "access_tokens_revoked": tokens})
	return replacement, tokens, err
}
