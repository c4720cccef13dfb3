// Package storetest is the conformance suite every identity.Store
// implementation must pass. An implementation's test calls Run with a
// function that opens a fresh, empty, migrated store for each subtest.
//
// Beyond the comments on identity.Store, the suite pins down these rules:
//   - times come back in UTC and compare equal at microsecond precision;
//   - nil and empty slices (and byte slices) are interchangeable;
//   - roles come back sorted, without duplicates;
//   - a Grant with a zero ExpiresAt never expires and is never pruned;
//   - lookups of a missing row, and deletes or updates of one, return an
//     error wrapping identity.ErrNotFound; inserting an existing key returns
//     one wrapping identity.ErrConflict.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

// Run runs every conformance test, each as a subtest on a store of its own
// from open. open should register the store's cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) identity.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, identity.Store)
	}{
		{"ping", testPing},

		{"user round-trips every field", testUserRoundTrip},
		{"create user fills id and times", testCreateUserDefaults},
		{"duplicate username is ErrConflict ignoring case", testDuplicateUsername},
		{"duplicate email is ErrConflict ignoring case", testDuplicateEmail},
		{"duplicate user id is ErrConflict", testDuplicateUserID},
		{"users without email do not conflict", testUsersWithoutEmail},
		{"user by login matches username or email ignoring case", testUserByLogin},
		{"missing user is ErrNotFound", testUserNotFound},
		{"update password hash", testUpdatePasswordHash},
		{"list users ordered by username with limit", testListUsers},
		{"grant role is idempotent and revoke removes it", testRoles},

		{"client round-trips every field", testClientRoundTrip},
		{"client with empty fields round-trips", testClientEmpty},
		{"duplicate client id is ErrConflict", testDuplicateClient},
		{"list clients ordered by id", testListClients},
		{"delete client", testDeleteClient},

		{"grant round-trips every field", testGrantRoundTrip},
		{"grant times come back in UTC at microsecond precision", testGrantTimes},
		{"duplicate grant is ErrConflict", testDuplicateGrant},
		{"missing grant is ErrNotFound", testGrantNotFound},
		{"delete grant", testDeleteGrant},
		{"deactivate grant", testDeactivateGrant},
		{"deactivate family touches only that kind and request", testDeactivateFamily},
		{"mark rotated succeeds once", testMarkRotated},
		{"mark rotated concurrently has exactly one winner", testMarkRotatedConcurrent},
		{"delete expired grants is bounded by limit", testDeleteExpiredGrants},
		{"use jti rejects an unexpired jti and reuses an expired one", testUseJTI},

		{"signing keys come newest first", testSigningKeys},
		{"reseal rewrites what an old secret sealed, in one pass", testResealSecrets},
		{"secret dependents count what an old secret still protects", testSecretDependents},
		{"network rules are canonical, replaced by prefix and deleted", testNetworkRules},
		{"webhook cursors: leased by one owner, advanced only forwards", testWebhookCursors},

		{"session round-trips, touch and delete", testSessions},
		{"session of a missing user is ErrNotFound", testSessionUnknownUser},
		{"delete user sessions", testDeleteUserSessions},
		{"delete expired sessions is bounded by limit", testDeleteExpiredSessions},
		{"pending authorizations", testPendingAuthorizations},

		{"rollback discards writes", testRollback},
		{"commit keeps writes", testCommit},
		{"panic rolls back", testPanicRollsBack},
		{"nested InTx joins the outer transaction", testNestedInTx},
		{"BeginTx, CommitTx and RollbackTx", testBeginCommitRollback},
		{"concurrent writes all succeed", testConcurrentWrites},
		{"concurrent transactions all succeed", testConcurrentTransactions},
	}
	tests = append(tests, credentialTests...)
	tests = append(tests, ledgerTests...)
	tests = append(tests, requestTests...)
	tests = append(tests, consentTests...)
	tests = append(tests, adminTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// concurrency is how many goroutines the concurrent tests run.
const concurrency = 20

// base is a fixed, non-UTC time with nanoseconds, so that the suite checks
// conversion to UTC and truncation to microseconds.
var base = time.Date(2031, time.March, 14, 15, 9, 26, 535897932, time.FixedZone("COT", -5*3600))

// Fixtures.

func newUser(name string) *identity.User {
	return &identity.User{
		ID:           "u-" + name,
		Username:     name,
		Email:        name + "@example.com",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5", // #nosec G101 -- a fixture hash of no one's password
		CreatedAt:    base,
		UpdatedAt:    base.Add(time.Minute),
	}
}

func newGrant(kind identity.GrantKind, sig, requestID string) *identity.Grant {
	return &identity.Grant{
		Kind:        kind,
		Signature:   sig,
		RequestID:   requestID,
		ClientID:    "client-1",
		Subject:     "u-alice",
		Active:      true,
		RequestedAt: base,
		ExpiresAt:   base.Add(time.Hour),
		Data:        []byte(`{"scopes":["openid"],"session":{}}`),
	}
}

func newSession(id, userID string) *identity.Session {
	return &identity.Session{
		ID:         id,
		UserID:     userID,
		AuthTime:   base,
		AMR:        []string{"pwd", "otp"},
		ACR:        identity.ACRPassword,
		IP:         "192.0.2.7",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64)",
		CreatedAt:  base,
		LastSeenAt: base.Add(time.Second),
		ExpiresAt:  base.Add(24 * time.Hour),
	}
}

// Assertions.

func mustCreateUser(t *testing.T, s identity.Store, u *identity.User) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.Username, err)
	}
}

func mustCreateGrant(t *testing.T, s identity.Store, g *identity.Grant) {
	t.Helper()
	if err := s.CreateGrant(t.Context(), g); err != nil {
		t.Fatalf("CreateGrant(%s): %v", g.Kind, err)
	}
}

func mustGrant(t *testing.T, s identity.Store, kind identity.GrantKind, sig string) *identity.Grant {
	t.Helper()
	g, err := s.GrantBySignature(t.Context(), kind, sig)
	if err != nil {
		t.Fatalf("GrantBySignature(%s, %q): %v", kind, sig, err)
	}
	return g
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func trunc(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// sameValue compares one field: times with Equal at microsecond precision,
// nil and empty slices alike, anything else with reflect.DeepEqual.
func sameValue(got, want any) bool {
	switch w := want.(type) {
	case time.Time:
		return trunc(got.(time.Time)).Equal(trunc(w))
	case *time.Time:
		g := got.(*time.Time)
		if g == nil || w == nil {
			return g == nil && w == nil
		}
		return trunc(*g).Equal(trunc(*w))
	case []byte:
		return bytes.Equal(got.([]byte), w)
	case []string:
		return slices.Equal(got.([]string), w)
	}
	return reflect.DeepEqual(got, want)
}

func show(v any) string {
	switch x := v.(type) {
	case []byte:
		return fmt.Sprintf("%q", x)
	case *time.Time:
		if x == nil {
			return "nil"
		}
		return x.String()
	}
	return fmt.Sprintf("%#v", v)
}

// checkFields reports every field of the struct got that differs from want.
func checkFields[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !sameValue(g, w) {
			t.Errorf("%s: %s = %s, want %s", what, name, show(g), show(w))
		}
	}
}

// checkUTC reports times that do not come back in UTC.
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
		}
	}
}

