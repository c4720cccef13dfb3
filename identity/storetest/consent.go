package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

var consentTests = []struct {
	name string
	fn   func(*testing.T, identity.Store)
}{
	{"legal texts publish once and refuse a changed text", testLegalTexts},
	{"scope consents are remembered per user and client", testScopeConsents},
	{"grants are deactivated by subject, client and issue time", testDeactivateGrants},
	{"revocation rules load in order, expire, and follow deactivations", testTokenRevocations},
	{"deleting an account erases it and keeps the ledger", testDeleteUser},
	{"the last super_admin cannot be removed", testLastSuperAdmin},
	{"the role catalog expands, updates and protects built-ins", testRoleCatalog},
}

func testLegalTexts(t *testing.T, s identity.Store) {
	ctx := t.Context()
	texts := []identity.PublishedText{
		{Kind: identity.LegalPolicy, Version: "1", Lang: "es-CO", Format: "markdown", Body: "# Política ñ", SHA256: identity.Digest("# Política ñ"), PublishedAt: base},
		{Kind: identity.LegalPurpose, Ref: "account", Version: "1", Format: "json", Body: `{"id":"account"}`, SHA256: identity.Digest(`{"id":"account"}`), PublishedAt: base},
	}
	noErr(t, "Publish", s.PublishLegalTexts(ctx, texts))
	noErr(t, "Publish(again)", s.PublishLegalTexts(ctx, texts))
	got, err := s.LegalTextByVersion(ctx, identity.LegalPolicy, "", "1", "es-CO")
	noErr(t, "LegalTextByVersion", err)
	want := texts[0]
	want.PublishedAt = trunc(base)
	checkFields(t, "LegalTextByVersion", *got, want)

	changed := texts[0]
	changed.Body, changed.SHA256 = "# Otra", identity.Digest("# Otra")
	extra := identity.PublishedText{Kind: identity.LegalNotice, Version: "1", Lang: "es-CO", Format: "markdown", Body: "n", SHA256: identity.Digest("n"), PublishedAt: base}
	wantErr(t, "Publish(changed)", s.PublishLegalTexts(ctx, []identity.PublishedText{extra, changed}), identity.ErrLegalTextChanged)
	// All or nothing: the new notice was not stored either.
	_, err = s.LegalTextByVersion(ctx, identity.LegalNotice, "", "1", "es-CO")
	wantErr(t, "LegalTextByVersion(rolled back)", err, identity.ErrNotFound)
	_, err = s.LegalTextByVersion(ctx, identity.LegalPurpose, "account", "2", "")
	wantErr(t, "LegalTextByVersion(missing)", err, identity.ErrNotFound)
}

func testScopeConsents(t *testing.T, s identity.Store) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	for _, id := range []string{"shop", "blog"} {
		noErr(t, "CreateClient", s.CreateClient(ctx, fullClient(id)))
	}
	c := &identity.ScopeConsent{UserID: alice.ID, ClientID: "shop", Scopes: []string{"openid", "email"}, GrantedAt: base}
	noErr(t, "Put", s.PutScopeConsent(ctx, c))
	got, err := s.ScopeConsent(ctx, alice.ID, "shop")
	noErr(t, "ScopeConsent", err)
	if !got.Covers([]string{"email"}) || got.Covers([]string{"profile"}) || !got.GrantedAt.Equal(trunc(base)) {
		t.Fatalf("ScopeConsent = %+v", got)
	}
	c.Scopes, c.GrantedAt = []string{"openid", "profile"}, base.Add(time.Hour)
	noErr(t, "Put(replace)", s.PutScopeConsent(ctx, c))
	noErr(t, "Put(blog)", s.PutScopeConsent(ctx, &identity.ScopeConsent{UserID: alice.ID, ClientID: "blog", Scopes: []string{"openid"}, GrantedAt: base}))
	list, err := s.ScopeConsentsByUser(ctx, alice.ID)
	noErr(t, "ByUser", err)
	if len(list) != 2 || list[0].ClientID != "blog" || !slices.Equal(list[1].Scopes, []string{"openid", "profile"}) {
		t.Fatalf("ScopeConsentsByUser = %+v", list)
	}
	if l, _ := s.ScopeConsentsByUser(ctx, bob.ID); len(l) != 0 {
		t.Fatalf("bob has %d", len(l))
	}
	_, err = s.ScopeConsent(ctx, bob.ID, "shop")
	wantErr(t, "ScopeConsent(bob)", err, identity.ErrNotFound)
	noErr(t, "Delete", s.DeleteScopeConsent(ctx, alice.ID, "shop"))
	wantErr(t, "Delete(again)", s.DeleteScopeConsent(ctx, alice.ID, "shop"), identity.ErrNotFound)
	wantErr(t, "Put(unknown user)", s.PutScopeConsent(ctx, &identity.ScopeConsent{UserID: "u-nobody", ClientID: "shop", Scopes: []string{"openid"}}), identity.ErrNotFound)
}

