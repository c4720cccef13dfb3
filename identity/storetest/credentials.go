package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

var credentialTests = []struct {
	name string
	fn   func(*testing.T, identity.Store)
}{
	{"set e-mail verified", testSetEmailVerified},
	{"sessions by user and delete one of them", testSessionsByUser},
	{"totp enrol, confirm and replace only while unconfirmed", testTOTPLifecycle},
	{"totp step is accepted once, even concurrently", testTOTPReplay},
	{"webauthn credentials round-trip, update and delete", testWebAuthnCredentials},
	{"recovery codes are single-use and replaceable", testRecoveryCodes},
	{"second factors summarised per user", testSecondFactors},
	{"one-time token is consumed once, even concurrently", testOneTimeTokens},
	{"one-time tokens expire and are pruned", testOneTimeTokenExpiry},
	{"an e-mail address changes, and stays unique", testChangeEmail},
	{"audit events append and filter newest first", testAuditEvents},
}

func testSetEmailVerified(t *testing.T, s identity.Store) {
	u := newUser("alice")
	mustCreateUser(t, s, u)
	got, err := s.UserByID(t.Context(), u.ID)
	noErr(t, "UserByID", err)
	if got.EmailVerifiedAt != nil {
		t.Fatalf("new user verified at %v", got.EmailVerifiedAt)
	}
	at := base.Add(time.Hour)
	noErr(t, "SetEmailVerified", s.SetEmailVerified(t.Context(), u.ID, at))
	got, err = s.UserByLogin(t.Context(), u.Email)
	noErr(t, "UserByLogin", err)
	if got.EmailVerifiedAt == nil || !got.EmailVerifiedAt.Equal(trunc(at)) {
		t.Fatalf("EmailVerifiedAt = %v, want %v", got.EmailVerifiedAt, at)
	}
	wantErr(t, "SetEmailVerified(missing)", s.SetEmailVerified(t.Context(), "u-nobody", at), identity.ErrNotFound)
}

func testChangeEmail(t *testing.T, s identity.Store) {
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	at := base.Add(time.Hour)
	noErr(t, "ChangeEmail", s.ChangeEmail(t.Context(), alice.ID, "alice.new@example.com", at))
	got, err := s.UserByLogin(t.Context(), "ALICE.NEW@example.com")
	noErr(t, "UserByLogin(new address)", err)
	if got.ID != alice.ID || got.EmailVerifiedAt == nil || !got.EmailVerifiedAt.Equal(trunc(at)) {
		t.Fatalf("after the change: %+v", got)
	}
	if _, err := s.UserByLogin(t.Context(), alice.Email); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("the old address still signs in: %v", err)
	}
	wantErr(t, "ChangeEmail(bob's address)", s.ChangeEmail(t.Context(), alice.ID, bob.Email, at), identity.ErrConflict)
	wantErr(t, "ChangeEmail(missing)", s.ChangeEmail(t.Context(), "u-nobody", "x@example.com", at), identity.ErrNotFound)
}

func testSessionsByUser(t *testing.T, s identity.Store) {
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	older, newer, other := newSession("s-old", alice.ID), newSession("s-new", alice.ID), newSession("s-bob", bob.ID)
	newer.LastSeenAt = older.LastSeenAt.Add(time.Hour)
	for _, sess := range []*identity.Session{older, newer, other} {
		noErr(t, "CreateSession", s.CreateSession(t.Context(), sess))
	}
	got, err := s.SessionsByUser(t.Context(), alice.ID)
	noErr(t, "SessionsByUser", err)
	if len(got) != 2 || got[0].ID != "s-new" || got[1].ID != "s-old" {
		t.Fatalf("SessionsByUser = %v", got)
	}
	checkFields(t, "SessionsByUser[1]", got[1], *older)
	// Alice cannot end Bob's session through her own id.
	wantErr(t, "DeleteUserSession(other's)", s.DeleteUserSession(t.Context(), alice.ID, "s-bob"), identity.ErrNotFound)
	noErr(t, "DeleteUserSession", s.DeleteUserSession(t.Context(), alice.ID, "s-old"))
	wantErr(t, "DeleteUserSession(again)", s.DeleteUserSession(t.Context(), alice.ID, "s-old"), identity.ErrNotFound)
	if _, err := s.SessionByID(t.Context(), "s-bob"); err != nil {
		t.Fatalf("bob's session: %v", err)
	}
}

