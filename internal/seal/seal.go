// Package seal encrypts small secrets at rest (TOTP seeds, signing keys) with AES-256-GCM
// under keys derived from the system secret; during a secret rotation the
// previous secrets still open what they sealed.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// Purposes of the boxes built from the system secret. A value sealed for
// one purpose never opens under another.
const (
	PurposeTOTP       = "totp secret"
	PurposeSigningKey = "signing-key encryption"
	PurposeRefresh    = "refresh replay"
)

// Box seals with the first key and opens with any.
type Box struct {
	aeads []cipher.AEAD
}

// New derives one key per secret (current first) for purpose, so that keys
// for different uses never coincide.
func New(purpose string, secrets ...[]byte) (*Box, error) {
	if len(secrets) == 0 {
		return nil, errors.New("seal: no secret")
	}
	b := &Box{}
	for _, s := range secrets {
		key, err := hkdf.Key(sha256.New, s, nil, "portero "+purpose+" v1", 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.aeads = append(b.aeads, aead)
	}
	return b, nil
}

// Seal encrypts plaintext bound to ad (e.g. the user id, so a sealed value
// copied onto another row does not open).
func (b *Box) Seal(plaintext, ad []byte) ([]byte, error) {
	aead := b.aeads[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, ad), nil
}

// ErrOpen means no key opened the value (tampered, or sealed with a secret
// no longer configured).
var ErrOpen = errors.New("seal: cannot open value")

// Open decrypts what Seal produced with the same ad.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	pt, _, err := b.open(sealed, ad)
	return pt, err
}

// Reseal opens sealed and, when only a previous secret's key opens it,
// seals it again under the current one. changed says whether the value
// depended on a previous secret; an unchanged value is returned as is.
func (b *Box) Reseal(sealed, ad []byte) (out []byte, changed bool, err error) {
	pt, key, err := b.open(sealed, ad)
	if err != nil {
		return nil, false, err
	}
	if key == 0 {
		return sealed, false, nil
	}
	if out, err = b.Seal(pt, ad); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// open returns the plaintext and the index of the secret whose key opened it.
func (b *Box) open(sealed, ad []byte) ([]byte, int, error) {
	for i, aead := range b.aeads {
		n := aead.NonceSize()
		if len(sealed) < n+aead.Overhead() {
			return nil, 0, ErrOpen
		}
		if pt, err := aead.Open(nil, sealed[:n], sealed[n:], ad); err == nil {
			return pt, i, nil
		}
	}
	return nil, 0, ErrOpen
}
