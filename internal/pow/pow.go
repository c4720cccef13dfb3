// Package pow is a hashcash-style proof of work for the sign-in form of
// a network under a credential-stuffing wave: the server hands out a
// signed challenge, the browser finds a nonce such that
// SHA-256(challenge ":" nonce) starts with Bits zero bits (about 2^Bits
// hashes: a second for a person, a real cost per guess for a bot), and the
// server checks it with one hash. Self-hosted: no third-party CAPTCHA
// sees the users. It follows the ALTCHA idea (a signed, expiring,
// stateless challenge) in the simplest form that a tested verifier can
// hold.
package pow

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of Verify.
var (
	ErrMalformed = errors.New("pow: malformed challenge")
	ErrSignature = errors.New("pow: challenge not issued here")
	ErrExpired   = errors.New("pow: challenge expired")
	ErrWork      = errors.New("pow: not enough work")
	ErrReplayed  = errors.New("pow: challenge already used")
)

// Issuer issues and verifies challenges under key (derived from the
// system secret). A solved challenge is accepted once per replica.
type Issuer struct {
	Key  []byte
	Bits int           // leading zero bits required
	TTL  time.Duration // how long a challenge may be solved and used
	Now  func() time.Time

	mu   sync.Mutex
	used map[string]time.Time // challenge → expiry, pruned as it goes
}

// Issue returns a new challenge: "v1.<salt>.<bits>.<expires>.<mac>".
func (i *Issuer) Issue() string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	body := fmt.Sprintf("v1.%s.%d.%d", base64.RawURLEncoding.EncodeToString(salt), i.Bits, i.Now().Add(i.TTL).Unix())
	return body + "." + i.mac(body)
}

func (i *Issuer) mac(body string) string {
	h := hmac.New(sha256.New, i.Key)
	h.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Verify checks that nonce solves challenge, that the challenge was
// issued here with at least the current difficulty and is not expired,
// and that it was not used before.
func (i *Issuer) Verify(challenge, nonce string) error {
	parts := strings.Split(challenge, ".")
	if len(parts) != 5 || parts[0] != "v1" || len(nonce) == 0 || len(nonce) > 32 {
		return ErrMalformed
	}
	body := strings.Join(parts[:4], ".")
	if !hmac.Equal([]byte(parts[4]), []byte(i.mac(body))) {
		return ErrSignature
	}
	need, err1 := strconv.Atoi(parts[2])
	expires, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || need < i.Bits {
		return ErrMalformed
	}
	now := i.Now()
	if now.Unix() > expires {
		return ErrExpired
	}
	if LeadingZeroBits(challenge, nonce) < need {
		return ErrWork
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.used == nil {
		i.used = map[string]time.Time{}
	}
	if _, seen := i.used[challenge]; seen {
		return ErrReplayed
	}
	for c, exp := range i.used {
		if now.After(exp) {
			delete(i.used, c)
		}
	}
	i.used[challenge] = time.Unix(expires, 0)
	return nil
}

// LeadingZeroBits counts the leading zero bits of SHA-256(challenge ":"
// nonce), as the browser computes it (static/pow.js).
func LeadingZeroBits(challenge, nonce string) int {
	sum := sha256.Sum256([]byte(challenge + ":" + nonce))
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// Solve finds a nonce for challenge (tests; scripted clients).
func Solve(challenge string, need int) string {
	for n := 0; ; n++ {
		nonce := strconv.Itoa(n)
		if LeadingZeroBits(challenge, nonce) >= need {
			return nonce
		}
	}
}
