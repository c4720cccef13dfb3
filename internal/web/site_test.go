package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/i18n"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/templates"
)

// fakeStore holds what the sign-in pages touch: one user with a TOTP
// authenticator, sessions and the audit trail. The embedded interface is
// nil: a handler that reaches any other method panics, and the test says
// which.
type fakeStore struct {
	identity.Store
	mu        sync.Mutex
	user      identity.User
	totpSeed  string
	usedSteps map[int64]bool
	sessions  map[string]*identity.Session
	audit     []identity.AuditEvent
	down      bool // every call fails as a storage outage
}

func (f *fakeStore) fail() error {
	if f.down {
		return fmt.Errorf("database: %w", identity.ErrUnavailable)
	}
	return nil
}

func (f *fakeStore) UserByLogin(_ context.Context, login string) (*identity.User, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	if login != f.user.Username {
		return nil, identity.ErrNotFound
	}
	u := f.user
	return &u, nil
}

func (f *fakeStore) UserByID(_ context.Context, id string) (*identity.User, error) {
	if id != f.user.ID {
		return nil, identity.ErrNotFound
	}
	u := f.user
	return &u, nil
}

func (f *fakeStore) SecondFactors(context.Context, string) (identity.SecondFactors, error) {
	return identity.SecondFactors{TOTP: f.totpSeed != ""}, nil
}

func (f *fakeStore) TOTPByUser(context.Context, string) (*identity.TOTPCredential, error) {
	confirmed := time.Now()
	return &identity.TOTPCredential{UserID: f.user.ID, EncryptedSecret: []byte(f.totpSeed), ConfirmedAt: &confirmed}, nil
}

func (f *fakeStore) UseTOTPStep(_ context.Context, _ string, step int64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.usedSteps[step] {
		return false, nil
	}
	f.usedSteps[step] = true
	return true, nil
}

func (f *fakeStore) CreateSession(_ context.Context, s *identity.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[s.ID] = s
	return nil
}

func (f *fakeStore) AppendAudit(_ context.Context, e *identity.AuditEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, *e)
	return nil
}

func (f *fakeStore) LedgerEntries(context.Context, identity.LedgerFilter) ([]identity.LedgerEntry, error) {
	return nil, nil
}

func (f *fakeStore) auditTypes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var types []string
	for _, e := range f.audit {
		types = append(types, e.Type)
	}
	return types
}

// countingGuard locks an account after three failures.
type countingGuard struct {
	mu       sync.Mutex
	failures map[string]int
}

func (g *countingGuard) decision(n int) identity.GuardDecision {
	return identity.GuardDecision{Allowed: n < 3, Locked: n >= 3, RetryAfter: time.Duration(n) * time.Minute, Failures: n}
}

func (g *countingGuard) Check(_ context.Context, key, _ string) (identity.GuardDecision, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.decision(g.failures[key]), nil
}

func (g *countingGuard) Fail(_ context.Context, key, _ string) (identity.GuardDecision, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures[key]++
	d := g.decision(g.failures[key])
	d.JustLocked = g.failures[key] == 3
	return d, nil
}

func (g *countingGuard) Success(_ context.Context, key, _ string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.failures, key)
	return nil
}

type plainSeal struct{}

func (plainSeal) Open(sealed, _ []byte) ([]byte, error) { return sealed, nil }

const testSeed = "JBSWY3DPEHPK3PXP"

type pages struct {
	t     *testing.T
	store *fakeStore
	site  *Site
	h     http.Handler
	now   time.Time
}

func newPages(t *testing.T) *pages {
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
	renderer, err := render.New(templates.FS, texts, log)
	if err != nil {
		t.Fatal(err)
	}
	p := &pages{t: t, now: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)}
	now := func() time.Time { return p.now }
	hasher := &identity.PasswordHasher{Params: identity.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}}
	hash, err := hasher.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	p.store = &fakeStore{
		user:      identity.User{ID: "u1", Username: "ana", Email: "ana@example.co", PasswordHash: hash, Roles: []string{"customer"}},
		totpSeed:  testSeed,
		usedSteps: map[int64]bool{},
		sessions:  map[string]*identity.Session{},
	}
	guard := &countingGuard{failures: map[string]int{}}
	sessions := &session.Manager{Store: p.store, Codecs: session.NewCodecs([]byte("0123456789abcdef0123456789abcdef"), []byte("0123456789abcdef")),
		CookieName: "portero_session", Lifespan: time.Hour, IdleTimeout: time.Hour, Now: now, Log: log}
	p.site = &Site{
		Store: p.store, Sessions: sessions, Pages: renderer, Log: log, CSRF: http.NewCrossOriginProtection(),
		Throttle: guard, Hasher: hasher, Now: now,
		SignIn: &identity.SignIn{Store: p.store, Guard: guard, Hasher: hasher, TOTPSeal: plainSeal{}, Log: log, Now: now},
	}
	r := mux.NewRouter()
	p.site.Mount(r)
	p.h = r
	return p
}

