package identity

import (
	"context"
	"time"
)

// MaxAccessTokenLifespan bounds oauth.access_token_lifespan. A revocation
// rule that selects tokens by who they are about or which client holds
// them can be forgotten this long after the time it cuts at: no token it
// selects can still be valid by then.
const MaxAccessTokenLifespan = 24 * time.Hour

// TokenRevocation is one rule of the revocation set: the stateless access
// tokens it selects are no longer active, although no row of theirs
// exists to deactivate. A rule names one token (JTI), or selects every
// token issued before IssuedBefore about Subject, held by ClientID, or
// both (an empty field matches any).
type TokenRevocation struct {
	// Seq orders the rules; a replica loads those past the last it has.
	Seq          int64
	JTI          string
	Subject      string
	ClientID     string
	IssuedBefore time.Time
	// ExpiresAt is when no token the rule selects can be valid any more,
	// and the rule can go.
	ExpiresAt time.Time
}

// Selects reports whether the rule revokes a token with these claims.
func (r *TokenRevocation) Selects(jti, subject, clientID string, issuedAt time.Time) bool {
	if r.JTI != "" {
		return r.JTI == jti
	}
	return (r.Subject == "" || r.Subject == subject) &&
		(r.ClientID == "" || r.ClientID == clientID) &&
		issuedAt.Before(r.IssuedBefore)
}

// RevocationRuleFor is the rule that extends a grant filter to the
// stateless access tokens it would select, had they rows; nil when the
// filter selects no access token (a kind other than access tokens). A
// filter without a time cuts at now.
func RevocationRuleFor(f GrantFilter, now time.Time) *TokenRevocation {
	if f.Kind != "" && f.Kind != GrantAccessToken {
		return nil
	}
	cut := f.IssuedBefore
	if cut.IsZero() {
		cut = now
	}
	return &TokenRevocation{Subject: f.Subject, ClientID: f.ClientID, IssuedBefore: cut.UTC(),
		ExpiresAt: cut.UTC().Add(MaxAccessTokenLifespan)}
}

// RevocationStore keeps the revocation set's rules.
type RevocationStore interface {
	// AddTokenRevocation inserts a rule and fills in its Seq.
	AddTokenRevocation(ctx context.Context, r *TokenRevocation) error
	// TokenRevocations returns the rules after seq that have not expired
	// at now, in Seq order.
	TokenRevocations(ctx context.Context, afterSeq int64, now time.Time) ([]TokenRevocation, error)
	// DeleteExpiredTokenRevocations deletes up to limit rules that expired
	// before the time given.
	DeleteExpiredTokenRevocations(ctx context.Context, before time.Time, limit int) (int64, error)
	// RevocationsWritten counts the rules this process has committed, so
	// that its own revocation set reloads at once, without waiting for the
	// database to announce them.
	RevocationsWritten() uint64
}
