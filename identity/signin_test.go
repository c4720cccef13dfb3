package identity

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// fakeGuard locks a key after limit failures; it records what it saw.
type fakeGuard struct {
	limit    int
	failures map[string]int
	resets   []string
	err      error
}

func (g *fakeGuard) Check(_ context.Context, key, _ string) (GuardDecision, error) {
	if g.err != nil {
		return GuardDecision{}, g.err
	}
	n := g.failures[key]
	return GuardDecision{Allowed: n < g.limit, Locked: n >= g.limit, RetryAfter: time.Duration(n) * time.Minute, Failures: n}, nil
}

func (g *fakeGuard) Fail(_ context.Context, key, _ string) (GuardDecision, error) {
	g.failures[key]++
	n := g.failures[key]
	return GuardDecision{Allowed: n < g.limit, Locked: n >= g.limit, JustLocked: n == g.limit, RetryAfter: time.Duration(n) * time.Minute, Failures: n}, nil
}

func (g *fakeGuard) Success(_ context.Context, key, _ string) error {
	g.resets = append(g.resets, key)
	delete(g.failures, key)
	return nil
}

// fakeSignInStore holds one user and their factors.
type fakeSignInStore struct {
	user      *User
	totp      *TOTPCredential
	usedSteps map[int64]bool
	recovery  map[string]bool // digest → used
	passkeys  []WebAuthnCredential
	rehashed  string
}

func (f *fakeSignInStore) UserByID(_ context.Context, id string) (*User, error) {
	if f.user == nil || f.user.ID != id {
		return nil, ErrNotFound
	}
	return f.user, nil
}

func (f *fakeSignInStore) UserByLogin(_ context.Context, login string) (*User, error) {
	if f.user == nil || (f.user.Username != login && f.user.Email != login) {
		return nil, ErrNotFound
	}
	return f.user, nil
}

func (f *fakeSignInStore) UpdatePasswordHash(_ context.Context, _, hash string) error {
	f.rehashed = hash
	return nil
}

func (f *fakeSignInStore) SecondFactors(context.Context, string) (SecondFactors, error) {
	left, _ := f.UnusedRecoveryCodes(context.Background(), "")
	return SecondFactors{TOTP: f.totp != nil && f.totp.ConfirmedAt != nil, Passkeys: len(f.passkeys), RecoveryCodes: left}, nil
}

func (f *fakeSignInStore) WebAuthnCredentialsByUser(context.Context, string) ([]WebAuthnCredential, error) {
	return f.passkeys, nil
}

func (f *fakeSignInStore) TOTPByUser(context.Context, string) (*TOTPCredential, error) {
	if f.totp == nil {
		return nil, ErrNotFound
	}
	return f.totp, nil
}

func (f *fakeSignInStore) UseTOTPStep(_ context.Context, _ string, step int64) (bool, error) {
	if f.usedSteps[step] {
		return false, nil
	}
	f.usedSteps[step] = true
	return true, nil
}

func (f *fakeSignInStore) UseRecoveryCode(_ context.Context, _, hash string, _ time.Time) (bool, error) {
	used, ok := f.recovery[hash]
	if !ok || used {
		return false, nil
	}
	f.recovery[hash] = true
	return true, nil
}

func (f *fakeSignInStore) UnusedRecoveryCodes(context.Context, string) (int, error) {
	n := 0
	for _, used := range f.recovery {
		if !used {
			n++
		}
	}
	return n, nil
}

// plainSeal "opens" what it is given: the seal itself has its own tests.
type plainSeal struct{}

func (plainSeal) Open(sealed, _ []byte) ([]byte, error) { return sealed, nil }

const totpSeed = "JBSWY3DPEHPK3PXP"

