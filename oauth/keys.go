package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/seal"
)

// Signing algorithms Portero issues tokens with. RS256 is mandatory for ID
// tokens (OIDC Discovery); ES256 is the default for access tokens.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

var supportedAlgs = []string{AlgRS256, AlgES256}

// Keyring holds the signing keys. The private halves live in the database
// encrypted with a key derived from the system secret; the decrypted keys
// are kept in memory and reloaded periodically so that a rotation made by
// another replica (or the CLI) is picked up.
type Keyring struct {
	store       identity.KeyStore
	box         *seal.Box // seals with the system secret, opens with previous ones too
	cachePeriod time.Duration
	now         func() time.Time

	mu       sync.RWMutex
	keys     []signingKey // by activation time, newest first
	byKID    map[string]*signingKey
	loadedAt time.Time
}

type signingKey struct {
	identity.SigningKey
	private *jose.JSONWebKey
	public  jose.JSONWebKey
}

// NewKeyring derives the at-rest encryption key from secrets (the current
// system secret first, then previous ones) and loads or creates the keys.
// cachePeriod is how long verifiers may cache the JWKS: a rotated key
// starts signing only after it.
func NewKeyring(ctx context.Context, store identity.KeyStore, secrets [][]byte, cachePeriod time.Duration, now func() time.Time) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("keyring: no system secret")
	}
	box, err := seal.New(seal.PurposeSigningKey, secrets...)
	if err != nil {
		return nil, err
	}
	k := &Keyring{store: store, box: box, cachePeriod: cachePeriod, now: now}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	// First start: one key per algorithm, active at once (nobody can have
	// cached a JWKS yet).
	for _, alg := range supportedAlgs {
		if k.hasKey(alg) {
			continue
		}
		if _, err := k.create(ctx, alg, k.now()); err != nil {
			return nil, err
		}
	}
	return k, k.Reload(ctx)
}

func (k *Keyring) hasKey(alg string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.ContainsFunc(k.keys, func(s signingKey) bool { return s.Algorithm == alg })
}

// Rotate adds a new key for every algorithm. The new keys are published in
// the JWKS at once and start signing after the JWKS cache period.
func (k *Keyring) Rotate(ctx context.Context) ([]identity.SigningKey, error) {
	var created []identity.SigningKey
	activeAt := k.now().Add(k.cachePeriod)
	for _, alg := range supportedAlgs {
		key, err := k.create(ctx, alg, activeAt)
		if err != nil {
			return nil, err
		}
		created = append(created, *key)
	}
	return created, k.Reload(ctx)
}

// AccessTokenAlg signs JWT access tokens (accessTokenSigner); the other
// algorithm only signs ID tokens and logout tokens.
const AccessTokenAlg = AlgES256

// Revoke takes a compromised key out of use at once: a replacement of the
// same algorithm is created that signs from now on (verifiers that cached
// the old JWKS fail to verify new tokens until their cache expires: in an
// emergency, better refused than forged), and the key is deleted, so it is
// neither published nor used again. It returns the revoked key and its
// replacement.
func (k *Keyring) Revoke(ctx context.Context, kid string) (revoked, replacement *identity.SigningKey, err error) {
	stored, err := k.store.SigningKeys(ctx)
	if err != nil {
		return nil, nil, err
	}
	i := slices.IndexFunc(stored, func(s identity.SigningKey) bool { return s.ID == kid })
	if i < 0 {
		return nil, nil, fmt.Errorf("signing key %q: %w", kid, identity.ErrNotFound)
	}
	revoked = &stored[i]
	if replacement, err = k.create(ctx, revoked.Algorithm, k.now()); err != nil {
		return nil, nil, err
	}
	if err := k.store.DeleteSigningKey(ctx, kid); err != nil {
		return nil, nil, err
	}
	return revoked, replacement, k.Reload(ctx)
}