func testTOTPLifecycle(t *testing.T, s identity.Store) {
	u := newUser("alice")
	mustCreateUser(t, s, u)
	ctx := t.Context()
	wantErr(t, "TOTPByUser(none)", func() error { _, err := s.TOTPByUser(ctx, u.ID); return err }(), identity.ErrNotFound)
	first := &identity.TOTPCredential{UserID: u.ID, EncryptedSecret: []byte("sealed-1"), CreatedAt: base}
	noErr(t, "PutTOTP", s.PutTOTP(ctx, first))
	// A second enrolment attempt replaces the unconfirmed one.
	second := &identity.TOTPCredential{UserID: u.ID, EncryptedSecret: []byte("sealed-2"), CreatedAt: base.Add(time.Minute)}
	noErr(t, "PutTOTP(again)", s.PutTOTP(ctx, second))
	got, err := s.TOTPByUser(ctx, u.ID)
	noErr(t, "TOTPByUser", err)
	checkFields(t, "TOTPByUser", *got, *second)
	// Steps are not accepted before confirmation.
	ok, err := s.UseTOTPStep(ctx, u.ID, 100)
	noErr(t, "UseTOTPStep(unconfirmed)", err)
	if ok {
		t.Fatal("step accepted on an unconfirmed credential")
	}
	at := base.Add(2 * time.Minute)
	noErr(t, "ConfirmTOTP", s.ConfirmTOTP(ctx, u.ID, at, 100))
	wantErr(t, "ConfirmTOTP(again)", s.ConfirmTOTP(ctx, u.ID, at, 101), identity.ErrNotFound)
	got, err = s.TOTPByUser(ctx, u.ID)
	noErr(t, "TOTPByUser", err)
	if got.ConfirmedAt == nil || !got.ConfirmedAt.Equal(trunc(at)) || got.LastStep != 100 {
		t.Fatalf("confirmed = %+v", got)
	}
	// A confirmed credential is not replaced by a new enrolment.
	wantErr(t, "PutTOTP(confirmed)", s.PutTOTP(ctx, &identity.TOTPCredential{UserID: u.ID, EncryptedSecret: []byte("x")}), identity.ErrConflict)
	wantErr(t, "PutTOTP(missing user)", s.PutTOTP(ctx, &identity.TOTPCredential{UserID: "u-nobody", EncryptedSecret: []byte("x")}), identity.ErrNotFound)
	noErr(t, "DeleteTOTP", s.DeleteTOTP(ctx, u.ID))
	wantErr(t, "DeleteTOTP(again)", s.DeleteTOTP(ctx, u.ID), identity.ErrNotFound)
}

