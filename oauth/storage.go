package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/storage"

	"github.com/portero-id/portero/identity"
)

// Storage adapts identity.Store to the storage interfaces fosite's handlers
// use. compose.Compose only checks these at run time, so check them here.
var (
	_ fosite.Storage                     = (*Storage)(nil)
	_ oauth2.CoreStorage                 = (*Storage)(nil)
	_ oauth2.TokenRevocationStorage      = (*Storage)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Storage)(nil)
	_ pkce.PKCERequestStorage            = (*Storage)(nil)
	_ fosite.ClientManager               = (*Storage)(nil)
	_ storage.Transactional              = (*Storage)(nil)
)

// Storage is the fosite storage adapter.
type Storage struct {
	Store   identity.Store
	Clients *ClientCache
	// RefreshGrace is how long a rotated refresh token still works, so that
	// a client retrying a refresh on a flaky network is not taken for a thief.
	RefreshGrace time.Duration
	Now          func() time.Time
	// Stateless validates access tokens that have no row; nil when the
	// provider issues none (every token is stored).
	Stateless *statelessTokens
}

// formKeysNotStored are request parameters that carry credentials or
// single-use values; they never reach the database.
var formKeysNotStored = []string{"client_secret", "client_assertion", "code", "code_verifier", "refresh_token", "password", "token"}

type storedRequest struct {
	ID                string     `json:"id"`
	RequestedAt       time.Time  `json:"requested_at"`
	RequestedScope    []string   `json:"requested_scope,omitempty"`
	GrantedScope      []string   `json:"granted_scope,omitempty"`
	RequestedAudience []string   `json:"requested_audience,omitempty"`
	GrantedAudience   []string   `json:"granted_audience,omitempty"`
	Form              url.Values `json:"form,omitempty"`
	// Session is encoded in place and decoded straight into the session
	// fosite hydrates: one JSON pass each way (a RawMessage cost a second).
	Session *Session `json:"session"`
}

func (s *Storage) create(ctx context.Context, kind identity.GrantKind, signature string, req fosite.Requester, expiry fosite.TokenType) error {
	sess, ok := req.GetSession().(*Session)
	if !ok {
		return fmt.Errorf("oauth storage: unexpected session type %T", req.GetSession())
	}
	form := url.Values{}
	for k, v := range req.GetRequestForm() {
		form[k] = v
	}
	for _, k := range formKeysNotStored {
		delete(form, k)
	}
	data, err := json.Marshal(storedRequest{
		ID:                req.GetID(),
		RequestedAt:       req.GetRequestedAt(),
		RequestedScope:    req.GetRequestedScopes(),
		GrantedScope:      req.GetGrantedScopes(),
		RequestedAudience: req.GetRequestedAudience(),
		GrantedAudience:   req.GetGrantedAudience(),
		Form:              form,
		Session:           sess,
	})
	if err != nil {
		return err
	}
	expiresAt := sess.GetExpiresAt(expiry)
	if expiresAt.IsZero() {
		// A refresh token without a lifespan still needs a prune horizon.
		expiresAt = s.Now().Add(10 * 365 * 24 * time.Hour)
	}
	return storeErr(ctx, s.Store.CreateGrant(ctx, &identity.Grant{
		Kind:        kind,
		Signature:   signature,
		RequestID:   req.GetID(),
		ClientID:    req.GetClient().GetID(),
		Subject:     sess.GetSubject(),
		Active:      true,
		RequestedAt: req.GetRequestedAt(),
		ExpiresAt:   expiresAt,
		Data:        data,
	}))
}

// load returns the grant and its request, or fosite.ErrNotFound. When into
// is a *Session it is hydrated in place: fosite validates an authorization
// code against the session it passed in (flow_authorize_code_token.go), so
// an unhydrated session would skip the code's expiry check.
func (s *Storage) load(ctx context.Context, kind identity.GrantKind, signature string, into fosite.Session) (*identity.Grant, *fosite.Request, error) {
	g, err := s.Store.GrantBySignature(ctx, kind, signature)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, nil, storeErr(ctx, err)
	}
	req, err := s.decode(ctx, g, into)
	if err != nil {
		return nil, nil, err
	}
	return g, req, nil
}

