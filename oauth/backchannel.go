package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/outbound"
)

// OpenID Connect Back-Channel Logout 1.0: when a user's authorization for a
// client ends (a revoked purpose, a withdrawn scope consent, a deleted
// account), the client hears it from Portero directly, with a signed
// logout token, and can end its own session for that user.

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// backchannel delivers logout tokens in the background, with retries.
type backchannel struct {
	client  *http.Client
	pending sync.WaitGroup
	retries []time.Duration
}

func newBackchannel(policy outbound.Policy) *backchannel {
	return &backchannel{
		// The policy's client: no redirects (the token goes to the
		// registered URI only), and no connection to a non-public address
		// the policy does not allow, whatever the name resolves to now.
		client:  policy.Client(5 * time.Second),
		retries: []time.Duration{0, time.Second, 5 * time.Second},
	}
}

// NotifyLogout sends a logout token for subject to each of the clients that
// registered a back-channel logout URI. It returns at once; delivery
// happens in the background (WaitBackchannel waits for it).
func (p *Provider) NotifyLogout(ctx context.Context, subject string, clientIDs []string) {
	for _, id := range clientIDs {
		c, err := p.Store.ClientByID(ctx, id)
		if err != nil || c.BackchannelLogoutURI == "" {
			continue
		}
		token, err := p.backchannelToken(ctx, c, subject)
		if err != nil {
			p.Log.ErrorContext(ctx, "back-channel logout token", "client_id", id, "err", err)
			continue
		}
		p.backchannel.pending.Add(1)
		go func(uri, clientID string) {
			defer p.backchannel.pending.Done()
			if err := p.backchannel.deliver(uri, token); err != nil {
				p.Log.Warn("back-channel logout not delivered", "client_id", clientID, "err", err)
			}
		}(c.BackchannelLogoutURI, id)
	}
}

// WaitBackchannel blocks until the deliveries started so far are done.
func (p *Provider) WaitBackchannel() { p.backchannel.pending.Wait() }

func (p *Provider) backchannelToken(ctx context.Context, c *identity.Client, subject string) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	alg := c.IDTokenSignedResponseAlg
	if alg != AlgES256 {
		alg = AlgRS256
	}
	now := p.Now()
	claims := jwt.MapClaims{
		"iss":    p.opts.Issuer,
		"aud":    []string{c.ID},
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    base64.RawURLEncoding.EncodeToString(jti),
		"sub":    subject,
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}
	signer := &keySigner{keys: p.Keys, alg: alg}
	token, _, err := signer.Generate(ctx, claims, &jwt.Headers{Extra: map[string]interface{}{"typ": "logout+jwt"}})
	return token, err
}

func (b *backchannel) deliver(uri, token string) error {
	var last error
	for _, wait := range b.retries {
		time.Sleep(wait)
		resp, err := b.client.PostForm(uri, url.Values{"logout_token": {token}})
		if errors.Is(err, outbound.ErrForbidden) {
			return err // the policy will not change between tries
		}
		if err != nil {
			last = err
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close() // the answer is its status; the body was drained

		switch {
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
			return nil
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			// The client refused this token: retrying will not help.
			return fmt.Errorf("%s answered %d", strings.SplitN(uri, "?", 2)[0], resp.StatusCode)
		}
		last = fmt.Errorf("%s answered %d", strings.SplitN(uri, "?", 2)[0], resp.StatusCode)
	}
	if last == nil {
		last = errors.New("no attempt made")
	}
	return last
}
