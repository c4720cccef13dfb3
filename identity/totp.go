package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238 defaults, which every authenticator app
// supports (SHA-1, 6 digits, 30 s).
const (
	totpPeriod = 30
	// totpSkew accepts the previous and the next step too (clock drift).
	totpSkew = 1
)

// TOTPEnrollment is a new secret to show the user.
type TOTPEnrollment struct {
	Secret string // base32, no padding
	URL    string // otpauth:// URL, what the QR code holds
	QRPNG  []byte
}

// NewTOTP generates a 160-bit secret for account (shown in the app) at
// issuer, with the QR code as a PNG.
func NewTOTP(issuer, account string) (*TOTPEnrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		SecretSize:  20,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return &TOTPEnrollment{Secret: key.Secret(), URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// TOTPStep checks code against secret at time now and returns the time
// step it matched, which the caller must record as used (a code is good
// once). ok is false for a wrong or malformed code.
func TOTPStep(secret, code string, now time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	current := now.Unix() / totpPeriod
	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	// Every candidate is checked, so the time taken does not tell which
	// step matched.
	var matched int64 = -1
	for s := current - totpSkew; s <= current+totpSkew; s++ {
		if s < 0 {
			continue
		}
		if good, err := hotp.ValidateCustom(code, uint64(s), secret, opts); err == nil && good && matched < 0 {
			matched = s
		}
	}
	return matched, matched >= 0
}

// TOTPCode is the code for secret at t (for tests and tools).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// recoveryAlphabet is Crockford-style base32 without padding, lower-cased
// for display; input is normalised (case, dashes, spaces, confusables).
var recoveryEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewRecoveryCodes returns RecoveryCodeCount codes of 10 characters (50
// bits each), formatted xxxxx-xxxxx.
func NewRecoveryCodes() ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, 7)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		c := recoveryEncoding.EncodeToString(b)[:10]
		codes[i] = c[:5] + "-" + c[5:]
	}
	return codes, nil
}

// ErrMalformedRecoveryCode is a code that cannot be one of ours.
var ErrMalformedRecoveryCode = errors.New("malformed recovery code")

// NormalizeRecoveryCode accepts what a user types: any case, with or
// without the dash or spaces, and the letters o, i, l for 0, 1, 1.
func NormalizeRecoveryCode(code string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch r {
		case '-', ' ':
			continue
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		}
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", r) {
			return "", ErrMalformedRecoveryCode
		}
		b.WriteRune(r)
	}
	if b.Len() != 10 {
		return "", ErrMalformedRecoveryCode
	}
	return b.String(), nil
}

// HashRecoveryCode is the stored digest: HMAC-SHA-256 under a key derived
// from the system secret. 50 bits would fall to an offline search of plain
// SHA-256 digests; the key keeps a leaked table useless.
func HashRecoveryCode(key []byte, normalized string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(normalized))
	return hex.EncodeToString(m.Sum(nil))
}