func (s *Storage) decode(ctx context.Context, g *identity.Grant, into fosite.Session) (*fosite.Request, error) {
	// Unmarshal merges into a hydrated session: fosite calls this twice in
	// one code exchange and sets the access-token expiry in between.
	sess, ok := into.(*Session)
	if !ok || sess == nil {
		sess = NewSession()
	}
	sr := storedRequest{Session: sess}
	if err := json.Unmarshal(g.Data, &sr); err != nil {
		return nil, fmt.Errorf("oauth storage: grant data: %w", err)
	}
	if sr.Session != sess {
		// "session": null in the data would have replaced the pointer.
		return nil, errors.New("oauth storage: grant without a session")
	}
	client, err := s.Clients.Get(ctx, g.ClientID)
	if errors.Is(err, identity.ErrNotFound) {
		// The client was deleted or disabled: its grants no longer
		// validate (a disabled client's come back when it is enabled).
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	if sr.Form == nil {
		sr.Form = url.Values{}
	}
	return &fosite.Request{
		ID:                sr.ID,
		RequestedAt:       sr.RequestedAt,
		Client:            client,
		RequestedScope:    sr.RequestedScope,
		GrantedScope:      sr.GrantedScope,
		RequestedAudience: sr.RequestedAudience,
		GrantedAudience:   sr.GrantedAudience,
		Form:              sr.Form,
		Session:           sess,
	}, nil
}

func (s *Storage) get(ctx context.Context, kind identity.GrantKind, signature string, into fosite.Session) (fosite.Requester, error) {
	g, req, err := s.load(ctx, kind, signature, into)
	if err != nil {
		return nil, err
	}
	if !g.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

func (s *Storage) delete(ctx context.Context, kind identity.GrantKind, signature string) error {
	err := s.Store.DeleteGrant(ctx, kind, signature)
	if errors.Is(err, identity.ErrNotFound) {
		return fosite.ErrNotFound
	}
	return storeErr(ctx, err)
}

// --- fosite.ClientManager ---

func (s *Storage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.Clients.Get(ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	return c, nil
}

func (s *Storage) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	used, err := s.Store.JTIUsed(ctx, jti)
	if err != nil {
		return storeErr(ctx, err)
	}
	if used {
		return fosite.ErrJTIKnown
	}
	return nil
}

func (s *Storage) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.Store.UseJTI(ctx, jti, exp)
	if errors.Is(err, identity.ErrConflict) {
		return fosite.ErrJTIKnown
	}
	return storeErr(ctx, err)
}

// --- authorization codes ---

func (s *Storage) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.create(ctx, identity.GrantAuthorizeCode, code, req, fosite.AuthorizeCode)
}

func (s *Storage) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.get(ctx, identity.GrantAuthorizeCode, code, session)
	if errors.Is(err, fosite.ErrInactiveToken) {
		// fosite revokes the tokens issued from the code when it sees this.
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, err
}

func (s *Storage) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	err := s.Store.DeactivateGrant(ctx, identity.GrantAuthorizeCode, code)
	if errors.Is(err, identity.ErrNotFound) {
		return fosite.ErrNotFound
	}
	return storeErr(ctx, err)
}

// --- PKCE and OIDC records, keyed by the code's signature ---

func (s *Storage) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.create(ctx, identity.GrantPKCE, signature, req, fosite.AuthorizeCode)
}

func (s *Storage) GetPKCERequestSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, identity.GrantPKCE, signature, nil)
}

func (s *Storage) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.delete(ctx, identity.GrantPKCE, signature)
}

func (s *Storage) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.create(ctx, identity.GrantOIDC, code, req, fosite.AuthorizeCode)
}

func (s *Storage) GetOpenIDConnectSession(ctx context.Context, code string, _ fosite.Requester) (fosite.Requester, error) {
	return s.get(ctx, identity.GrantOIDC, code, nil)
}

func (s *Storage) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.delete(ctx, identity.GrantOIDC, code)
}

// --- access and refresh tokens ---

// CreateAccessTokenSession stores the token's request, unless the token
// is stateless: that is the write it saves.
func (s *Storage) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	if strings.HasPrefix(signature, statelessSignature) {
		return nil
	}
	return s.create(ctx, identity.GrantAccessToken, signature, req, fosite.AccessToken)
}

func (s *Storage) GetAccessTokenSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	if token, ok := strings.CutPrefix(signature, statelessSignature); ok {
		return s.statelessRequester(ctx, token)
	}
	return s.get(ctx, identity.GrantAccessToken, signature, nil)
}

func (s *Storage) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.delete(ctx, identity.GrantAccessToken, signature)
}

func (s *Storage) CreateRefreshTokenSession(ctx context.Context, signature, _ string, req fosite.Requester) error {
	return s.create(ctx, identity.GrantRefreshToken, signature, req, fosite.RefreshToken)
}

