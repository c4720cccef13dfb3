// Package seal encrypts small secrets at rest (TOTP seeds) with AES-256-GCM
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
	for _, aead := range b.aeads {
		n := aead.NonceSize()
		if len(sealed) < n+aead.Overhead() {
			return nil, ErrOpen
		}
		if pt, err := aead.Open(nil, sealed[:n], sealed[n:], ad); err == nil {
			return pt, nil
		}
	}
	return nil, ErrOpen
}
