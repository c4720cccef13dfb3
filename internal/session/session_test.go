package session_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/internal/testdb"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func newManager(t *testing.T, secure bool, pairs ...[]byte) (*session.Manager, *clock, identity.Store, string) {
	st := testdb.SQLite(t)
	u := &identity.User{Username: "alice", Email: "alice@example.com"}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now().UTC()}
	if len(pairs) == 0 {
		pairs = [][]byte{key(1), key(2)}
	}
	m := &session.Manager{
		Store: st, Codecs: session.NewCodecs(pairs...), CookieName: "portero_session", Secure: secure,
		Lifespan: 24 * time.Hour, IdleTimeout: time.Hour, Now: c.now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return m, c, st, u.ID
}

// start signs in and returns a request carrying the new cookie.
func start(t *testing.T, m *session.Manager, userID string, prior *http.Request) (*identity.Session, *http.Request, *http.Cookie) {
	t.Helper()
	if prior == nil {
		prior = httptest.NewRequest(http.MethodPost, "/login", nil)
	}
	rec := httptest.NewRecorder()
	s, err := m.Start(rec, prior, userID, []string{"pwd"}, identity.ACRPassword)
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	req := httptest.NewRequest(http.MethodGet, "/oauth2/auth", nil)
	req.AddCookie(cookies[0])
	return s, req, cookies[0]
}

func TestCookieAttributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		m, _, _, uid := newManager(t, secure)
		s, _, c := start(t, m, uid, nil)
		wantName := "portero_session"
		if secure {
			wantName = "__Host-portero_session"
		}
		if c.Name != wantName || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure || c.Path != "/" || c.Domain != "" {
			t.Fatalf("secure=%v: cookie %+v", secure, c)
		}
		if strings.Contains(c.Value, s.ID) {
			t.Fatal("the cookie carries the stored session id")
		}
	}
}

func TestSessionLifecycle(t *testing.T) {
	m, c, st, uid := newManager(t, false)
	s, req, _ := start(t, m, uid, nil)
	got, err := m.Current(req)
	if err != nil || got.ID != s.ID || got.UserID != uid || got.ACR != identity.ACRPassword {
		t.Fatalf("Current = %+v, %v", got, err)
	}

	// A tampered cookie is no session.
	bad := httptest.NewRequest(http.MethodGet, "/", nil)
	ck, _ := req.Cookie("portero_session")
	bad.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value[:len(ck.Value)-2] + "AA"})
	if _, err := m.Current(bad); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("tampered cookie: %v", err)
	}

	// Activity keeps it alive past the idle timeout...
	c.t = c.t.Add(50 * time.Minute)
	if _, err := m.Current(req); err != nil {
		t.Fatalf("active session: %v", err)
	}
	c.t = c.t.Add(50 * time.Minute)
	if _, err := m.Current(req); err != nil {
		t.Fatalf("touched session expired: %v", err)
	}
	// ...but not past an idle hour.
	c.t = c.t.Add(61 * time.Minute)
	if _, err := m.Current(req); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("idle session: %v", err)
	}
	if _, err := st.SessionByID(context.Background(), s.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal("an idle session's row was kept")
	}

	// The absolute lifespan ends even an active session.
	_, req, _ = start(t, m, uid, nil)
	for i := 0; i < 25; i++ {
		c.t = c.t.Add(59 * time.Minute)
		if _, err := m.Current(req); err != nil {
			if i < 24 {
				t.Fatalf("session ended after %d hours", i)
			}
			return
		}
	}
	t.Fatal("a session outlived its absolute lifespan")
}

func TestLoginRotatesAndLogoutEnds(t *testing.T) {
	m, _, st, uid := newManager(t, false)
	first, req, _ := start(t, m, uid, nil)
	second, req2, _ := start(t, m, uid, req)
	if second.ID == first.ID {
		t.Fatal("a new login kept the session id")
	}
	if _, err := st.SessionByID(context.Background(), first.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal("the previous session survived a new login")
	}
	rec := httptest.NewRecorder()
	if err := m.End(rec, req2); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Current(req2); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal("session survived logout")
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("logout did not clear the cookie: %v", c)
	}
}

func TestCookieKeyRotation(t *testing.T) {
	old, _, st, uid := newManager(t, false, key(1), key(2))
	_, req, _ := start(t, old, uid, nil)
	rotated := *old
	rotated.Codecs = session.NewCodecs(key(3), key(4), key(1), key(2))
	if _, err := rotated.Current(req); err != nil {
		t.Fatalf("a cookie sealed with the previous keys: %v", err)
	}
	dropped := *old
	dropped.Codecs = session.NewCodecs(key(3), key(4))
	if _, err := dropped.Current(req); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal("a cookie sealed with retired keys was accepted")
	}
	_ = st
}

// TestPendingSignIn: the half-done sign-in cookie round-trips, expires
// after PendingLifespan, refuses tampering and retired keys, and clears.
func TestPendingSignIn(t *testing.T) {
	m, c, _, uid := newManager(t, true)
	rec := httptest.NewRecorder()
	want := session.Pending{UserID: uid, AMR: []string{"pwd"}, Flow: "flow-id-0123456789", AuthTime: 1796000000}
	if err := m.SetPending(rec, want); err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	if cookie.Name != "__Host-portero_session_mfa" || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode ||
		cookie.MaxAge != int(session.PendingLifespan.Seconds()) {
		t.Fatalf("cookie attributes: %+v", cookie)
	}
	withCookie := func(c *http.Cookie) *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/login/mfa", nil)
		req.AddCookie(c)
		return req
	}
	got, err := m.Pending(withCookie(cookie))
	if err != nil || got.UserID != uid || got.Flow != want.Flow || got.AuthTime != want.AuthTime || len(got.AMR) != 1 {
		t.Fatalf("Pending = %+v, %v", got, err)
	}
	tampered := *cookie
	tampered.Value = cookie.Value[:len(cookie.Value)-2] + "AA"
	if _, err := m.Pending(withCookie(&tampered)); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal("a tampered pending cookie was accepted")
	}
	retired := *m
	retired.Codecs = session.NewCodecs(key(7), key(8))
	if _, err := retired.Pending(withCookie(cookie)); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal("a pending cookie sealed with retired keys was accepted")
	}
	c.t = c.t.Add(session.PendingLifespan)
	if _, err := m.Pending(withCookie(cookie)); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal("an expired pending sign-in was accepted")
	}
	if _, err := m.Pending(httptest.NewRequest(http.MethodGet, "/", nil)); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal("no cookie, yet a pending sign-in")
	}
	rec = httptest.NewRecorder()
	m.ClearPending(rec)
	if cleared := rec.Result().Cookies()[0]; cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Fatalf("clear: %+v", cleared)
	}
}