var signInNow = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func newSignIn(t *testing.T, params Argon2Params) (*SignIn, *fakeSignInStore, *fakeGuard) {
	t.Helper()
	hash, err := HashPassword("correct horse", params)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, newKey := []byte("old recovery key"), []byte("new recovery key")
	confirmed := signInNow.Add(-time.Hour)
	st := &fakeSignInStore{
		user:      &User{ID: "u1", Username: "ana", Email: "ana@example.co", PasswordHash: hash},
		totp:      &TOTPCredential{UserID: "u1", EncryptedSecret: []byte(totpSeed), ConfirmedAt: &confirmed},
		usedSteps: map[int64]bool{},
		recovery: map[string]bool{
			HashRecoveryCode(newKey, mustNormalize(t, "aaaaa-bbbbb")): false,
			HashRecoveryCode(oldKey, mustNormalize(t, "ddddd-eeeee")): false,
		},
	}
	g := &fakeGuard{limit: 3, failures: map[string]int{}}
	s := &SignIn{Store: st, Guard: g, Hasher: &PasswordHasher{Params: fastArgon}, TOTPSeal: plainSeal{},
		RecoveryKeys: [][]byte{newKey, oldKey}, Passkeys: true, MFA: MFAPolicy{Roles: []string{"admin"}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return signInNow }}
	return s, st, g
}

