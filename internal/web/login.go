// Package web serves Portero's browser pages: today the sign-in page; MFA,
// consent and account pages join it.
package web

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
)

// flowPattern matches the opaque ids the dispatcher hands out; anything
// else is dropped, so the only redirect target is /oauth2/auth?flow=ID.
var flowPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// Login serves the username + password sign-in page.
type Login struct {
	Users    identity.UserStore
	Sessions *session.Manager
	Pages    *render.Renderer
	Log      *slog.Logger
	// CSRF rejects cross-origin form posts (Go's CrossOriginProtection,
	// which reads Sec-Fetch-Site/Origin: no token to leak or forget).
	CSRF *http.CrossOriginProtection
}

// Mount registers the page.
func (h *Login) Mount(r *mux.Router) {
	r.HandleFunc("/login", h.show).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/login", h.CSRF.Handler(http.HandlerFunc(h.submit))).Methods(http.MethodPost)
}

type loginPage struct {
	Flow     string
	Username string
	Failed   bool
}

func (h *Login) show(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	flow := q.Get("flow")
	if !flowPattern.MatchString(flow) {
		flow = ""
	}
	hint := q.Get("login_hint")
	if len(hint) > 256 {
		hint = ""
	}
	h.Pages.Render(w, r, http.StatusOK, "login", "Iniciar sesión", loginPage{Flow: flow, Username: hint})
}

func (h *Login) submit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.Pages.Error(w, r, http.StatusBadRequest, "invalid_request", "El formulario no es válido.")
		return
	}
	username := r.PostForm.Get("username")
	password := r.PostForm.Get("password")
	flow := r.PostForm.Get("flow")
	if !flowPattern.MatchString(flow) {
		flow = ""
	}
	fail := func() {
		h.Pages.Render(w, r, http.StatusUnauthorized, "login", "Iniciar sesión", loginPage{Flow: flow, Username: username, Failed: true})
	}
	if username == "" || password == "" || len(username) > 256 || len(password) > 1024 {
		fail()
		return
	}
	user, err := h.Users.UserByLogin(ctx, username)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		// Same work as a real check, so timing does not reveal accounts.
		_ = identity.VerifyDummyPassword(password)
		fail()
		return
	case err != nil:
		h.Log.ErrorContext(ctx, "login lookup", "err", err)
		h.Pages.Error(w, r, http.StatusInternalServerError, "server_error", "No pudimos iniciar tu sesión. Inténtalo de nuevo.")
		return
	}
	if user.PasswordHash == "" {
		_ = identity.VerifyDummyPassword(password)
		fail()
		return
	}
	if err := identity.VerifyPassword(user.PasswordHash, password); err != nil || user.Disabled {
		if err != nil && !errors.Is(err, identity.ErrPasswordMismatch) {
			h.Log.ErrorContext(ctx, "stored password hash unreadable", "user_id", user.ID, "err", err)
		}
		fail()
		return
	}
	if _, err := h.Sessions.Start(w, r, user.ID, []string{identity.AMRPassword}, identity.ACRPassword); err != nil {
		h.Log.ErrorContext(ctx, "start session", "err", err)
		h.Pages.Error(w, r, http.StatusInternalServerError, "server_error", "No pudimos iniciar tu sesión. Inténtalo de nuevo.")
		return
	}
	h.Log.InfoContext(ctx, "user signed in", "user_id", user.ID)
	if flow == "" {
		h.Pages.Render(w, r, http.StatusOK, "signedin", "Sesión iniciada", struct{ Username string }{user.Username})
		return
	}
	http.Redirect(w, r, "/oauth2/auth?flow="+url.QueryEscape(flow), http.StatusSeeOther)
}
