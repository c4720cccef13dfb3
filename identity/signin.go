package identity

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// GuardDecision is a brute-force guard's answer to one attempt.
type GuardDecision struct {
	Allowed    bool          // the attempt may proceed now
	RetryAfter time.Duration // when !Allowed (or after a Fail): how long until the next attempt is allowed
	Locked     bool          // the key is locked out (not merely backing off)
	JustLocked bool          // set by Fail only: this very failure triggered the lockout
	Failures   int           // current failure count of the key that decided
}

// Guard meters guesses per account and per address: back-off, then
// lockout. An error means the counters are unreadable; the sign-in then
// fails closed, or a guess would go unmetered.
type Guard interface {
	Check(ctx context.Context, account, ip string) (GuardDecision, error)
	Fail(ctx context.Context, account, ip string) (GuardDecision, error)
	Success(ctx context.Context, account, ip string) error
}

// The guard's account keys: one budget per account whichever login name
// the guesses use, one per unknown login name (so unknown names are
// metered like known ones), and one for second factors.
func PasswordGuardKey(userID string) string { return "login:user:" + userID }
func UnknownLoginGuardKey(login string) string {
	return "login:name:" + strings.ToLower(strings.TrimSpace(login))
}
func MFAGuardKey(userID string) string { return "mfa:" + userID }

// Opener opens what a seal closed (TOTP seeds), bound to additional data.
type Opener interface {
	Open(sealed, additionalData []byte) ([]byte, error)
}

// SignInStore is the part of the Store a sign-in reads and spends.
type SignInStore interface {
	UserByID(ctx context.Context, id string) (*User, error)
	UserByLogin(ctx context.Context, login string) (*User, error)
	UpdatePasswordHash(ctx context.Context, userID, hash string) error
	SecondFactors(ctx context.Context, userID string) (SecondFactors, error)
	WebAuthnCredentialsByUser(ctx context.Context, userID string) ([]WebAuthnCredential, error)
	TOTPByUser(ctx context.Context, userID string) (*TOTPCredential, error)
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error)
	UnusedRecoveryCodes(ctx context.Context, userID string) (int, error)
}

// SignIn owns the rules of proving who one is: the guess meter, the equal
// work for unknown accounts, password rehashing, spending one-time
// second factors, what comes after the first factor, and the methods and
// class a finished sign-in asserts. Pages call it and render its answers;
// no rule of a sign-in lives in a handler.
type SignIn struct {
	Store  SignInStore
	Guard  Guard
	Hasher *PasswordHasher
	MFA    MFAPolicy
	// TOTPSeal opens TOTP seeds; RecoveryKeys key recovery-code digests,
	// current first, then the keys of rotated-out secrets.
	TOTPSeal     Opener
	RecoveryKeys [][]byte
	// Passkeys: a relying party exists, so passkeys count as factors.
	Passkeys bool
	Log      *slog.Logger
	Now      func() time.Time
}

// ErrUnknownMethod: a second factor was posted under a method that does
// not exist.
var ErrUnknownMethod = NewError(KindInvalid, "unknown-method", "unknown second-factor method")

// Check is the outcome of one credential check.
type Check struct {
	// Passed: the credential is right and the account may sign in.
	Passed bool
	// Refused: the guard refused the attempt before any check (nothing
	// was counted or compared).
	Refused bool
	// Locked and JustLocked: the account or address is locked out, and
	// whether this very failure locked it. Wait is how long until the
	// next attempt is allowed when Refused or Locked.
	Locked, JustLocked bool
	Wait               time.Duration
	// User is the account the credential was for; nil when the login
	// names none.
	User *User
	// RecoveryLeft is how many recovery codes remain after one was spent.
	RecoveryLeft int
}

// The second factors a code can prove.
const (
	MethodTOTP     = "totp"
	MethodRecovery = "recovery"
)

// Password checks a password for a login name (username or e-mail).
// The user is looked up first so the guesses count per account whichever
// of its names they use; an unknown name costs the same hashing work as
// a known one, so timing does not tell which accounts exist.
func (s *SignIn) Password(ctx context.Context, login, password, ip string) (Check, error) {
	user, err := s.Store.UserByLogin(ctx, login)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Check{}, err
	}
	key := UnknownLoginGuardKey(login)
	if user != nil {
		key = PasswordGuardKey(user.ID)
	}
	return s.metered(ctx, key, ip, user, func() (bool, error) {
		if user == nil || user.PasswordHash == "" {
			s.Hasher.VerifyDummy(password)
			return false, nil
		}
		return s.verifyPassword(ctx, user, password), nil
	})
}