// GetRefreshTokenSession returns fosite.ErrInactiveToken (with the request,
// so fosite can revoke the family) for a revoked token and for a rotated one
// presented after the grace window: that is refresh-token reuse.
func (s *Storage) GetRefreshTokenSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	g, req, err := s.load(ctx, identity.GrantRefreshToken, signature, nil)
	if err != nil {
		return nil, err
	}
	if !g.Active {
		return req, fosite.ErrInactiveToken
	}
	if g.RotatedAt != nil && s.Now().Sub(*g.RotatedAt) > s.reuseWindow() {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession deactivates rather than deletes: fosite calls it
// on reuse, and the row is the evidence.
func (s *Storage) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	err := s.Store.DeactivateGrant(ctx, identity.GrantRefreshToken, signature)
	if errors.Is(err, identity.ErrNotFound) {
		return fosite.ErrNotFound
	}
	return storeErr(ctx, err)
}

// RotateRefreshToken marks the presented refresh token as used. The first
// exchange also ends the family's earlier access tokens; a duplicate within
// the grace window changes nothing, so it cannot undo the tokens the first
// exchange issued.
func (s *Storage) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	first, err := s.Store.MarkRotated(ctx, signature, s.Now())
	if err != nil {
		return storeErr(ctx, err)
	}
	if !first {
		// Another exchange rotated it: this one issues nothing (its
		// transaction rolls back) and gets the winner's answer or
		// invalid_grant (refresh.go).
		return errRotationRace
	}
	_, err = s.Store.DeactivateFamily(ctx, identity.GrantAccessToken, requestID)
	return storeErr(ctx, err)
}

func (s *Storage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if strings.HasPrefix(requestID, statelessRequestID) {
		return nil // a client-credentials token has no refresh token
	}
	_, err := s.Store.DeactivateFamily(ctx, identity.GrantRefreshToken, requestID)
	return storeErr(ctx, err)
}

func (s *Storage) RevokeAccessToken(ctx context.Context, requestID string) error {
	if strings.HasPrefix(requestID, statelessRequestID) {
		return s.revokeStateless(ctx, requestID)
	}
	_, err := s.Store.DeactivateFamily(ctx, identity.GrantAccessToken, requestID)
	return storeErr(ctx, err)
}

// --- storage.Transactional ---

func (s *Storage) BeginTX(ctx context.Context) (context.Context, error) {
	tx, err := s.Store.BeginTx(ctx)
	return tx, storeErr(ctx, err)
}
func (s *Storage) Commit(ctx context.Context) error   { return storeErr(ctx, s.Store.CommitTx(ctx)) }
func (s *Storage) Rollback(ctx context.Context) error { return s.Store.RollbackTx(ctx) }

// ClientCache keeps client records in memory for a short time: every token
// and introspection request authenticates a client, and the record rarely
// changes. Changes made through this process invalidate at once; other
// replicas see them within the TTL.
type ClientCache struct {
	Store identity.ClientStore
	TTL   time.Duration
	Now   func() time.Time

	mu      sync.RWMutex
	entries map[string]clientEntry
}

// staleClientLimit bounds how long past its TTL a cached client is still
// served while the database is unreachable.
const staleClientLimit = 5 * time.Minute

type clientEntry struct {
	client  *Client
	expires time.Time
}

// Get returns the client, from the cache when fresh; a disabled client is
// identity.ErrNotFound.
func (c *ClientCache) Get(ctx context.Context, id string) (*Client, error) {
	now := c.Now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.client, nil
	}
	rec, err := c.Store.ClientByID(ctx, id)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		if ok && now.Before(e.expires.Add(staleClientLimit)) {
			// The database is unreachable: a client known a moment ago
			// stays known for a bounded while, rather than every valid
			// client being told invalid_client. The failure is absorbed,
			// so it is not noted on the request.
			return e.client, nil
		}
		return nil, noteOutage(ctx, err)
	}
	if err != nil {
		return nil, err
	}
	if rec.Disabled {
		// A disabled client is no client, for every use of the cache: it
		// cannot authenticate, start a flow, validate its tokens or
		// receive a post-logout redirect, until it is enabled again.
		return nil, fmt.Errorf("client %q is disabled: %w", id, identity.ErrNotFound)
	}
	client, err := newClient(rec)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]clientEntry{}
	}
	if len(c.entries) > 10000 {
		clear(c.entries) // bound memory against a flood of client ids
	}
	c.entries[id] = clientEntry{client: client, expires: now.Add(c.TTL)}
	c.mu.Unlock()
	return client, nil
}

// Invalidate drops a client from the cache.
func (c *ClientCache) Invalidate(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// InvalidateAll empties the cache.
func (c *ClientCache) InvalidateAll() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
