package manage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/testdb"
)

// The guard rails, one action at a time, for an admin and a super_admin:
// what each may do, and that every refusal is on the ledger.
func TestGuardRails(t *testing.T) {
	ctx := context.Background()
	admin := manage.Actor{ID: "admin:a", Roles: []string{"admin"}}
	root := manage.Actor{ID: "admin:r", Roles: []string{identity.RoleSuperAdmin}}
	type action func(s *manage.Service, a manage.Actor) error
	users := func(st identity.Store) (customer, boss string) {
		for _, u := range []*identity.User{
			{ID: "u-cus", Username: "cus", Email: "cus@example.com", Roles: []string{"customer"}},
			{ID: "u-boss", Username: "boss", Email: "boss@example.com", Roles: []string{identity.RoleSuperAdmin}},
			{ID: "u-boss2", Username: "boss2", Email: "boss2@example.com", Roles: []string{identity.RoleSuperAdmin}},
		} {
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		return "u-cus", "u-boss"
	}
	clientSpec := func(id string, mod func(*manage.ClientSpec)) manage.ClientSpec {
		sp := manage.ClientSpec{ID: id, GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid"}}
		if mod != nil {
			mod(&sp)
		}
		return sp
	}
	for _, tc := range []struct {
		name             string
		do               action
		adminOK, superOK bool
	}{
		{"disable a customer", func(s *manage.Service, a manage.Actor) error {
			_, err := s.SetUserDisabled(ctx, a, "u-cus", true)
			return err
		}, true, true},
		{"disable a super_admin", func(s *manage.Service, a manage.Actor) error {
			_, err := s.SetUserDisabled(ctx, a, "u-boss", true)
			return err
		}, false, true},
		{"reset a super_admin's MFA", func(s *manage.Service, a manage.Actor) error {
			return s.ResetMFA(ctx, a, "u-boss")
		}, false, true},
		{"grant admin", func(s *manage.Service, a manage.Actor) error {
			_, err := s.GrantRole(ctx, a, "u-cus", "admin")
			return err
		}, true, true},
		{"grant super_admin", func(s *manage.Service, a manage.Actor) error {
			_, err := s.GrantRole(ctx, a, "u-cus", identity.RoleSuperAdmin)
			return err
		}, false, true},
		{"create a user with super_admin", func(s *manage.Service, a manage.Actor) error {
			_, err := s.CreateUser(ctx, a, &identity.User{Username: "new", Email: "new@example.com", Roles: []string{identity.RoleSuperAdmin}})
			return err
		}, false, true},
		{"create a vendor client", func(s *manage.Service, a manage.Actor) error {
			_, _, err := s.CreateClient(ctx, a, clientSpec("shop", func(sp *manage.ClientSpec) { sp.Roles = []string{"vendor"} }))
			return err
		}, true, true},
		{"create an admin client", func(s *manage.Service, a manage.Actor) error {
			_, _, err := s.CreateClient(ctx, a, clientSpec("bot", func(sp *manage.ClientSpec) { sp.Roles = []string{"admin"} }))
			return err
		}, false, true},
		{"create a first-party client", func(s *manage.Service, a manage.Actor) error {
			_, _, err := s.CreateClient(ctx, a, clientSpec("app", func(sp *manage.ClientSpec) { sp.FirstParty = true }))
			return err
		}, false, true},
		{"create a client with admin scopes", func(s *manage.Service, a manage.Actor) error {
			_, _, err := s.CreateClient(ctx, a, clientSpec("ops", func(sp *manage.ClientSpec) { sp.Scopes = []string{"portero:admin:read"} }))
			return err
		}, false, true},
		{"define a role", func(s *manage.Service, a manage.Actor) error {
			return s.PutRole(ctx, a, &identity.Role{Name: "support", Includes: []string{"customer"}})
		}, false, true},
		{"define a role including super_admin", func(s *manage.Service, a manage.Actor) error {
			return s.PutRole(ctx, a, &identity.Role{Name: "deputy", Includes: []string{identity.RoleSuperAdmin}})
		}, false, true},
	} {
		for _, who := range []struct {
			actor manage.Actor
			ok    bool
		}{{admin, tc.adminOK}, {root, tc.superOK}} {
			t.Run(tc.name+" as "+who.actor.Roles[0], func(t *testing.T) {
				st := testdb.SQLite(t)
				users(st)
				s := &manage.Service{Store: st, Now: time.Now}
				err := tc.do(s, who.actor)
				denied, lerr := st.LedgerEntries(ctx, identity.LedgerFilter{Types: []string{manage.EventDenied}})
				if lerr != nil {
					t.Fatal(lerr)
				}
				switch {
				case who.ok && err != nil:
					t.Fatalf("refused: %v", err)
				case !who.ok && !errors.Is(err, manage.ErrForbidden):
					t.Fatalf("got %v, want ErrForbidden", err)
				case !who.ok && (len(denied) != 1 || denied[0].Actor != who.actor.ID):
					t.Fatalf("the refusal left %d entries: %+v", len(denied), denied)
				case who.ok && len(denied) != 0:
					t.Fatalf("an allowed action recorded a refusal: %+v", denied)
				}
			})
		}
	}
}

// The last enabled super_admin stays, whoever asks and however.
func TestLastSuperAdmin(t *testing.T) {
	ctx := context.Background()
	st := testdb.SQLite(t)
	if err := st.CreateUser(ctx, &identity.User{ID: "u-boss", Username: "boss", Email: "b@example.com", Roles: []string{identity.RoleSuperAdmin}}); err != nil {
		t.Fatal(err)
	}
	s := &manage.Service{Store: st, Now: time.Now}
	root := manage.Actor{ID: "cli:root", Roles: []string{identity.RoleSuperAdmin}}
	if _, err := s.SetUserDisabled(ctx, root, "u-boss", true); !errors.Is(err, identity.ErrLastSuperAdmin) {
		t.Fatalf("disable: %v", err)
	}
	if _, err := s.RevokeRole(ctx, root, "u-boss", identity.RoleSuperAdmin); !errors.Is(err, identity.ErrLastSuperAdmin) {
		t.Fatalf("revoke: %v", err)
	}
	if err := s.DeleteRole(ctx, root, identity.RoleSuperAdmin); err == nil {
		t.Fatal("deleted the super_admin role")
	}
}

// Two super_admins taking the role from each other at once, through the
// service (which locks the target and then, in the store, the
// super_admins): exactly one wins, the other is told why, and neither
// waits forever on the other's locks.
func TestConcurrentRevocationsThroughTheService(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := context.Background()
		st := b.Open(t)
		for _, id := range []string{"u-a", "u-b"} {
			if err := st.CreateUser(ctx, &identity.User{ID: id, Username: id, Email: id + "@example.com", Roles: []string{identity.RoleSuperAdmin}}); err != nil {
				t.Fatal(err)
			}
		}
		s := &manage.Service{Store: st, Now: time.Now}
		errs := make(chan error, 2)
		for _, pair := range [][2]string{{"u-a", "u-b"}, {"u-b", "u-a"}} {
			go func() {
				by := manage.Actor{ID: identity.AdminActor(pair[0]), Roles: []string{identity.RoleSuperAdmin}}
				_, err := s.RevokeRole(ctx, by, pair[1], identity.RoleSuperAdmin)
				errs <- err
			}()
		}
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("got %v and %v, want exactly one refusal", e1, e2)
		}
		for _, err := range []error{e1, e2} {
			if err != nil && !errors.Is(err, identity.ErrLastSuperAdmin) {
				t.Fatalf("the refusal is %v, want ErrLastSuperAdmin", err)
			}
		}
	})
}