// Tests.

func testPing(t *testing.T, s identity.Store) {
	noErr(t, "Ping", s.Ping(t.Context()))
}

func testUserRoundTrip(t *testing.T, s identity.Store) {
	u := newUser("alice")
	u.Roles = []string{"vendor", "admin", "customer", "admin"}
	u.Disabled = true
	verified := base.Add(2 * time.Minute)
	u.EmailVerifiedAt = &verified
	mustCreateUser(t, s, u)

	want := *u
	want.Roles = []string{"admin", "customer", "vendor"}
	got, err := s.UserByID(t.Context(), u.ID)
	noErr(t, "UserByID", err)
	checkFields(t, "UserByID", *got, want)
	checkUTC(t, "UserByID", got.CreatedAt, got.UpdatedAt)

	got, err = s.UserByLogin(t.Context(), "alice")
	noErr(t, "UserByLogin", err)
	checkFields(t, "UserByLogin", *got, want)

	// A user without roles.
	bob := newUser("bob")
	bob.PasswordHash = ""
	mustCreateUser(t, s, bob)
	got, err = s.UserByID(t.Context(), bob.ID)
	noErr(t, "UserByID(bob)", err)
	checkFields(t, "UserByID(bob)", *got, *bob)
}

func testCreateUserDefaults(t *testing.T, s identity.Store) {
	before := time.Now().Add(-time.Second)
	u := &identity.User{Username: "carol"}
	mustCreateUser(t, s, u)
	if u.ID == "" {
		t.Fatal("CreateUser left ID empty")
	}
	if u.CreatedAt.Before(before) || u.UpdatedAt.Before(before) {
		t.Errorf("CreateUser set CreatedAt %v, UpdatedAt %v; want about now", u.CreatedAt, u.UpdatedAt)
	}
	got, err := s.UserByID(t.Context(), u.ID)
	noErr(t, "UserByID", err)
	checkFields(t, "UserByID", *got, *u)

	other := &identity.User{Username: "dave"}
	mustCreateUser(t, s, other)
	if other.ID == u.ID {
		t.Errorf("two users got the same generated ID %q", u.ID)
	}
}

func testDuplicateUsername(t *testing.T, s identity.Store) {
	mustCreateUser(t, s, newUser("alice"))
	dup := newUser("ALICE")
	dup.ID, dup.Email = "u-other", "other@example.com"
	wantErr(t, "CreateUser(ALICE)", s.CreateUser(t.Context(), dup), identity.ErrConflict)

	if _, err := s.UserByID(t.Context(), "u-other"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("the conflicting user was stored: UserByID error %v", err)
	}
}

func testDuplicateEmail(t *testing.T, s identity.Store) {
	mustCreateUser(t, s, newUser("alice"))
	dup := newUser("bob")
	dup.Email = "Alice@Example.COM"
	wantErr(t, "CreateUser(same email)", s.CreateUser(t.Context(), dup), identity.ErrConflict)
}

func testDuplicateUserID(t *testing.T, s identity.Store) {
	mustCreateUser(t, s, newUser("alice"))
	dup := newUser("bob")
	dup.ID = "u-alice"
	wantErr(t, "CreateUser(same id)", s.CreateUser(t.Context(), dup), identity.ErrConflict)
}

func testUsersWithoutEmail(t *testing.T, s identity.Store) {
	for _, name := range []string{"alice", "bob", "carol"} {
		u := newUser(name)
		u.Email = ""
		mustCreateUser(t, s, u)
	}
	users, err := s.SearchUsers(t.Context(), identity.UserQuery{})
	noErr(t, "ListUsers", err)
	if len(users) != 3 {
		t.Fatalf("ListUsers returned %d users, want 3", len(users))
	}
	if _, err := s.UserByLogin(t.Context(), ""); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("UserByLogin(\"\"): got error %v, want ErrNotFound", err)
	}
}

func testUserByLogin(t *testing.T, s identity.Store) {
	alice := newUser("Alice")
	alice.Email = "Alice.Smith@Example.com"
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, newUser("bob"))

	for _, login := range []string{"Alice", "alice", "ALICE", "alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM"} {
		got, err := s.UserByLogin(t.Context(), login)
		if err != nil {
			t.Errorf("UserByLogin(%q): %v", login, err)
			continue
		}
		if got.ID != alice.ID || got.Username != "Alice" || got.Email != "Alice.Smith@Example.com" {
			t.Errorf("UserByLogin(%q) = %q (%q, %q), want %q as stored", login, got.ID, got.Username, got.Email, alice.ID)
		}
	}
	for _, login := range []string{"alic", "alice.smith", "carol", "alice@example.com"} {
		if _, err := s.UserByLogin(t.Context(), login); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("UserByLogin(%q): got error %v, want ErrNotFound", login, err)
		}
	}
}

func testUserNotFound(t *testing.T, s identity.Store) {
	ctx := t.Context()
	_, err := s.UserByID(ctx, "nobody")
	wantErr(t, "UserByID", err, identity.ErrNotFound)
	_, err = s.UserByLogin(ctx, "nobody")
	wantErr(t, "UserByLogin", err, identity.ErrNotFound)
	wantErr(t, "UpdatePasswordHash", s.UpdatePasswordHash(ctx, "nobody", "x"), identity.ErrNotFound)
	wantErr(t, "GrantRole", s.GrantRole(ctx, "nobody", "admin"), identity.ErrNotFound)
	wantErr(t, "RevokeRole", s.RevokeRole(ctx, "nobody", "admin"), identity.ErrNotFound)
}

func testUpdatePasswordHash(t *testing.T, s identity.Store) {
	u := newUser("alice")
	u.UpdatedAt = time.Now().Add(-time.Hour)
	mustCreateUser(t, s, u)
	before := time.Now().Add(-time.Second)
	noErr(t, "UpdatePasswordHash", s.UpdatePasswordHash(t.Context(), u.ID, "$argon2id$new"))
	got, err := s.UserByID(t.Context(), u.ID)
	noErr(t, "UserByID", err)
	if got.PasswordHash != "$argon2id$new" {
		t.Errorf("PasswordHash = %q, want the new hash", got.PasswordHash)
	}
	if !got.UpdatedAt.After(before) {
		t.Errorf("UpdatedAt = %v, want about now", got.UpdatedAt)
	}
	if !got.CreatedAt.Equal(trunc(u.CreatedAt)) {
		t.Errorf("CreatedAt changed to %v", got.CreatedAt)
	}
}