func mustNormalize(t *testing.T, code string) string {
	t.Helper()
	n, err := NormalizeRecoveryCode(code)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSignInPassword(t *testing.T) {
	ctx := context.Background()
	t.Run("right password by username or e-mail passes and resets the account's counter", func(t *testing.T) {
		for _, login := range []string{"ana", "ana@example.co"} {
			s, _, g := newSignIn(t, fastArgon)
			g.failures[PasswordGuardKey("u1")] = 2
			c, err := s.Password(ctx, login, "correct horse", "10.0.0.1")
			if err != nil || !c.Passed || c.User.ID != "u1" {
				t.Fatalf("%s: %+v, %v", login, c, err)
			}
			if g.failures[PasswordGuardKey("u1")] != 0 || !slices.Contains(g.resets, PasswordGuardKey("u1")) {
				t.Errorf("%s: counter not reset: %v", login, g.failures)
			}
		}
	})
	t.Run("wrong passwords count per account and lock on the limit, once", func(t *testing.T) {
		s, _, g := newSignIn(t, fastArgon)
		var got []Check
		for _, login := range []string{"ana", "ana@example.co", "ana"} {
			c, err := s.Password(ctx, login, "wrong", "10.0.0.1")
			if err != nil || c.Passed || c.Refused {
				t.Fatalf("%+v, %v", c, err)
			}
			got = append(got, c)
		}
		if got[0].JustLocked || got[1].JustLocked || !got[2].JustLocked || !got[2].Locked {
			t.Errorf("lockout: %+v", got)
		}
		if g.failures[PasswordGuardKey("u1")] != 3 {
			t.Errorf("both names must share one counter: %v", g.failures)
		}
		// Locked: even the right password is refused without a check.
		c, err := s.Password(ctx, "ana", "correct horse", "10.0.0.1")
		if err != nil || c.Passed || !c.Refused || !c.Locked || c.Wait == 0 {
			t.Errorf("while locked: %+v, %v", c, err)
		}
		if g.failures[PasswordGuardKey("u1")] != 3 {
			t.Errorf("a refused attempt must not count: %v", g.failures)
		}
	})
	t.Run("an unknown login is metered under its own name and fails", func(t *testing.T) {
		s, _, g := newSignIn(t, fastArgon)
		c, err := s.Password(ctx, " Nobody ", "whatever", "10.0.0.1")
		if err != nil || c.Passed || c.User != nil {
			t.Fatalf("%+v, %v", c, err)
		}
		if g.failures[UnknownLoginGuardKey("nobody")] != 1 {
			t.Errorf("unknown names must be metered: %v", g.failures)
		}
	})
	t.Run("a disabled account fails with the right password, and counts", func(t *testing.T) {
		s, st, g := newSignIn(t, fastArgon)
		st.user.Disabled = true
		c, err := s.Password(ctx, "ana", "correct horse", "10.0.0.1")
		if err != nil || c.Passed || g.failures[PasswordGuardKey("u1")] != 1 {
			t.Errorf("%+v, %v, %v", c, err, g.failures)
		}
	})
	t.Run("a hash made with weaker parameters is upgraded", func(t *testing.T) {
		s, st, _ := newSignIn(t, fastArgon)
		s.Hasher = &PasswordHasher{Params: Argon2Params{MemoryKiB: 2048, Iterations: 1, Parallelism: 1}}
		if c, err := s.Password(ctx, "ana", "correct horse", ""); err != nil || !c.Passed {
			t.Fatalf("%+v, %v", c, err)
		}
		if st.rehashed == "" {
			t.Fatal("not rehashed")
		}
		if rehash, err := s.Hasher.Verify(st.rehashed, "correct horse"); err != nil || rehash {
			t.Errorf("new hash: rehash=%v err=%v", rehash, err)
		}
	})
	t.Run("unreadable counters fail closed", func(t *testing.T) {
		s, _, g := newSignIn(t, fastArgon)
		g.err = errors.New("redis down")
		if c, err := s.Password(ctx, "ana", "correct horse", ""); err == nil || c.Passed {
			t.Errorf("%+v, %v", c, err)
		}
	})
}

func TestSignInReconfirm(t *testing.T) {
	ctx := context.Background()
	s, st, g := newSignIn(t, fastArgon)
	if c, err := s.Reconfirm(ctx, st.user, "wrong", ""); err != nil || c.Passed {
		t.Fatalf("%+v, %v", c, err)
	}
	if g.failures[MFAGuardKey("u1")] != 1 {
		t.Errorf("reconfirmation is metered with the second factors: %v", g.failures)
	}
	if c, err := s.Reconfirm(ctx, st.user, "correct horse", ""); err != nil || !c.Passed {
		t.Errorf("%+v, %v", c, err)
	}
}

func TestSignInSecondFactor(t *testing.T) {
	ctx := context.Background()
	code, err := TOTPCode(totpSeed, signInNow)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a TOTP code passes once", func(t *testing.T) {
		s, st, _ := newSignIn(t, fastArgon)
		if c, err := s.SecondFactor(ctx, st.user, MethodTOTP, code, ""); err != nil || !c.Passed {
			t.Fatalf("first use: %+v, %v", c, err)
		}
		if c, err := s.SecondFactor(ctx, st.user, MethodTOTP, code, ""); err != nil || c.Passed {
			t.Errorf("replayed code passed: %+v, %v", c, err)
		}
	})
	t.Run("an unconfirmed authenticator proves nothing", func(t *testing.T) {
		s, st, _ := newSignIn(t, fastArgon)
		st.totp.ConfirmedAt = nil
		if c, err := s.SecondFactor(ctx, st.user, MethodTOTP, code, ""); err != nil || c.Passed {
			t.Errorf("%+v, %v", c, err)
		}
	})
	t.Run("recovery codes under the current and a rotated-out key, each once", func(t *testing.T) {
		s, st, _ := newSignIn(t, fastArgon)
		c, err := s.SecondFactor(ctx, st.user, MethodRecovery, "AAAAA-BBBBB", "")
		if err != nil || !c.Passed || c.RecoveryLeft != 1 {
			t.Fatalf("current key: %+v, %v", c, err)
		}
		if c, err = s.SecondFactor(ctx, st.user, MethodRecovery, "ddddd eeeee", ""); err != nil || !c.Passed || c.RecoveryLeft != 0 {
			t.Fatalf("old key: %+v, %v", c, err)
		}
		if c, err = s.SecondFactor(ctx, st.user, MethodRecovery, "aaaaa-bbbbb", ""); err != nil || c.Passed {
			t.Errorf("spent code passed: %+v, %v", c, err)
		}
	})
	t.Run("failures lock the second factor", func(t *testing.T) {
		s, st, _ := newSignIn(t, fastArgon)
		var c Check
		for range 3 {
			if c, err = s.SecondFactor(ctx, st.user, MethodTOTP, "000000", ""); err != nil {
				t.Fatal(err)
			}
		}
		if !c.JustLocked {
			t.Errorf("third failure: %+v", c)
		}
		if c, err = s.SecondFactor(ctx, st.user, MethodTOTP, code, ""); err != nil || c.Passed || !c.Refused {
			t.Errorf("locked: %+v, %v", c, err)
		}
	})
	t.Run("an unknown method is invalid, not a failure", func(t *testing.T) {
		s, st, g := newSignIn(t, fastArgon)
		_, err := s.SecondFactor(ctx, st.user, "sms", "123456", "")
		if ErrorKind(err) != KindInvalid || len(g.failures) != 0 {
			t.Errorf("%v, %v", err, g.failures)
		}
	})
}

