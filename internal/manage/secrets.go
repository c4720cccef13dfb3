package manage

import (
	"context"
	"time"

	"github.com/portero-id/portero/identity"
)

// EventSecretsResealed is the ledger entry of a finished reseal.
const EventSecretsResealed = "admin.secrets_resealed" // #nosec G101 -- an event name, not a credential

// ResealSecrets finishes a system-secret rotation's first half: everything
// sealed at rest with a previous secret (TOTP seeds, signing keys) is
// sealed again under the current one, in one transaction, so that the
// previous secret no longer decrypts anything Portero stores. With a
// non-zero since (when the new secret took over), it also counts what
// cannot be re-keyed and still needs the previous secret until it
// expires: see identity.SecretDependents. It takes PermRoles: whoever
// holds the secrets holds every account's second factor.
func (s *Service) ResealSecrets(ctx context.Context, a Actor, totp, keys identity.Reseal, since time.Time) (identity.ResealReport, *identity.SecretDependents, error) {
	cat, err := s.Catalog(ctx)
	if err != nil {
		return identity.ResealReport{}, nil, err
	}
	if err := s.mayChangePrivilege(ctx, cat, a, "secrets.reseal", target{}, "resealing the secrets needs "+PermRoles); err != nil {
		return identity.ResealReport{}, nil, err
	}
	report, err := s.Store.ResealSecrets(ctx, totp, keys)
	if err != nil {
		return identity.ResealReport{}, nil, err
	}
	var deps *identity.SecretDependents
	if !since.IsZero() {
		d, err := s.Store.SecretDependents(ctx, since)
		if err != nil {
			return report, nil, err
		}
		deps = &d
	}
	// The values are resealed whether or not the caller is still there.
	err = s.record(context.WithoutCancel(ctx), a, EventSecretsResealed, target{}, map[string]any{
		"totp": report.TOTP, "signing_keys": report.SigningKeys, "unreadable": len(report.Unreadable)})
	return report, deps, err
}
