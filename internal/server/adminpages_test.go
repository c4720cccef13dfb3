package server_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/i18n"
	"github.com/portero-id/portero/internal/testdb"
	"github.com/portero-id/portero/templates"
)

// The admin pages beyond the request queue: users, clients, roles,
// signing keys and the ledger, every action through manage.Service with
// its guard rails and ledger entries.

var (
	nextPagePattern = regexp.MustCompile(`href="([^"]+)" id="next-page"`)
	secretPattern   = regexp.MustCompile(`id="client-secret">([^<]+)<`)
	userRowPattern  = regexp.MustCompile(`<li id="u-`)
	eventRowPattern = regexp.MustCompile(`<li id="ev-(\d+)"`)
)

// adminPage GETs an admin page that must answer 200.
func (e *env) adminPage(t *testing.T, a *testAdmin, path string) string {
	t.Helper()
	resp, body := e.page(a.c, path)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != strings.SplitN(path, "?", 2)[0] {
		t.Fatalf("GET %s: %d at %s\n%s", path, resp.StatusCode, resp.Request.URL, alertOf(body))
	}
	return body
}

// signedIn reports whether browser c still has a session (the account
// page answers instead of sending it to sign in).
func (e *env) hasSession(t *testing.T, c *http.Client) bool {
	t.Helper()
	resp, _ := e.page(c, "/account")
	return resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/account"
}

