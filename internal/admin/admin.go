// Package admin serves the administrators' pages: for now the queue of
// data-subject requests (Ley 1581 de 2012 arts. 14-15) and the actions on
// them. The admin JSON API (token-based) is a later piece; it will call the
// same identity.Requests service, so its rules and ledger entries are the
// pages' own.
//
// # Access
//
// Every admin page and action needs a browser session whose user holds the
// role admin or super_admin, signed in with a second factor or better
// (identity.ACRMFA) within the last FreshAuth. Without a session the
// browser goes to /login; a signed-in administrator whose session is older
// or weaker goes to /login?notice=reauth&login_hint=<username>, to sign in
// again. A signed-in user without the role gets the same 404 page as for a
// page that does not exist, not a 403: the answer does not confirm to
// every customer that an admin surface is there, nor which privilege they
// lack (the same choice as for another titular's receipt). The role is
// checked before freshness, so a customer with a stale session gets the
// 404 too, not a sign-in prompt.
//
// Every action is a ledger entry with actor "admin:<user id>", and so is
// every read of a request's details (HABEAS_DATA H10, H11).
package admin

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
)

// Roles whose holders may use the admin pages.
var Roles = []string{"admin", "super_admin"}

// FreshAuth bounds how long after signing in an administrator may act
// without signing in again.
const FreshAuth = 15 * time.Minute

// Admin holds the admin pages' dependencies.
type Admin struct {
	Users    identity.UserStore
	Requests *identity.Requests
	// Manage carries out administrators' actions with their guard rails
	// and ledger entries (the admin API's and the CLI's too).
	Manage   *manage.Service
	Sessions *session.Manager
	Pages    *render.Renderer
	// CSRF rejects cross-origin form posts (as on the other pages).
	CSRF *http.CrossOriginProtection
	Log  *slog.Logger
	Now  func() time.Time
}

// Mount registers the admin pages. State-changing routes go through CSRF.
func (a *Admin) Mount(r *mux.Router) {
	get := func(path string, h http.HandlerFunc) {
		r.HandleFunc(path, h).Methods(http.MethodGet, http.MethodHead)
	}
	post := func(path string, h http.HandlerFunc) {
		r.Handle(path, a.CSRF.Handler(h)).Methods(http.MethodPost)
	}
	get("/admin/requests", a.showQueue)
	get("/admin/requests/{id}", a.showRequest)
	post("/admin/requests/{id}/{action:extend|info|answer|refuse|dispute}", a.act)
}

// IsAdmin reports whether u holds one of Roles.
func IsAdmin(u *identity.User) bool {
	return slices.ContainsFunc(Roles, u.HasRole)
}

// reauthURL is the sign-in page for an administrator who must sign in
// again.
func reauthURL(u *identity.User) string {
	return "/login?notice=reauth&login_hint=" + url.QueryEscape(u.Username)
}

// guard answers for a browser that may not use the admin pages and
// reports whether the handler may go on.
func (a *Admin) guard(w http.ResponseWriter, r *http.Request) (*identity.Session, *identity.User, bool) {
	sess, err := a.Sessions.Current(r)
	if errors.Is(err, identity.ErrNotFound) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, nil, false
	}
	if err != nil {
		a.serverError(w, r, "load session", err)
		return nil, nil, false
	}
	u, err := a.Users.UserByID(r.Context(), sess.UserID)
	if errors.Is(err, identity.ErrNotFound) || (err == nil && u.Disabled) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, nil, false
	}
	if err != nil {
		a.serverError(w, r, "load user", err)
		return nil, nil, false
	}
	if !IsAdmin(u) {
		a.notFound(w, r)
		return nil, nil, false
	}
	if identity.ACRRank(sess.ACR) < identity.ACRRank(identity.ACRMFA) || a.Now().Sub(sess.AuthTime) > FreshAuth {
		http.Redirect(w, r, reauthURL(u), http.StatusSeeOther)
		return nil, nil, false
	}
	return sess, u, true
}

func (a *Admin) notFound(w http.ResponseWriter, r *http.Request) {
	a.Pages.Error(w, r, http.StatusNotFound, "not_found", "error.not_found")
}

func (a *Admin) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.Log.ErrorContext(r.Context(), what, "err", err)
	a.Pages.Error(w, r, http.StatusInternalServerError, "server_error", "error.server")
}

// actor is the ledger's view of the administrator acting in r.
func (a *Admin) actor(r *http.Request, u *identity.User) identity.RequestActor {
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return identity.RequestActor{Actor: identity.AdminActor(u.ID), IP: clientIP(r), UserAgent: ua, Locale: a.Pages.Lang(r)}
}

func clientIP(r *http.Request) string { return session.ClientIP(r) }
