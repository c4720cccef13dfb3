package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
)

// clientActions are the forms of a client's page (the route's pattern).
const clientActions = "disable|enable|rotate-secret|delete"

// clientNotices are the notices after each action (literal keys, for the
// catalog test). A rotated secret has no notice: its answer is the page.
// A created client's secret is shown on the answer too, with the notice.
var clientNotices = map[string]string{
	"created": "admin.clients.notice.created",
	"updated": "admin.clients.notice.updated",
	"disable": "admin.clients.notice.disabled",
	"enable":  "admin.clients.notice.enabled",
	"deleted": "admin.clients.notice.deleted",
}

type clientRow struct {
	ID, Name, AuthMethod string
	GrantTypes, Roles    []string
	Public, FirstParty   bool
	Disabled, Registered bool
}

type clientsPage struct {
	Clients []clientRow
	Notice  string
}

func viewClientRow(c *identity.Client) clientRow {
	return clientRow{ID: c.ID, Name: c.Name, AuthMethod: c.TokenEndpointAuthMethod, GrantTypes: c.GrantTypes, Roles: c.Roles,
		Public: c.IsPublic(), FirstParty: c.FirstParty, Disabled: c.Disabled, Registered: len(c.RegistrationTokenHash) > 0}
}

func (a *Admin) listClients(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := a.guard(w, r); !ok {
		return
	}
	clients, err := a.Manage.Clients(r.Context(), "")
	if err != nil {
		a.serverError(w, r, "clients", err)
		return
	}
	page := clientsPage{Notice: clientNotices[r.URL.Query().Get("notice")]}
	for i := range clients {
		page.Clients = append(page.Clients, viewClientRow(&clients[i]))
	}
	a.Pages.Render(w, r, http.StatusOK, "adminclients", page)
}

type clientPage struct {
	clientRow
	RedirectURIs, PostLogoutRedirectURIs []string
	Scopes, Audience                     []string
	TokenFormat, IDTokenAlg              string
	IntrospectAny, PermissionsClaim      bool
	BackchannelLogoutURI                 string
	AllowedOrigins                       []string
	TokenRateLimit                       int
	Created, Updated                     string
	// HasSecret: a confidential client that authenticates with a secret.
	HasSecret bool
	// Secret is a new secret, shown once on the answer to its rotation.
	Secret string

	Notice  string
	Problem problem
}

func (a *Admin) showClient(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := a.guard(w, r); !ok {
		return
	}
	a.renderClient(w, r, mux.Vars(r)["id"], http.StatusOK, clientPage{Notice: clientNotices[r.URL.Query().Get("notice")]})
}

func (a *Admin) renderClient(w http.ResponseWriter, r *http.Request, id string, status int, page clientPage) {
	c, err := a.Manage.Client(r.Context(), id)
	if errors.Is(err, identity.ErrNotFound) {
		a.notFound(w, r)
		return
	}
	if err != nil {
		a.serverError(w, r, "client", err)
		return
	}
	page.clientRow = viewClientRow(c)
	page.RedirectURIs, page.PostLogoutRedirectURIs, page.Scopes, page.Audience = c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes, c.Audience
	page.TokenFormat, page.IDTokenAlg = c.TokenFormat, c.IDTokenSignedResponseAlg
	page.IntrospectAny, page.PermissionsClaim, page.BackchannelLogoutURI = c.IntrospectAny, c.PermissionsClaim, c.BackchannelLogoutURI
	page.TokenRateLimit, page.AllowedOrigins = c.TokenRateLimit, c.AllowedOrigins
	page.Created, page.Updated = moment(c.CreatedAt), moment(c.UpdatedAt)
	page.HasSecret = !c.IsPublic() && len(c.SecretHash) > 0
	a.Pages.Render(w, r, status, "adminclient", page)
}

// actOnClient applies one form of a client's page.
func (a *Admin) actOnClient(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guardForm(w, r)
	if !ok {
		return
	}
	id, action := mux.Vars(r)["id"], mux.Vars(r)["action"]
	by := a.manageActor(r, adm)
	ctx := context.WithoutCancel(r.Context())
	var err error
	switch action {
	case "disable", "enable":
		_, err = a.Manage.SetClientDisabled(ctx, by, id, action == "disable", nil)
	case "rotate-secret":
		var secret string
		if _, secret, err = a.Manage.RotateClientSecret(ctx, by, id, nil); err == nil {
			// The secret is shown here, once: never in a redirect's URL,
			// never logged; the page is not cached (no-store).
			a.renderClient(w, r, id, http.StatusOK, clientPage{Secret: secret})
			return
		}
	case "delete":
		if r.PostForm.Get("confirm") != id {
			a.renderClient(w, r, id, http.StatusBadRequest, clientPage{Problem: problem{Status: http.StatusBadRequest, Key: "admin.clients.problem.confirm"}})
			return
		}
		if err = a.Manage.DeleteClient(ctx, by, id, nil); err == nil {
			localpath.Redirect(w, r, notice("/admin/clients", "deleted"))
			return
		}
	}
	if errors.Is(err, identity.ErrNotFound) {
		a.notFound(w, r)
		return
	}
	if p, ok := a.problemOf(err, "admin.clients.problem.forbidden"); ok {
		a.renderClient(w, r, id, p.Status, clientPage{Problem: p})
		return
	}
	if err != nil {
		a.serverError(w, r, "client "+action, err)
		return
	}
	localpath.Redirect(w, r, notice("/admin/clients/"+url.PathEscape(id), action))
}