// sessionIDs lists a user's stored session ids.
func (e *env) sessionIDs(t *testing.T, userID string) []string {
	t.Helper()
	sessions, err := e.store.SessionsByUser(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range sessions {
		ids = append(ids, s.ID)
	}
	return ids
}

func (e *env) user(t *testing.T, id string) *identity.User {
	t.Helper()
	u, err := e.store.UserByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// loginLands signs a fresh browser in with a password and returns where it
// landed and the status.
func (e *env) loginLands(username, password string) (int, string) {
	resp, _ := e.submit(e.browser(), "/login", url.Values{"username": {username}, "password": {password}})
	return resp.StatusCode, resp.Request.URL.Path
}

// tokenStatus asks for a client-credentials token with basic auth.
func (e *env) tokenStatus(id, secret string) int {
	status, _, _ := e.postForm("/oauth2/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	return status
}

// TestAdminPagesAreHiddenFromCustomers: every new admin page and action
// is the not-found page for a signed-in customer, and changes nothing; a
// browser without a session is sent to sign in; a stale administrator to
// sign in again.
func TestAdminPagesAreHiddenFromCustomers(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	e.signIn(t, c, "alice")
	pages := []string{"/admin", "/admin/users", "/admin/users?q=alice", "/admin/users/" + e.userID, "/admin/clients",
		"/admin/clients/webapp", "/admin/roles", "/admin/keys", "/admin/events"}
	for _, path := range pages {
		resp, body := e.page(c, path)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, `id="users"`) || strings.Contains(body, "alice@example.com") {
			t.Errorf("customer GET %s: %d", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/admin/users/" + e.userID + "/grant-role", "/admin/users/" + e.userID + "/end-sessions",
		"/admin/clients/webapp/disable", "/admin/roles", "/admin/keys/rotate"} {
		resp, _ := e.submit(c, path, url.Values{"role": {"admin"}, "name": {"sneaky"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("customer POST %s: %d", path, resp.StatusCode)
		}
	}
	if u := e.user(t, e.userID); u.HasRole("admin") {
		t.Fatal("a customer granted themself admin")
	}
	if !e.hasSession(t, c) {
		t.Fatal("a customer's refused post ended their session")
	}
	if cl, _ := e.store.ClientByID(context.Background(), "webapp"); cl.Disabled {
		t.Fatal("a customer disabled a client")
	}
	if roles, _ := e.store.Roles(context.Background()); slices.ContainsFunc(roles, func(r identity.Role) bool { return r.Name == "sneaky" }) {
		t.Fatal("a customer defined a role")
	}

	anon := e.browser()
	resp, err := anon.Get(e.issuer + "/admin/users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("anonymous: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	a := e.newAdmin(t, "root")
	body := e.adminPage(t, a, "/admin")
	for _, section := range []string{"/admin/requests", "/admin/users", "/admin/clients", "/admin/roles", "/admin/keys", "/admin/events"} {
		if !strings.Contains(body, `href="`+section+`"`) {
			t.Errorf("the home page lacks %s", section)
		}
	}
	if body := e.adminPage(t, a, "/admin/requests"); !strings.Contains(body, `href="/admin"`) {
		t.Error("the queue does not link to the home page")
	}
	e.advance(16 * time.Minute)
	for _, path := range []string{"/admin", "/admin/users/" + e.userID} {
		resp, err := a.c.Get(e.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?notice=reauth&login_hint=root" {
			t.Errorf("stale admin GET %s: %d %q", path, resp.StatusCode, loc)
		}
	}
	resp, err = a.c.PostForm(e.issuer+"/admin/users/"+e.userID+"/disable", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || e.user(t, e.userID).Disabled {
		t.Fatalf("stale admin disable: %d, disabled %v", resp.StatusCode, e.user(t, e.userID).Disabled)
	}
}

// TestAdminPagesManageUsers: an administrator searches users, reads one
// (the read of the consent records is on record), disables and enables
// an account, unlocks it, resets second factors, grants and revokes a
// role and ends sessions; an action on a super_admin, or a grant above
// their own roles, is refused with a 403 page and changes nothing; every
// action is a ledger entry under the administrator's name.
func TestAdminPagesManageUsers(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, func(c *config.Config) {
			c.Throttle.Account = config.ThrottlePolicy{FreeAttempts: 10, BaseDelay: time.Second, MaxDelay: time.Minute,
				LockoutAfter: 3, LockoutFor: 15 * time.Minute, Window: time.Hour}
		})
		ctx := context.Background()
		root := e.newAdmin(t, "root")
		actor := identity.AdminActor(root.u.ID)
		alice := "/admin/users/" + e.userID

		t.Run("search and pages", func(t *testing.T) {
			for i := range usersPerPageInTest + 2 {
				e.newUser(t, fmt.Sprintf("bulk-%02d", i), "customer")
			}
			body := e.adminPage(t, root, "/admin/users?q=ALI")
			if !strings.Contains(body, `id="u-`+e.userID+`"`) || strings.Contains(body, `id="u-`+root.u.ID+`"`) {
				t.Fatalf("search for ALI:\n%s", body)
			}
			body = e.adminPage(t, root, "/admin/users?role=admin")
			if !strings.Contains(body, `id="u-`+root.u.ID+`"`) || strings.Contains(body, `id="u-`+e.userID+`"`) {
				t.Fatal("role=admin lists the wrong users")
			}
			body = e.adminPage(t, root, "/admin/users?q=bulk-")
			if n := len(userRowPattern.FindAllString(body, -1)); n != usersPerPageInTest {
				t.Fatalf("first page: %d users", n)
			}
			if !strings.Contains(body, "bulk-00") || strings.Contains(body, "bulk-50") {
				t.Fatal("the first page is not the first 50 by username")
			}
			next := match(t, nextPagePattern, body)
			body = e.adminPage(t, root, next)
			if n := len(userRowPattern.FindAllString(body, -1)); n != 2 || !strings.Contains(body, "bulk-50") || !strings.Contains(body, "bulk-51") {
				t.Fatalf("second page (%s): %d users", next, n)
			}
			if nextPagePattern.MatchString(body) {
				t.Fatal("the last page has a next link")
			}
		})

		t.Run("detail records the read of the consent records", func(t *testing.T) {
			before := countOf(e.ledgerTypes(t, actor), "admin.consents_read")
			body := e.adminPage(t, root, alice)
			for _, want := range []string{"alice@example.com", `data-type="consent.accepted"`, `id="user-roles"`, "vendor", `action="` + alice + `/disable"`} {
				if !strings.Contains(body, want) {
					t.Errorf("alice's page lacks %s", want)
				}
			}
			if n := countOf(e.ledgerTypes(t, actor), "admin.consents_read"); n != before+1 {
				t.Fatalf("consent reads recorded: %d, want %d", n, before+1)
			}
			if resp, _ := e.page(root.c, "/admin/users/nobody"); resp.StatusCode != http.StatusNotFound {
				t.Errorf("a missing user: %d", resp.StatusCode)
			}
		})

		t.Run("disable and enable", func(t *testing.T) {
			c := e.browser()
			e.signIn(t, c, "alice")
			resp, body := e.submit(root.c, alice+"/disable", nil)
			wantActed(t, "disable", resp, body)
			if resp.Request.URL.Path != alice || !strings.Contains(body, `data-flag="disabled"`) {
				t.Fatalf("after disabling: %s", resp.Request.URL)
			}
			if !e.user(t, e.userID).Disabled {
				t.Fatal("alice is not disabled")
			}
			if e.hasSession(t, c) {
				t.Fatal("a disabled account kept its session")
			}
			if status, path := e.loginLands("alice", testPassword); path == "/account" {
				t.Fatalf("a disabled account signed in: %d %s", status, path)
			}
			resp, body = e.submit(root.c, alice+"/enable", nil)
			wantActed(t, "enable", resp, body)
			if e.user(t, e.userID).Disabled {
				t.Fatal("alice is still disabled")
			}
			e.signIn(t, e.browser(), "alice")
		})

		t.Run("unlock", func(t *testing.T) {
			for range 3 {
				e.loginLands("alice", "not the password")
			}
			if status, _ := e.loginLands("alice", testPassword); status != http.StatusTooManyRequests {
				t.Fatalf("alice is not locked: %d", status)
			}
			resp, body := e.submit(root.c, alice+"/unlock", nil)
			wantActed(t, "unlock", resp, body)
			if status, path := e.loginLands("alice", testPassword); path != "/account" {
				t.Fatalf("after unlocking: %d %s", status, path)
			}
		})

		t.Run("send a reset link", func(t *testing.T) {
			u := e.user(t, e.userID)
			resp, body := e.submit(root.c, alice+"/reset-link", nil)
			wantActed(t, "reset-link", resp, body)
			if m, ok := e.lastMail(u.Email); !ok || !strings.Contains(m.Text, "/password/reset?token=") {
				t.Fatalf("no reset link mailed: %+v", m)
			}
		})

		t.Run("reset second factors", func(t *testing.T) {
			bob := e.newAdmin(t, "bob")
			if f, _ := e.store.SecondFactors(ctx, bob.u.ID); !f.TOTP || f.RecoveryCodes == 0 {
				t.Fatalf("bob's factors before: %+v", f)
			}
			resp, body := e.submit(root.c, "/admin/users/"+bob.u.ID+"/reset-mfa", nil)
			wantActed(t, "reset-mfa", resp, body)
			if f, _ := e.store.SecondFactors(ctx, bob.u.ID); f.TOTP || f.Passkeys != 0 || f.RecoveryCodes != 0 {
				t.Fatalf("bob's factors after: %+v", f)
			}
			if _, path := e.loginLands("bob", testPassword); path != "/login/enroll" {
				t.Fatalf("bob after the reset lands on %s, want the enrolment", path)
			}
		})

		t.Run("grant and revoke a role", func(t *testing.T) {
			resp, body := e.submit(root.c, alice+"/grant-role", url.Values{"role": {"admin"}})
			wantActed(t, "grant", resp, body)
			if !e.user(t, e.userID).HasRole("admin") {
				t.Fatal("alice lacks admin")
			}
			resp, body = e.submit(root.c, alice+"/revoke-role", url.Values{"role": {"admin"}})
			wantActed(t, "revoke", resp, body)
			if e.user(t, e.userID).HasRole("admin") {
				t.Fatal("alice still holds admin")
			}
			resp, body = e.submit(root.c, alice+"/revoke-role", url.Values{"role": {"admin"}})
			wantRefused(t, "revoke a role not held", resp, body, http.StatusNotFound)
			resp, body = e.submit(root.c, alice+"/grant-role", url.Values{"role": {"Not A Role"}})
			wantRefused(t, "grant a malformed role", resp, body, http.StatusBadRequest)
		})

		t.Run("end sessions", func(t *testing.T) {
			if _, err := e.store.DeleteUserSessions(ctx, e.userID); err != nil {
				t.Fatal(err)
			}
			c1 := e.browser()
			e.signIn(t, c1, "alice")
			first := e.sessionIDs(t, e.userID)
			c2 := e.browser()
			e.signIn(t, c2, "alice")
			if len(first) != 1 || len(e.sessionIDs(t, e.userID)) != 2 {
				t.Fatalf("sessions: %v then %v", first, e.sessionIDs(t, e.userID))
			}
			body := e.adminPage(t, root, alice)
			if !strings.Contains(body, `name="session" value="`+html.EscapeString(first[0])+`"`) {
				t.Fatal("alice's page lacks the session's form")
			}
			resp, body := e.submit(root.c, alice+"/end-session", url.Values{"session": {""}})
			wantRefused(t, "end no session", resp, body, http.StatusBadRequest)
			if len(e.sessionIDs(t, e.userID)) != 2 {
				t.Fatal("a post without a session ended sessions")
			}
			resp, body = e.submit(root.c, alice+"/end-session", url.Values{"session": {first[0]}})
			wantActed(t, "end-session", resp, body)
			if e.hasSession(t, c1) || !e.hasSession(t, c2) {
				t.Fatal("ending one session: the wrong browser was signed out")
			}
			resp, body = e.submit(root.c, alice+"/end-sessions", nil)
			wantActed(t, "end-sessions", resp, body)
			if e.hasSession(t, c2) || len(e.sessionIDs(t, e.userID)) != 0 {
				t.Fatal("ending all sessions left one")
			}
		})

		t.Run("a super_admin is out of an admin's reach", func(t *testing.T) {
			boss := e.newAdmin(t, "boss")
			if err := e.store.GrantRole(ctx, boss.u.ID, identity.RoleSuperAdmin); err != nil {
				t.Fatal(err)
			}
			denied := e.deniedCount(t, actor)
			for _, tc := range []struct {
				action string
				form   url.Values
			}{
				{"disable", nil}, {"reset-mfa", nil}, {"unlock", nil}, {"end-sessions", nil},
				{"revoke-role", url.Values{"role": {"super_admin"}}}, {"grant-role", url.Values{"role": {"vendor"}}},
			} {
				resp, body := e.submit(root.c, "/admin/users/"+boss.u.ID+"/"+tc.action, tc.form)
				wantRefused(t, tc.action+" boss", resp, body, http.StatusForbidden)
			}
			resp, body := e.submit(root.c, alice+"/grant-role", url.Values{"role": {"super_admin"}})
			wantRefused(t, "grant super_admin", resp, body, http.StatusForbidden)
			if n := e.deniedCount(t, actor) - denied; n != 7 {
				t.Fatalf("%d refusals recorded, want 7", n)
			}
			if f, _ := e.store.SecondFactors(ctx, boss.u.ID); !f.TOTP {
				t.Fatal("a refused reset removed boss's second factor")
			}
			if u := e.user(t, boss.u.ID); u.Disabled || !u.HasRole("super_admin") || u.HasRole("vendor") || !e.hasSession(t, boss.c) {
				t.Fatalf("a refused action changed boss: %+v", u)
			}
			if e.user(t, e.userID).HasRole("super_admin") {
				t.Fatal("alice became super_admin")
			}
		})

		types := e.ledgerTypes(t, actor)
		for _, want := range []string{"admin.user_disabled", "admin.user_enabled", "admin.user_unlocked", "admin.mfa_reset",
			"admin.role_granted", "admin.role_revoked", "admin.session_revoked", "admin.sessions_revoked", "admin.consents_read", "admin.denied"} {
			if !slices.Contains(types, want) {
				t.Errorf("no %s among root's ledger entries %v", want, types)
			}
		}
		entries, err := e.store.LedgerEntries(ctx, identity.LedgerFilter{Actor: actor, Types: []string{"admin.user_disabled"}})
		if err != nil || len(entries) != 1 || entries[0].Subject != e.userID || entries[0].Kind != identity.LedgerAdmin {
			t.Fatalf("the disable entry: %+v %v", entries, err)
		}
	})
}

// usersPerPageInTest is the admin user search's page size.
const usersPerPageInTest = 50

// TestAdminPagesManageClients: an administrator disables and enables a
// client (its tokens stop, then start again), rotates its secret (shown
// once on the answer, never in a URL, nor on the page later; the old one
// stops working) and deletes one; a client carrying super_admin is out of
// an admin's reach.
func TestAdminPagesManageClients(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		root := e.newAdmin(t, "root")
		actor := identity.AdminActor(root.u.ID)

		body := e.adminPage(t, root, "/admin/clients")
		for _, id := range []string{"mobile", "webapp", "orders-api", "reports"} {
			if !strings.Contains(body, `id="c-`+id+`"`) {
				t.Errorf("the list lacks %s", id)
			}
		}
		page := "/admin/clients/orders-api"
		body = e.adminPage(t, root, page)
		if !strings.Contains(body, "Orders service") || !strings.Contains(body, `action="`+page+`/rotate-secret"`) {
			t.Fatal("the client's page lacks its name or the rotation form")
		}
		if body := e.adminPage(t, root, "/admin/clients/mobile"); strings.Contains(body, "/rotate-secret") {
			t.Error("a public client offers a secret rotation")
		}

		old := e.secrets["orders-api"]
		resp, body := e.submit(root.c, page+"/disable", nil)
		wantActed(t, "disable", resp, body)
		if status := e.tokenStatus("orders-api", old); status != http.StatusUnauthorized {
			t.Fatalf("a disabled client got a token: %d", status)
		}
		resp, body = e.submit(root.c, page+"/enable", nil)
		wantActed(t, "enable", resp, body)
		if status := e.tokenStatus("orders-api", old); status != http.StatusOK {
			t.Fatalf("the enabled client: %d", status)
		}

		resp, body = e.submit(root.c, page+"/rotate-secret", nil)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != page+"/rotate-secret" || resp.Request.Method != http.MethodPost {
			t.Fatalf("rotate: %d %s %s", resp.StatusCode, resp.Request.Method, resp.Request.URL)
		}
		secret := match(t, secretPattern, body)
		if len(secret) < 32 || secret == old {
			t.Fatalf("new secret %q", secret)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("the secret's page may be cached: %q", resp.Header.Get("Cache-Control"))
		}
		if status := e.tokenStatus("orders-api", secret); status != http.StatusOK {
			t.Fatalf("the new secret: %d", status)
		}
		if status := e.tokenStatus("orders-api", old); status != http.StatusUnauthorized {
			t.Fatalf("the old secret still works: %d", status)
		}
		if body := e.adminPage(t, root, page); strings.Contains(body, secret) || strings.Contains(body, `id="client-secret"`) {
			t.Fatal("the secret is shown again")
		}
		// The language switcher on the secret's page returns to the
		// post's address: a GET there shows the client, rotating nothing.
		resp, body = e.page(root.c, page+"/rotate-secret")
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != page || strings.Contains(body, `id="client-secret"`) {
			t.Fatalf("GET of the rotation's address: %d %s", resp.StatusCode, resp.Request.URL)
		}
		if status := e.tokenStatus("orders-api", secret); status != http.StatusOK {
			t.Fatalf("a GET rotated the secret: %d", status)
		}
		entries, err := e.store.LedgerEntries(ctx, identity.LedgerFilter{Actor: actor, Types: []string{"admin.client_secret_rotated"}})
		if err != nil || len(entries) != 1 || entries[0].ClientID != "orders-api" || strings.Contains(string(entries[0].Payload), secret) {
			t.Fatalf("the rotation's entry: %+v %v", entries, err)
		}

		resp, body = e.submit(root.c, "/admin/clients/reports/delete", url.Values{"confirm": {"orders-api"}})
		wantRefused(t, "delete without the right confirmation", resp, body, http.StatusBadRequest)
		if _, err := e.store.ClientByID(ctx, "reports"); err != nil {
			t.Fatalf("an unconfirmed delete: %v", err)
		}
		resp, body = e.submit(root.c, "/admin/clients/reports/delete", url.Values{"confirm": {"reports"}})
		wantActed(t, "delete", resp, body)
		if resp.Request.URL.Path != "/admin/clients" || strings.Contains(body, `id="c-reports"`) {
			t.Fatalf("after deleting: %s", resp.Request.URL)
		}
		if _, err := e.store.ClientByID(ctx, "reports"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("the deleted client: %v", err)
		}
		if resp, _ := e.page(root.c, "/admin/clients/reports"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("a deleted client's page: %d", resp.StatusCode)
		}

		e.createClient(&identity.Client{ID: "root-ops", Name: "Root operations", TokenEndpointAuthMethod: identity.AuthMethodBasic,
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid"}, Roles: []string{"super_admin"},
			TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256"})
		for _, action := range []string{"disable", "rotate-secret"} {
			resp, body := e.submit(root.c, "/admin/clients/root-ops/"+action, nil)
			wantRefused(t, action+" root-ops", resp, body, http.StatusForbidden)
			if secretPattern.MatchString(body) {
				t.Fatal("a refused rotation showed a secret")
			}
		}
		resp, body = e.submit(root.c, "/admin/clients/root-ops/delete", url.Values{"confirm": {"root-ops"}})
		wantRefused(t, "delete root-ops", resp, body, http.StatusForbidden)
		if c, err := e.store.ClientByID(ctx, "root-ops"); err != nil || c.Disabled {
			t.Fatalf("a refused action changed root-ops: %v", err)
		}
		if status := e.tokenStatus("root-ops", e.secrets["root-ops"]); status != http.StatusOK {
			t.Fatalf("root-ops's secret changed: %d", status)
		}

		types := e.ledgerTypes(t, actor)
		for _, want := range []string{"admin.client_disabled", "admin.client_enabled", "admin.client_secret_rotated", "admin.client_deleted", "admin.denied"} {
			if !slices.Contains(types, want) {
				t.Errorf("no %s among root's entries %v", want, types)
			}
		}
	})
}

// clientForm is the create form as an operator fills it, for a plain
// confidential service (client_credentials, HTTP Basic).
func clientForm(id, name string) url.Values {
	return url.Values{"client_id": {id}, "name": {name}, "token_endpoint_auth_method": {identity.AuthMethodBasic},
		"grant_type": {"client_credentials"}, "scopes": {"openid profile"}, "audience": {"https://api.example.com"},
		"roles": {"vendor"}, "token_format": {identity.TokenFormatJWT}, "id_token_alg": {"RS256"}}
}

var versionPattern = regexp.MustCompile(`name="version" value="([^"]+)"`)

// esText is a message in es-CO, the language of a browser that asks for
// none, as the page shows it.
func esText(t *testing.T, key string, args ...any) string {
	t.Helper()
	locales, err := fs.Sub(templates.Locales, "locales")
	if err != nil {
		t.Fatal(err)
	}
	b, err := i18n.Load(locales, "es-CO")
	if err != nil {
		t.Fatal(err)
	}
	return html.EscapeString(b.T("es-CO", key, args...))
}

// TestAdminPagesCreateAndEditClients: an administrator registers a
// confidential client with the form (its secret shown once, on the
// answer, and good at the token endpoint), edits its name and redirect
// URIs, and is refused an edit made on a stale form (the page then shows
// the current settings); a broken rule or a taken id shows the form again
// with what was typed; a first-party client is refused to an admin (403,
// recorded) and registered by a super_admin.
func TestAdminPagesCreateAndEditClients(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		root := e.newAdmin(t, "root")
		actor := identity.AdminActor(root.u.ID)
		stored := func(id string) *identity.Client {
			t.Helper()
			c, err := e.store.ClientByID(ctx, id)
			if err != nil {
				t.Fatalf("client %s: %v", id, err)
			}
			return c
		}
		entries := func(actor, typ string) []identity.LedgerEntry {
			t.Helper()
			out, err := e.store.LedgerEntries(ctx, identity.LedgerFilter{Actor: actor, Types: []string{typ}, Limit: identity.LedgerMaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}

		if body := e.adminPage(t, root, "/admin/clients"); !strings.Contains(body, `href="/admin/clients/new"`) {
			t.Fatal("the list does not link to the new client form")
		}
		body := e.adminPage(t, root, "/admin/clients/new")
		for _, want := range []string{`action="/admin/clients"`, `name="client_id"`, `name="public"`, `name="token_endpoint_auth_method"`,
			`name="grant_type" value="client_credentials"`, `name="jwks"`, `name="first_party"`, `id="cf-privileged"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the new client form lacks %s", want)
			}
		}

		t.Run("create", func(t *testing.T) {
			resp, body := e.submit(root.c, "/admin/clients", clientForm("invoices", "Invoices job"))
			if resp.StatusCode != http.StatusOK || resp.Request.Method != http.MethodPost || resp.Request.URL.String() != e.issuer+"/admin/clients" {
				t.Fatalf("create: %d %s %s\n%s", resp.StatusCode, resp.Request.Method, resp.Request.URL, alertOf(body))
			}
			secret := match(t, secretPattern, body)
			if len(secret) < 32 {
				t.Fatalf("secret %q", secret)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("the secret's page may be cached: %q", resp.Header.Get("Cache-Control"))
			}
			if !strings.Contains(body, esText(t, "admin.clients.notice.created")) || !strings.Contains(body, `href="/admin/clients/invoices/edit"`) {
				t.Error("the answer is not the new client's page with its notice")
			}
			c := stored("invoices")
			if c.Name != "Invoices job" || c.IsPublic() || c.TokenEndpointAuthMethod != identity.AuthMethodBasic ||
				!slices.Equal(c.GrantTypes, []string{"client_credentials"}) || !slices.Equal(c.Scopes, []string{"openid", "profile"}) ||
				!slices.Equal(c.Audience, []string{"https://api.example.com"}) || !slices.Equal(c.Roles, []string{"vendor"}) ||
				c.TokenFormat != identity.TokenFormatJWT || c.IDTokenSignedResponseAlg != "RS256" || c.FirstParty {
				t.Fatalf("stored: %+v", c)
			}
			if status := e.tokenStatus("invoices", secret); status != http.StatusOK {
				t.Fatalf("the new client's secret at the token endpoint: %d", status)
			}
			if status := e.tokenStatus("invoices", secret+"x"); status != http.StatusUnauthorized {
				t.Fatalf("a wrong secret: %d", status)
			}
			if body := e.adminPage(t, root, "/admin/clients/invoices"); strings.Contains(body, secret) || strings.Contains(body, `id="client-secret"`) {
				t.Fatal("the secret is shown again")
			}
			created := entries(actor, "admin.client_created")
			if len(created) != 1 || created[0].ClientID != "invoices" || strings.Contains(string(created[0].Payload), secret) {
				t.Fatalf("the creation's entry: %+v", created)
			}
			e.secrets["invoices"] = secret
		})

		page := "/admin/clients/invoices"
		var version string
		t.Run("edit", func(t *testing.T) {
			body := e.adminPage(t, root, page+"/edit")
			version = match(t, versionPattern, body)
			if v := stored("invoices").UpdatedAt; version != v.Format(time.RFC3339Nano) {
				t.Fatalf("form version %s, stored %s", version, v.Format(time.RFC3339Nano))
			}
			for _, want := range []string{`action="` + page + `/edit"`, `value="Invoices job"`, `value="openid profile"`, `value="vendor"`,
				`name="grant_type" value="client_credentials" id="cf-grant-client_credentials" checked`} {
				if !strings.Contains(body, want) {
					t.Errorf("the edit form lacks %s", want)
				}
			}
			// Public and the authentication method are shown, not posted.
			for _, lacks := range []string{`name="client_id"`, `name="public"`, `name="token_endpoint_auth_method"`} {
				if strings.Contains(body, lacks) {
					t.Errorf("the edit form offers %s", lacks)
				}
			}
			edit := clientForm("", "Invoices service")
			edit.Del("client_id")
			edit.Del("token_endpoint_auth_method")
			edit["grant_type"] = []string{"authorization_code", "refresh_token", "client_credentials"}
			edit.Set("redirect_uris", "https://invoices.example.com/callback\r\n\r\n  http://127.0.0.1:8080/cb \r\n")
			edit.Set("post_logout_redirect_uris", "https://invoices.example.com/bye")
			edit.Set("version", version)
			resp, body := e.submit(root.c, page+"/edit", edit)
			wantActed(t, "edit", resp, body)
			if resp.Request.URL.Path != page || resp.Request.URL.Query().Get("notice") != "updated" {
				t.Fatalf("after the edit: %s", resp.Request.URL)
			}
			c := stored("invoices")
			if c.Name != "Invoices service" || !slices.Equal(c.RedirectURIs, []string{"https://invoices.example.com/callback", "http://127.0.0.1:8080/cb"}) ||
				!slices.Equal(c.PostLogoutRedirectURIs, []string{"https://invoices.example.com/bye"}) || len(c.GrantTypes) != 3 ||
				c.TokenEndpointAuthMethod != identity.AuthMethodBasic || c.UpdatedAt.Format(time.RFC3339Nano) == version {
				t.Fatalf("after the edit: %+v", c)
			}
			if status := e.tokenStatus("invoices", e.secrets["invoices"]); status != http.StatusOK {
				t.Fatalf("the edit changed the secret: %d", status)
			}
			if n := len(entries(actor, "admin.client_updated")); n != 1 {
				t.Fatalf("%d update entries", n)
			}
		})

		t.Run("stale edit", func(t *testing.T) {
			before := stored("invoices")
			stale := clientForm("", "Stale name")
			stale.Del("client_id")
			stale.Set("redirect_uris", "https://stale.example.com/cb")
			stale.Set("version", version) // the form as shown before the edit
			resp, body := e.submit(root.c, page+"/edit", stale)
			wantRefused(t, "a stale edit", resp, body, http.StatusConflict)
			if got, want := alertOf(body), esText(t, "admin.clients.problem.changed"); got != want {
				t.Errorf("alert %q, want %q", got, want)
			}
			// The form shows the current settings and version, to edit again.
			if v := match(t, versionPattern, body); v != before.UpdatedAt.Format(time.RFC3339Nano) || v == version {
				t.Errorf("the refused form's version %s, want the stored %s", v, before.UpdatedAt.Format(time.RFC3339Nano))
			}
			if !strings.Contains(body, `value="Invoices service"`) || strings.Contains(body, "Stale name") || strings.Contains(body, "stale.example.com") {
				t.Error("the refused form does not show the current settings")
			}
			after := stored("invoices")
			if after.Name != "Invoices service" || !after.UpdatedAt.Equal(before.UpdatedAt) || !slices.Equal(after.RedirectURIs, before.RedirectURIs) {
				t.Fatalf("a stale edit changed the client: %+v", after)
			}
			if n := len(entries(actor, "admin.client_updated")); n != 1 {
				t.Fatalf("%d update entries after a stale edit", n)
			}
			// A form without its version is not a form of this page.
			stale.Del("version")
			if resp, _ := e.submit(root.c, page+"/edit", stale); resp.StatusCode != http.StatusBadRequest || stored("invoices").Name != "Invoices service" {
				t.Fatalf("an edit without a version: %d", resp.StatusCode)
			}
		})

		t.Run("invalid input shows the form again", func(t *testing.T) {
			bad := clientForm("evil", "Evil app")
			bad["grant_type"] = []string{"authorization_code"}
			bad.Set("redirect_uris", "javascript:alert(1)")
			resp, body := e.submit(root.c, "/admin/clients", bad)
			wantRefused(t, "a javascript: redirect URI", resp, body, http.StatusBadRequest)
			for _, want := range []string{`value="evil"`, `value="Evil app"`, ">javascript:alert(1)</textarea>", "forbidden scheme"} {
				if !strings.Contains(body, want) {
					t.Errorf("the refused form lacks %s", want)
				}
			}
			if secretPattern.MatchString(body) {
				t.Fatal("a refused creation showed a secret")
			}
			if _, err := e.store.ClientByID(ctx, "evil"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("a refused client was stored: %v", err)
			}

			resp, body = e.submit(root.c, "/admin/clients", clientForm("orders-api", "Duplicate"))
			wantRefused(t, "a taken id", resp, body, http.StatusConflict)
			if got, want := alertOf(body), esText(t, "admin.clients.problem.taken"); got != want {
				t.Errorf("alert %q, want %q", got, want)
			}
			if !strings.Contains(body, `value="orders-api"`) || !strings.Contains(body, `value="Duplicate"`) || secretPattern.MatchString(body) {
				t.Error("the refused form lost what was typed")
			}
			if c := stored("orders-api"); c.Name != "Orders service" {
				t.Fatalf("a duplicate changed orders-api: %+v", c)
			}
			if status := e.tokenStatus("orders-api", e.secrets["orders-api"]); status != http.StatusOK {
				t.Fatalf("orders-api's secret after a duplicate: %d", status)
			}

			none := clientForm("idle", "Idle")
			none.Del("grant_type")
			resp, body = e.submit(root.c, "/admin/clients", none)
			wantRefused(t, "no grant type", resp, body, http.StatusBadRequest)
			if _, err := e.store.ClientByID(ctx, "idle"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("a client without grant types was stored: %v", err)
			}

			edit := url.Values{"name": {"Invoices"}, "grant_type": {"authorization_code"}, "redirect_uris": {"http://example.com/cb"},
				"version": {stored("invoices").UpdatedAt.Format(time.RFC3339Nano)}}
			resp, body = e.submit(root.c, page+"/edit", edit)
			wantRefused(t, "an edit with a plain-http redirect URI", resp, body, http.StatusBadRequest)
			if !strings.Contains(body, ">http://example.com/cb</textarea>") || stored("invoices").Name != "Invoices service" {
				t.Fatal("a refused edit lost what was typed, or changed the client")
			}
		})

		t.Run("privileged clients need super_admin", func(t *testing.T) {
			portal := url.Values{"client_id": {"portal"}, "name": {"Portal"}, "token_endpoint_auth_method": {identity.AuthMethodBasic},
				"grant_type": {"authorization_code", "refresh_token"}, "redirect_uris": {"https://portal.example.com/cb"},
				"scopes": {"openid offline_access profile"}, "token_format": {identity.TokenFormatJWT}, "id_token_alg": {"ES256"},
				"first_party": {"true"}}
			denied := e.deniedCount(t, actor)
			resp, body := e.submit(root.c, "/admin/clients", portal)
			wantRefused(t, "an admin registers a first-party client", resp, body, http.StatusForbidden)
			if got, want := alertOf(body), esText(t, "admin.clients.problem.change_forbidden"); got != want {
				t.Errorf("alert %q, want %q", got, want)
			}
			if !strings.Contains(body, `value="portal"`) || !strings.Contains(body, `name="first_party" value="true" checked`) || secretPattern.MatchString(body) {
				t.Error("the refused form lost what was typed, or showed a secret")
			}
			if _, err := e.store.ClientByID(ctx, "portal"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("an admin registered a first-party client: %v", err)
			}
			if n := e.deniedCount(t, actor) - denied; n != 1 {
				t.Fatalf("%d refusals recorded, want 1", n)
			}
			// Making an existing client privileged is refused too.
			edit := url.Values{"name": {"Invoices service"}, "grant_type": {"client_credentials"}, "scopes": {"portero:admin:read"},
				"version": {stored("invoices").UpdatedAt.Format(time.RFC3339Nano)}}
			resp, body = e.submit(root.c, page+"/edit", edit)
			wantRefused(t, "an admin gives a client a portero: scope", resp, body, http.StatusForbidden)
			if c := stored("invoices"); slices.Contains(c.Scopes, "portero:admin:read") {
				t.Fatal("an admin gave a client a portero: scope")
			}
			if n := e.deniedCount(t, actor) - denied; n != 2 {
				t.Fatalf("%d refusals recorded, want 2", n)
			}

			boss := e.newAdmin(t, "boss")
			if err := e.store.GrantRole(ctx, boss.u.ID, identity.RoleSuperAdmin); err != nil {
				t.Fatal(err)
			}
			if body := e.adminPage(t, boss, "/admin/clients/new"); strings.Contains(body, `id="cf-privileged"`) {
				t.Error("a super_admin is told the privileged fields need super_admin")
			}
			resp, body = e.submit(boss.c, "/admin/clients", portal)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("a super_admin registers a first-party client: %d %s", resp.StatusCode, alertOf(body))
			}
			secret := match(t, secretPattern, body)
			if c := stored("portal"); !c.FirstParty || c.IDTokenSignedResponseAlg != "ES256" || !slices.Equal(c.ResponseTypes(), []string{"code"}) {
				t.Fatalf("portal: %+v", c)
			}
			if created := entries(identity.AdminActor(boss.u.ID), "admin.client_created"); len(created) != 1 || created[0].ClientID != "portal" ||
				strings.Contains(string(created[0].Payload), secret) {
				t.Fatalf("boss's creation entry: %+v", created)
			}
			// An admin's edit page of the privileged client says so
			// instead of offering a form its post would be refused.
			body = e.adminPage(t, root, "/admin/clients/portal/edit")
			if !strings.Contains(body, `id="client-locked"`) || strings.Contains(body, `id="client-form"`) {
				t.Error("an admin is offered the edit form of a privileged client")
			}
			if body := e.adminPage(t, boss, "/admin/clients/portal/edit"); !strings.Contains(body, `id="client-form"`) {
				t.Error("a super_admin is not offered the edit form of a privileged client")
			}
		})

		t.Run("a public client has no secret", func(t *testing.T) {
			app := url.Values{"client_id": {"kiosk"}, "name": {"Kiosk"}, "public": {"true"}, "token_endpoint_auth_method": {identity.AuthMethodNone},
				"grant_type": {"authorization_code", "refresh_token"}, "redirect_uris": {"com.example.kiosk:/cb"},
				"token_format": {identity.TokenFormatJWT}, "id_token_alg": {"RS256"}}
			resp, body := e.submit(root.c, "/admin/clients", app)
			wantActed(t, "a public client", resp, body)
			if resp.Request.URL.Path != "/admin/clients/kiosk" || secretPattern.MatchString(body) {
				t.Fatalf("after registering a public client: %s", resp.Request.URL)
			}
			if c := stored("kiosk"); !c.IsPublic() || c.TokenEndpointAuthMethod != identity.AuthMethodNone || len(c.SecretHash) != 0 {
				t.Fatalf("kiosk: %+v", c)
			}
		})

		if resp, _ := e.page(root.c, "/admin/clients/nobody/edit"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("a missing client's edit page: %d", resp.StatusCode)
		}
	})
}

// TestAdminPagesRoleCatalog: an admin's attempt to define or delete a role
// is refused with the page's message and recorded; a super_admin defines
// one (comma-separated includes and permissions), is told about a broken
// rule, and deletes it.
func TestAdminPagesRoleCatalog(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		role := func(name string) *identity.Role {
			roles, err := e.store.Roles(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range roles {
				if roles[i].Name == name {
					return &roles[i]
				}
			}
			return nil
		}
		support := url.Values{"name": {"support"}, "description": {"Support desk"}, "includes": {"customer"}, "permissions": {"tickets:read, tickets:write"}}

		root := e.newAdmin(t, "root")
		body := e.adminPage(t, root, "/admin/roles")
		for _, want := range []string{`id="role-super_admin"`, `id="role-customer"`, `id="define-needs"`} {
			if !strings.Contains(body, want) {
				t.Errorf("an admin's catalog page lacks %s", want)
			}
		}
		// A plain admin is not offered the catalog's forms: neither the
		// definition form nor a role's delete button.
		for _, lacks := range []string{`action="/admin/roles"`, `id="define-role"`, `name="permissions"`, `/delete"`} {
			if strings.Contains(body, lacks) {
				t.Errorf("an admin's catalog page offers %s", lacks)
			}
		}
		// Posting the form anyway is refused by the service and recorded.
		resp, body := e.submit(root.c, "/admin/roles", support)
		wantRefused(t, "an admin defines a role", resp, body, http.StatusForbidden)
		if !strings.Contains(alertOf(body), "super_admin") || strings.Contains(body, `id="define-role"`) {
			t.Fatalf("the refusal: %q", alertOf(body))
		}
		if role("support") != nil {
			t.Fatal("an admin defined a role")
		}
		if n := e.deniedCount(t, identity.AdminActor(root.u.ID)); n != 1 {
			t.Fatalf("%d refusals recorded", n)
		}

		boss := e.newAdmin(t, "boss")
		if err := e.store.GrantRole(ctx, boss.u.ID, identity.RoleSuperAdmin); err != nil {
			t.Fatal(err)
		}
		if body := e.adminPage(t, boss, "/admin/roles"); strings.Contains(body, `id="define-needs"`) || !strings.Contains(body, `id="define-role"`) {
			t.Error("a super_admin is told they cannot edit the catalog, or not offered the form")
		}
		resp, body = e.submit(boss.c, "/admin/roles", support)
		wantActed(t, "a super_admin defines a role", resp, body)
		got := role("support")
		if got == nil || got.Description != "Support desk" || !slices.Equal(got.Includes, []string{"customer"}) ||
			!slices.Equal(got.Permissions, []string{"tickets:read", "tickets:write"}) {
			t.Fatalf("the role: %+v", got)
		}
		if !strings.Contains(body, `id="role-support"`) {
			t.Fatal("the catalog page lacks the new role")
		}
		resp, body = e.submit(boss.c, "/admin/roles", url.Values{"name": {"loop"}, "includes": {"no-such-role"}})
		wantRefused(t, "a role including a missing one", resp, body, http.StatusBadRequest)
		if body := e.adminPage(t, root, "/admin/roles"); !strings.Contains(body, `id="role-support"`) || strings.Contains(body, `action="/admin/roles/support/delete"`) {
			t.Error("an admin is offered the custom role's delete button")
		}
		if body := e.adminPage(t, boss, "/admin/roles"); !strings.Contains(body, `action="/admin/roles/support/delete"`) {
			t.Error("a super_admin is not offered the custom role's delete button")
		}
		resp, body = e.submit(root.c, "/admin/roles/support/delete", nil)
		wantRefused(t, "an admin deletes a role", resp, body, http.StatusForbidden)
		if role("support") == nil {
			t.Fatal("an admin deleted a role")
		}
		resp, body = e.submit(boss.c, "/admin/roles/customer/delete", nil)
		wantRefused(t, "delete a held built-in role", resp, body, http.StatusConflict)
		resp, body = e.submit(boss.c, "/admin/roles/support/delete", nil)
		wantActed(t, "a super_admin deletes a role", resp, body)
		if role("support") != nil || role("customer") == nil {
			t.Fatal("the wrong roles are gone")
		}
		if types := e.ledgerTypes(t, identity.AdminActor(boss.u.ID)); !slices.Contains(types, "admin.role_defined") || !slices.Contains(types, "admin.role_deleted") {
			t.Fatalf("boss's entries: %v", types)
		}
	})
}

// TestAdminPagesRotateKeys: the keys page lists the keys with their state;
// rotating adds a pending key per algorithm and is recorded.
func TestAdminPagesRotateKeys(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		root := e.newAdmin(t, "root")
		before, err := e.store.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		body := e.adminPage(t, root, "/admin/keys")
		for _, k := range before {
			if !strings.Contains(body, `id="key-`+k.ID+`"`) {
				t.Errorf("the page lacks key %s", k.ID)
			}
		}
		if !strings.Contains(body, `data-state="admin.keys.state.signing"`) {
			t.Error("no key is shown signing")
		}
		resp, body := e.submit(root.c, "/admin/keys/rotate", nil)
		wantActed(t, "rotate", resp, body)
		after, err := e.store.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before)+2 {
			t.Fatalf("%d keys before, %d after", len(before), len(after))
		}
		pending := strings.Count(body, `data-state="admin.keys.state.pending"`)
		if pending != 2 {
			t.Fatalf("%d pending keys shown, want 2", pending)
		}
		for _, k := range after[:2] {
			if !strings.Contains(body, `id="key-`+k.ID+`"`) {
				t.Errorf("the page lacks the new key %s", k.ID)
			}
		}
		if types := e.ledgerTypes(t, identity.AdminActor(root.u.ID)); !slices.Contains(types, "admin.keys_rotated") {
			t.Fatalf("root's entries: %v", types)
		}
	})
}

// TestAdminPagesSearchTheLedger: the events page filters by actor (as
// typed, or an administrator's username), subject and type, newest first,
// 50 a page with a link to older entries; a bad date is a 400 with a
// message.
func TestAdminPagesSearchTheLedger(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		root := e.newAdmin(t, "root")
		ana := e.newAdmin(t, "ana")
		for _, a := range []*testAdmin{root, ana} {
			resp, body := e.submit(a.c, "/admin/users/"+e.userID+"/unlock", nil)
			wantActed(t, "unlock", resp, body)
		}
		rootActor, anaActor := identity.AdminActor(root.u.ID), identity.AdminActor(ana.u.ID)
		for _, q := range []string{"actor=" + url.QueryEscape(rootActor), "actor=root"} {
			body := e.adminPage(t, root, "/admin/events?"+q)
			if !strings.Contains(body, `data-type="admin.user_unlocked"`) || !strings.Contains(body, "<code>"+rootActor+"</code>") {
				t.Fatalf("%s: root's entries missing", q)
			}
			if strings.Contains(body, anaActor) {
				t.Fatalf("%s: ana's entries shown", q)
			}
		}
		body := e.adminPage(t, root, "/admin/events?subject=alice&type=admin.user_unlocked")
		if n := len(eventRowPattern.FindAllString(body, -1)); n != 2 || !strings.Contains(body, anaActor) {
			t.Fatalf("alice's unlocks: %d entries", n)
		}

		for i := range 55 {
			err := e.store.AppendLedger(ctx, &identity.LedgerEntry{OccurredAt: e.clock(), Kind: identity.LedgerAdmin, Type: "admin.test_filler",
				Actor: "cli:tester", Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))})
			if err != nil {
				t.Fatal(err)
			}
		}
		seqs := func(body string) []string {
			var out []string
			for _, m := range eventRowPattern.FindAllStringSubmatch(body, -1) {
				out = append(out, m[1])
			}
			return out
		}
		body = e.adminPage(t, root, "/admin/events?actor=cli:tester")
		first := seqs(body)
		if len(first) != 50 || !strings.Contains(body, "&#34;n&#34;: 54\n") || strings.Contains(body, "&#34;n&#34;: 4\n") {
			t.Fatalf("first page: %d entries", len(first))
		}
		next := match(t, nextPagePattern, body)
		if !strings.Contains(next, "actor=cli%3Atester") {
			t.Fatalf("the next link drops the filter: %s", next)
		}
		body = e.adminPage(t, root, next)
		second := seqs(body)
		if len(second) != 5 || slices.Contains(first, second[0]) || nextPagePattern.MatchString(body) {
			t.Fatalf("second page: %v after %v", second, first[len(first)-5:])
		}

		future := e.clock().Add(48 * time.Hour).In(time.UTC).Format("2006-01-02")
		if body := e.adminPage(t, root, "/admin/events?since="+future); len(eventRowPattern.FindAllString(body, -1)) != 0 {
			t.Fatal("entries from the future")
		}
		today := e.clock().In(calendar.Location()).Format("2006-01-02")
		if body := e.adminPage(t, root, "/admin/events?actor=cli:tester&since="+today+"&until="+today); len(eventRowPattern.FindAllString(body, -1)) != 50 {
			t.Fatal("today's entries are missing with since=until=today")
		}
		resp, body := e.page(root.c, "/admin/events?since=yesterday")
		wantRefused(t, "a bad date", resp, body, http.StatusBadRequest)
	})
}

// TestAdminPagesRefuseCrossOriginPosts: a form posted from another origin
// with the administrator's cookies is refused and changes nothing.
func TestAdminPagesRefuseCrossOriginPosts(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	root := e.newAdmin(t, "root")
	post := func(header, value string) int {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/admin/users/"+e.userID+"/disable", nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(header, value)
		resp, err := root.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post("Origin", "https://evil.example"); status != http.StatusForbidden {
		t.Errorf("a foreign Origin: %d", status)
	}
	if status := post("Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
		t.Errorf("a cross-site fetch: %d", status)
	}
	if e.user(t, e.userID).Disabled || slices.Contains(e.ledgerTypes(t, identity.AdminActor(root.u.ID)), "admin.user_disabled") {
		t.Fatal("a cross-origin post disabled alice")
	}
	// The same post from Portero's own origin goes through.
	if status := post("Origin", e.issuer); status != http.StatusSeeOther || !e.user(t, e.userID).Disabled {
		t.Fatalf("a same-origin post: %d", status)
	}
}
