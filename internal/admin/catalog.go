package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
	"github.com/portero-id/portero/internal/manage"
)

// roleNotices and keyNotices are the notices after each action (literal
// keys, for the catalog test).
var (
	roleNotices = map[string]string{
		"defined": "admin.roles.notice.defined",
		"deleted": "admin.roles.notice.deleted",
	}
	keyNotices = map[string]string{
		"rotated": "admin.keys.notice.rotated",
	}
)

type roleRow struct {
	Name, Description string
	Builtin           bool
	Includes          []string
	// Expanded are every role it includes, directly or not.
	Expanded    []string
	Permissions []string
}

type rolesPage struct {
	Roles []roleRow
	// CanEdit: the administrator holds manage.PermRoles. Without it the
	// page offers neither the definition form nor the delete buttons,
	// only a note (the service still decides every post).
	CanEdit bool
	Notice  string
	Problem problem
	// The definition form, kept when shown again.
	Name, Description, Includes, Permissions string
}

func (a *Admin) showRoles(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guard(w, r)
	if !ok {
		return
	}
	a.renderRoles(w, r, adm, http.StatusOK, rolesPage{Notice: roleNotices[r.URL.Query().Get("notice")]})
}

func (a *Admin) renderRoles(w http.ResponseWriter, r *http.Request, adm *identity.User, status int, page rolesPage) {
	ctx := r.Context()
	roles, err := a.Manage.Roles(ctx)
	if err != nil {
		a.serverError(w, r, "roles", err)
		return
	}
	catalog := identity.NewRoleCatalog(roles)
	for _, x := range roles {
		all, _ := catalog.Expand([]string{x.Name})
		all = slices.DeleteFunc(all, func(n string) bool { return n == x.Name })
		page.Roles = append(page.Roles, roleRow{Name: x.Name, Description: x.Description, Builtin: x.Builtin,
			Includes: x.Includes, Expanded: all, Permissions: x.Permissions})
	}
	page.CanEdit = manage.CanChangePrivilege(catalog, adm.Roles)
	a.Pages.Render(w, r, status, "adminroles", page)
}

// list splits a comma-separated field, dropping empty items.
func list(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// putRole defines a role, or redefines one of the same name.
func (a *Admin) putRole(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guardForm(w, r)
	if !ok {
		return
	}
	form := r.PostForm
	role := &identity.Role{Name: strings.TrimSpace(form.Get("name")), Description: strings.TrimSpace(form.Get("description")),
		Includes: list(form.Get("includes")), Permissions: list(form.Get("permissions"))}
	err := a.Manage.PutRole(context.WithoutCancel(r.Context()), a.manageActor(r, adm), role)
	if err == nil {
		localpath.Redirect(w, r, notice("/admin/roles", "defined"))
		return
	}
	if p, ok := a.problemOf(err, "admin.roles.problem.forbidden"); ok {
		a.renderRoles(w, r, adm, p.Status, rolesPage{Problem: p, Name: form.Get("name"), Description: form.Get("description"),
			Includes: form.Get("includes"), Permissions: form.Get("permissions")})
		return
	}
	a.serverError(w, r, "define role", err)
}

// deleteRole removes a custom role that nobody holds.
func (a *Admin) deleteRole(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guard(w, r)
	if !ok {
		return
	}
	err := a.Manage.DeleteRole(context.WithoutCancel(r.Context()), a.manageActor(r, adm), mux.Vars(r)["name"])
	if err == nil {
		localpath.Redirect(w, r, notice("/admin/roles", "deleted"))
		return
	}
	if errors.Is(err, identity.ErrNotFound) {
		a.renderRoles(w, r, adm, http.StatusNotFound, rolesPage{Problem: problem{Status: http.StatusNotFound, Key: "admin.roles.problem.gone"}})
		return
	}
	if p, ok := a.problemOf(err, "admin.roles.problem.forbidden"); ok {
		a.renderRoles(w, r, adm, p.Status, rolesPage{Problem: p})
		return
	}
	a.serverError(w, r, "delete role", err)
}

type keyRow struct {
	ID, Algorithm, Use string
	Created, ActiveAt  string
	// StateKey: pending (not signing yet), signing, previous (still
	// published, verifies) or retired.
	StateKey string
}

type keysPage struct {
	Keys   []keyRow
	Notice string
}

func (a *Admin) showKeys(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := a.guard(w, r); !ok {
		return
	}
	now := a.Now()
	page := keysPage{Notice: keyNotices[r.URL.Query().Get("notice")]}
	// Keys come newest activation first, as the keyring walks them: per
	// algorithm the first active key signs and the one before it is
	// still published.
	active := map[string]int{}
	for _, k := range a.Manage.SigningKeys() {
		row := keyRow{ID: k.ID, Algorithm: k.Algorithm, Use: k.Use, Created: moment(k.CreatedAt), ActiveAt: moment(k.ActiveAt)}
		if k.ActiveAt.After(now) {
			row.StateKey = "admin.keys.state.pending"
		} else {
			active[k.Algorithm]++
			switch active[k.Algorithm] {
			case 1:
				row.StateKey = "admin.keys.state.signing"
			case 2:
				row.StateKey = "admin.keys.state.previous"
			default:
				row.StateKey = "admin.keys.state.retired"
			}
		}
		page.Keys = append(page.Keys, row)
	}
	a.Pages.Render(w, r, http.StatusOK, "adminkeys", page)
}

func (a *Admin) rotateKeys(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guard(w, r)
	if !ok {
		return
	}
	if _, err := a.Manage.RotateKeys(context.WithoutCancel(r.Context()), a.manageActor(r, adm)); err != nil {
		a.serverError(w, r, "rotate keys", err)
		return
	}
	localpath.Redirect(w, r, notice("/admin/keys", "rotated"))
}