func testDeactivateGrants(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mk := func(sig, client, subject string, at time.Time) {
		noErr(t, "CreateGrant", s.CreateGrant(ctx, &identity.Grant{Kind: identity.GrantAccessToken, Signature: sig, RequestID: "r-" + sig,
			ClientID: client, Subject: subject, Active: true, RequestedAt: at, ExpiresAt: at.Add(time.Hour), Data: []byte("{}")}))
	}
	mk("a1", "shop", "alice", base)
	mk("a2", "blog", "alice", base)
	mk("b1", "shop", "bob", base)
	mk("b2", "blog", "bob", base.Add(time.Hour))
	mk("c1", "blog", "carol", base.Add(2*time.Hour))
	active := func(sig string) bool {
		g, err := s.GrantBySignature(ctx, identity.GrantAccessToken, sig)
		noErr(t, "GrantBySignature", err)
		return g.Active
	}
	if _, err := s.DeactivateGrants(ctx, identity.GrantFilter{}); !errors.Is(err, identity.ErrEmptyGrantFilter) {
		t.Fatalf("an empty filter: %v", err)
	}
	n, err := s.DeactivateGrants(ctx, identity.GrantFilter{Subject: "alice", ClientID: "shop"})
	noErr(t, "Deactivate(alice, shop)", err)
	if n != 1 || active("a1") || !active("a2") || !active("b1") {
		t.Fatalf("per subject and client: n=%d a1=%v a2=%v b1=%v", n, active("a1"), active("a2"), active("b1"))
	}
	n, err = s.DeactivateGrants(ctx, identity.GrantFilter{Subject: "alice"})
	noErr(t, "Deactivate(alice)", err)
	if n != 1 || active("a2") || !active("b1") {
		t.Fatalf("per subject: n=%d", n)
	}
	n, err = s.DeactivateGrants(ctx, identity.GrantFilter{ClientID: "blog", IssuedBefore: base.Add(90 * time.Minute)})
	noErr(t, "Deactivate(blog, before)", err)
	if n != 1 || active("b2") || !active("c1") || !active("b1") {
		t.Fatalf("per client and time: n=%d b2=%v c1=%v", n, active("b2"), active("c1"))
	}
	noErr(t, "CreateGrant", s.CreateGrant(ctx, &identity.Grant{Kind: identity.GrantRefreshToken, Signature: "r1", RequestID: "r-r1",
		ClientID: "blog", Subject: "carol", Active: true, RequestedAt: base, ExpiresAt: base.Add(time.Hour), Data: []byte("{}")}))
	n, err = s.DeactivateGrants(ctx, identity.GrantFilter{Kind: identity.GrantAccessToken})
	noErr(t, "Deactivate(access tokens)", err)
	if g, _ := s.GrantBySignature(ctx, identity.GrantRefreshToken, "r1"); n != 2 || active("b1") || active("c1") || !g.Active {
		t.Fatalf("per kind: n=%d", n)
	}
}