// Reconfirm checks the password of a signed-in user before a change that
// needs it (a new password). It is metered with the second factors: a
// stolen session must not become a password oracle.
func (s *SignIn) Reconfirm(ctx context.Context, user *User, password, ip string) (Check, error) {
	return s.metered(ctx, MFAGuardKey(user.ID), ip, user, func() (bool, error) {
		if user.PasswordHash == "" {
			s.Hasher.VerifyDummy(password)
			return false, nil
		}
		return s.verifyPassword(ctx, user, password), nil
	})
}

// SecondFactor checks a code: a TOTP code (its time step spent) or a
// recovery code (spent). Any other method is ErrInvalid.
func (s *SignIn) SecondFactor(ctx context.Context, user *User, method, code, ip string) (Check, error) {
	var prove func() (bool, error)
	switch method {
	case MethodTOTP:
		prove = func() (bool, error) { return s.totp(ctx, user.ID, code) }
	case MethodRecovery:
		prove = func() (bool, error) { return s.recoveryCode(ctx, user.ID, code) }
	default:
		return Check{}, ErrUnknownMethod
	}
	c, err := s.metered(ctx, MFAGuardKey(user.ID), ip, user, prove)
	if err == nil && c.Passed && method == MethodRecovery {
		c.RecoveryLeft, err = s.Store.UnusedRecoveryCodes(ctx, user.ID)
	}
	return c, err
}

// metered runs one check under the guard: refused while backing off or
// locked, counted when it fails, the account's counter reset when it
// passes.
func (s *SignIn) metered(ctx context.Context, key, ip string, user *User, prove func() (bool, error)) (Check, error) {
	c := Check{User: user}
	d, err := s.Guard.Check(ctx, key, ip)
	if err != nil {
		return c, err
	}
	if !d.Allowed {
		c.Refused, c.Locked, c.Wait = true, d.Locked, d.RetryAfter
		return c, nil
	}
	passed, err := prove()
	if err != nil {
		return c, err
	}
	if passed && (user == nil || !user.Disabled) {
		c.Passed = true
		if err := s.Guard.Success(ctx, key, ip); err != nil {
			s.Log.WarnContext(ctx, "throttle reset", "err", err)
		}
		return c, nil
	}
	if d, err = s.Guard.Fail(ctx, key, ip); err != nil {
		return c, err
	}
	c.Locked, c.JustLocked, c.Wait = d.Locked, d.JustLocked, d.RetryAfter
	return c, nil
}

// verifyPassword compares, and upgrades a hash made with older cost
// parameters while the password is at hand.
func (s *SignIn) verifyPassword(ctx context.Context, user *User, password string) bool {
	rehash, err := s.Hasher.Verify(user.PasswordHash, password)
	if err != nil {
		if !errors.Is(err, ErrPasswordMismatch) {
			s.Log.ErrorContext(ctx, "stored password hash unreadable", "user_id", user.ID, "err", err)
		}
		return false
	}
	if rehash {
		if h, err := s.Hasher.Hash(password); err == nil {
			if err := s.Store.UpdatePasswordHash(ctx, user.ID, h); err != nil {
				s.Log.WarnContext(ctx, "password rehash", "user_id", user.ID, "err", err)
			}
		}
	}
	return true
}