func TestSignInSteps(t *testing.T) {
	withTOTP := Factors{TOTP: true}
	withPasskey := Factors{Passkeys: []WebAuthnCredential{{ID: "k"}}}
	onlyRecovery := Factors{Recovery: 10}
	admin := &User{ID: "a", Roles: []string{"admin"}}
	customer := &User{ID: "c", Roles: []string{"customer"}}
	s, _, _ := newSignIn(t, fastArgon)
	after := []struct {
		user *User
		f    Factors
		want SignInStep
	}{
		{customer, Factors{}, SignInDone},
		{customer, withTOTP, SignInSecondFactor},
		{customer, withPasskey, SignInSecondFactor},
		{customer, onlyRecovery, SignInDone},
		{admin, Factors{}, SignInEnroll},
		{admin, onlyRecovery, SignInEnroll},
		{admin, withPasskey, SignInSecondFactor},
	}
	for _, c := range after {
		if got := s.AfterFirstFactor(c.user, c.f); got != c.want {
			t.Errorf("AfterFirstFactor(%v, %+v) = %v, want %v", c.user.Roles, c.f, got, c.want)
		}
	}
	fresh, stale := signInNow.Add(-time.Minute), signInNow.Add(-24*time.Hour)
	at := []struct {
		authTime time.Time
		f        Factors
		want     SignInStep
	}{
		{fresh, withTOTP, SignInSecondFactor},
		{stale, withTOTP, SignInSecondFactor}, // a factor is proved, never re-enrolled
		{fresh, Factors{}, SignInEnroll},
		{stale, Factors{}, SignInReauth}, // enrolment needs a fresh first factor
	}
	for _, c := range at {
		if got := s.StepOf(c.authTime, c.f); got != c.want {
			t.Errorf("StepOf(%v, %+v) = %v, want %v", c.authTime, c.f, got, c.want)
		}
	}
	s.Passkeys = false
	if f, err := s.Factors(context.Background(), "u1"); err != nil || len(f.Passkeys) != 0 {
		t.Errorf("without a relying party passkeys do not count: %+v, %v", f, err)
	}
}

func TestSessionAMRAndACR(t *testing.T) {
	cases := []struct {
		amr     []string
		wantAMR []string
		wantACR string
	}{
		{[]string{AMRPassword}, []string{AMRPassword}, ACRPassword},
		{[]string{AMRPassword, AMROTP}, []string{AMRMFA, AMROTP, AMRPassword}, ACRMFA},
		{[]string{AMRPassword, AMROTP, AMROTP}, []string{AMRMFA, AMROTP, AMRPassword}, ACRMFA},
		{append([]string{AMRPassword}, PasskeyAMR(false, false)...), []string{AMRHardware, AMRMFA, AMRPassword}, ACRMFA},
		{PasskeyAMR(true, true), []string{AMRMFA, AMRSoftware, AMRUser}, ACRPhishingResistant},
		{PasskeyAMR(false, true), []string{AMRHardware, AMRMFA, AMRUser}, ACRPhishingResistant},
		{PasskeyAMR(true, false), []string{AMRSoftware}, ACRPassword},
	}
	for _, c := range cases {
		got := SessionAMR(c.amr)
		if !slices.Equal(got, c.wantAMR) || ACRFor(got) != c.wantACR {
			t.Errorf("%v: amr %v acr %s, want %v %s", c.amr, got, ACRFor(got), c.wantAMR, c.wantACR)
		}
	}
}
