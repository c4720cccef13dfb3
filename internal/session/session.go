// Package session keeps browser sessions: a random token in a cookie sealed
// with gorilla/securecookie, and a server-side row keyed by the token's
// SHA-256 digest, so a database leak yields no usable cookie.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/portero-id/portero/identity"
)

// touchEvery limits last-seen writes to one a minute per session.
const touchEvery = time.Minute

// Manager issues, reads and ends browser sessions.
type Manager struct {
	Store identity.SessionStore
	// Codecs seal the cookie; the first encodes, all decode (key rotation).
	Codecs     []securecookie.Codec
	CookieName string
	// Secure marks the cookie Secure and gives it the __Host- prefix; set
	// when the issuer is https.
	Secure      bool
	Lifespan    time.Duration // absolute
	IdleTimeout time.Duration
	Now         func() time.Time
	Log         *slog.Logger
}

// NewCodecs builds securecookie codecs from (hash key, block key) pairs,
// current pair first.
func NewCodecs(pairs ...[]byte) []securecookie.Codec {
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(0) // expiry is enforced server-side, from the row
		}
	}
	return codecs
}

// Cookie is every cookie Portero sets: path /, HttpOnly, SameSite=Lax,
// and Secure whenever the issuer is https; maxAge -1 deletes it.
func (m *Manager) Cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{ // #nosec G124 -- Secure follows the issuer (https outside --dev, where a Secure cookie would not be sent back)
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: m.Secure, SameSite: http.SameSiteLaxMode,
	}
}

func (m *Manager) cookieName() string {
	if m.Secure {
		return "__Host-" + m.CookieName
	}
	return m.CookieName
}

func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokenFrom returns the session token in the request's cookie, or "".
func (m *Manager) tokenFrom(r *http.Request) string {
	c, err := r.Cookie(m.cookieName())
	if err != nil {
		return ""
	}
	var token string
	if err := securecookie.DecodeMulti(m.cookieName(), c.Value, &token, m.Codecs...); err != nil {
		return ""
	}
	return token
}

// Current returns the browser's live session or identity.ErrNotFound.
func (m *Manager) Current(r *http.Request) (*identity.Session, error) {
	token := m.tokenFrom(r)
	if token == "" {
		return nil, identity.ErrNotFound
	}
	ctx := r.Context()
	s, err := m.Store.SessionByID(ctx, digest(token))
	if err != nil {
		return nil, err
	}
	now := m.Now()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) > m.IdleTimeout {
		if err := m.Store.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, identity.ErrNotFound) {
			return nil, err
		}
		return nil, identity.ErrNotFound
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		if err := m.Store.TouchSession(ctx, s.ID, now); err != nil && !errors.Is(err, identity.ErrNotFound) {
			m.Log.WarnContext(ctx, "touch session", "err", err)
		}
		s.LastSeenAt = now
	}
	return s, nil
}

// Start signs the user in: it ends any session the browser had (so the
// session id changes at every login: no fixation) and sets a new cookie.
func (m *Manager) Start(w http.ResponseWriter, r *http.Request, userID string, amr []string, acr string) (*identity.Session, error) {
	ctx := r.Context()
	if err := m.endRow(ctx, r); err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := m.Now().UTC()
	s := &identity.Session{
		ID:         digest(token),
		UserID:     userID,
		AuthTime:   now,
		AMR:        slices.Clone(amr),
		ACR:        acr,
		IP:         ClientIP(r),
		UserAgent:  truncate(r.UserAgent(), 256),
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(m.Lifespan),
	}
	if err := m.Store.CreateSession(ctx, s); err != nil {
		return nil, err
	}
	encoded, err := securecookie.EncodeMulti(m.cookieName(), token, m.Codecs...)
	if err != nil {
		return nil, fmt.Errorf("seal session cookie: %w", err)
	}
	http.SetCookie(w, m.Cookie(m.cookieName(), encoded, int(m.Lifespan.Seconds())))
	return s, nil
}

// End deletes the browser's session row, if any, and clears the cookie.
func (m *Manager) End(w http.ResponseWriter, r *http.Request) error {
	if err := m.endRow(r.Context(), r); err != nil {
		return err
	}
	http.SetCookie(w, m.Cookie(m.cookieName(), "", -1))
	return nil
}

func (m *Manager) endRow(ctx context.Context, r *http.Request) error {
	token := m.tokenFrom(r)
	if token == "" {
		return nil
	}
	err := m.Store.DeleteSession(ctx, digest(token))
	if errors.Is(err, identity.ErrNotFound) {
		return nil
	}
	return err
}

// ClientIP is the address recorded for a request (the server's middleware
// has already replaced the peer by the client behind trusted proxies).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Pending is a sign-in half done: the password (or nothing yet, for a
// step-up) is verified and a second factor or its enrolment is due. It
// lives in a sealed, short-lived cookie, not in a session row, so that no
// session exists until sign-in is complete.
type Pending struct {
	UserID string
	// AMR are the methods already passed (pwd).
	AMR []string
	// Flow is the parked authorization request to resume, if any.
	Flow string
	// AuthTime (unix seconds) is when the first factor was verified: the
	// password just now, or the sign-in of the session a step-up starts
	// from. Enrolling a factor needs it fresh (identity.IsFresh).
	AuthTime int64
	Expires  int64 // unix seconds
}

// PendingLifespan bounds how long a half-done sign-in may wait.
const PendingLifespan = 10 * time.Minute

func (m *Manager) pendingName() string { return m.cookieName() + "_mfa" }

// SetPending seals p into the pending sign-in cookie.
func (m *Manager) SetPending(w http.ResponseWriter, p Pending) error {
	p.Expires = m.Now().Add(PendingLifespan).Unix()
	encoded, err := securecookie.EncodeMulti(m.pendingName(), p, m.Codecs...)
	if err != nil {
		return fmt.Errorf("seal pending sign-in: %w", err)
	}
	http.SetCookie(w, m.Cookie(m.pendingName(), encoded, int(PendingLifespan.Seconds())))
	return nil
}

// Pending returns the browser's unexpired pending sign-in, or ErrNotFound.
func (m *Manager) Pending(r *http.Request) (*Pending, error) {
	c, err := r.Cookie(m.pendingName())
	if err != nil {
		return nil, identity.ErrNotFound
	}
	var p Pending
	if err := securecookie.DecodeMulti(m.pendingName(), c.Value, &p, m.Codecs...); err != nil {
		return nil, identity.ErrNotFound
	}
	if m.Now().Unix() >= p.Expires || p.UserID == "" {
		return nil, identity.ErrNotFound
	}
	return &p, nil
}

// ClearPending removes the pending sign-in cookie.
func (m *Manager) ClearPending(w http.ResponseWriter) {
	http.SetCookie(w, m.Cookie(m.pendingName(), "", -1))
}
