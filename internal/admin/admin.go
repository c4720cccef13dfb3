// Package admin serves the administrators' pages, server-rendered HTML
// for a browser session (the token-based admin JSON API is the package
// adminapi). Both call the same services, so their rules and ledger
// entries are one:
//
//   - /admin: the home page, linking to the sections below.
//   - /admin/requests: the queue of data-subject requests (Ley 1581 de
//     2012 arts. 14-15) and the actions on them (identity.Requests).
//   - /admin/users: search users; a user's page shows roles, state,
//     second factors, sessions and consent records, with forms to
//     disable or enable, unlock, reset the second factors, grant or revoke
//     a role and end sessions.
//   - /admin/clients: the OAuth clients; /admin/clients/new registers
//     one (its secret shown once, on the answer to the post), a client's
//     page disables or enables it, rotates its secret (shown the same
//     way) or deletes it, and /admin/clients/{id}/edit changes its
//     settings (not whether it is public nor how it authenticates),
//     refused if the client changed since the form was shown.
//     Registering or editing a privileged client (manage.Privileged)
//     needs super_admin (manage.PermRoles).
//   - /admin/roles: the role catalog; defining or deleting a role needs
//     super_admin (manage.PermRoles).
//   - /admin/keys: the signing keys and their rotation.
//   - /admin/events: the ledger, newest first, by subject, actor, type
//     and time.
//
// Everything but the requests goes through manage.Service, which holds the
// guard rails (nobody acts on a holder of a role above their own, nor
// grants one; the last super_admin stays) and writes the ledger entries.
// A refusal by a guard rail answers 403 with the page and its message,
// the last super_admin 409, a broken rule 400. Every action is a form
// post through CSRF protection (net/http's CrossOriginProtection) that
// answers with a redirect (303) to the page it came from, carrying a
// notice; the exceptions are a client secret rotation and the
// registration of a client with a secret, whose answer is the client's
// page with the new secret, so that the secret never travels in a URL.
// A form refused shows again with what was typed and the message.
//
// # Access
//
// Every admin page and action needs a browser session whose user holds the
// role admin or super_admin (directly or through a role that includes it,
// manage.Service.IsAdmin, as the admin API), signed in with a second
// factor or better (identity.ACRMFA) within identity.FreshAuthWindow. Without a session the
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
// every read of a request's details or of a user's consent records
// (HABEAS_DATA H10, H11).
package admin

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
)

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
	get("/admin", a.showHome)
	get("/admin/requests", a.showQueue)
	get("/admin/requests/{id}", a.showRequest)
	post("/admin/requests/{id}/{action:extend|info|answer|refuse|dispute}", a.act)

	get("/admin/users", a.listUsers)
	get("/admin/users/{id}", a.showUser)
	post("/admin/users/{id}/{action:"+userActions+"}", a.actOnUser)

	get("/admin/clients", a.listClients)
	post("/admin/clients", a.createClient)
	// Before "/admin/clients/{id}", which would take "new" for an id.
	get("/admin/clients/new", a.showNewClient)
	get("/admin/clients/{id}", a.showClient)
	get("/admin/clients/{id}/edit", a.showEditClient)
	post("/admin/clients/{id}/edit", a.updateClient)
	post("/admin/clients/{id}/{action:"+clientActions+"}", a.actOnClient)

	get("/admin/roles", a.showRoles)
	post("/admin/roles", a.putRole)
	post("/admin/roles/{name}/delete", a.deleteRole)

	get("/admin/keys", a.showKeys)
	post("/admin/keys/rotate", a.rotateKeys)

	get("/admin/events", a.showEvents)

	// A GET of an action's address goes to the page the action belongs
	// to, and changes nothing: the language switcher on a page that
	// answered a post (a problem, a new client secret) returns there.
	back := func(path string, to func(vars map[string]string) string) {
		get(path, func(w http.ResponseWriter, r *http.Request) {
			localpath.Redirect(w, r, to(mux.Vars(r)))
		})
	}
	back("/admin/requests/{id}/{action:extend|info|answer|refuse|dispute}", func(v map[string]string) string {
		return "/admin/requests/" + url.PathEscape(v["id"])
	})
	back("/admin/users/{id}/{action:"+userActions+"}", func(v map[string]string) string { return "/admin/users/" + url.PathEscape(v["id"]) })
	back("/admin/clients/{id}/{action:"+clientActions+"}", func(v map[string]string) string { return "/admin/clients/" + url.PathEscape(v["id"]) })
	back("/admin/roles/{name}/delete", func(map[string]string) string { return "/admin/roles" })
	back("/admin/keys/rotate", func(map[string]string) string { return "/admin/keys" })
}

// homeLink is one section of the home page.
type homeLink struct {
	Path, Key, HelpKey string
}

