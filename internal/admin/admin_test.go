package admin

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/i18n"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/templates"
)

// fakeStore holds users, sessions, the role catalog and the ledger; the
// embedded interface is nil, so a handler reaching any other method
// panics and names it.
type fakeStore struct {
	identity.Store
	mu       sync.Mutex
	users    map[string]identity.User
	sessions map[string]*identity.Session
	ledger   []identity.LedgerEntry
	down     bool
}

func (f *fakeStore) UserByID(_ context.Context, id string) (*identity.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok {
		return nil, identity.ErrNotFound
	}
	return &u, nil
}

func (f *fakeStore) CreateSession(_ context.Context, s *identity.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[s.ID] = s
	return nil
}

func (f *fakeStore) SessionByID(_ context.Context, id string) (*identity.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, fmt.Errorf("database: %w", identity.ErrUnavailable)
	}
	s, ok := f.sessions[id]
	if !ok {
		return nil, identity.ErrNotFound
	}
	c := *s
	return &c, nil
}

func (f *fakeStore) TouchSession(context.Context, string, time.Time) error { return nil }

func (f *fakeStore) Roles(context.Context) ([]identity.Role, error) {
	return []identity.Role{
		{Name: "customer", Builtin: true},
		{Name: "admin", Builtin: true},
		{Name: "super_admin", Builtin: true, Includes: []string{"admin"}, Permissions: []string{manage.PermRoles}},
	}, nil
}

func (f *fakeStore) AppendLedger(_ context.Context, e *identity.LedgerEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ledger = append(f.ledger, *e)
	return nil
}

type adminPages struct {
	t        *testing.T
	store    *fakeStore
	sessions *session.Manager
	h        http.Handler
	now      time.Time
}

func newAdminPages(t *testing.T) *adminPages {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	locales, err := fs.Sub(templates.Locales, "locales")
	if err != nil {
		t.Fatal(err)
	}
	texts, err := i18n.Load(locales, "es-CO")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := render.New(templates.FS, texts, log)
	if err != nil {
		t.Fatal(err)
	}
	p := &adminPages{t: t, now: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)}
	now := func() time.Time { return p.now }
	p.store = &fakeStore{sessions: map[string]*identity.Session{}, users: map[string]identity.User{
		"adm":      {ID: "adm", Username: "ada", Roles: []string{"admin"}},
		"root":     {ID: "root", Username: "root", Roles: []string{"super_admin"}},
		"cust":     {ID: "cust", Username: "carla", Roles: []string{"customer"}},
		"disabled": {ID: "disabled", Username: "dora", Roles: []string{"admin"}, Disabled: true},
	}}
	p.sessions = &session.Manager{Store: p.store, Codecs: session.NewCodecs([]byte("0123456789abcdef0123456789abcdef"), []byte("0123456789abcdef")),
		CookieName: "portero_session", Lifespan: 24 * time.Hour, IdleTimeout: 24 * time.Hour, Now: now, Log: log}
	a := &Admin{Users: p.store, Manage: &manage.Service{Store: p.store, Now: now}, Sessions: p.sessions, Pages: pages,
		CSRF: http.NewCrossOriginProtection(), Log: log, Now: now}
	r := mux.NewRouter()
	a.Mount(r)
	p.h = r
	return p
}

// signIn starts a session for userID signed in at authTime with acr.
func (p *adminPages) signIn(userID, acr string, authTime time.Time) []*http.Cookie {
	p.t.Helper()
	at := p.now
	p.now = authTime
	defer func() { p.now = at }()
	w := httptest.NewRecorder()
	if _, err := p.sessions.Start(w, httptest.NewRequest(http.MethodGet, "/", nil), userID, nil, acr); err != nil {
		p.t.Fatal(err)
	}
	return w.Result().Cookies()
}

func (p *adminPages) do(req *http.Request, cookies []*http.Cookie) *http.Response {
	for _, c := range cookies {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, req)
	return w.Result()
}

func TestAdminPagesAccess(t *testing.T) {
	cases := []struct {
		name     string
		user     string // "" for no session
		acr      string
		age      time.Duration
		status   int
		location string
	}{
		{"no session", "", "", 0, http.StatusSeeOther, "/login"},
		{"a customer sees a 404, not a 403", "cust", identity.ACRMFA, 0, http.StatusNotFound, ""},
		{"a customer with a stale session sees the 404 too", "cust", identity.ACRPassword, 2 * identity.FreshAuthWindow, http.StatusNotFound, ""},
		{"an admin signed in with a password only", "adm", identity.ACRPassword, 0, http.StatusSeeOther, "/login?notice=reauth&login_hint=ada"},
		{"an admin whose sign-in is too old", "adm", identity.ACRMFA, 2 * identity.FreshAuthWindow, http.StatusSeeOther, "/login?notice=reauth&login_hint=ada"},
		{"a disabled admin", "disabled", identity.ACRMFA, 0, http.StatusSeeOther, "/login"},
		{"an admin with a fresh second factor", "adm", identity.ACRMFA, 0, http.StatusOK, ""},
		{"a passkey sign-in", "adm", identity.ACRPhishingResistant, 0, http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newAdminPages(t)
			var cookies []*http.Cookie
			if c.user != "" {
				cookies = p.signIn(c.user, c.acr, p.now.Add(-c.age))
			}
			res := p.do(httptest.NewRequest(http.MethodGet, "/admin", nil), cookies)
			if res.StatusCode != c.status || res.Header.Get("Location") != c.location {
				t.Errorf("%d → %q, want %d → %q", res.StatusCode, res.Header.Get("Location"), c.status, c.location)
			}
		})
	}
}

func TestAdminPagesDuringAnOutage(t *testing.T) {
	p := newAdminPages(t)
	cookies := p.signIn("adm", identity.ACRMFA, p.now)
	p.store.down = true
	res := p.do(httptest.NewRequest(http.MethodGet, "/admin", nil), cookies)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("%d, Retry-After %q: an outage is neither a sign-in prompt nor a 500", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

func rolePost(origin string) *http.Request {
	form := url.Values{"name": {"auditor"}, "description": {"reads the ledger"}}
	req := httptest.NewRequest(http.MethodPost, "https://id.example.co/admin/roles", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	return req
}

func TestRoleCatalogChanges(t *testing.T) {
	t.Run("an admin without the catalog permission is refused, on the ledger", func(t *testing.T) {
		p := newAdminPages(t)
		res := p.do(rolePost(""), p.signIn("adm", identity.ACRMFA, p.now))
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", res.StatusCode)
		}
		if len(p.store.ledger) != 1 || p.store.ledger[0].Type != manage.EventDenied || p.store.ledger[0].Actor != identity.AdminActor("adm") {
			t.Errorf("ledger %+v", p.store.ledger)
		}
	})
	t.Run("a cross-site post changes nothing", func(t *testing.T) {
		p := newAdminPages(t)
		res := p.do(rolePost("https://evil.example"), p.signIn("root", identity.ACRMFA, p.now))
		if res.StatusCode != http.StatusForbidden || len(p.store.ledger) != 0 {
			t.Errorf("status %d, ledger %+v", res.StatusCode, p.store.ledger)
		}
	})
}
