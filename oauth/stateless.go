package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/portero-id/portero/identity"
)

// A stateless access token is a JWT with no row: issuing it writes
// nothing, and validating it reads nothing from the database. What the row
// gave is kept another way:
//
//   - validity: the signature (by a key still in the keyring), the issuer
//     and the expiry;
//   - revocation: the revocation set (RevocationSet), rules every replica
//     holds in memory and the database announces when they change;
//   - a disabled or deleted client: the client cache, which the same
//     announcements invalidate.
//
// The token says it is stateless in a signed claim, so nobody can turn a
// stored token into one. fosite finds tokens by a signature string; a
// stateless token's is the token itself behind statelessSignature, so the
// storage can validate it without a row.
const (
	statelessClaim     = "stateless"
	statelessSignature = "stateless:"
	// statelessRequestID prefixes the request id of a stateless token,
	// followed by its expiry and jti, which its revocation needs.
	statelessRequestID = "stateless:"
)

// isStateless reports whether a JWT claims to be stateless, without
// verifying it: it only decides where to look. The storage verifies.
func isStateless(token string) bool {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || last <= first {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(token[first+1 : last])
	if err != nil {
		return false
	}
	var c struct {
		Stateless bool `json:"stateless"`
	}
	return json.Unmarshal(payload, &c) == nil && c.Stateless
}

// verifiedToken is what a verified stateless token says.
type verifiedToken struct {
	kid, jti, subject, clientID string
	issuedAt, expiresAt         time.Time
	scopes, audience            []string
	roles, permissions          []string
}

// statelessTokens validates stateless access tokens.
type statelessTokens struct {
	issuer      string
	signer      *keySigner
	revocations *RevocationSet

	// verified remembers tokens whose signature was checked, so that a
	// token introspected again costs a map look-up, not an ES256
	// verification. Bounded; an entry is used only while its key is still
	// in the keyring, so a revoked key takes its tokens along at once.
	mu       sync.RWMutex
	verified map[string]*verifiedToken
}

// maxVerified bounds the verified-token memo (about 1 kB an entry).
const maxVerified = 4096

func (t *statelessTokens) verify(ctx context.Context, token string) (*verifiedToken, error) {
	t.mu.RLock()
	v, ok := t.verified[token]
	t.mu.RUnlock()
	if ok {
		if _, live := t.signer.keys.PublicKey(v.kid); live {
			return v, nil
		}
	}
	parsed, err := t.signer.Decode(ctx, token)
	if err != nil || !parsed.Valid() {
		return nil, fosite.ErrNotFound
	}
	if v, err = readClaims(parsed); err != nil || !parsed.Claims.VerifyIssuer(t.issuer, true) {
		return nil, fosite.ErrNotFound
	}
	t.mu.Lock()
	if t.verified == nil || len(t.verified) >= maxVerified {
		t.verified = make(map[string]*verifiedToken, maxVerified)
	}
	t.verified[token] = v
	t.mu.Unlock()
	return v, nil
}

func readClaims(parsed *jwt.Token) (*verifiedToken, error) {
	c := parsed.Claims
	if stateless, _ := c[statelessClaim].(bool); !stateless {
		return nil, errors.New("not a stateless token")
	}
	v := &verifiedToken{}
	v.kid, _ = parsed.Header["kid"].(string)
	v.jti, _ = c["jti"].(string)
	v.subject, _ = c["sub"].(string)
	v.clientID, _ = c["client_id"].(string)
	iat, okIat := unixClaim(c["iat"])
	exp, okExp := unixClaim(c["exp"])
	if v.jti == "" || v.clientID == "" || !okIat || !okExp {
		return nil, errors.New("a stateless token needs jti, client_id, iat and exp")
	}
	v.issuedAt, v.expiresAt = time.Unix(iat, 0).UTC(), time.Unix(exp, 0).UTC()
	if scope, ok := c["scope"].(string); ok {
		v.scopes = strings.Fields(scope)
	}
	v.audience = stringList(c["aud"])
	v.roles = stringList(c["roles"])
	v.permissions = stringList(c["permissions"])
	return v, nil
}

// unixClaim reads a NumericDate in whichever type the JSON decoder gave.
func unixClaim(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		return int64(x), true
	case int64:
		return x, true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// awaitCut holds a new token for a client back until the next second
// when a revocation rule cut this very second: iat has whole seconds, so
// a token issued in the second of the cut would be taken for one issued
// before it. At most once a second, and only right after a revocation.
func (t *statelessTokens) awaitCut(ctx context.Context, clientID string) error {
	for range 2 {
		now := time.Now()
		revoked, err := t.revocations.Revoked(ctx, "", clientID, clientID, now.Truncate(time.Second))
		if err != nil {
			return storeErr(ctx, err)
		}
		if !revoked {
			return nil
		}
		select {
		case <-time.After(now.Truncate(time.Second).Add(time.Second).Sub(now)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// requester rebuilds the request a stateless token stands for, or
// fosite.ErrNotFound when it is forged, expired, revoked or its client is
// gone; a revocation set that cannot be read is an outage.
func (s *Storage) statelessRequester(ctx context.Context, token string) (fosite.Requester, error) {
	t := s.Stateless
	if t == nil {
		return nil, fosite.ErrNotFound
	}
	v, err := t.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	revoked, err := t.revocations.Revoked(ctx, v.jti, v.subject, v.clientID, v.issuedAt)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	if revoked {
		return nil, fosite.ErrNotFound
	}
	client, err := s.Clients.Get(ctx, v.clientID)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	sess := NewSession()
	sess.Subject, sess.ClientID, sess.Stateless = v.subject, v.clientID, true
	sess.Roles, sess.Permissions = v.roles, v.permissions
	sess.SetExpiresAt(fosite.AccessToken, v.expiresAt)
	return &fosite.Request{
		ID:              statelessRequestID + strconv.FormatInt(v.expiresAt.Unix(), 10) + ":" + v.jti,
		RequestedAt:     v.issuedAt,
		Client:          client,
		RequestedScope:  v.scopes,
		GrantedScope:    v.scopes,
		GrantedAudience: v.audience,
		Form:            map[string][]string{},
		Session:         sess,
	}, nil
}

// revokeStateless adds the rule that revokes one stateless token, named
// by the request id statelessRequester gave it.
func (s *Storage) revokeStateless(ctx context.Context, requestID string) error {
	exp, jti, ok := strings.Cut(strings.TrimPrefix(requestID, statelessRequestID), ":")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || jti == "" {
		return fmt.Errorf("oauth storage: malformed stateless request id %q", requestID)
	}
	err = s.Store.AddTokenRevocation(ctx, &identity.TokenRevocation{JTI: jti, ExpiresAt: time.Unix(unix, 0).UTC()})
	return storeErr(ctx, err)
}

// RevocationSet holds the revocation rules in memory. A check reloads
// first when the rules may have changed: when this process wrote one
// (identity.RevocationStore.RevocationsWritten), or when Refresh or Forget
// were called (the database announced a rule, or announcements stopped
// for a while and some may have been missed). Otherwise a check reads no
// database at all.
type RevocationSet struct {
	Store identity.RevocationStore
	Now   func() time.Time

	mu sync.RWMutex
	// jtis maps a revoked token's jti to its expiry (Unix seconds). UUID
	// jtis, which Portero issues, are kept as 16 bytes: a million revoked
	// tokens fit in tens of megabytes (TestRevocationSetMemory).
	jtis      map[[16]byte]int64
	otherJTIs map[string]int64
	// cuts are the rules by subject, client or both, filed under the key a
	// token is looked up by (cutKey): a check reads the few rules about
	// its subject and its client, not every rule of the last day, which
	// every password change and sign-out-everywhere adds to.
	cuts    map[string][]identity.TokenRevocation
	last    int64  // the highest Seq loaded
	written uint64 // RevocationsWritten at the last load
	loaded  bool
	pruneAt time.Time

	loading sync.Mutex
}

// Revoked reports whether a rule revokes the token with these claims.
func (s *RevocationSet) Revoked(ctx context.Context, jti, subject, clientID string, issuedAt time.Time) (bool, error) {
	s.mu.RLock()
	fresh := s.loaded && s.written == s.Store.RevocationsWritten()
	s.mu.RUnlock()
	if !fresh {
		if err := s.Refresh(ctx); err != nil {
			return false, err
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if id, ok := uuidBytes(jti); ok {
		if _, hit := s.jtis[id]; hit {
			return true, nil
		}
	} else if _, hit := s.otherJTIs[jti]; hit {
		return true, nil
	}
	for _, key := range [...]string{cutKey(subject, ""), cutKey("", clientID), cutKey("", "")} {
		for i := range s.cuts[key] {
			if s.cuts[key][i].Selects(jti, subject, clientID, issuedAt) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Refresh loads the rules added since the last load (all of them the
// first time), and forgets the expired ones now and then.
func (s *RevocationSet) Refresh(ctx context.Context) error {
	s.loading.Lock()
	defer s.loading.Unlock()
	written := s.Store.RevocationsWritten()
	s.mu.RLock()
	after := s.last
	if !s.loaded {
		after = 0
	}
	s.mu.RUnlock()
	now := s.Now()
	rules, err := s.Store.TokenRevocations(ctx, after, now)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		s.jtis, s.otherJTIs, s.cuts, s.last = map[[16]byte]int64{}, map[string]int64{}, map[string][]identity.TokenRevocation{}, 0
	}
	for _, r := range rules {
		s.add(r)
	}
	s.loaded, s.written = true, written
	if now.After(s.pruneAt) {
		s.prune(now)
		s.pruneAt = now.Add(time.Minute)
	}
	return nil
}

func (s *RevocationSet) add(r identity.TokenRevocation) {
	s.last = max(s.last, r.Seq)
	switch id, ok := uuidBytes(r.JTI); {
	case r.JTI == "":
		key := cutKey(r.Subject, r.ClientID)
		s.cuts[key] = append(s.cuts[key], r)
	case ok:
		s.jtis[id] = r.ExpiresAt.Unix()
	default:
		s.otherJTIs[r.JTI] = r.ExpiresAt.Unix()
	}
}

// prune drops what has expired: no token it revokes is valid any more.
func (s *RevocationSet) prune(now time.Time) {
	cut := now.Unix()
	for id, exp := range s.jtis {
		if exp < cut {
			delete(s.jtis, id)
		}
	}
	for jti, exp := range s.otherJTIs {
		if exp < cut {
			delete(s.otherJTIs, jti)
		}
	}
	for key, rules := range s.cuts {
		kept := rules[:0]
		for _, r := range rules {
			if r.ExpiresAt.After(now) {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			delete(s.cuts, key)
		} else {
			s.cuts[key] = kept
		}
	}
}

// Forget makes the next check reload every rule: after a gap in the
// database's announcements, one may have been missed.
func (s *RevocationSet) Forget() {
	s.mu.Lock()
	s.loaded = false
	s.mu.Unlock()
}

// Len is how many tokens and rules the set holds.
func (s *RevocationSet) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := len(s.jtis) + len(s.otherJTIs)
	for _, rules := range s.cuts {
		n += len(rules)
	}
	return n
}

// cutKey files a rule by its subject when it names one (it can only
// select that subject's tokens), else by its client, else under "" (every
// token).
func cutKey(subject, clientID string) string {
	switch {
	case subject != "":
		return "s:" + subject
	case clientID != "":
		return "c:" + clientID
	}
	return ""
}

// uuidBytes parses a jti in the canonical UUID form (the only one
// fosite issues), so that one jti has one key.
func uuidBytes(s string) ([16]byte, bool) {
	if len(s) != 36 {
		return [16]byte{}, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}
