package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params are argon2id cost parameters. The defaults follow OWASP's
// password storage cheat sheet (m=19 MiB, t=2, p=1).
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultArgon2Params is OWASP's recommended minimum configuration.
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

// ErrPasswordMismatch means the password does not match the stored hash.
var ErrPasswordMismatch = errors.New("password does not match")

const argonKeyLen = 32

// HashPassword returns an argon2id hash in the PHC string format. The
// password is NFC-normalised first (NIST SP 800-63B 5.1.1.2), so that an
// "ñ" typed composed on one keyboard and decomposed on another verifies.
func HashPassword(password string, p Argon2Params) (string, error) {
	password = norm.NFC.String(password)
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword checks password against a PHC argon2id hash in constant time.
func VerifyPassword(hash, password string) error {
	password = norm.NFC.String(password)
	p, salt, key, err := parsePHC(hash)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key))) // #nosec G115 -- parsePHC bounds the key at 1024 bytes
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

// dummyHash is verified against when a user does not exist, so that a
// sign-in for an unknown account costs the same as for a known one. It is
// computed on first use, not at package init: an argon2id hash allocates
// its whole memory cost (19 MiB), which every CLI command and the idle
// server would otherwise carry.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("portero-timing-equaliser", DefaultArgon2Params)
	return h
})

// VerifyDummyPassword spends the same time as VerifyPassword and always fails.
func VerifyDummyPassword(password string) error {
	_ = VerifyPassword(dummyHash(), password)
	return ErrPasswordMismatch
}

func parsePHC(hash string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("unsupported password hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, errors.New("malformed argon2 parameters")
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, errors.New("malformed argon2 salt")
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil || len(key) == 0 || len(key) > 1024 {
		return p, nil, nil, errors.New("malformed argon2 key")
	}
	return p, salt, key, nil
}

// PasswordHasher hashes new passwords with the configured cost and says
// when a stored hash was made with different parameters, so that sign-in
// can upgrade it while the password is at hand.
type PasswordHasher struct {
	Params Argon2Params
}

// Hash returns a PHC argon2id hash of password.
func (h *PasswordHasher) Hash(password string) (string, error) {
	return HashPassword(password, h.Params)
}

// Verify checks password against hash. rehash is true when the password
// matched but hash was made with other cost parameters.
func (h *PasswordHasher) Verify(hash, password string) (rehash bool, err error) {
	if err := VerifyPassword(hash, password); err != nil {
		return false, err
	}
	p, _, _, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	return p != h.Params, nil
}

// VerifyDummy spends the cost of one verification and always fails; it
// stands in for the check of an account that does not exist.
func (h *PasswordHasher) VerifyDummy(password string) {
	_ = VerifyDummyPassword(password)
}
