package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

// adminTests cover what the admin API and pages need beyond sign-in:
// searching and paging users, disabling accounts, and updating a client
// without losing a concurrent change.
var adminTests = []struct {
	name string
	fn   func(*testing.T, identity.Store)
}{
	{"search users by text, role and state, in pages", testSearchUsers},
	{"search users escapes LIKE wildcards", testSearchUsersWildcards},
	{"disable, enable and delete users; not the last enabled super_admin", testSetUserDisabled},
	{"update client checks the version it read", testUpdateClient},
	{"lock user returns the user, in a transaction and outside", testLockUser},
}

func testLockUser(t *testing.T, s identity.Store) {
	ctx := t.Context()
	u := newUser("locked")
	mustCreateUser(t, s, u)
	noErr(t, "GrantRole", s.GrantRole(ctx, u.ID, "vendor"))
	got, err := s.LockUser(ctx, u.ID)
	noErr(t, "LockUser", err)
	if got.ID != u.ID || !got.HasRole("vendor") {
		t.Fatalf("LockUser = %+v", got)
	}
	noErr(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		got, err := s.LockUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if !got.HasRole("vendor") {
			t.Errorf("LockUser in a transaction = %+v", got)
		}
		// The holder of the lock still writes.
		return s.SetUserDisabled(ctx, u.ID, true, base)
	}))
	_, err = s.LockUser(ctx, "u-nobody")
	wantErr(t, "LockUser(missing)", err, identity.ErrNotFound)
}

func usernames(us []identity.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Username)
	}
	return out
}

func testSearchUsers(t *testing.T, s identity.Store) {
	ctx := t.Context()
	for _, n := range []string{"Carla", "andres", "bruno", "camila", "Diana"} {
		mustCreateUser(t, s, newUser(n))
	}
	noErr(t, "GrantRole", s.GrantRole(ctx, "u-bruno", "vendor"))
	noErr(t, "GrantRole", s.GrantRole(ctx, "u-Diana", "vendor"))
	noErr(t, "GrantRole", s.GrantRole(ctx, "u-Diana", "admin"))
	noErr(t, "SetUserDisabled", s.SetUserDisabled(ctx, "u-camila", true, base))
	yes, no := true, false
	for _, tc := range []struct {
		name string
		q    identity.UserQuery
		want []string
	}{
		{"all, by username ignoring case", identity.UserQuery{}, []string{"andres", "bruno", "camila", "Carla", "Diana"}},
		{"text in username, any case", identity.UserQuery{Text: "CA"}, []string{"camila", "Carla"}},
		{"text in e-mail", identity.UserQuery{Text: "dres@example"}, []string{"andres"}},
		{"role", identity.UserQuery{Role: "vendor"}, []string{"bruno", "Diana"}},
		{"disabled", identity.UserQuery{Disabled: &yes}, []string{"camila"}},
		{"enabled vendors", identity.UserQuery{Role: "vendor", Disabled: &no}, []string{"bruno", "Diana"}},
		{"limit", identity.UserQuery{Limit: 2}, []string{"andres", "bruno"}},
		{"after", identity.UserQuery{After: &identity.User{ID: "u-bruno", Username: "bruno"}, Limit: 2}, []string{"camila", "Carla"}},
		{"after the last", identity.UserQuery{After: &identity.User{ID: "u-Diana", Username: "Diana"}}, nil},
	} {
		got, err := s.SearchUsers(ctx, tc.q)
		noErr(t, tc.name, err)
		if !slices.Equal(usernames(got), tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, usernames(got), tc.want)
		}
	}
	got, err := s.SearchUsers(ctx, identity.UserQuery{Text: "diana"})
	noErr(t, "SearchUsers", err)
	if len(got) != 1 || !slices.Equal(got[0].Roles, []string{"admin", "vendor"}) {
		t.Fatalf("SearchUsers(diana) = %+v, want one user with roles [admin vendor]", got)
	}
	if got, _ := s.SearchUsers(ctx, identity.UserQuery{Disabled: &yes}); len(got) != 1 || !got[0].Disabled {
		t.Fatalf("disabled search = %+v", got)
	}
}

