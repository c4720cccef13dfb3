package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
)

// usersPerPage is how many users the search shows at once.
const usersPerPage = 50

// userActions are the forms of a user's page (the route's pattern).
const userActions = "disable|enable|unlock|reset-link|reset-mfa|grant-role|revoke-role|end-session|end-sessions"

// userNotices are the notices after each action (literal keys, for the
// catalog test).
var userNotices = map[string]string{
	"disable":      "admin.users.notice.disabled",
	"enable":       "admin.users.notice.enabled",
	"unlock":       "admin.users.notice.unlocked",
	"reset-link":   "admin.users.notice.reset_link_sent",
	"reset-mfa":    "admin.users.notice.mfa_reset",
	"grant-role":   "admin.users.notice.role_granted",
	"revoke-role":  "admin.users.notice.role_revoked",
	"end-session":  "admin.users.notice.session_ended",
	"end-sessions": "admin.users.notice.sessions_ended",
}

// the state filter of the search.
var userStates = []option{
	{Value: "", Key: "admin.users.state.any"},
	{Value: "enabled", Key: "admin.users.state.enabled"},
	{Value: "disabled", Key: "admin.users.state.disabled"},
}

type userRow struct {
	ID, Username, Email string
	Roles               []string
	Disabled            bool
	Created             string
}

type usersPage struct {
	Query, Role, State string
	Roles              []option
	States             []option
	Users              []userRow
	// Next continues the listing ("" on the last page); First is the
	// listing from its start, shown on a later page.
	Next, First string
	Paged       bool
}

// usersURL is the search with its filters and where it continues.
func usersURL(q, role, state string, after *identity.User) string {
	v := url.Values{}
	for k, x := range map[string]string{"q": q, "role": role, "state": state} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if after != nil {
		v.Set("after", after.ID)
		v.Set("after_name", after.Username)
	}
	if len(v) == 0 {
		return "/admin/users"
	}
	return "/admin/users?" + v.Encode()
}

func (a *Admin) listUsers(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := a.guard(w, r); !ok {
		return
	}
	params := r.URL.Query()
	page := usersPage{Query: strings.TrimSpace(params.Get("q")), Role: params.Get("role"), State: params.Get("state")}
	q := identity.UserQuery{Text: page.Query, Role: page.Role, Limit: usersPerPage + 1}
	switch page.State {
	case "enabled", "disabled":
		disabled := page.State == "disabled"
		q.Disabled = &disabled
	default:
		page.State = ""
	}
	if id := params.Get("after"); id != "" {
		// The listing continues after this user's (username, id), even
		// if the user has gone since.
		q.After = &identity.User{ID: id, Username: params.Get("after_name")}
		page.Paged = true
		page.First = usersURL(page.Query, page.Role, page.State, nil)
	}
	users, err := a.Manage.SearchUsers(r.Context(), q)
	if err != nil {
		a.serverError(w, r, "search users", err)
		return
	}
	if len(users) > usersPerPage {
		users = users[:usersPerPage]
		page.Next = usersURL(page.Query, page.Role, page.State, &users[usersPerPage-1])
	}
	for _, u := range users {
		page.Users = append(page.Users, userRow{ID: u.ID, Username: u.Username, Email: u.Email, Roles: u.Roles,
			Disabled: u.Disabled, Created: moment(u.CreatedAt)})
	}
	roles, err := a.Manage.Roles(r.Context())
	if err != nil {
		a.serverError(w, r, "roles", err)
		return
	}
	page.Roles = append(page.Roles, option{Value: "", Key: "admin.users.any_role", Selected: page.Role == ""})
	for _, x := range roles {
		page.Roles = append(page.Roles, option{Value: x.Name, Selected: x.Name == page.Role})
	}
	for _, o := range userStates {
		o.Selected = o.Value == page.State
		page.States = append(page.States, o)
	}
	a.Pages.Render(w, r, http.StatusOK, "adminusers", page)
}

type sessionRow struct {
	ID, IP, UserAgent, ACR string
	LastSeen, Expires      string
	AuthTime               string
	Current                bool // the administrator's own session
}

type consentRow struct {
	Seq      int64
	At       string
	Type     string
	ClientID string
	Actor    string
	Payload  string
}

type scopeRow struct {
	ClientID string
	Scopes   []string
	Granted  string
}

type userPage struct {
	ID, Username, Email string
	EmailVerified       string
	Roles               []string
	Disabled            bool
	Created, Updated    string
	Factors             identity.SecondFactors
	Sessions            []sessionRow
	Consents            []consentRow
	Scopes              []scopeRow
	// Grantable are the roles of the catalog the administrator may
	// grant and the user lacks.
	Grantable []string
	// Self: the administrator's own account.
	Self bool

	Notice  string
	Problem problem
	// Role is the grant form's value, kept when shown again.
	Role string
}

func (a *Admin) showUser(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := a.guard(w, r)
	if !ok {
		return
	}
	a.renderUser(w, r, sess, u, mux.Vars(r)["id"], http.StatusOK, userPage{Notice: userNotices[r.URL.Query().Get("notice")]})
}