func testTOTPReplay(t *testing.T, s identity.Store) {
	u := newUser("alice")
	mustCreateUser(t, s, u)
	ctx := t.Context()
	noErr(t, "PutTOTP", s.PutTOTP(ctx, &identity.TOTPCredential{UserID: u.ID, EncryptedSecret: []byte("s"), CreatedAt: base}))
	noErr(t, "ConfirmTOTP", s.ConfirmTOTP(ctx, u.ID, base, 10))
	for _, tc := range []struct {
		step int64
		want bool
	}{{10, false}, {9, false}, {11, true}, {11, false}, {13, true}, {12, false}} {
		ok, err := s.UseTOTPStep(ctx, u.ID, tc.step)
		noErr(t, "UseTOTPStep", err)
		if ok != tc.want {
			t.Fatalf("UseTOTPStep(%d) = %v, want %v", tc.step, ok, tc.want)
		}
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			ok, err := s.UseTOTPStep(ctx, u.ID, 20)
			if err != nil {
				t.Errorf("UseTOTPStep: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("step 20 accepted %d times, want once", wins.Load())
	}
}

func testWebAuthnCredentials(t *testing.T, s identity.Store) {
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	ctx := t.Context()
	c1 := &identity.WebAuthnCredential{ID: "Y3JlZC0x", UserID: alice.ID, Name: "YubiKey", Credential: []byte(`{"publicKey":"AQID"}`), CreatedAt: base}
	c2 := &identity.WebAuthnCredential{ID: "Y3JlZC0y", UserID: alice.ID, Name: "Teléfono", Credential: []byte(`{"publicKey":"BAUG"}`), CreatedAt: base.Add(time.Minute)}
	noErr(t, "Create c1", s.CreateWebAuthnCredential(ctx, c1))
	noErr(t, "Create c2", s.CreateWebAuthnCredential(ctx, c2))
	wantErr(t, "Create(duplicate)", s.CreateWebAuthnCredential(ctx, &identity.WebAuthnCredential{ID: c1.ID, UserID: bob.ID, Credential: []byte("{}")}), identity.ErrConflict)
	wantErr(t, "Create(missing user)", s.CreateWebAuthnCredential(ctx, &identity.WebAuthnCredential{ID: "x", UserID: "u-nobody", Credential: []byte("{}")}), identity.ErrNotFound)
	got, err := s.WebAuthnCredentialsByUser(ctx, alice.ID)
	noErr(t, "ByUser", err)
	if len(got) != 2 {
		t.Fatalf("ByUser = %d credentials", len(got))
	}
	checkFields(t, "ByUser[0]", got[0], *c1)
	checkFields(t, "ByUser[1]", got[1], *c2)
	used := base.Add(time.Hour)
	noErr(t, "Update", s.UpdateWebAuthnCredential(ctx, c1.ID, []byte(`{"publicKey":"AQID","signCount":5}`), used))
	one, err := s.WebAuthnCredentialByID(ctx, c1.ID)
	noErr(t, "ByID", err)
	if string(one.Credential) != `{"publicKey":"AQID","signCount":5}` || one.LastUsedAt == nil || !one.LastUsedAt.Equal(trunc(used)) {
		t.Fatalf("after update: %+v", one)
	}
	wantErr(t, "Delete(by another user)", s.DeleteWebAuthnCredential(ctx, bob.ID, c1.ID), identity.ErrNotFound)
	noErr(t, "Delete", s.DeleteWebAuthnCredential(ctx, alice.ID, c1.ID))
	wantErr(t, "ByID(deleted)", func() error { _, err := s.WebAuthnCredentialByID(ctx, c1.ID); return err }(), identity.ErrNotFound)
	wantErr(t, "Update(deleted)", s.UpdateWebAuthnCredential(ctx, c1.ID, []byte("{}"), used), identity.ErrNotFound)
}

func testRecoveryCodes(t *testing.T, s identity.Store) {
	u := newUser("alice")
	mustCreateUser(t, s, u)
	ctx := t.Context()
	noErr(t, "Replace", s.ReplaceRecoveryCodes(ctx, u.ID, []string{"h1", "h2", "h3"}, base))
	n, err := s.UnusedRecoveryCodes(ctx, u.ID)
	noErr(t, "Unused", err)
	if n != 3 {
		t.Fatalf("unused = %d", n)
	}
	ok, err := s.UseRecoveryCode(ctx, u.ID, "h2", base)
	noErr(t, "Use", err)
	if !ok {
		t.Fatal("code not accepted")
	}
	if ok, _ := s.UseRecoveryCode(ctx, u.ID, "h2", base); ok {
		t.Fatal("code accepted twice")
	}
	if ok, _ := s.UseRecoveryCode(ctx, "u-other", "h1", base); ok {
		t.Fatal("code accepted for another user")
	}
	if n, _ := s.UnusedRecoveryCodes(ctx, u.ID); n != 2 {
		t.Fatalf("unused after one use = %d", n)
	}
	noErr(t, "Replace(again)", s.ReplaceRecoveryCodes(ctx, u.ID, []string{"h4"}, base))
	if ok, _ := s.UseRecoveryCode(ctx, u.ID, "h1", base); ok {
		t.Fatal("replaced code still accepted")
	}
	if n, _ := s.UnusedRecoveryCodes(ctx, u.ID); n != 1 {
		t.Fatalf("unused after replace = %d", n)
	}
}

func testSecondFactors(t *testing.T, s identity.Store) {
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	ctx := t.Context()
	check := func(step string, userID string, want identity.SecondFactors) {
		t.Helper()
		got, err := s.SecondFactors(ctx, userID)
		noErr(t, "SecondFactors", err)
		if got != want {
			t.Fatalf("%s: SecondFactors = %+v, want %+v", step, got, want)
		}
	}
	check("none", alice.ID, identity.SecondFactors{})
	noErr(t, "PutTOTP", s.PutTOTP(ctx, &identity.TOTPCredential{UserID: alice.ID, EncryptedSecret: []byte("x"), CreatedAt: base}))
	check("unconfirmed TOTP does not count", alice.ID, identity.SecondFactors{})
	noErr(t, "ConfirmTOTP", s.ConfirmTOTP(ctx, alice.ID, base, 1))
	noErr(t, "Replace", s.ReplaceRecoveryCodes(ctx, alice.ID, []string{"h1", "h2"}, base))
	_, err := s.UseRecoveryCode(ctx, alice.ID, "h1", base)
	noErr(t, "Use", err)
	for _, id := range []string{"c1", "c2"} {
		noErr(t, "CreateWebAuthnCredential", s.CreateWebAuthnCredential(ctx, &identity.WebAuthnCredential{ID: id, UserID: alice.ID, Name: id, Credential: []byte("{}"), CreatedAt: base}))
	}
	check("all three", alice.ID, identity.SecondFactors{TOTP: true, Passkeys: 2, RecoveryCodes: 1})
	check("another user's factors", bob.ID, identity.SecondFactors{})
}

func testOneTimeTokens(t *testing.T, s identity.Store) {
	u := newUser("alice")
	mustCreateUser(t, s, u)
	ctx := t.Context()
	tok := &identity.OneTimeToken{ID: "digest-1", Purpose: identity.PurposeResetPassword, UserID: u.ID, Data: "x", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	noErr(t, "Create", s.CreateOneTimeToken(ctx, tok))
	wantErr(t, "Create(duplicate)", s.CreateOneTimeToken(ctx, tok), identity.ErrConflict)
	// The purpose is part of the key: a reset token is not an e-mail check.
	_, err := s.ConsumeOneTimeToken(ctx, identity.PurposeVerifyEmail, tok.ID, base)
	wantErr(t, "Consume(other purpose)", err, identity.ErrNotFound)

	var wins atomic.Int32
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			got, err := s.ConsumeOneTimeToken(ctx, identity.PurposeResetPassword, tok.ID, base)
			switch {
			case err == nil:
				wins.Add(1)
				checkFields(t, "Consume", *got, *tok)
			case !isNotFound(err):
				t.Errorf("Consume: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("token consumed %d times, want once", wins.Load())
	}
	// A token without a user (a passwordless WebAuthn challenge).
	anon := &identity.OneTimeToken{ID: "digest-2", Purpose: identity.PurposeWebAuthn, CreatedAt: base, ExpiresAt: base.Add(time.Minute)}
	noErr(t, "Create(anonymous)", s.CreateOneTimeToken(ctx, anon))
	got, err := s.ConsumeOneTimeToken(ctx, identity.PurposeWebAuthn, anon.ID, base)
	noErr(t, "Consume(anonymous)", err)
	checkFields(t, "Consume(anonymous)", *got, *anon)
	// DeleteUserOneTimeTokens drops one purpose of one user.
	noErr(t, "Create", s.CreateOneTimeToken(ctx, &identity.OneTimeToken{ID: "d3", Purpose: identity.PurposeResetPassword, UserID: u.ID, ExpiresAt: base.Add(time.Hour)}))
	noErr(t, "Create", s.CreateOneTimeToken(ctx, &identity.OneTimeToken{ID: "d4", Purpose: identity.PurposeVerifyEmail, UserID: u.ID, ExpiresAt: base.Add(time.Hour)}))
	noErr(t, "DeleteUserOneTimeTokens", s.DeleteUserOneTimeTokens(ctx, u.ID, identity.PurposeResetPassword))
	_, err = s.ConsumeOneTimeToken(ctx, identity.PurposeResetPassword, "d3", base)
	wantErr(t, "Consume(deleted)", err, identity.ErrNotFound)
	_, err = s.ConsumeOneTimeToken(ctx, identity.PurposeVerifyEmail, "d4", base)
	noErr(t, "Consume(kept)", err)
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, identity.ErrNotFound) }

func testOneTimeTokenExpiry(t *testing.T, s identity.Store) {
	ctx := t.Context()
	for i, exp := range []time.Duration{-time.Hour, -time.Minute, time.Hour} {
		noErr(t, "Create", s.CreateOneTimeToken(ctx, &identity.OneTimeToken{
			ID: string(rune('a' + i)), Purpose: identity.PurposeWebAuthn, CreatedAt: base.Add(-2 * time.Hour), ExpiresAt: base.Add(exp)}))
	}
	// An expired token is not handed out (and is gone afterwards).
	_, err := s.ConsumeOneTimeToken(ctx, identity.PurposeWebAuthn, "b", base)
	wantErr(t, "Consume(expired)", err, identity.ErrNotFound)
	n, err := s.DeleteExpiredOneTimeTokens(ctx, base, 10)
	noErr(t, "DeleteExpired", err)
	if n != 1 {
		t.Fatalf("pruned %d, want 1 (a)", n)
	}
	if _, err := s.ConsumeOneTimeToken(ctx, identity.PurposeWebAuthn, "c", base); err != nil {
		t.Fatalf("unexpired token: %v", err)
	}
}

func testAuditEvents(t *testing.T, s identity.Store) {
	ctx := t.Context()
	events := []*identity.AuditEvent{
		{OccurredAt: base, Type: identity.AuditLoginFailure, UserID: "u-alice", IP: "192.0.2.1", UserAgent: "ua", Details: map[string]string{"reason": "password"}},
		{OccurredAt: base.Add(time.Second), Type: identity.AuditLoginSuccess, UserID: "u-alice", IP: "192.0.2.1"},
		{OccurredAt: base.Add(2 * time.Second), Type: identity.AuditLoginSuccess, UserID: "u-bob", Actor: "admin-1"},
	}
	for _, e := range events {
		noErr(t, "AppendAudit", s.AppendAudit(ctx, e))
		if e.ID == 0 {
			t.Fatal("AppendAudit did not set the id")
		}
	}
	all, err := s.AuditEvents(ctx, identity.AuditFilter{})
	noErr(t, "AuditEvents", err)
	if len(all) != 3 || all[0].ID != events[2].ID || all[2].ID != events[0].ID {
		t.Fatalf("AuditEvents = %+v", all)
	}
	checkFields(t, "AuditEvents[2]", all[2], *events[0])
	checkUTC(t, "AuditEvents", all[0].OccurredAt)
	alice, err := s.AuditEvents(ctx, identity.AuditFilter{UserID: "u-alice", Type: identity.AuditLoginSuccess})
	noErr(t, "AuditEvents(filter)", err)
	if len(alice) != 1 || alice[0].ID != events[1].ID {
		t.Fatalf("filtered = %+v", alice)
	}
	limited, err := s.AuditEvents(ctx, identity.AuditFilter{Limit: 2})
	noErr(t, "AuditEvents(limit)", err)
	if len(limited) != 2 {
		t.Fatalf("limit 2 gave %d", len(limited))
	}
}
