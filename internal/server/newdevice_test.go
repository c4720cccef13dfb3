package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/testdb"
)

// withUserAgent sends every request of c as the given browser.
type withUserAgent struct {
	ua   string
	next http.RoundTripper
}

func (t withUserAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.ua)
	return t.next.RoundTrip(r)
}

// TestNewDeviceNotice: a sign-in from a browser family and network the
// account has not signed in from is a ledger event and an e-mail to the
// owner with the link to review the sessions; the first sign-in, and the
// same device again, are not. The account page lists the recent sign-ins.
func TestNewDeviceNotice(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, nil)
	if err := e.store.SetEmailVerified(t.Context(), e.userID, time.Now()); err != nil {
		t.Fatal(err)
	}
	signIn := func(ua string) *http.Client {
		c := e.browser()
		c.Transport = withUserAgent{ua: ua, next: http.DefaultTransport}
		_, challenge := pkcePair()
		e.authorize(c, e.authURL(challenge))
		return c
	}
	notices := func() int {
		entries, err := e.store.LedgerEntries(t.Context(), identity.LedgerFilter{Subject: e.userID, Types: []string{identity.AuditNewDevice}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	const laptop = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	const phone = "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0 Mobile Safari/537.36"
	signIn(laptop)
	signIn(laptop)
	if n := notices(); n != 0 {
		t.Fatalf("%d new-device notices for the first device", n)
	}
	c := signIn(phone)
	if n := notices(); n != 1 {
		t.Fatalf("%d new-device notices after a sign-in from a phone, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	var sent string
	for time.Now().Before(deadline) {
		if m, ok := e.mails.Last("alice@example.com"); ok && strings.Contains(m.Subject, "sign-in") || ok && strings.Contains(m.Subject, "sesión") {
			sent = m.Text
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(sent, "Chrome · Android") || !strings.Contains(sent, "127.0.0.0/24") || !strings.Contains(sent, e.issuer+"/account") {
		t.Fatalf("new-device mail:\n%s", sent)
	}
	resp, err := c.Get(e.issuer + "/account")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `id="signin-list"`) || strings.Count(string(body), "Firefox · Linux") < 2 || !strings.Contains(string(body), "127.0.0.0/24") {
		t.Fatalf("the account page does not list the recent sign-ins:\n%s", body)
	}
}