// renderUser shows user id's page to administrator adm; a user that does
// not exist is the not-found page. Reading the consent records is itself a
// ledger entry (manage.Service.UserConsents).
func (a *Admin) renderUser(w http.ResponseWriter, r *http.Request, sess *identity.Session, adm *identity.User, id string, status int, page userPage) {
	ctx := r.Context()
	u, factors, err := a.Manage.UserDetail(ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		a.notFound(w, r)
		return
	}
	if err != nil {
		a.serverError(w, r, "user", err)
		return
	}
	page.ID, page.Username, page.Email, page.Roles, page.Disabled = u.ID, u.Username, u.Email, u.Roles, u.Disabled
	page.Created, page.Updated, page.EmailVerified = moment(u.CreatedAt), moment(u.UpdatedAt), optMoment(u.EmailVerifiedAt)
	page.Self, page.Factors = u.ID == adm.ID, factors
	sessions, err := a.Manage.Sessions(ctx, u.ID)
	if err != nil {
		a.serverError(w, r, "sessions", err)
		return
	}
	for _, s := range sessions {
		page.Sessions = append(page.Sessions, sessionRow{ID: s.ID, IP: s.IP, UserAgent: s.UserAgent, ACR: s.ACR,
			LastSeen: moment(s.LastSeenAt), Expires: moment(s.ExpiresAt), AuthTime: moment(s.AuthTime),
			Current: sess != nil && s.ID == sess.ID})
	}
	// The read must be on record even if the browser goes meanwhile.
	consents, err := a.Manage.UserConsents(context.WithoutCancel(ctx), a.manageActor(r, adm), u.ID)
	if err != nil {
		a.serverError(w, r, "consent records", err)
		return
	}
	for _, e := range consents.Records { // newest first
		page.Consents = append(page.Consents, consentRow{Seq: e.Seq, At: moment(e.OccurredAt), Type: e.Type,
			ClientID: e.ClientID, Actor: e.Actor, Payload: prettyJSON(e.Payload)})
	}
	for _, s := range consents.Scopes {
		page.Scopes = append(page.Scopes, scopeRow{ClientID: s.ClientID, Scopes: s.Scopes, Granted: moment(s.GrantedAt)})
	}
	catalog, err := a.Manage.Catalog(ctx)
	if err != nil {
		a.serverError(w, r, "role catalog", err)
		return
	}
	for name := range catalog {
		if !u.HasRole(name) && catalog.CanGrant(adm.Roles, name) {
			page.Grantable = append(page.Grantable, name)
		}
	}
	slices.Sort(page.Grantable)
	a.Pages.Render(w, r, status, "adminuser", page)
}

// actOnUser applies one form of a user's page.
func (a *Admin) actOnUser(w http.ResponseWriter, r *http.Request) {
	sess, adm, ok := a.guardForm(w, r)
	if !ok {
		return
	}
	id, action := mux.Vars(r)["id"], mux.Vars(r)["action"]
	by := a.manageActor(r, adm)
	form := r.PostForm
	// The change and its ledger entry must land even if the browser goes.
	ctx := context.WithoutCancel(r.Context())
	var err error
	switch action {
	case "disable", "enable":
		_, err = a.Manage.SetUserDisabled(ctx, by, id, action == "disable")
	case "unlock":
		err = a.Manage.Unlock(ctx, by, id)
	case "reset-link":
		err = a.Manage.SendResetLink(ctx, by, id)
	case "reset-mfa":
		err = a.Manage.ResetMFA(ctx, by, id)
	case "grant-role":
		_, err = a.Manage.GrantRole(ctx, by, id, strings.TrimSpace(form.Get("role")))
	case "revoke-role":
		_, err = a.Manage.RevokeRole(ctx, by, id, form.Get("role"))
	case "end-session":
		sid := form.Get("session")
		if sid == "" {
			// "" would end every session: that is the other form.
			a.renderUser(w, r, sess, adm, id, http.StatusBadRequest, userPage{Problem: problem{Status: http.StatusBadRequest, Key: "admin.users.problem.no_session"}})
			return
		}
		err = a.Manage.RevokeSession(ctx, by, id, sid)
	case "end-sessions":
		err = a.Manage.RevokeSession(ctx, by, id, "")
	}
	if errors.Is(err, identity.ErrNotFound) {
		// No such user (renderUser answers 404), or no longer such a
		// role or session.
		a.renderUser(w, r, sess, adm, id, http.StatusNotFound, userPage{Problem: problem{Status: http.StatusNotFound, Key: "admin.users.problem.gone"}})
		return
	}
	if p, ok := a.problemOf(err, "admin.users.problem.forbidden"); ok {
		page := userPage{Problem: p}
		if action == "grant-role" {
			page.Role = form.Get("role")
		}
		a.renderUser(w, r, sess, adm, id, p.Status, page)
		return
	}
	if err != nil {
		a.serverError(w, r, "user "+action, err)
		return
	}
	// An administrator who ended their own session is sent on to sign in
	// by the guard of the page this redirects to.
	localpath.Redirect(w, r, notice("/admin/users/"+url.PathEscape(id), action))
}