func testListUsers(t *testing.T, s identity.Store) {
	for _, name := range []string{"carol", "alice", "Bob", "dave"} {
		mustCreateUser(t, s, newUser(name))
	}
	noErr(t, "GrantRole", s.GrantRole(t.Context(), "u-alice", "vendor"))
	noErr(t, "GrantRole", s.GrantRole(t.Context(), "u-alice", "admin"))
	noErr(t, "GrantRole", s.GrantRole(t.Context(), "u-carol", "customer"))

	users, err := s.SearchUsers(t.Context(), identity.UserQuery{})
	noErr(t, "SearchUsers", err)
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	if want := []string{"alice", "Bob", "carol", "dave"}; !slices.Equal(names, want) {
		t.Fatalf("ListUsers(0) = %q, want %q", names, want)
	}
	if !slices.Equal(users[0].Roles, []string{"admin", "vendor"}) || len(users[1].Roles) != 0 ||
		!slices.Equal(users[2].Roles, []string{"customer"}) {
		t.Errorf("ListUsers roles = %q, %q, %q; want [admin vendor], [], [customer]", users[0].Roles, users[1].Roles, users[2].Roles)
	}
	checkFields(t, "ListUsers[3]", users[3], *newUser("dave"))

	users, err = s.SearchUsers(t.Context(), identity.UserQuery{Limit: 2})
	noErr(t, "SearchUsers(limit 2)", err)
	if len(users) != 2 || users[0].Username != "alice" || users[1].Username != "Bob" {
		t.Errorf("ListUsers(2) returned %d users %v, want alice and Bob", len(users), users)
	}
	if len(users) > 0 && !slices.Equal(users[0].Roles, []string{"admin", "vendor"}) {
		t.Errorf("ListUsers(2) roles of alice = %q", users[0].Roles)
	}
}

func testRoles(t *testing.T, s identity.Store) {
	ctx := t.Context()
	u := newUser("alice")
	u.Roles = []string{"customer"}
	mustCreateUser(t, s, u)
	roles := func() []string {
		t.Helper()
		got, err := s.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		return got.Roles
	}

	noErr(t, "GrantRole(vendor)", s.GrantRole(ctx, u.ID, "vendor"))
	noErr(t, "GrantRole(vendor) again", s.GrantRole(ctx, u.ID, "vendor"))
	noErr(t, "GrantRole(admin)", s.GrantRole(ctx, u.ID, "admin"))
	if got, want := roles(), []string{"admin", "customer", "vendor"}; !slices.Equal(got, want) {
		t.Fatalf("roles = %q, want %q", got, want)
	}
	noErr(t, "RevokeRole(customer)", s.RevokeRole(ctx, u.ID, "customer"))
	if got, want := roles(), []string{"admin", "vendor"}; !slices.Equal(got, want) {
		t.Fatalf("roles after revoke = %q, want %q", got, want)
	}
	wantErr(t, "RevokeRole(customer) again", s.RevokeRole(ctx, u.ID, "customer"), identity.ErrNotFound)
	wantErr(t, "RevokeRole(never held)", s.RevokeRole(ctx, u.ID, "auditor"), identity.ErrNotFound)

	// Roles are per user.
	mustCreateUser(t, s, newUser("bob"))
	noErr(t, "GrantRole(bob, vendor)", s.GrantRole(ctx, "u-bob", "vendor"))
	noErr(t, "RevokeRole(alice, vendor)", s.RevokeRole(ctx, u.ID, "vendor"))
	bob, err := s.UserByID(ctx, "u-bob")
	noErr(t, "UserByID(bob)", err)
	if !slices.Equal(bob.Roles, []string{"vendor"}) {
		t.Errorf("bob's roles = %q, want [vendor]", bob.Roles)
	}
}

