package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/testdb"
)

// TestChangeEmail: a signed-in user changes their address with their
// password; nothing changes until the link sent to the new address is
// used; then the address is the new one, verified, and the old one is
// told. A wrong password sends nothing; an address another account has
// gets a notice, not a link.
func TestChangeEmail(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		c := e.browser()
		e.signIn(t, c, "alice")

		resp, _ := e.submit(c, "/account/email", url.Values{"email": {"ana.nueva@example.co"}, "current_password": {"wrong"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
		if _, ok := e.lastMail("ana.nueva@example.co"); ok {
			t.Fatal("a link was sent without the password")
		}

		resp, _ = e.submit(c, "/account/email", url.Values{"email": {"ana.nueva@example.co"}, "current_password": {testPassword}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.String(), "notice=email_change_sent") {
			t.Fatalf("request: %d %s", resp.StatusCode, resp.Request.URL)
		}
		m, ok := e.lastMail("ana.nueva@example.co")
		if !ok {
			t.Fatal("no link sent to the new address")
		}
		if u := e.user(t, e.userID); u.Email != "alice@example.com" {
			t.Fatalf("the address changed before the link was used: %s", u.Email)
		}
		link := linkPattern.FindString(m.Text)
		token := link[strings.Index(link, "token=")+len("token="):]
		if status, _, page := get(t, link); status != http.StatusOK || !strings.Contains(page, `action="/account/email/confirm"`) {
			t.Fatalf("the link's page: %d", status)
		}
		resp, _ = e.submit(c, "/account/email/confirm", url.Values{"token": {token}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.String(), "notice=email_changed") {
			t.Fatalf("confirm: %d %s", resp.StatusCode, resp.Request.URL)
		}
		u := e.user(t, e.userID)
		if u.Email != "ana.nueva@example.co" || u.EmailVerifiedAt == nil {
			t.Fatalf("after the change: %s verified %v", u.Email, u.EmailVerifiedAt)
		}
		if m, ok := e.lastMail("alice@example.com"); !ok || !strings.Contains(m.Subject, "changed") && !strings.Contains(m.Subject, "cambió") {
			t.Fatalf("the old address was not told: %+v", m)
		}
		if resp, _ := e.submit(c, "/account/email/confirm", url.Values{"token": {token}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("the link worked twice: %d", resp.StatusCode)
		}
		events, err := e.store.AuditEvents(ctx, identity.AuditFilter{UserID: e.userID, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		changed := false
		for _, ev := range events {
			changed = changed || ev.Type == identity.AuditEmailChanged
		}
		if !changed {
			t.Fatal("the change is not in the audit trail")
		}

		// Another account's address: its owner gets a notice, nobody a link.
		bob := &identity.User{Username: "bob", Email: "bob@example.co"}
		if err := e.store.CreateUser(ctx, bob); err != nil {
			t.Fatal(err)
		}
		e.submit(c, "/account/email", url.Values{"email": {"bob@example.co"}, "current_password": {testPassword}})
		if m, ok := e.lastMail("bob@example.co"); !ok || strings.Contains(m.Text, "/account/email/confirm") {
			t.Fatalf("the taken address got: %+v", m)
		}
	})
}
