package manage

import (
	"context"
	"slices"
	"time"

	"github.com/portero-id/portero/identity"
)

// EventTokensRevoked records a mass revocation.
const EventTokensRevoked = "admin.tokens_revoked" // #nosec G101 -- an event name, not a credential

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
	if len(clients) > 0 && s.Logout != nil {
		s.Logout.NotifyLogout(ctx, f.Subject, clients)
	}
	return n, nil
}
