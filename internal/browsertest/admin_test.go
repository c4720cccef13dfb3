package browsertest

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portero-id/portero/identity"
)

// TestAdminPagesInTheBrowser: an administrator signs in with a password
// and, as the MFA policy demands of the role, enrols TOTP on the way; the
// admin pages then answer. The administrator searches the users, opens a
// customer's page, disables and re-enables the account with the page's
// buttons (the page and the store both show it), looks at the clients, a
// client, the roles and the signing keys, and finds their own actions in
// the ledger filtered by their username.
func TestAdminPagesInTheBrowser(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	admin := e.createUser("ana", "ana@example.com", "admin")
	customer := e.createUser("carlos", "carlos@example.com", "customer")
	e.createUser("catalina", "catalina@example.com", "customer")
	e.createUser("victor", "victor@example.com", "vendor")
	// A confidential back-office client beside the public app.
	secretHash := sha256.Sum256([]byte("billing-secret-for-the-screenshots"))
	billing := &identity.Client{
		ID: "billing", Name: "Facturación", TokenEndpointAuthMethod: identity.AuthMethodBasic, SecretHash: secretHash[:],
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"portero:admin:read"}, Roles: []string{"auditor"},
		TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
	}
	if err := billing.Validate(nil); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := e.store.CreateClient(ctx, billing); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, e, "es-CO")
	b.open(e.issuer + "/login")
	b.wantPage("/login")
	b.signIn("ana", testPassword)
	b.wantPage("/login/enroll") // admin requires a second factor
	enrolTOTP(b, false)
	b.click("a#continue")

	// Home: one link per section.
	if status := b.open(e.issuer + "/admin"); status != http.StatusOK {
		b.fatalf("/admin answered %d", status)
	}
	b.wantPage("/admin")
	sections := evalJS[[]string](b, `[...document.querySelectorAll('#admin-sections a')].map(a => a.getAttribute('href'))`)
	want := []string{"/admin/requests", "/admin/users", "/admin/clients", "/admin/roles", "/admin/keys", "/admin/events"}
	if !slices.Equal(sections, want) {
		t.Errorf("home page sections %v, want %v", sections, want)
	}
	b.shotBoth("admin-home")

	// Users: the search finds both customers whose name has "ca", and
	// nobody else.
	b.click(`#admin-sections a[href="/admin/users"]`)
	b.wantPage("/admin/users")
	b.fill("#users-q", "ca")
	b.click(`form[action="/admin/users"] button[type=submit]`)
	if u := b.wantPage("/admin/users"); u.Query().Get("q") != "ca" {
		b.fatalf("the search did not keep q=ca")
	}
	rows := evalJS[[]string](b, `[...document.querySelectorAll('#users > li strong')].map(s => s.textContent.trim())`)
	if !slices.Equal(rows, []string{"carlos", "catalina"}) {
		t.Errorf("search for ca lists %v, want [carlos catalina]", rows)
	}
	b.shotBoth("admin-users")

	// The customer's page.
	b.click(`#u-` + customer.ID + ` a`)
	b.wantPage("/admin/users/" + customer.ID)
	if got, want := b.text("#user-status"), T(t, b.lang, "admin.users.enabled"); got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if roles := b.texts("#user-roles > li strong"); !slices.Equal(roles, []string{"customer"}) {
		t.Errorf("roles %v, want [customer]", roles)
	}
	if n := len(b.texts(`#user-consents > li[data-type="consent.accepted"]`)); n == 0 {
		t.Error("the user's page shows no consent record")
	}
	b.shotBoth("admin-user")
	// Destructive buttons look it: the error colour, not the accent.
	if got := evalJS[string](b, `getComputedStyle(document.querySelector('button#disable')).color`); got != "rgb(176, 0, 32)" {
		t.Errorf("the disable button's colour %s, want the error red", got)
	}

	// Disable, with the page's button.
	b.click("button#disable")
	if u := b.wantPage("/admin/users/" + customer.ID); u.Query().Get("notice") != "disable" {
		b.fatalf("after disabling: want ?notice=disable")
	}
	if got, want := b.text("p.notice"), T(t, b.lang, "admin.users.notice.disabled"); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	if got, want := b.text(`#user-status [data-flag="disabled"]`), T(t, b.lang, "admin.users.disabled"); got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if b.visible("button#disable") || !b.visible("button#enable") {
		t.Error("a disabled account's page should offer enable, not disable")
	}
	if u, err := e.store.UserByID(ctx, customer.ID); err != nil || !u.Disabled {
		t.Fatalf("after the disable button the store has disabled=%v (%v)", u != nil && u.Disabled, err)
	}

	// Enable again.
	b.click("button#enable")
	if u := b.wantPage("/admin/users/" + customer.ID); u.Query().Get("notice") != "enable" {
		b.fatalf("after enabling: want ?notice=enable")
	}
	if got, want := b.text("p.notice"), T(t, b.lang, "admin.users.notice.enabled"); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	if got, want := b.text("#user-status"), T(t, b.lang, "admin.users.enabled"); got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if u, err := e.store.UserByID(ctx, customer.ID); err != nil || u.Disabled {
		t.Fatalf("after the enable button the store has disabled=%v (%v)", u != nil && u.Disabled, err)
	}

	// Clients and one client.
	b.open(e.issuer + "/admin/clients")
	b.wantPage("/admin/clients")
	ids := evalJS[[]string](b, `[...document.querySelectorAll('#clients > li')].map(li => li.id)`)
	if !slices.Contains(ids, "c-"+clientID) || !slices.Contains(ids, "c-billing") {
		t.Errorf("clients listed %v, want c-%s and c-billing", ids, clientID)
	}
	b.shotBoth("admin-clients")
	b.click(`#c-billing a`)
	b.wantPage("/admin/clients/billing")
	if got := b.text("#client-details dd code"); got != "billing" {
		t.Errorf("client page for %q, want billing", got)
	}
	if got, want := b.text("#client-status"), T(t, b.lang, "admin.clients.enabled"); got != want {
		t.Errorf("client status %q, want %q", got, want)
	}
	if !b.visible("button#rotate-secret") {
		t.Error("a confidential client's page offers no secret rotation")
	}
	b.shotBoth("admin-client")

	// A new client: the list's link, the form (an admin is told which
	// settings need super_admin), and the secret shown once on the
	// answer.
	b.open(e.issuer + "/admin/clients")
	b.wantPage("/admin/clients")
	b.click("a#new-client")
	b.wantPage("/admin/clients/new")
	if !b.visible("#cf-privileged") {
		t.Error("the new client form does not say which settings need super_admin")
	}
	b.shotBoth("admin-client-new")
	b.fill("#cf-id", "reportes")
	b.fill("#cf-name", "Reportes nocturnos")
	// A service: client_credentials instead of the code flow's defaults.
	for _, g := range []string{"authorization_code", "refresh_token", "client_credentials"} {
		b.clickHere("#cf-grant-" + g)
	}
	b.fill("#cf-scopes", "openid")
	if status := b.click("button#client-submit"); status != http.StatusOK {
		b.fatalf("registering the client answered %d", status)
	}
	b.wantPage("/admin/clients") // the post's answer, not a redirect
	secret := b.text("#client-secret")
	if len(secret) < 32 {
		b.fatalf("the new client's secret %q", secret)
	}
	if got, want := b.text("p.notice"), T(t, b.lang, "admin.clients.notice.created"); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	if got := b.text("#client-details dd code"); got != "reportes" {
		t.Errorf("the answer shows client %q, want reportes", got)
	}
	b.shot("admin-client-created")
	c, err := e.store.ClientByID(ctx, "reportes")
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(secret))
	if c.Name != "Reportes nocturnos" || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) || !bytes.Equal(c.SecretHash, digest[:]) {
		t.Errorf("stored client %+v", c)
	}
	if status := clientCredentials(t, e.issuer, "reportes", secret); status != http.StatusOK {
		t.Errorf("the shown secret at the token endpoint: %d", status)
	}
	// Shown once: the client's page does not show it again.
	b.open(e.issuer + "/admin/clients/reportes")
	b.wantPage("/admin/clients/reportes")
	if b.visible("#client-secret") || strings.Contains(b.pageText(), secret) {
		t.Error("the secret is shown again on the client's page")
	}
	if !b.visible("a#edit-client") {
		t.Error("the client's page does not link to its edit form")
	}

	// Roles: the built-in catalog; an admin (not super_admin) is told
	// that defining roles needs super_admin.
	b.open(e.issuer + "/admin/roles")
	b.wantPage("/admin/roles")
	for _, r := range []string{"customer", "vendor", "admin", "super_admin"} {
		if !b.visible("#role-" + r) {
			t.Errorf("the roles page lacks %s", r)
		}
	}
	if !b.visible("#define-needs") || b.visible("#define-role") {
		t.Error("the roles page offers an admin the definition form instead of saying it needs super_admin")
	}
	b.shotBoth("admin-roles")

	// Keys: one signs.
	b.open(e.issuer + "/admin/keys")
	b.wantPage("/admin/keys")
	if n := len(b.texts(`#keys [data-state="admin.keys.state.signing"]`)); n == 0 {
		t.Error("the keys page shows no signing key")
	}
	b.shotBoth("admin-keys")

	// Events: the administrator's own actions, found by username.
	b.open(e.issuer + "/admin/events")
	b.wantPage("/admin/events") // checks no message key shows raw
	// A consent entry's type is a message key: the page shows its text.
	if got, want := b.text(`#events > li[data-type="consent.accepted"] strong`), T(t, b.lang, "consent.accepted"); got != want {
		t.Errorf("consent entry titled %q, want %q", got, want)
	}
	b.fill("#ev-actor", "ana")
	b.click(`form[action="/admin/events"] button[type=submit]`)
	if u := b.wantPage("/admin/events"); u.Query().Get("actor") != "ana" {
		b.fatalf("the filter did not keep actor=ana")
	}
	types := evalJS[[]string](b, `[...document.querySelectorAll('#events > li')].map(li => li.dataset.type)`)
	for _, want := range []string{"admin.user_disabled", "admin.user_enabled", "admin.consents_read"} {
		if !slices.Contains(types, want) {
			t.Errorf("the ledger filtered by ana lacks %s: %v", want, types)
		}
	}
	// Newest first: the enable came after the disable.
	if i, j := slices.Index(types, "admin.user_enabled"), slices.Index(types, "admin.user_disabled"); i < 0 || j < 0 || i > j {
		t.Errorf("events not newest first: %v", types)
	}
	if actor := identity.AdminActor(admin.ID); !slices.Contains(b.texts("#events > li code"), actor) {
		t.Errorf("no event shows the actor %s", actor)
	}
	b.shotBoth("admin-events")
}

// clientCredentials asks Portero's token endpoint for a client-credentials
// token with HTTP Basic and returns the status.
func clientCredentials(t *testing.T, issuer, id, secret string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
