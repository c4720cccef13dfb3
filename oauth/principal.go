package oauth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ory/fosite"

	"github.com/portero-id/portero/identity"
)

// ErrInactiveToken is Principal's answer for a token that does not (or no
// longer does) speak for anyone: unknown, expired, revoked, a refresh token,
// or one whose user or client is gone or disabled.
var ErrInactiveToken = errors.New("inactive access token")

// Principal is who a Portero access token speaks for, as of now: Portero's
// own APIs (the admin API) authorize with it.
type Principal struct {
	// UserID is the signed-in user; "" for a client-credentials token,
	// whose subject is the client itself.
	UserID   string
	ClientID string
	Scopes   []string
	// Roles are the current roles of the user, or of the client for a
	// client-credentials token (not the token's snapshot: a revoked role
	// stops working at once).
	Roles    []string
	AuthTime time.Time
	ACR      string
}

// Principal validates an access token (opaque or JWT, as the token
// endpoint issued it, checked against the store so revocation counts) and
// reads the roles it stands for now.
func (p *Provider) Principal(ctx context.Context, token string) (*Principal, error) {
	use, ar, err := p.fosite.IntrospectToken(ctx, token, fosite.AccessToken, NewSession())
	if err != nil {
		if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField >= 500 {
			return nil, rfc
		}
		return nil, ErrInactiveToken
	}
	if use != fosite.AccessToken {
		return nil, ErrInactiveToken
	}
	sess, _ := ar.GetSession().(*Session)
	if sess == nil {
		return nil, ErrInactiveToken
	}
	pr := &Principal{
		ClientID: ar.GetClient().GetID(),
		Scopes:   slices.Clone([]string(ar.GetGrantedScopes())),
		AuthTime: sess.AuthTime,
		ACR:      sess.ACR,
	}
	if sess.Username == "" && sess.Subject == pr.ClientID {
		// Client credentials: decode has already refused a deleted or
		// disabled client; its roles are read fresh, past the cache.
		c, err := p.Store.ClientByID(ctx, pr.ClientID)
		if errors.Is(err, identity.ErrNotFound) || (err == nil && c.Disabled) {
			return nil, ErrInactiveToken
		}
		if err != nil {
			return nil, err
		}
		pr.Roles = slices.Clone(c.Roles)
		return pr, nil
	}
	u, err := p.activeUser(ctx, sess.Subject)
	if err != nil {
		return nil, err
	}
	pr.UserID, pr.Roles = u.ID, slices.Clone(u.Roles)
	return pr, nil
}

// activeUser is the user a token speaks for, read now: a deleted or
// disabled account is ErrInactiveToken, whatever the token says.
func (p *Provider) activeUser(ctx context.Context, id string) (*identity.User, error) {
	u, err := p.Store.UserByID(ctx, id)
	if errors.Is(err, identity.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, ErrInactiveToken
	}
	return u, err
}
