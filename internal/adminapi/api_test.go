package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/throttle"
	"github.com/portero-id/portero/oauth"
)

// fakeStore is the role catalog and the ledger; the embedded interface is
// nil, so a handler reaching any other method panics and names it.
type fakeStore struct {
	identity.Store
	mu     sync.Mutex
	ledger []identity.LedgerEntry
	down   bool
}

func (f *fakeStore) Roles(context.Context) ([]identity.Role, error) {
	if f.down {
		return nil, fmt.Errorf("database: %w", identity.ErrUnavailable)
	}
	return []identity.Role{
		{Name: "customer", Builtin: true},
		{Name: "admin", Builtin: true, Permissions: []string{"portero:users"}},
		{Name: "super_admin", Builtin: true, Includes: []string{"admin"}, Permissions: []string{manage.PermRoles}},
	}, nil
}

func (f *fakeStore) AppendLedger(_ context.Context, e *identity.LedgerEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ledger = append(f.ledger, *e)
	return nil
}

func (f *fakeStore) refusals() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.ledger {
		if e.Type == manage.EventDenied {
			n++
		}
	}
	return n
}

// fakeTokens maps bearer tokens to principals; unknown ones are inactive.
type fakeTokens struct {
	principals map[string]*oauth.Principal
	err        error
}

func (f fakeTokens) Principal(_ context.Context, token string) (*oauth.Principal, error) {
	if f.err != nil {
		return nil, f.err
	}
	p, ok := f.principals[token]
	if !ok {
		return nil, oauth.ErrInactiveToken
	}
	return p, nil
}

var apiNow = time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)

func newAPI(t *testing.T, tokens fakeTokens) (http.Handler, *fakeStore) {
	t.Helper()
	st := &fakeStore{}
	now := func() time.Time { return apiNow }
	a := &API{
		Manage:   &manage.Service{Store: st, Now: now},
		Tokens:   tokens,
		Refusals: throttle.NewMemory(1000),
		Now:      now,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	r := mux.NewRouter()
	a.Mount(r)
	return r, st
}

func send(h http.Handler, method, path, token string) (*http.Response, map[string]any) {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Result(), body
}

func TestAuthorization(t *testing.T) {
	fresh, stale := apiNow.Add(-time.Minute), apiNow.Add(-2*identity.FreshAuthWindow)
	both := []string{ScopeRead, ScopeWrite}
	tokens := fakeTokens{principals: map[string]*oauth.Principal{
		"admin":          {UserID: "u1", ClientID: "console", Scopes: both, Roles: []string{"admin"}, ACR: identity.ACRMFA, AuthTime: fresh},
		"admin-pwd-only": {UserID: "u1", ClientID: "console", Scopes: both, Roles: []string{"admin"}, ACR: identity.ACRPassword, AuthTime: fresh},
		"admin-stale":    {UserID: "u1", ClientID: "console", Scopes: both, Roles: []string{"admin"}, ACR: identity.ACRMFA, AuthTime: stale},
		"admin-no-scope": {UserID: "u1", ClientID: "console", Scopes: []string{"openid"}, Roles: []string{"admin"}, ACR: identity.ACRMFA, AuthTime: fresh},
		"customer":       {UserID: "u2", ClientID: "shop", Scopes: both, Roles: []string{"customer"}, ACR: identity.ACRMFA, AuthTime: fresh},
		"service":        {ClientID: "ops", Scopes: []string{ScopeRead}, Roles: []string{"super_admin"}},
	}}
	cases := []struct {
		name, method, token string
		status              int
		problem             string
		refusal             bool // the refusal is on the ledger
	}{
		{"no token", http.MethodGet, "", 401, "unauthorized", false},
		{"inactive token", http.MethodGet, "nope", 401, "unauthorized", false},
		{"admin reads", http.MethodGet, "admin", 200, "", false},
		{"admin client reads", http.MethodGet, "service", 200, "", false},
		{"read-only client writes", http.MethodDelete, "service", 403, "forbidden", true},
		{"password-only sign-in", http.MethodGet, "admin-pwd-only", 403, "forbidden", true},
		{"sign-in too old", http.MethodGet, "admin-stale", 403, "forbidden", true},
		{"token without the scope", http.MethodGet, "admin-no-scope", 403, "forbidden", true},
		{"not an administrator", http.MethodGet, "customer", 403, "forbidden", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, st := newAPI(t, tokens)
			path := "/admin/v1/roles"
			if c.method == http.MethodDelete {
				path = "/admin/v1/roles/customer"
			}
			res, body := send(h, c.method, path, c.token)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d (%v)", res.StatusCode, c.status, body)
			}
			if c.problem != "" {
				if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" || body["type"] != "urn:portero:problem:"+c.problem {
					t.Errorf("problem %q %v", ct, body["type"])
				}
			}
			if c.status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer challenge")
			}
			if got := st.refusals() == 1; got != c.refusal {
				t.Errorf("refusal recorded: %v, want %v", got, c.refusal)
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Error("an admin answer may be cached")
			}
		})
	}
}