func testTokenRevocations(t *testing.T, s identity.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	written := s.RevocationsWritten()
	one := &identity.TokenRevocation{JTI: "j-1", ExpiresAt: now.Add(time.Hour)}
	noErr(t, "AddTokenRevocation(jti)", s.AddTokenRevocation(ctx, one))
	old := &identity.TokenRevocation{JTI: "j-old", ExpiresAt: now.Add(-time.Minute)}
	noErr(t, "AddTokenRevocation(expired)", s.AddTokenRevocation(ctx, old))
	if one.Seq == 0 || old.Seq <= one.Seq {
		t.Fatalf("seqs %d, %d", one.Seq, old.Seq)
	}
	if err := s.AddTokenRevocation(ctx, &identity.TokenRevocation{ClientID: "shop", ExpiresAt: now}); err == nil {
		t.Error("a rule without a jti or a time selects nothing, and was accepted")
	}
	// A rollback leaves no rule behind and counts nothing.
	err := s.InTx(ctx, func(ctx context.Context) error {
		noErr(t, "AddTokenRevocation(in tx)", s.AddTokenRevocation(ctx, &identity.TokenRevocation{JTI: "j-rolled-back", ExpiresAt: now.Add(time.Hour)}))
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	// A deactivation extends to stateless tokens with a rule of its own.
	_, err = s.DeactivateGrants(ctx, identity.GrantFilter{Subject: "alice", ClientID: "shop", IssuedBefore: now})
	noErr(t, "DeactivateGrants", err)
	_, err = s.DeactivateGrants(ctx, identity.GrantFilter{Kind: identity.GrantRefreshToken, Subject: "alice"})
	noErr(t, "DeactivateGrants(refresh tokens)", err)

	rules, err := s.TokenRevocations(ctx, 0, now)
	noErr(t, "TokenRevocations", err)
	if len(rules) != 2 || rules[0].JTI != "j-1" || rules[1].Subject != "alice" || rules[1].ClientID != "shop" ||
		!rules[1].IssuedBefore.Equal(now) || !rules[1].ExpiresAt.Equal(now.Add(identity.MaxAccessTokenLifespan)) {
		t.Fatalf("rules %+v", rules)
	}
	if got := s.RevocationsWritten() - written; got != 3 {
		t.Errorf("RevocationsWritten counted %d committed rules, want 3", got)
	}
	after, err := s.TokenRevocations(ctx, rules[0].Seq, now)
	noErr(t, "TokenRevocations(after)", err)
	if len(after) != 1 || after[0].Seq != rules[1].Seq {
		t.Errorf("after seq %d: %+v", rules[0].Seq, after)
	}
	n, err := s.DeleteExpiredTokenRevocations(ctx, now, 100)
	noErr(t, "DeleteExpiredTokenRevocations", err)
	if n != 1 {
		t.Errorf("deleted %d expired rules, want 1", n)
	}
}

func testDeleteUser(t *testing.T, s identity.Store) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	noErr(t, "CreateClient", s.CreateClient(ctx, fullClient("shop")))
	noErr(t, "CreateSession", s.CreateSession(ctx, newSession("s-alice", alice.ID)))
	noErr(t, "PutTOTP", s.PutTOTP(ctx, &identity.TOTPCredential{UserID: alice.ID, EncryptedSecret: []byte("x"), CreatedAt: base}))
	noErr(t, "CreateWebAuthnCredential", s.CreateWebAuthnCredential(ctx, &identity.WebAuthnCredential{ID: "c1", UserID: alice.ID, Name: "k", Credential: []byte("{}"), CreatedAt: base}))
	noErr(t, "PutScopeConsent", s.PutScopeConsent(ctx, &identity.ScopeConsent{UserID: alice.ID, ClientID: "shop", Scopes: []string{"openid"}, GrantedAt: base}))
	noErr(t, "CreateGrant", s.CreateGrant(ctx, &identity.Grant{Kind: identity.GrantAccessToken, Signature: "g1", RequestID: "r1", ClientID: "shop",
		Subject: alice.ID, Active: true, RequestedAt: base, ExpiresAt: base.Add(time.Hour), Data: []byte("{}")}))
	noErr(t, "AppendLedger", s.AppendLedger(ctx, &identity.LedgerEntry{Kind: identity.LedgerConsent, Type: identity.ConsentAccepted, Subject: alice.ID, Payload: []byte("{}")}))

	noErr(t, "DeleteAccount", identity.DeleteAccount(ctx, s, alice.ID, "admin:root", base))
	_, err := s.UserByID(ctx, alice.ID)
	wantErr(t, "UserByID(deleted)", err, identity.ErrNotFound)
	_, err = s.SessionByID(ctx, "s-alice")
	wantErr(t, "SessionByID(deleted)", err, identity.ErrNotFound)
	_, err = s.TOTPByUser(ctx, alice.ID)
	wantErr(t, "TOTPByUser(deleted)", err, identity.ErrNotFound)
	_, err = s.WebAuthnCredentialByID(ctx, "c1")
	wantErr(t, "WebAuthnCredentialByID(deleted)", err, identity.ErrNotFound)
	_, err = s.ScopeConsent(ctx, alice.ID, "shop")
	wantErr(t, "ScopeConsent(deleted)", err, identity.ErrNotFound)
	_, err = s.GrantBySignature(ctx, identity.GrantAccessToken, "g1")
	wantErr(t, "GrantBySignature(deleted)", err, identity.ErrNotFound)
	// The ledger keeps the proof under the pseudonymous id, and records
	// the deletion itself.
	entries, err := s.LedgerEntries(ctx, identity.LedgerFilter{Subject: alice.ID})
	noErr(t, "LedgerEntries", err)
	if len(entries) != 2 || entries[1].Type != identity.AuditAccountDeleted || entries[1].Actor != "admin:root" {
		t.Fatalf("ledger after deletion: %+v", entries)
	}
	if _, err := identity.VerifyLedger(ctx, s); err != nil {
		t.Fatalf("chain after deletion: %v", err)
	}
	if _, err := s.UserByID(ctx, bob.ID); err != nil {
		t.Fatalf("bob was touched: %v", err)
	}
	wantErr(t, "DeleteAccount(again)", identity.DeleteAccount(ctx, s, alice.ID, "admin:root", base), identity.ErrNotFound)
}

func testLastSuperAdmin(t *testing.T, s identity.Store) {
	ctx := t.Context()
	root, other := newUser("root"), newUser("other")
	mustCreateUser(t, s, root)
	mustCreateUser(t, s, other)
	noErr(t, "GrantRole(root)", s.GrantRole(ctx, root.ID, identity.RoleSuperAdmin))
	wantErr(t, "RevokeRole(last)", s.RevokeRole(ctx, root.ID, identity.RoleSuperAdmin), identity.ErrLastSuperAdmin)
	got, err := s.UserByID(ctx, root.ID)
	noErr(t, "UserByID", err)
	if !got.HasRole(identity.RoleSuperAdmin) {
		t.Fatal("the refused revocation still removed the role")
	}
	noErr(t, "GrantRole(other)", s.GrantRole(ctx, other.ID, identity.RoleSuperAdmin))
	noErr(t, "RevokeRole(one of two)", s.RevokeRole(ctx, root.ID, identity.RoleSuperAdmin))
	wantErr(t, "RevokeRole(now the last)", s.RevokeRole(ctx, other.ID, identity.RoleSuperAdmin), identity.ErrLastSuperAdmin)

	// Two super_admins revoking each other at once: exactly one wins.
	noErr(t, "GrantRole(root again)", s.GrantRole(ctx, root.ID, identity.RoleSuperAdmin))
	errs := make(chan error, 2)
	for _, id := range []string{root.ID, other.ID} {
		go func() { errs <- s.RevokeRole(ctx, id, identity.RoleSuperAdmin) }()
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("concurrent revocations: %v, %v; want exactly one refused", e1, e2)
	}
	for _, err := range []error{e1, e2} {
		if err != nil && !errors.Is(err, identity.ErrLastSuperAdmin) {
			t.Fatalf("concurrent revocation: %v", err)
		}
	}
}

func testRoleCatalog(t *testing.T, s identity.Store) {
	ctx := t.Context()
	roles, err := s.Roles(ctx)
	noErr(t, "Roles", err)
	catalog := identity.NewRoleCatalog(roles)
	if all, perms := catalog.Expand([]string{identity.RoleSuperAdmin}); !slices.Equal(all, []string{"admin", "customer", "super_admin", "vendor"}) ||
		!slices.Contains(perms, "portero:admin:write") || !catalog["admin"].Builtin {
		t.Fatalf("built-in catalog: %v %v", all, perms)
	}
	support := &identity.Role{Name: "support", Description: "Atención al cliente", Includes: []string{"customer"}, Permissions: []string{"orders:read", "tickets:write"}}
	noErr(t, "PutRole", s.PutRole(ctx, support))
	support.Permissions = []string{"orders:read"}
	noErr(t, "PutRole(update)", s.PutRole(ctx, support))
	roles, _ = s.Roles(ctx)
	got := identity.NewRoleCatalog(roles)["support"]
	if got.Builtin || got.Description != "Atención al cliente" || !slices.Equal(got.Permissions, []string{"orders:read"}) || !slices.Equal(got.Includes, []string{"customer"}) {
		t.Fatalf("support = %+v", got)
	}
	wantErr(t, "PutRole(unknown include)", s.PutRole(ctx, &identity.Role{Name: "x", Includes: []string{"nope"}}), identity.ErrNotFound)
	wantErr(t, "PutRole(cycle)", s.PutRole(ctx, &identity.Role{Name: "customer", Includes: []string{"support"}}), identity.ErrInvalid)
	wantErr(t, "PutRole(bad permission)", s.PutRole(ctx, &identity.Role{Name: "y", Permissions: []string{"Bad Perm"}}), identity.ErrInvalid)
	wantErr(t, "DeleteRole(builtin)", s.DeleteRole(ctx, "admin"), identity.ErrConflict)
	noErr(t, "DeleteRole", s.DeleteRole(ctx, "support"))
	wantErr(t, "DeleteRole(again)", s.DeleteRole(ctx, "support"), identity.ErrNotFound)
}