func fullClient(id string) *identity.Client {
	return &identity.Client{
		ID:                       id,
		Name:                     "Tienda Web",
		SecretHash:               []byte{0x00, 0xff, 0x10, 0x80, 0x7f, 0x00},
		TokenEndpointAuthMethod:  identity.AuthMethodPost,
		RedirectURIs:             []string{"https://shop.example.com/cb", "http://127.0.0.1:8080/cb?x=\"y\""},
		PostLogoutRedirectURIs:   []string{"https://shop.example.com/bye"},
		GrantTypes:               []string{"authorization_code", "refresh_token"},
		Scopes:                   []string{"openid", "profile", "offline_access"},
		Audience:                 []string{"https://api.example.com"},
		Roles:                    []string{"service", "reader"},
		JWKS:                     []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"ñ","y":"…"}]}`),
		TokenFormat:              identity.TokenFormatOpaque,
		IDTokenSignedResponseAlg: "ES256",
		IntrospectAny:            true,
		FirstParty:               true,
		BackchannelLogoutURI:     "https://shop.example.com/backchannel",
		PermissionsClaim:         true,
		RegistrationTokenHash:    []byte{0xde, 0xad, 0x00, 0xbe, 0xef},
		Disabled:                 true,
		CreatedAt:                base,
		UpdatedAt:                base.Add(time.Hour),
	}
}

func testClientRoundTrip(t *testing.T, s identity.Store) {
	c := fullClient("shop")
	noErr(t, "CreateClient", s.CreateClient(t.Context(), c))
	got, err := s.ClientByID(t.Context(), "shop")
	noErr(t, "ClientByID", err)
	checkFields(t, "ClientByID", *got, *c)
	checkUTC(t, "ClientByID", got.CreatedAt, got.UpdatedAt)

	list, err := s.ListClients(t.Context())
	noErr(t, "ListClients", err)
	if len(list) != 1 {
		t.Fatalf("ListClients returned %d clients, want 1", len(list))
	}
	checkFields(t, "ListClients[0]", list[0], *c)
}

func testClientEmpty(t *testing.T, s identity.Store) {
	c := &identity.Client{ID: "cli", TokenEndpointAuthMethod: identity.AuthMethodNone}
	noErr(t, "CreateClient", s.CreateClient(t.Context(), c))
	if c.CreatedAt.IsZero() || c.UpdatedAt.IsZero() {
		t.Errorf("CreateClient left CreatedAt %v, UpdatedAt %v zero", c.CreatedAt, c.UpdatedAt)
	}
	got, err := s.ClientByID(t.Context(), "cli")
	noErr(t, "ClientByID", err)
	checkFields(t, "ClientByID", *got, *c)

	// A generated id.
	c2 := &identity.Client{Name: "generated"}
	noErr(t, "CreateClient(no id)", s.CreateClient(t.Context(), c2))
	if c2.ID == "" {
		t.Fatal("CreateClient left ID empty")
	}
	if _, err := s.ClientByID(t.Context(), c2.ID); err != nil {
		t.Errorf("ClientByID(generated id): %v", err)
	}
}

func testDuplicateClient(t *testing.T, s identity.Store) {
	noErr(t, "CreateClient", s.CreateClient(t.Context(), fullClient("shop")))
	wantErr(t, "CreateClient(same id)", s.CreateClient(t.Context(), fullClient("shop")), identity.ErrConflict)
}

func testListClients(t *testing.T, s identity.Store) {
	for _, id := range []string{"m", "a", "z", "b"} {
		noErr(t, "CreateClient", s.CreateClient(t.Context(), fullClient(id)))
	}
	list, err := s.ListClients(t.Context())
	noErr(t, "ListClients", err)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	if want := []string{"a", "b", "m", "z"}; !slices.Equal(ids, want) {
		t.Errorf("ListClients ids = %q, want %q", ids, want)
	}
}

func testDeleteClient(t *testing.T, s identity.Store) {
	ctx := t.Context()
	noErr(t, "CreateClient", s.CreateClient(ctx, fullClient("shop")))
	noErr(t, "CreateClient", s.CreateClient(ctx, fullClient("other")))
	noErr(t, "DeleteClient", s.DeleteClient(ctx, "shop"))
	_, err := s.ClientByID(ctx, "shop")
	wantErr(t, "ClientByID(deleted)", err, identity.ErrNotFound)
	wantErr(t, "DeleteClient(deleted)", s.DeleteClient(ctx, "shop"), identity.ErrNotFound)
	if _, err := s.ClientByID(ctx, "other"); err != nil {
		t.Errorf("ClientByID(other): %v", err)
	}
}

func testGrantRoundTrip(t *testing.T, s identity.Store) {
	rotated := base.Add(30 * time.Minute)
	grants := []*identity.Grant{
		newGrant(identity.GrantAuthorizeCode, "code-sig", "req-1"),
		newGrant(identity.GrantAccessToken, "at-sig", "req-1"),
		newGrant(identity.GrantRefreshToken, "rt-sig", "req-1"),
		newGrant(identity.GrantPKCE, "code-sig", "req-1"),
		newGrant(identity.GrantOIDC, "code-sig", "req-1"),
	}
	grants[1].Active = false
	grants[2].RotatedAt = &rotated
	grants[2].Data = []byte{0x00, 0x01, 0xfe, 0xff}
	grants[3].Subject = ""
	grants[4].ExpiresAt = time.Time{} // never expires
	for _, g := range grants {
		mustCreateGrant(t, s, g)
	}
	for _, want := range grants {
		got := mustGrant(t, s, want.Kind, want.Signature)
		checkFields(t, "GrantBySignature("+string(want.Kind)+")", *got, *want)
	}
}

func testGrantTimes(t *testing.T, s identity.Store) {
	at := time.Date(2030, time.December, 31, 23, 59, 59, 999999999, time.FixedZone("X", 14*3600))
	g := newGrant(identity.GrantRefreshToken, "rt", "req")
	g.RequestedAt, g.ExpiresAt = at, at.Add(90*24*time.Hour)
	rotated := at.Add(time.Nanosecond * 1500)
	g.RotatedAt = &rotated
	mustCreateGrant(t, s, g)
	got := mustGrant(t, s, g.Kind, g.Signature)
	checkFields(t, "GrantBySignature", *got, *g)
	if got.RotatedAt == nil {
		t.Fatal("RotatedAt is nil")
	}
	checkUTC(t, "GrantBySignature", got.RequestedAt, got.ExpiresAt, *got.RotatedAt)
	if !got.RequestedAt.Equal(trunc(at)) || got.RequestedAt.Nanosecond() != 999999000 {
		t.Errorf("RequestedAt = %v, want %v truncated to microseconds", got.RequestedAt, at)
	}

	// Pruning compares times correctly across time zones and fractions.
	early := newGrant(identity.GrantAccessToken, "early", "req")
	early.ExpiresAt = at.Add(-time.Microsecond)
	late := newGrant(identity.GrantAccessToken, "late", "req")
	late.ExpiresAt = at.Add(time.Microsecond)
	exact := newGrant(identity.GrantAccessToken, "exact", "req")
	exact.ExpiresAt = trunc(at).In(time.FixedZone("Y", -11*3600))
	mustCreateGrant(t, s, early)
	mustCreateGrant(t, s, late)
	mustCreateGrant(t, s, exact)
	n, err := s.DeleteExpiredGrants(t.Context(), trunc(at).UTC(), 100)
	noErr(t, "DeleteExpiredGrants", err)
	if n != 1 {
		t.Errorf("DeleteExpiredGrants removed %d, want 1 (only the one expired before)", n)
	}
	_, err = s.GrantBySignature(t.Context(), identity.GrantAccessToken, "early")
	wantErr(t, "GrantBySignature(early)", err, identity.ErrNotFound)
	mustGrant(t, s, identity.GrantAccessToken, "exact")
	mustGrant(t, s, identity.GrantAccessToken, "late")
}

func testDuplicateGrant(t *testing.T, s identity.Store) {
	mustCreateGrant(t, s, newGrant(identity.GrantAccessToken, "sig", "req-1"))
	wantErr(t, "CreateGrant(same kind and signature)",
		s.CreateGrant(t.Context(), newGrant(identity.GrantAccessToken, "sig", "req-2")), identity.ErrConflict)
	// The same signature under another kind is another record.
	mustCreateGrant(t, s, newGrant(identity.GrantRefreshToken, "sig", "req-1"))
	if got := mustGrant(t, s, identity.GrantAccessToken, "sig"); got.RequestID != "req-1" {
		t.Errorf("the conflicting grant overwrote the first: RequestID %q", got.RequestID)
	}
}

func testGrantNotFound(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateGrant(t, s, newGrant(identity.GrantAccessToken, "sig", "req"))
	_, err := s.GrantBySignature(ctx, identity.GrantRefreshToken, "sig")
	wantErr(t, "GrantBySignature(other kind)", err, identity.ErrNotFound)
	_, err = s.GrantBySignature(ctx, identity.GrantAccessToken, "nope")
	wantErr(t, "GrantBySignature(unknown)", err, identity.ErrNotFound)
	wantErr(t, "DeleteGrant(unknown)", s.DeleteGrant(ctx, identity.GrantAccessToken, "nope"), identity.ErrNotFound)
	wantErr(t, "DeactivateGrant(unknown)", s.DeactivateGrant(ctx, identity.GrantRefreshToken, "sig"), identity.ErrNotFound)
}

func testDeleteGrant(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateGrant(t, s, newGrant(identity.GrantAuthorizeCode, "sig", "req"))
	mustCreateGrant(t, s, newGrant(identity.GrantPKCE, "sig", "req"))
	noErr(t, "DeleteGrant", s.DeleteGrant(ctx, identity.GrantAuthorizeCode, "sig"))
	_, err := s.GrantBySignature(ctx, identity.GrantAuthorizeCode, "sig")
	wantErr(t, "GrantBySignature(deleted)", err, identity.ErrNotFound)
	wantErr(t, "DeleteGrant(deleted)", s.DeleteGrant(ctx, identity.GrantAuthorizeCode, "sig"), identity.ErrNotFound)
	mustGrant(t, s, identity.GrantPKCE, "sig")
}

func testDeactivateGrant(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateGrant(t, s, newGrant(identity.GrantAuthorizeCode, "sig", "req"))
	mustCreateGrant(t, s, newGrant(identity.GrantAuthorizeCode, "other", "req"))
	noErr(t, "DeactivateGrant", s.DeactivateGrant(ctx, identity.GrantAuthorizeCode, "sig"))
	if mustGrant(t, s, identity.GrantAuthorizeCode, "sig").Active {
		t.Error("grant still active after DeactivateGrant")
	}
	if !mustGrant(t, s, identity.GrantAuthorizeCode, "other").Active {
		t.Error("DeactivateGrant deactivated another grant")
	}
	noErr(t, "DeactivateGrant(again)", s.DeactivateGrant(ctx, identity.GrantAuthorizeCode, "sig"))
}

func testDeactivateFamily(t *testing.T, s identity.Store) {
	ctx := t.Context()
	rt1 := newGrant(identity.GrantRefreshToken, "rt1", "family-a")
	rt2 := newGrant(identity.GrantRefreshToken, "rt2", "family-a")
	rt3 := newGrant(identity.GrantRefreshToken, "rt3", "family-a")
	rt3.Active = false // already inactive: not counted
	at := newGrant(identity.GrantAccessToken, "at1", "family-a")
	other := newGrant(identity.GrantRefreshToken, "rt-b", "family-b")
	for _, g := range []*identity.Grant{rt1, rt2, rt3, at, other} {
		mustCreateGrant(t, s, g)
	}

	n, err := s.DeactivateFamily(ctx, identity.GrantRefreshToken, "family-a")
	noErr(t, "DeactivateFamily", err)
	if n != 2 {
		t.Errorf("DeactivateFamily changed %d records, want 2", n)
	}
	for _, sig := range []string{"rt1", "rt2", "rt3"} {
		if mustGrant(t, s, identity.GrantRefreshToken, sig).Active {
			t.Errorf("refresh token %s still active", sig)
		}
	}
	if !mustGrant(t, s, identity.GrantAccessToken, "at1").Active {
		t.Error("DeactivateFamily(refresh_token) deactivated an access token of the family")
	}
	if !mustGrant(t, s, identity.GrantRefreshToken, "rt-b").Active {
		t.Error("DeactivateFamily deactivated a refresh token of another family")
	}

	n, err = s.DeactivateFamily(ctx, identity.GrantRefreshToken, "family-a")
	noErr(t, "DeactivateFamily(again)", err)
	if n != 0 {
		t.Errorf("DeactivateFamily(again) changed %d records, want 0", n)
	}
	n, err = s.DeactivateFamily(ctx, identity.GrantAccessToken, "family-a")
	noErr(t, "DeactivateFamily(access_token)", err)
	if n != 1 || mustGrant(t, s, identity.GrantAccessToken, "at1").Active {
		t.Errorf("DeactivateFamily(access_token) changed %d records, want 1", n)
	}
	n, err = s.DeactivateFamily(ctx, identity.GrantRefreshToken, "no-such-family")
	noErr(t, "DeactivateFamily(unknown)", err)
	if n != 0 {
		t.Errorf("DeactivateFamily(unknown) changed %d records, want 0", n)
	}
}

func testMarkRotated(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateGrant(t, s, newGrant(identity.GrantRefreshToken, "rt", "req"))
	inactive := newGrant(identity.GrantRefreshToken, "rt-inactive", "req")
	inactive.Active = false
	mustCreateGrant(t, s, inactive)
	mustCreateGrant(t, s, newGrant(identity.GrantAccessToken, "at", "req"))

	at := base.Add(10 * time.Minute)
	ok, err := s.MarkRotated(ctx, "rt", at)
	noErr(t, "MarkRotated", err)
	if !ok {
		t.Fatal("first MarkRotated returned false")
	}
	got := mustGrant(t, s, identity.GrantRefreshToken, "rt")
	if got.RotatedAt == nil || !got.RotatedAt.Equal(trunc(at)) {
		t.Errorf("RotatedAt = %v, want %v", show(got.RotatedAt), at)
	}
	if !got.Active {
		t.Error("MarkRotated deactivated the token")
	}

	ok, err = s.MarkRotated(ctx, "rt", at.Add(time.Minute))
	noErr(t, "MarkRotated(again)", err)
	if ok {
		t.Error("second MarkRotated returned true")
	}
	if got := mustGrant(t, s, identity.GrantRefreshToken, "rt"); got.RotatedAt == nil || !got.RotatedAt.Equal(trunc(at)) {
		t.Errorf("second MarkRotated moved RotatedAt to %v", show(got.RotatedAt))
	}

	for _, sig := range []string{"rt-inactive", "at", "unknown"} {
		ok, err := s.MarkRotated(ctx, sig, at)
		noErr(t, "MarkRotated("+sig+")", err)
		if ok {
			t.Errorf("MarkRotated(%s) returned true", sig)
		}
	}
	if got := mustGrant(t, s, identity.GrantRefreshToken, "rt-inactive"); got.RotatedAt != nil {
		t.Error("MarkRotated set RotatedAt on an inactive token")
	}
}

func testMarkRotatedConcurrent(t *testing.T, s identity.Store) {
	mustCreateGrant(t, s, newGrant(identity.GrantRefreshToken, "rt", "req"))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		errs  []error
		start = make(chan struct{})
	)
	for i := range concurrency {
		wg.Go(func() {
			<-start
			ok, err := s.MarkRotated(t.Context(), "rt", base.Add(time.Duration(i)*time.Second))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				wins++
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("MarkRotated failed: %v", err)
	}
	if wins != 1 {
		t.Fatalf("%d concurrent MarkRotated calls returned true, want exactly 1", wins)
	}
}

func testDeleteExpiredGrants(t *testing.T, s identity.Store) {
	ctx := t.Context()
	now := base.Add(48 * time.Hour)
	for i := range 25 {
		g := newGrant(identity.GrantAccessToken, fmt.Sprintf("expired-%02d", i), "req")
		g.ExpiresAt = now.Add(-time.Duration(i+1) * time.Minute)
		mustCreateGrant(t, s, g)
	}
	for i := range 5 {
		g := newGrant(identity.GrantRefreshToken, fmt.Sprintf("live-%d", i), "req")
		g.ExpiresAt = now.Add(time.Duration(i+1) * time.Minute)
		mustCreateGrant(t, s, g)
	}
	forever := newGrant(identity.GrantRefreshToken, "forever", "req")
	forever.ExpiresAt = time.Time{}
	mustCreateGrant(t, s, forever)

	n, err := s.DeleteExpiredGrants(ctx, now, 0)
	noErr(t, "DeleteExpiredGrants(limit 0)", err)
	if n != 0 {
		t.Errorf("DeleteExpiredGrants(limit 0) removed %d", n)
	}
	var removed []int64
	for range 4 {
		n, err := s.DeleteExpiredGrants(ctx, now, 10)
		noErr(t, "DeleteExpiredGrants", err)
		removed = append(removed, n)
	}
	if want := []int64{10, 10, 5, 0}; !slices.Equal(removed, want) {
		t.Errorf("DeleteExpiredGrants(limit 10) removed %v in turn, want %v", removed, want)
	}
	for i := range 25 {
		if _, err := s.GrantBySignature(ctx, identity.GrantAccessToken, fmt.Sprintf("expired-%02d", i)); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("expired grant %d: got error %v, want ErrNotFound", i, err)
		}
	}
	for i := range 5 {
		mustGrant(t, s, identity.GrantRefreshToken, fmt.Sprintf("live-%d", i))
	}
	mustGrant(t, s, identity.GrantRefreshToken, "forever")
}

func testUseJTI(t *testing.T, s identity.Store) {
	ctx := t.Context()
	now := time.Now()
	noErr(t, "UseJTI", s.UseJTI(ctx, "jti-1", now.Add(time.Hour)))
	wantErr(t, "UseJTI(again)", s.UseJTI(ctx, "jti-1", now.Add(2*time.Hour)), identity.ErrConflict)
	used, err := s.JTIUsed(ctx, "jti-1")
	noErr(t, "JTIUsed", err)
	if !used {
		t.Error("JTIUsed(jti-1) = false after UseJTI")
	}
	used, err = s.JTIUsed(ctx, "jti-unknown")
	noErr(t, "JTIUsed(unknown)", err)
	if used {
		t.Error("JTIUsed(unknown) = true")
	}

	// An expired JTI no longer counts and may be used again.
	noErr(t, "UseJTI(expired)", s.UseJTI(ctx, "jti-2", now.Add(-time.Minute)))
	used, err = s.JTIUsed(ctx, "jti-2")
	noErr(t, "JTIUsed(expired)", err)
	if used {
		t.Error("JTIUsed(expired) = true")
	}
	noErr(t, "UseJTI(reuse expired)", s.UseJTI(ctx, "jti-2", now.Add(time.Hour)))
	used, err = s.JTIUsed(ctx, "jti-2")
	noErr(t, "JTIUsed(reused)", err)
	if !used {
		t.Error("JTIUsed(reused) = false")
	}
	wantErr(t, "UseJTI(reused, again)", s.UseJTI(ctx, "jti-2", now.Add(time.Hour)), identity.ErrConflict)

	// Many JTIs, one after another (implementations may prune meanwhile).
	for i := range 200 {
		noErr(t, "UseJTI(many)", s.UseJTI(ctx, fmt.Sprintf("many-%d", i), now.Add(time.Duration(i%3-1)*time.Hour)))
	}
	for i := range 200 {
		used, err := s.JTIUsed(ctx, fmt.Sprintf("many-%d", i))
		noErr(t, "JTIUsed(many)", err)
		if want := i%3 == 2; used != want {
			t.Fatalf("JTIUsed(many-%d) = %v, want %v", i, used, want)
		}
	}
}

func testSigningKeys(t *testing.T, s identity.Store) {
	ctx := t.Context()
	keys, err := s.SigningKeys(ctx)
	noErr(t, "SigningKeys(empty)", err)
	if len(keys) != 0 {
		t.Fatalf("SigningKeys on an empty store returned %d keys", len(keys))
	}
	mk := func(id string, created time.Time) *identity.SigningKey {
		return &identity.SigningKey{
			ID:                  id,
			Algorithm:           "ES256",
			Use:                 "access_token",
			PublicJWK:           []byte(`{"kty":"EC","kid":"` + id + `"}`),
			EncryptedPrivateJWK: append([]byte{0x01, 0x00, 0xff}, id...),
			CreatedAt:           created,
			ActiveAt:            created.Add(time.Hour),
		}
	}
	middle := mk("k-middle", base)
	oldest := mk("k-oldest", base.Add(-24*time.Hour))
	newest := mk("k-newest", base.Add(24*time.Hour))
	newest.Algorithm, newest.Use = "RS256", "id_token"
	for _, k := range []*identity.SigningKey{middle, oldest, newest} {
		noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	}
	wantErr(t, "CreateSigningKey(same kid)", s.CreateSigningKey(ctx, mk("k-middle", base)), identity.ErrConflict)

	keys, err = s.SigningKeys(ctx)
	noErr(t, "SigningKeys", err)
	if len(keys) != 3 {
		t.Fatalf("SigningKeys returned %d keys, want 3", len(keys))
	}
	for i, want := range []*identity.SigningKey{newest, middle, oldest} {
		checkFields(t, fmt.Sprintf("SigningKeys[%d]", i), keys[i], *want)
	}
	noErr(t, "DeleteSigningKey", s.DeleteSigningKey(ctx, "k-middle"))
	wantErr(t, "DeleteSigningKey(gone)", s.DeleteSigningKey(ctx, "k-middle"), identity.ErrNotFound)
	if keys, err = s.SigningKeys(ctx); err != nil || len(keys) != 2 || keys[0].ID != "k-newest" || keys[1].ID != "k-oldest" {
		t.Fatalf("after deleting k-middle: %d keys, %v", len(keys), err)
	}
}

func testSessions(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("alice"))
	sess := newSession("sess-digest-1", "u-alice")
	noErr(t, "CreateSession", s.CreateSession(ctx, sess))
	wantErr(t, "CreateSession(same id)", s.CreateSession(ctx, newSession("sess-digest-1", "u-alice")), identity.ErrConflict)

	got, err := s.SessionByID(ctx, sess.ID)
	noErr(t, "SessionByID", err)
	checkFields(t, "SessionByID", *got, *sess)
	checkUTC(t, "SessionByID", got.AuthTime, got.CreatedAt, got.LastSeenAt, got.ExpiresAt)

	seen := base.Add(time.Hour + 123456789*time.Nanosecond)
	noErr(t, "TouchSession", s.TouchSession(ctx, sess.ID, seen))
	got, err = s.SessionByID(ctx, sess.ID)
	noErr(t, "SessionByID(touched)", err)
	want := *sess
	want.LastSeenAt = seen
	checkFields(t, "SessionByID(touched)", *got, want)

	noErr(t, "DeleteSession", s.DeleteSession(ctx, sess.ID))
	_, err = s.SessionByID(ctx, sess.ID)
	wantErr(t, "SessionByID(deleted)", err, identity.ErrNotFound)
	wantErr(t, "TouchSession(deleted)", s.TouchSession(ctx, sess.ID, seen), identity.ErrNotFound)
	wantErr(t, "DeleteSession(deleted)", s.DeleteSession(ctx, sess.ID), identity.ErrNotFound)

	// Defaults: zero CreatedAt and LastSeenAt are filled in; no AMR.
	bare := &identity.Session{ID: "sess-bare", UserID: "u-alice", AuthTime: base, ExpiresAt: base.Add(time.Hour)}
	noErr(t, "CreateSession(bare)", s.CreateSession(ctx, bare))
	if bare.CreatedAt.IsZero() || bare.LastSeenAt.IsZero() {
		t.Errorf("CreateSession left CreatedAt %v, LastSeenAt %v zero", bare.CreatedAt, bare.LastSeenAt)
	}
	got, err = s.SessionByID(ctx, "sess-bare")
	noErr(t, "SessionByID(bare)", err)
	checkFields(t, "SessionByID(bare)", *got, *bare)
}

func testSessionUnknownUser(t *testing.T, s identity.Store) {
	wantErr(t, "CreateSession(unknown user)", s.CreateSession(t.Context(), newSession("sess", "nobody")), identity.ErrNotFound)
	_, err := s.SessionByID(t.Context(), "sess")
	wantErr(t, "SessionByID", err, identity.ErrNotFound)
}

func testDeleteUserSessions(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("alice"))
	mustCreateUser(t, s, newUser("bob"))
	for i := range 3 {
		noErr(t, "CreateSession", s.CreateSession(ctx, newSession(fmt.Sprintf("alice-%d", i), "u-alice")))
	}
	noErr(t, "CreateSession", s.CreateSession(ctx, newSession("bob-0", "u-bob")))

	n, err := s.DeleteUserSessions(ctx, "u-alice")
	noErr(t, "DeleteUserSessions", err)
	if n != 3 {
		t.Errorf("DeleteUserSessions removed %d, want 3", n)
	}
	for i := range 3 {
		if _, err := s.SessionByID(ctx, fmt.Sprintf("alice-%d", i)); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("alice's session %d: got error %v, want ErrNotFound", i, err)
		}
	}
	if _, err := s.SessionByID(ctx, "bob-0"); err != nil {
		t.Errorf("bob's session: %v", err)
	}
	n, err = s.DeleteUserSessions(ctx, "u-alice")
	noErr(t, "DeleteUserSessions(again)", err)
	if n != 0 {
		t.Errorf("DeleteUserSessions(again) removed %d, want 0", n)
	}
}

func testDeleteExpiredSessions(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("alice"))
	now := base.Add(72 * time.Hour)
	for i := range 7 {
		sess := newSession(fmt.Sprintf("expired-%d", i), "u-alice")
		sess.ExpiresAt = now.Add(-time.Duration(i+1) * time.Second)
		noErr(t, "CreateSession", s.CreateSession(ctx, sess))
	}
	for i := range 2 {
		sess := newSession(fmt.Sprintf("live-%d", i), "u-alice")
		sess.ExpiresAt = now.Add(time.Duration(i+1) * time.Second)
		noErr(t, "CreateSession", s.CreateSession(ctx, sess))
	}
	var removed []int64
	for range 4 {
		n, err := s.DeleteExpiredSessions(ctx, now, 3)
		noErr(t, "DeleteExpiredSessions", err)
		removed = append(removed, n)
	}
	if want := []int64{3, 3, 1, 0}; !slices.Equal(removed, want) {
		t.Errorf("DeleteExpiredSessions(limit 3) removed %v in turn, want %v", removed, want)
	}
	for i := range 7 {
		if _, err := s.SessionByID(ctx, fmt.Sprintf("expired-%d", i)); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("expired session %d: got error %v, want ErrNotFound", i, err)
		}
	}
	for i := range 2 {
		if _, err := s.SessionByID(ctx, fmt.Sprintf("live-%d", i)); err != nil {
			t.Errorf("live session %d: %v", i, err)
		}
	}
}

func testPendingAuthorizations(t *testing.T, s identity.Store) {
	ctx := t.Context()
	p := &identity.PendingAuthorization{
		ID:        "pending-1",
		Query:     "response_type=code&client_id=shop&redirect_uri=https%3A%2F%2Fshop.example.com%2Fcb&scope=openid+profile+nope&state=xyz",
		ClientID:  "shop",
		Scopes:    []string{"openid", "profile"}, // what the client may have, not the raw query's
		CreatedAt: base,
		ExpiresAt: base.Add(10 * time.Minute),
	}
	noErr(t, "CreatePendingAuthorization", s.CreatePendingAuthorization(ctx, p))
	wantErr(t, "CreatePendingAuthorization(same id)", s.CreatePendingAuthorization(ctx, p), identity.ErrConflict)
	got, err := s.PendingAuthorizationByID(ctx, p.ID)
	noErr(t, "PendingAuthorizationByID", err)
	checkFields(t, "PendingAuthorizationByID", *got, *p)

	noErr(t, "DeletePendingAuthorization", s.DeletePendingAuthorization(ctx, p.ID))
	_, err = s.PendingAuthorizationByID(ctx, p.ID)
	wantErr(t, "PendingAuthorizationByID(deleted)", err, identity.ErrNotFound)
	wantErr(t, "DeletePendingAuthorization(deleted)", s.DeletePendingAuthorization(ctx, p.ID), identity.ErrNotFound)

	bare := &identity.PendingAuthorization{ID: "pending-2", Query: "a=b", ClientID: "c", ExpiresAt: base}
	noErr(t, "CreatePendingAuthorization(bare)", s.CreatePendingAuthorization(ctx, bare))
	if bare.CreatedAt.IsZero() {
		t.Error("CreatePendingAuthorization left CreatedAt zero")
	}
	got, err = s.PendingAuthorizationByID(ctx, bare.ID)
	noErr(t, "PendingAuthorizationByID(bare)", err)
	checkFields(t, "PendingAuthorizationByID(bare)", *got, *bare)

	// A row an older replica parked before the client and scopes were
	// columns is read from its query.
	old := &identity.PendingAuthorization{ID: "pending-3", Query: "client_id=shop&scope=openid+email", ExpiresAt: base}
	noErr(t, "CreatePendingAuthorization(old)", s.CreatePendingAuthorization(ctx, old))
	got, err = s.PendingAuthorizationByID(ctx, old.ID)
	noErr(t, "PendingAuthorizationByID(old)", err)
	if got.ClientID != "shop" || !slices.Equal(got.Scopes, []string{"openid", "email"}) {
		t.Errorf("old row: client %q scopes %v", got.ClientID, got.Scopes)
	}
}

var errAbort = errors.New("abort")

func testRollback(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustCreateGrant(t, s, newGrant(identity.GrantRefreshToken, "rt", "req"))
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, newUser("alice")); err != nil {
			return err
		}
		if err := s.CreateGrant(ctx, newGrant(identity.GrantAccessToken, "at", "req")); err != nil {
			return err
		}
		if ok, err := s.MarkRotated(ctx, "rt", base); err != nil || !ok {
			return fmt.Errorf("MarkRotated in tx = %v, %v", ok, err)
		}
		// The transaction sees its own writes.
		if _, err := s.UserByID(ctx, "u-alice"); err != nil {
			return fmt.Errorf("UserByID in tx: %w", err)
		}
		return errAbort
	})
	wantErr(t, "InTx", err, errAbort)

	_, err = s.UserByID(ctx, "u-alice")
	wantErr(t, "UserByID after rollback", err, identity.ErrNotFound)
	_, err = s.GrantBySignature(ctx, identity.GrantAccessToken, "at")
	wantErr(t, "GrantBySignature after rollback", err, identity.ErrNotFound)
	if g := mustGrant(t, s, identity.GrantRefreshToken, "rt"); g.RotatedAt != nil {
		t.Error("MarkRotated survived the rollback")
	}
}

func testCommit(t *testing.T, s identity.Store) {
	ctx := t.Context()
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, newUser("alice")); err != nil {
			return err
		}
		if err := s.GrantRole(ctx, "u-alice", "admin"); err != nil {
			return err
		}
		return s.CreateGrant(ctx, newGrant(identity.GrantAccessToken, "at", "req"))
	})
	noErr(t, "InTx", err)
	u, err := s.UserByID(ctx, "u-alice")
	noErr(t, "UserByID after commit", err)
	if !slices.Equal(u.Roles, []string{"admin"}) {
		t.Errorf("roles after commit = %q, want [admin]", u.Roles)
	}
	mustGrant(t, s, identity.GrantAccessToken, "at")
}

func testPanicRollsBack(t *testing.T, s identity.Store) {
	ctx := t.Context()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic in InTx was swallowed")
			}
		}()
		_ = s.InTx(ctx, func(ctx context.Context) error {
			if err := s.CreateUser(ctx, newUser("alice")); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	_, err := s.UserByID(ctx, "u-alice")
	wantErr(t, "UserByID after panic", err, identity.ErrNotFound)
	// The store is still usable.
	mustCreateUser(t, s, newUser("bob"))
}

func testNestedInTx(t *testing.T, s identity.Store) {
	ctx := t.Context()
	// An inner InTx that succeeds is still undone by the outer rollback.
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.InTx(ctx, func(ctx context.Context) error {
			return s.CreateUser(ctx, newUser("alice"))
		}); err != nil {
			return err
		}
		if _, err := s.UserByID(ctx, "u-alice"); err != nil {
			return fmt.Errorf("outer tx does not see the inner write: %w", err)
		}
		return errAbort
	})
	wantErr(t, "outer InTx", err, errAbort)
	_, err = s.UserByID(ctx, "u-alice")
	wantErr(t, "UserByID after outer rollback", err, identity.ErrNotFound)

	// Both levels commit together.
	err = s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, newUser("bob")); err != nil {
			return err
		}
		return s.InTx(ctx, func(ctx context.Context) error {
			return s.CreateUser(ctx, newUser("carol"))
		})
	})
	noErr(t, "nested InTx", err)
	for _, id := range []string{"u-bob", "u-carol"} {
		if _, err := s.UserByID(ctx, id); err != nil {
			t.Errorf("UserByID(%s) after commit: %v", id, err)
		}
	}

	// An inner error propagates and the whole transaction rolls back.
	err = s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, newUser("dave")); err != nil {
			return err
		}
		return s.InTx(ctx, func(ctx context.Context) error { return errAbort })
	})
	wantErr(t, "InTx with failing inner", err, errAbort)
	_, err = s.UserByID(ctx, "u-dave")
	wantErr(t, "UserByID(dave)", err, identity.ErrNotFound)
}

func testBeginCommitRollback(t *testing.T, s identity.Store) {
	ctx := t.Context()
	txCtx, err := s.BeginTx(ctx)
	noErr(t, "BeginTx", err)
	noErr(t, "CreateUser in tx", s.CreateUser(txCtx, newUser("alice")))
	if _, err := s.UserByID(txCtx, "u-alice"); err != nil {
		t.Errorf("UserByID in tx: %v", err)
	}
	noErr(t, "RollbackTx", s.RollbackTx(txCtx))
	_, err = s.UserByID(ctx, "u-alice")
	wantErr(t, "UserByID after RollbackTx", err, identity.ErrNotFound)

	txCtx, err = s.BeginTx(ctx)
	noErr(t, "BeginTx", err)
	noErr(t, "CreateUser in tx", s.CreateUser(txCtx, newUser("bob")))
	mustCreateGrantCtx(t, s, txCtx, newGrant(identity.GrantRefreshToken, "rt", "req"))
	noErr(t, "CommitTx", s.CommitTx(txCtx))
	if _, err := s.UserByID(ctx, "u-bob"); err != nil {
		t.Errorf("UserByID after CommitTx: %v", err)
	}
	mustGrant(t, s, identity.GrantRefreshToken, "rt")

	// InTx inside BeginTx joins it.
	txCtx, err = s.BeginTx(ctx)
	noErr(t, "BeginTx", err)
	noErr(t, "InTx inside BeginTx", s.InTx(txCtx, func(ctx context.Context) error {
		return s.CreateUser(ctx, newUser("carol"))
	}))
	noErr(t, "RollbackTx", s.RollbackTx(txCtx))
	_, err = s.UserByID(ctx, "u-carol")
	wantErr(t, "UserByID(carol) after RollbackTx", err, identity.ErrNotFound)
}

func mustCreateGrantCtx(t *testing.T, s identity.Store, ctx context.Context, g *identity.Grant) {
	t.Helper()
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatalf("CreateGrant(%s): %v", g.Kind, err)
	}
}

func testConcurrentWrites(t *testing.T, s identity.Store) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
	)
	for i := range concurrency {
		wg.Go(func() {
			<-start
			ctx := t.Context()
			name := fmt.Sprintf("user%02d", i)
			err := s.CreateUser(ctx, newUser(name))
			if err == nil {
				err = s.GrantRole(ctx, "u-"+name, "customer")
			}
			for j := 0; err == nil && j < 5; j++ {
				err = s.CreateGrant(ctx, newGrant(identity.GrantAccessToken, fmt.Sprintf("at-%d-%d", i, j), name))
			}
			if err == nil {
				err = s.UseJTI(ctx, "jti-"+name, time.Now().Add(time.Hour))
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("writer %d: %w", i, err))
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent writes failed: %v", err)
	}
	users, err := s.SearchUsers(t.Context(), identity.UserQuery{})
	noErr(t, "ListUsers", err)
	if len(users) != concurrency {
		t.Fatalf("ListUsers returned %d users, want %d", len(users), concurrency)
	}
	for _, u := range users {
		if !slices.Equal(u.Roles, []string{"customer"}) {
			t.Errorf("user %s roles = %q", u.Username, u.Roles)
		}
	}
	for i := range concurrency {
		for j := range 5 {
			mustGrant(t, s, identity.GrantAccessToken, fmt.Sprintf("at-%d-%d", i, j))
		}
	}
}

func testConcurrentTransactions(t *testing.T, s identity.Store) {
	for i := range concurrency {
		mustCreateGrant(t, s, newGrant(identity.GrantRefreshToken, fmt.Sprintf("rt-%d", i), fmt.Sprintf("req-%d", i)))
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
	)
	// Each transaction reads, then writes: a refresh-token rotation.
	for i := range concurrency {
		wg.Go(func() {
			<-start
			err := s.InTx(t.Context(), func(ctx context.Context) error {
				old, err := s.GrantBySignature(ctx, identity.GrantRefreshToken, fmt.Sprintf("rt-%d", i))
				if err != nil {
					return err
				}
				ok, err := s.MarkRotated(ctx, old.Signature, base.Add(time.Minute))
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("MarkRotated returned false")
				}
				next := newGrant(identity.GrantRefreshToken, fmt.Sprintf("rt-%d-next", i), old.RequestID)
				if err := s.CreateGrant(ctx, next); err != nil {
					return err
				}
				return s.CreateGrant(ctx, newGrant(identity.GrantAccessToken, fmt.Sprintf("at-%d-next", i), old.RequestID))
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("transaction %d: %w", i, err))
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent transactions failed: %v", err)
	}
	for i := range concurrency {
		if g := mustGrant(t, s, identity.GrantRefreshToken, fmt.Sprintf("rt-%d", i)); g.RotatedAt == nil {
			t.Errorf("rt-%d not rotated", i)
		}
		mustGrant(t, s, identity.GrantRefreshToken, fmt.Sprintf("rt-%d-next", i))
		mustGrant(t, s, identity.GrantAccessToken, fmt.Sprintf("at-%d-next", i))
	}
}