func testSearchUsersWildcards(t *testing.T, s identity.Store) {
	mustCreateUser(t, s, newUser("ana_maria"))
	mustCreateUser(t, s, newUser("anaxmaria"))
	mustCreateUser(t, s, newUser("ana.100"))
	for text, want := range map[string][]string{
		"a_m": {"ana_maria"},
		"%":   nil,
		`\`:   nil,
		"100": {"ana.100"},
	} {
		got, err := s.SearchUsers(t.Context(), identity.UserQuery{Text: text})
		noErr(t, "SearchUsers", err)
		if !slices.Equal(usernames(got), want) {
			t.Errorf("SearchUsers(%q) = %v, want %v", text, usernames(got), want)
		}
	}
}

func testSetUserDisabled(t *testing.T, s identity.Store) {
	ctx := t.Context()
	root, other := newUser("root"), newUser("other")
	mustCreateUser(t, s, root)
	mustCreateUser(t, s, other)
	at := base.Add(time.Hour)
	noErr(t, "SetUserDisabled(other)", s.SetUserDisabled(ctx, other.ID, true, at))
	got, err := s.UserByID(ctx, other.ID)
	noErr(t, "UserByID", err)
	if !got.Disabled || !got.UpdatedAt.Equal(at.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("after disabling: disabled=%v updated=%v, want true and %v", got.Disabled, got.UpdatedAt, at)
	}
	noErr(t, "SetUserDisabled(enable)", s.SetUserDisabled(ctx, other.ID, false, at))
	if got, _ := s.UserByID(ctx, other.ID); got.Disabled {
		t.Fatal("still disabled after enabling")
	}
	wantErr(t, "SetUserDisabled(missing)", s.SetUserDisabled(ctx, "u-nobody", true, at), identity.ErrNotFound)

	// The last enabled super_admin can be neither disabled nor stripped
	// of the role while another one is disabled.
	noErr(t, "GrantRole(root)", s.GrantRole(ctx, root.ID, identity.RoleSuperAdmin))
	wantErr(t, "SetUserDisabled(last)", s.SetUserDisabled(ctx, root.ID, true, at), identity.ErrLastSuperAdmin)
	noErr(t, "GrantRole(other)", s.GrantRole(ctx, other.ID, identity.RoleSuperAdmin))
	noErr(t, "SetUserDisabled(other super)", s.SetUserDisabled(ctx, other.ID, true, at))
	wantErr(t, "SetUserDisabled(last enabled)", s.SetUserDisabled(ctx, root.ID, true, at), identity.ErrLastSuperAdmin)
	wantErr(t, "RevokeRole(last enabled)", s.RevokeRole(ctx, root.ID, identity.RoleSuperAdmin), identity.ErrLastSuperAdmin)
	wantErr(t, "DeleteUser(last enabled)", s.DeleteUser(ctx, root.ID), identity.ErrLastSuperAdmin)
	if got, err := s.UserByID(ctx, root.ID); err != nil || got.Disabled || !got.HasRole(identity.RoleSuperAdmin) {
		t.Fatalf("refused changes still changed root: %+v %v", got, err)
	}
	noErr(t, "DeleteUser(a disabled super_admin)", s.DeleteUser(ctx, other.ID))
}

func testUpdateClient(t *testing.T, s identity.Store) {
	ctx := t.Context()
	c := fullClient("shop")
	noErr(t, "CreateClient", s.CreateClient(ctx, c))
	read, err := s.ClientByID(ctx, "shop")
	noErr(t, "ClientByID", err)

	next := *read
	next.Name, next.Disabled, next.Roles, next.SecretHash = "Shop 2", false, []string{"vendor"}, []byte{1, 2, 3}
	next.UpdatedAt = base.Add(2 * time.Hour)
	noErr(t, "UpdateClient", s.UpdateClient(ctx, &next, read.UpdatedAt))
	got, err := s.ClientByID(ctx, "shop")
	noErr(t, "ClientByID", err)
	next.UpdatedAt = next.UpdatedAt.UTC().Truncate(time.Microsecond)
	checkFields(t, "after UpdateClient", *got, next)

	// A writer that read the old version loses.
	stale := *read
	stale.Name = "stale"
	wantErr(t, "UpdateClient(stale)", s.UpdateClient(ctx, &stale, read.UpdatedAt), identity.ErrConflict)
	missing := *read
	missing.ID = "nobody"
	wantErr(t, "UpdateClient(missing)", s.UpdateClient(ctx, &missing, read.UpdatedAt), identity.ErrNotFound)
}
