package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/portero-id/portero/identity"
)

// Refresh-token rotation under concurrency (RFC 9700 §4.14.2). The store
// lets exactly one exchange of a refresh token mark it rotated (one
// conditional UPDATE). What the others get:
//
//   - Within oauth.refresh_grace_period of the rotation, the same answer
//     the winner got: the winner keeps its response, sealed, in a
//     GrantRefreshReplay record under the old token's signature until the
//     grace period ends, and a duplicate returns it. A retrying mobile app
//     gets one token pair, never a branch of the family.
//   - With no grace period, invalid_grant; and a duplicate that arrives
//     within concurrentWindow of the rotation is taken for the race it is,
//     not for theft: the family is not revoked.
//   - Later (past both), reuse: the family is revoked.

// concurrentWindow is how soon after a rotation a second exchange of the
// same token is a race rather than a replay, when there is no grace period.
const concurrentWindow = time.Second

// replayWait bounds how long a duplicate waits for the winner's response
// to be kept (the winner commits the rotation, then keeps the response).
const replayWait = 3 * time.Second

// errRotationRace is RotateRefreshToken's answer to an exchange that lost
// the race to rotate its token.
var errRotationRace = errors.New("the refresh token was rotated by a concurrent request")

// reuseWindow is how long after a rotation an exchange still gets past the
// token look-up (to win nothing but the winner's answer, or invalid_grant):
// the grace period, or the concurrent window when there is none.
func (s *Storage) reuseWindow() time.Duration {
	if s.RefreshGrace > 0 {
		return s.RefreshGrace
	}
	return concurrentWindow
}

// keptRefresh is the winner's response as kept for duplicates.
type keptRefresh struct {
	Body     map[string]any `json:"body"`
	IssuedAt time.Time      `json:"issued_at"`
}

// keepRefreshResponse keeps the response of a winning refresh for the
// grace period, sealed and bound to the old token's signature.
func (p *Provider) keepRefreshResponse(ctx context.Context, r *http.Request, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if p.opts.RefreshGrace <= 0 {
		return nil
	}
	sig := p.strategy.RefreshTokenSignature(ctx, r.PostForm.Get("refresh_token"))
	now := p.Now().UTC()
	plain, err := json.Marshal(keptRefresh{Body: resp.ToMap(), IssuedAt: now})
	if err != nil {
		return err
	}
	sealed, err := p.replayBox.Seal(plain, []byte(sig))
	if err != nil {
		return err
	}
	subject := ""
	if sess, ok := ar.GetSession().(*Session); ok {
		subject = sess.GetSubject()
	}
	err = p.Store.CreateGrant(ctx, &identity.Grant{
		Kind: identity.GrantRefreshReplay, Signature: sig, RequestID: ar.GetID(), ClientID: ar.GetClient().GetID(),
		Subject: subject, Active: true, RequestedAt: now, ExpiresAt: now.Add(p.opts.RefreshGrace), Data: sealed,
	})
	if errors.Is(err, identity.ErrConflict) {
		return nil // kept already (a retried winner)
	}
	return err
}

// replayRefresh answers an exchange that lost the race: the winner's
// response within the grace period, else invalid_grant. fosite has already
// authenticated the client and checked that the token is its own.
func (p *Provider) replayRefresh(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester) {
	ctx := r.Context()
	used := fosite.ErrInvalidGrant.WithHint("The refresh token has already been used.")
	if p.opts.RefreshGrace <= 0 {
		p.writeTokenError(w, r, used)
		return
	}
	sig := p.strategy.RefreshTokenSignature(ctx, r.PostForm.Get("refresh_token"))
	deadline := time.Now().Add(replayWait)
	for {
		g, err := p.Store.GrantBySignature(ctx, identity.GrantRefreshReplay, sig)
		if errors.Is(err, identity.ErrNotFound) && time.Now().Before(deadline) {
			// The winner has committed the rotation but not yet kept its
			// answer: wait for it (or for the caller to give up).
			select {
			case <-ctx.Done():
			case <-time.After(25 * time.Millisecond):
				continue
			}
		}
		switch {
		case errors.Is(err, identity.ErrNotFound):
			p.writeTokenError(w, r, used)
			return
		case err != nil:
			p.writeStoreError(w, r, err)
			return
		}
		now := p.Now()
		if !g.Active || g.ClientID != ar.GetClient().GetID() || !now.Before(g.ExpiresAt) {
			// Revoked since (reuse detection, a credential event), or the
			// grace period is over.
			p.writeTokenError(w, r, used)
			return
		}
		body, err := p.openKeptRefresh(g, sig, now)
		if err != nil {
			p.writeTokenError(w, r, fosite.ErrServerError.WithWrap(err))
			return
		}
		p.Metrics.TokensIssued.WithLabelValues("refresh_token_replay").Inc()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, http.StatusOK, body)
		return
	}
}

func (p *Provider) openKeptRefresh(g *identity.Grant, sig string, now time.Time) (map[string]any, error) {
	plain, err := p.replayBox.Open(g.Data, []byte(sig))
	if err != nil {
		return nil, fmt.Errorf("kept refresh response: %w", err)
	}
	var kept keptRefresh
	if err := json.Unmarshal(plain, &kept); err != nil {
		return nil, fmt.Errorf("kept refresh response: %w", err)
	}
	if exp, ok := kept.Body["expires_in"].(float64); ok {
		// The same tokens, so the same expiry: less what has passed.
		kept.Body["expires_in"] = max(int64(exp)-int64(now.Sub(kept.IssuedAt).Seconds()), 0)
	}
	return kept.Body, nil
}