func (k *Keyring) create(ctx context.Context, alg string, activeAt time.Time) (*identity.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("keyring: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	kidBytes := make([]byte, 12)
	if _, err := rand.Read(kidBytes); err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(kidBytes)
	jwk := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: alg, Use: "sig"}
	privJSON, err := jwk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	pubJSON, err := jwk.Public().MarshalJSON()
	if err != nil {
		return nil, err
	}
	sealed, err := k.box.Seal(privJSON, []byte(kid))
	if err != nil {
		return nil, err
	}
	now := k.now().UTC()
	key := &identity.SigningKey{
		ID: kid, Algorithm: alg, Use: "sig",
		PublicJWK: pubJSON, EncryptedPrivateJWK: sealed,
		CreatedAt: now, ActiveAt: activeAt.UTC(),
	}
	if err := k.store.CreateSigningKey(ctx, key); err != nil {
		return nil, err
	}
	return key, nil
}

func (k *Keyring) open(kid string, sealed []byte) ([]byte, error) {
	plain, err := k.box.Open(sealed, []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("keyring: key %s cannot be decrypted with the configured system secrets", kid)
	}
	return plain, nil
}

// Reload reads the keys from the store.
func (k *Keyring) Reload(ctx context.Context) error {
	stored, err := k.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	keys := make([]signingKey, 0, len(stored))
	for _, s := range stored {
		plain, err := k.open(s.ID, s.EncryptedPrivateJWK)
		if err != nil {
			return err
		}
		var priv jose.JSONWebKey
		if err := priv.UnmarshalJSON(plain); err != nil {
			return fmt.Errorf("keyring: key %s: %w", s.ID, err)
		}
		keys = append(keys, signingKey{SigningKey: s, private: &priv, public: priv.Public()})
	}
	// Order by activation, newest first: Active and the JWKS walk this order.
	slices.SortStableFunc(keys, func(a, b signingKey) int {
		if c := b.ActiveAt.Compare(a.ActiveAt); c != 0 {
			return c
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	byKID := make(map[string]*signingKey, len(keys))
	for i := range keys {
		byKID[keys[i].ID] = &keys[i]
	}
	k.mu.Lock()
	k.keys, k.byKID, k.loadedAt = keys, byKID, k.now()
	k.mu.Unlock()
	return nil
}

// Run reloads the keys every interval until ctx ends, so rotations made
// elsewhere reach this replica well within the JWKS cache period.
func (k *Keyring) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Reload(ctx); err != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

// ErrNoSigningKey means no key of the algorithm is active.
var ErrNoSigningKey = errors.New("no active signing key")

// Active returns the newest key of alg that has reached its activation time.
func (k *Keyring) Active(alg string) (*jose.JSONWebKey, error) {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	for i := range k.keys {
		if k.keys[i].Algorithm == alg && !k.keys[i].ActiveAt.After(now) {
			return k.keys[i].private, nil
		}
	}
	return nil, fmt.Errorf("%w for %s", ErrNoSigningKey, alg)
}

// PublicKey returns the public key with the given kid, if it is published.
func (k *Keyring) PublicKey(kid string) (*jose.JSONWebKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.byKID[kid]
	if !ok || !k.publishedLocked(key) {
		return nil, false
	}
	pub := key.public
	return &pub, true
}

// publishedLocked reports whether key belongs in the JWKS: keys waiting
// for activation, the active key and the one it replaced, per algorithm.
func (k *Keyring) publishedLocked(key *signingKey) bool {
	now := k.now()
	seenActive := 0
	for i := range k.keys {
		c := &k.keys[i]
		if c.Algorithm != key.Algorithm {
			continue
		}
		pending := c.ActiveAt.After(now)
		if !pending {
			seenActive++
		}
		if c.ID == key.ID {
			return pending || seenActive <= 2
		}
	}
	return false
}

// JWKS returns the published public keys.
func (k *Keyring) JWKS() jose.JSONWebKeySet {
	k.mu.RLock()
	defer k.mu.RUnlock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for i := range k.keys {
		if k.publishedLocked(&k.keys[i]) {
			set.Keys = append(set.Keys, k.keys[i].public)
		}
	}
	return set
}

// Keys lists the stored keys (no private material), newest first.
func (k *Keyring) Keys() []identity.SigningKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]identity.SigningKey, len(k.keys))
	for i, key := range k.keys {
		out[i] = key.SigningKey
		out[i].EncryptedPrivateJWK = nil
	}
	return out
}

// MarshalJWKS is the JWKS document body.
func (k *Keyring) MarshalJWKS() ([]byte, error) {
	set := k.JWKS()
	return json.Marshal(set)
}