var homeLinks = []homeLink{
	{"/admin/requests", "admin.home.requests", "admin.home.requests_help"},
	{"/admin/users", "admin.home.users", "admin.home.users_help"},
	{"/admin/clients", "admin.home.clients", "admin.home.clients_help"},
	{"/admin/roles", "admin.home.roles", "admin.home.roles_help"},
	{"/admin/keys", "admin.home.keys", "admin.home.keys_help"},
	{"/admin/events", "admin.home.events", "admin.home.events_help"},
}

type homePage struct {
	Username string
	Links    []homeLink
}

func (a *Admin) showHome(w http.ResponseWriter, r *http.Request) {
	_, u, ok := a.guard(w, r)
	if !ok {
		return
	}
	a.Pages.Render(w, r, http.StatusOK, "adminhome", homePage{Username: u.Username, Links: homeLinks})
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
	isAdmin, err := a.Manage.IsAdmin(r.Context(), u.Roles)
	if err != nil {
		a.serverError(w, r, "admin roles", err)
		return nil, nil, false
	}
	if !isAdmin {
		a.notFound(w, r)
		return nil, nil, false
	}
	if identity.ACRRank(sess.ACR) < identity.ACRRank(identity.ACRMFA) || !identity.IsFresh(sess.AuthTime, a.Now()) {
		localpath.Redirect(w, r, reauthURL(u))
		return nil, nil, false
	}
	return sess, u, true
}

func (a *Admin) notFound(w http.ResponseWriter, r *http.Request) {
	a.Pages.Error(w, r, http.StatusNotFound, "not_found", "error.not_found")
}

func (a *Admin) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.Log.ErrorContext(r.Context(), what, "err", err) // #nosec G706 -- slog quotes values; what is a constant of the caller
	a.Pages.Failure(w, r, err)
}

// manageActor is the administrator acting in r, as manage.Service sees
// them: the one place that builds it.
func (a *Admin) manageActor(r *http.Request, u *identity.User) manage.Actor {
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return manage.Actor{ID: identity.AdminActor(u.ID), Roles: u.Roles, IP: clientIP(r), UserAgent: ua, Locale: a.Pages.Lang(r)}
}

// actor is the ledger's view of the administrator acting in r, for
// identity.Requests.
func (a *Admin) actor(r *http.Request, u *identity.User) identity.RequestActor {
	return a.manageActor(r, u).RequestActor()
}

// problem is how an action's failure shows on its page.
type problem struct {
	Status int
	Key    string // the message
	Detail string // the rule's own words (English), when they help
}

// problemOf maps a refusal from manage or identity to the page's status
// and message: the kind decides the status, the code names the message
// ("admin.problem.<code>", or the kind's own message when the code has
// none); forbidden is the page's message for a guard rail's refusal. ok
// is false for an error the page cannot explain (a fault, an outage, or
// identity.ErrNotFound, which the caller decides on).
func (a *Admin) problemOf(err error, forbidden string) (problem, bool) {
	kind := identity.ErrorKind(err)
	status, ok := pageStatus[kind]
	if !ok {
		return problem{}, false
	}
	if kind == identity.KindForbidden {
		return problem{Status: status, Key: forbidden}, true
	}
	key := "admin.problem." + strings.ReplaceAll(identity.ErrorCode(err), "-", "_")
	if !a.Pages.Has(key) {
		key = "admin.problem." + pageFallback[kind]
	}
	return problem{Status: status, Key: key, Detail: identity.Detail(err)}, true
}

// The pages' answer to each kind of refusal they explain.
var (
	pageStatus = map[identity.Kind]int{
		identity.KindInvalid:      http.StatusBadRequest,
		identity.KindConflict:     http.StatusConflict,
		identity.KindForbidden:    http.StatusForbidden,
		identity.KindPrecondition: http.StatusConflict,
	}
	pageFallback = map[identity.Kind]string{
		identity.KindInvalid:      "invalid",
		identity.KindConflict:     "conflict",
		identity.KindPrecondition: "precondition_failed",
	}
)

// notice is the redirect target after a successful action.
func notice(path, key string) string { return path + "?notice=" + url.QueryEscape(key) }

// guardForm is guard for a form post: the form is parsed first (a
// malformed one answers 400).
func (a *Admin) guardForm(w http.ResponseWriter, r *http.Request) (*identity.Session, *identity.User, bool) {
	if err := r.ParseForm(); err != nil {
		a.badForm(w, r)
		return nil, nil, false
	}
	return a.guard(w, r)
}

// badForm answers a form that could not be parsed.
func (a *Admin) badForm(w http.ResponseWriter, r *http.Request) {
	a.Pages.Error(w, r, http.StatusBadRequest, "invalid_request", "error.form")
}

func clientIP(r *http.Request) string { return session.ClientIP(r) }