// totp verifies a code of the user's confirmed authenticator and spends
// its time step: the store accepts a step once, so a code seen by a
// shoulder-surfer or a phishing proxy is dead after its first use.
func (s *SignIn) totp(ctx context.Context, userID, code string) (bool, error) {
	cred, err := s.Store.TOTPByUser(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil || cred.ConfirmedAt == nil {
		return false, err
	}
	secret, err := s.TOTPSeal.Open(cred.EncryptedSecret, []byte(userID))
	if err != nil {
		return false, err
	}
	step, ok := TOTPStep(string(secret), code, s.Now())
	if !ok {
		return false, nil
	}
	return s.Store.UseTOTPStep(ctx, userID, step)
}

// recoveryCode spends a recovery code. Codes made before a system-secret
// rotation carry the old key's digest: the current key is tried first,
// then the previous ones.
func (s *SignIn) recoveryCode(ctx context.Context, userID, code string) (bool, error) {
	n, err := NormalizeRecoveryCode(code)
	if err != nil {
		return false, nil
	}
	for _, key := range s.RecoveryKeys {
		if used, err := s.Store.UseRecoveryCode(ctx, userID, HashRecoveryCode(key, n), s.Now()); err != nil || used {
			return used, err
		}
	}
	return false, nil
}

// Factors are the second factors a user can finish a sign-in with.
type Factors struct {
	TOTP     bool
	Passkeys []WebAuthnCredential
	Recovery int // unused recovery codes
}

// Any reports whether the user has a second factor that counts: a
// recovery code is a way back in, not a factor of its own.
func (f Factors) Any() bool { return f.TOTP || len(f.Passkeys) > 0 }

// Factors loads the user's second factors, once per step. Without a
// relying party (an issuer on an IP address) passkeys cannot be used, so
// they do not count.
func (s *SignIn) Factors(ctx context.Context, userID string) (Factors, error) {
	sum, err := s.Store.SecondFactors(ctx, userID)
	if err != nil {
		return Factors{}, err
	}
	f := Factors{TOTP: sum.TOTP, Recovery: sum.RecoveryCodes}
	if s.Passkeys && sum.Passkeys > 0 {
		if f.Passkeys, err = s.Store.WebAuthnCredentialsByUser(ctx, userID); err != nil {
			return f, err
		}
	}
	return f, nil
}

// SignInStep is where a half-done sign-in goes next.
type SignInStep int

const (
	// SignInDone: every required factor is proved; start the session.
	SignInDone SignInStep = iota
	// SignInSecondFactor: the account has a second factor; prove it.
	SignInSecondFactor
	// SignInEnroll: the account has no second factor and one is due.
	SignInEnroll
	// SignInReauth: a factor is to be enrolled, but the first factor is
	// older than the freshness window: sign in again first.
	SignInReauth
)

// AfterFirstFactor is where a sign-in goes once the first factor passed:
// to the second factor the user has, to the enrolment the policy
// requires, or done.
func (s *SignIn) AfterFirstFactor(user *User, f Factors) SignInStep {
	switch {
	case f.Any():
		return SignInSecondFactor
	case s.MFA.Requires(user):
		return SignInEnroll
	default:
		return SignInDone
	}
}

// StepOf is the step a half-done sign-in is at, decided from what is true
// now rather than from what a cookie or a page says: an account with a
// second factor must prove it (a password alone never enrols a factor on
// an account that has one), and an account without one may enrol one only
// while its first factor is fresh.
func (s *SignIn) StepOf(authTime time.Time, f Factors) SignInStep {
	switch {
	case f.Any():
		return SignInSecondFactor
	case IsFresh(authTime, s.Now()):
		return SignInEnroll
	default:
		return SignInReauth
	}
}

// PasskeyAMR is what a passkey assertion adds to the methods used: a
// synced (backup-eligible) passkey is a software key, a device-bound one
// a hardware key, and user verification at the authenticator counts too.
func PasskeyAMR(backupEligible, userVerified bool) []string {
	amr := []string{AMRHardware}
	if backupEligible {
		amr[0] = AMRSoftware
	}
	if userVerified {
		amr = append(amr, AMRUser)
	}
	return amr
}

// SessionAMR dedupes the methods used and adds mfa when two kinds of
// factor were used.
func SessionAMR(amr []string) []string {
	out := slices.Clone(amr)
	slices.Sort(out)
	out = slices.Compact(out)
	kinds := 0
	for _, m := range out {
		switch m {
		case AMRPassword, AMROTP, AMRHardware, AMRSoftware, AMRUser:
			kinds++ // AMRUser: something the user is or knows, at the authenticator
		}
	}
	if kinds >= 2 && !slices.Contains(out, AMRMFA) {
		out = append(out, AMRMFA)
		slices.Sort(out)
	}
	return out
}

// ACRFor is the class a sign-in with these methods asserts: a passkey
// with user verification is phishing-resistant; two factors are MFA; else
// password.
func ACRFor(amr []string) string {
	passkey := slices.Contains(amr, AMRHardware) || slices.Contains(amr, AMRSoftware)
	switch {
	case passkey && slices.Contains(amr, AMRUser):
		return ACRPhishingResistant
	case slices.Contains(amr, AMRMFA):
		return ACRMFA
	default:
		return ACRPassword
	}
}