func TestRefusalsPastTheBudgetAreNotRecorded(t *testing.T) {
	h, st := newAPI(t, fakeTokens{principals: map[string]*oauth.Principal{
		"customer": {UserID: "u2", Scopes: []string{ScopeRead}, Roles: []string{"customer"}, ACR: identity.ACRMFA, AuthTime: apiNow},
	}})
	for range refusalBudget + 20 {
		if res, _ := send(h, http.MethodGet, "/admin/v1/roles", "customer"); res.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if got := st.refusals(); got != refusalBudget {
		t.Errorf("%d refusals on the ledger, want the budget, %d", got, refusalBudget)
	}
}

func TestOutagesAre503(t *testing.T) {
	t.Run("token store down", func(t *testing.T) {
		h, _ := newAPI(t, fakeTokens{err: fmt.Errorf("grants: %w", identity.ErrUnavailable)})
		res, body := send(h, http.MethodGet, "/admin/v1/roles", "any")
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || body["type"] != "urn:portero:problem:unavailable" {
			t.Errorf("%d %q %v", res.StatusCode, res.Header.Get("Retry-After"), body)
		}
	})
	t.Run("role catalog down", func(t *testing.T) {
		h, st := newAPI(t, fakeTokens{principals: map[string]*oauth.Principal{
			"admin": {UserID: "u1", Scopes: []string{ScopeRead}, Roles: []string{"admin"}, ACR: identity.ACRMFA, AuthTime: apiNow},
		}})
		st.down = true
		if res, _ := send(h, http.MethodGet, "/admin/v1/roles", "admin"); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d: an outage must not read as a refusal", res.StatusCode)
		}
		if st.refusals() != 0 {
			t.Error("an outage was recorded as a refusal")
		}
	})
}

func TestUnknownRoutesAreProblems(t *testing.T) {
	h, _ := newAPI(t, fakeTokens{})
	res, body := send(h, http.MethodGet, "/admin/v1/nothing-here", "")
	if res.StatusCode != http.StatusNotFound || body["type"] != "urn:portero:problem:not-found" {
		t.Errorf("%d %v", res.StatusCode, body)
	}
}

// TestCreateUserWithALinkNeedsMail: asking for a reset link where no mail
// goes out is refused before the account exists.
func TestCreateUserWithALinkNeedsMail(t *testing.T) {
	h, st := newAPI(t, fakeTokens{principals: map[string]*oauth.Principal{
		"admin": {UserID: "u1", Scopes: []string{ScopeWrite}, Roles: []string{"admin"}, ACR: identity.ACRMFA, AuthTime: apiNow},
	}})
	req := httptest.NewRequest(http.MethodPost, "/admin/v1/users",
		strings.NewReader(`{"username":"vera","email":"vera@example.co","send_reset_link":true}`))
	req.Header.Set("Authorization", "Bearer admin")
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "urn:portero:problem:no-mail") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(st.ledger) != 0 {
		t.Errorf("something was recorded: %+v", st.ledger)
	}
}