// do sends one request with the cookies given and returns the response.
func (p *pages) do(method, path string, form url.Values, cookies []*http.Cookie) *http.Response {
	p.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, "https://id.example.co"+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, req)
	return w.Result()
}

func TestPasswordSignIn(t *testing.T) {
	cases := []struct {
		name       string
		failBefore int // failed attempts before this one
		password   string
		wantStatus int
		wantAudit  []string
	}{
		{"wrong password", 0, "wrong", http.StatusUnauthorized, []string{identity.AuditLoginFailure}},
		{"the failure that locks", 2, "wrong", http.StatusTooManyRequests, []string{identity.AuditLoginFailure, identity.AuditLockout}},
		{"locked: the right password is not even checked", 3, "correct horse battery", http.StatusTooManyRequests, nil},
		{"right password, TOTP enrolled", 0, "correct horse battery", http.StatusSeeOther, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPages(t)
			for range c.failBefore {
				p.do(http.MethodPost, "/login", url.Values{"username": {"ana"}, "password": {"nope"}}, nil)
			}
			before := len(p.store.auditTypes())
			res := p.do(http.MethodPost, "/login", url.Values{"username": {"ana"}, "password": {c.password}}, nil)
			if res.StatusCode != c.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, c.wantStatus)
			}
			if got := p.store.auditTypes()[before:]; !slices.Equal(got, c.wantAudit) {
				t.Errorf("audit %v, want %v", got, c.wantAudit)
			}
			if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			if len(p.store.sessions) != 0 {
				t.Error("a password alone started a session for an account with a second factor")
			}
			if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") != "/login/mfa" {
				t.Errorf("sent to %q, want the second factor", res.Header.Get("Location"))
			}
		})
	}
}

func TestSecondFactorFinishesTheSignIn(t *testing.T) {
	p := newPages(t)
	res := p.do(http.MethodPost, "/login", url.Values{"username": {"ana"}, "password": {"correct horse battery"}}, nil)
	pending := res.Cookies()
	if res.StatusCode != http.StatusSeeOther || len(pending) == 0 {
		t.Fatalf("password step: %d %v", res.StatusCode, pending)
	}
	if res := p.do(http.MethodGet, "/login/mfa", nil, pending); res.StatusCode != http.StatusOK {
		t.Fatalf("second-factor page: %d", res.StatusCode)
	}
	if res := p.do(http.MethodPost, "/login/mfa", url.Values{"method": {"totp"}, "code": {"000000"}}, pending); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", res.StatusCode)
	}
	code, err := identity.TOTPCode(testSeed, p.now)
	if err != nil {
		t.Fatal(err)
	}
	res = p.do(http.MethodPost, "/login/mfa", url.Values{"method": {"totp"}, "code": {code}}, pending)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" {
		t.Fatalf("right code: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	if len(p.store.sessions) != 1 {
		t.Fatalf("%d sessions", len(p.store.sessions))
	}
	for _, s := range p.store.sessions {
		if !slices.Equal(s.AMR, []string{identity.AMRMFA, identity.AMROTP, identity.AMRPassword}) || s.ACR != identity.ACRMFA {
			t.Errorf("session amr %v acr %s", s.AMR, s.ACR)
		}
	}
	want := []string{identity.AuditMFAFailure, identity.AuditLoginSuccess}
	if got := p.store.auditTypes(); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
	// The same code again, on a new pending sign-in: its step is spent.
	res = p.do(http.MethodPost, "/login", url.Values{"username": {"ana"}, "password": {"correct horse battery"}}, nil)
	if res := p.do(http.MethodPost, "/login/mfa", url.Values{"method": {"totp"}, "code": {code}}, res.Cookies()); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed code: %d", res.StatusCode)
	}
}

func TestSecondFactorStepNeedsAPendingSignIn(t *testing.T) {
	p := newPages(t)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		res := p.do(method, "/login/mfa", url.Values{"method": {"totp"}, "code": {"123456"}}, nil)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("%s without a pending sign-in: %d → %q", method, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if len(p.store.usedSteps) != 0 {
		t.Error("a code was checked without a pending sign-in")
	}
}

func TestSignInDuringAnOutageIs503(t *testing.T) {
	p := newPages(t)
	p.store.down = true
	res := p.do(http.MethodPost, "/login", url.Values{"username": {"ana"}, "password": {"correct horse battery"}}, nil)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if got := p.store.auditTypes(); len(got) != 0 {
		t.Errorf("an outage is not a failed sign-in: %v", got)
	}
	if !errors.Is(p.store.fail(), identity.ErrUnavailable) {
		t.Fatal("fake outage is not an ErrUnavailable")
	}
}
