package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
	"github.com/portero-id/portero/internal/manage"
)

// The choices of the client form, in the order shown, with the text that
// explains each (literal keys, for the catalog test; "" shows the value
// alone).
var (
	formAuthMethods = []option{
		{Value: identity.AuthMethodBasic, Key: "admin.clients.form.method.basic"},
		{Value: identity.AuthMethodPost, Key: "admin.clients.form.method.post"},
		{Value: identity.AuthMethodPrivateKey, Key: "admin.clients.form.method.private_key_jwt"},
		{Value: identity.AuthMethodNone, Key: "admin.clients.form.method.none"},
	}
	formGrantTypes = []option{
		{Value: "authorization_code", Key: "admin.clients.form.grant.authorization_code"},
		{Value: "refresh_token", Key: "admin.clients.form.grant.refresh_token"},
		{Value: "client_credentials", Key: "admin.clients.form.grant.client_credentials"},
	}
	formTokenFormats = []option{
		{Value: identity.TokenFormatJWT, Key: "admin.clients.form.format.jwt"},
		{Value: identity.TokenFormatOpaque, Key: "admin.clients.form.format.opaque"},
	}
	formIDTokenAlgs = []option{{Value: "RS256"}, {Value: "ES256"}}
)

// clientForm is the client form's fields as typed: kept as they were when
// the form is shown again with a problem.
type clientForm struct {
	// Editing: the form edits client ID, whose id, public flag and
	// authentication method cannot change (they are shown, not posted).
	Editing bool
	ID      string
	Name    string
	Public  bool
	// AuthMethod is the token endpoint authentication method.
	AuthMethod string
	JWKS       string
	// RedirectURIs and PostLogoutRedirectURIs: one per line.
	RedirectURIs, PostLogoutRedirectURIs string
	// AllowedOrigins: one per line.
	AllowedOrigins string
	GrantTypes     []string
	// Scopes and Audience are separated by spaces, Roles by commas.
	Scopes, Audience, Roles                     string
	TokenFormat, IDTokenAlg                     string
	IntrospectAny, FirstParty, PermissionsClaim bool
	BackchannelLogoutURI                        string
	// TokenRateLimit is the client's token requests per minute; "" or
	// "0" takes the default.
	TokenRateLimit string
	// Version is the client's UpdatedAt (RFC 3339) when the edit form was
	// shown: the edit is refused if the client changed since.
	Version string
}

// newClientForm is the empty form: the defaults manage.ClientSpec takes,
// shown as such.
func newClientForm() clientForm {
	return clientForm{AuthMethod: identity.AuthMethodBasic, GrantTypes: slices.Clone(manage.DefaultGrantTypes),
		Scopes: strings.Join(manage.DefaultScopes, " "), TokenFormat: identity.TokenFormatJWT, IDTokenAlg: "RS256"}
}

// clientFormOf is the edit form filled with c's settings.
func clientFormOf(c *identity.Client) clientForm {
	f := clientForm{Editing: true, ID: c.ID, Name: c.Name, Public: c.IsPublic(), AuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs: strings.Join(c.RedirectURIs, "\n"), PostLogoutRedirectURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"),
		AllowedOrigins: strings.Join(c.AllowedOrigins, "\n"),
		GrantTypes:     c.GrantTypes, Scopes: strings.Join(c.Scopes, " "), Audience: strings.Join(c.Audience, " "),
		Roles: strings.Join(c.Roles, ", "), TokenFormat: c.TokenFormat, IDTokenAlg: c.IDTokenSignedResponseAlg,
		IntrospectAny: c.IntrospectAny, FirstParty: c.FirstParty, PermissionsClaim: c.PermissionsClaim,
		BackchannelLogoutURI: c.BackchannelLogoutURI, Version: c.UpdatedAt.Format(time.RFC3339Nano)}
	if c.TokenRateLimit > 0 {
		f.TokenRateLimit = strconv.Itoa(c.TokenRateLimit)
	}
	if len(c.JWKS) > 0 {
		f.JWKS = prettyJSON(c.JWKS)
	}
	return f
}

// readClientForm reads a posted client form. The edit form posts neither
// the id, nor public, nor the authentication method: the caller sets them.
func readClientForm(form url.Values) clientForm {
	checked := func(name string) bool { return form.Get(name) != "" }
	return clientForm{
		ID: strings.TrimSpace(form.Get("client_id")), Name: strings.TrimSpace(form.Get("name")), Public: checked("public"),
		AuthMethod: form.Get("token_endpoint_auth_method"), JWKS: strings.TrimSpace(form.Get("jwks")),
		RedirectURIs: form.Get("redirect_uris"), PostLogoutRedirectURIs: form.Get("post_logout_redirect_uris"),
		AllowedOrigins: form.Get("allowed_origins"),
		GrantTypes:     form["grant_type"], Scopes: form.Get("scopes"), Audience: form.Get("audience"), Roles: form.Get("roles"),
		TokenFormat: form.Get("token_format"), IDTokenAlg: form.Get("id_token_alg"),
		IntrospectAny: checked("introspect_any"), FirstParty: checked("first_party"), PermissionsClaim: checked("permissions_claim"),
		BackchannelLogoutURI: strings.TrimSpace(form.Get("backchannel_logout_uri")), Version: form.Get("version"),
		TokenRateLimit: strings.TrimSpace(form.Get("token_rate_limit")),
	}
}

// lines splits a field of one item per line, dropping empty lines.
func lines(s string) []string {
	var out []string
	for _, x := range strings.Split(s, "\n") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// spec is what the form asks of manage.Service; the rules are the
// service's (identity.Client.Validate and the guard rails).
func (f *clientForm) spec() manage.ClientSpec {
	sp := manage.ClientSpec{ID: f.ID, Name: f.Name, Public: f.Public, TokenEndpointAuthMethod: f.AuthMethod,
		RedirectURIs: lines(f.RedirectURIs), PostLogoutRedirectURIs: lines(f.PostLogoutRedirectURIs),
		AllowedOrigins: lines(f.AllowedOrigins),
		GrantTypes:     f.GrantTypes, Scopes: strings.Fields(f.Scopes), Audience: strings.Fields(f.Audience), Roles: list(f.Roles),
		TokenFormat: f.TokenFormat, IDTokenSignedResponseAlg: f.IDTokenAlg,
		IntrospectAny: f.IntrospectAny, FirstParty: f.FirstParty, PermissionsClaim: f.PermissionsClaim,
		BackchannelLogoutURI: f.BackchannelLogoutURI}
	if f.TokenRateLimit != "" {
		// Not a number: -1, which the rules refuse with their message.
		if sp.TokenRateLimit, _ = strconv.Atoi(f.TokenRateLimit); sp.TokenRateLimit == 0 && f.TokenRateLimit != "0" {
			sp.TokenRateLimit = -1
		}
	}
	if f.JWKS != "" {
		sp.JWKS = []byte(f.JWKS)
	}
	return sp
}

// problem is what the form itself refuses before asking the service: no
// grant type ticked (the service would quietly take its defaults).
func (f *clientForm) problem() (problem, bool) {
	if len(f.GrantTypes) == 0 {
		return problem{Status: http.StatusBadRequest, Key: "admin.clients.problem.no_grant"}, true
	}
	return problem{}, false
}

type clientFormPage struct {
	clientForm
	AuthMethods, GrantTypeOptions, TokenFormats, IDTokenAlgs []option
	// CanPrivilege: the administrator holds manage.PermRoles, which a
	// privileged client needs (the service decides; the page only says
	// so).
	CanPrivilege bool
	// Locked: the client being edited is privileged and the
	// administrator lacks manage.PermRoles: the page says so instead of
	// offering the form.
	Locked  bool
	Problem problem
}

// choices marks the options whose value is among selected.
func choices(all []option, selected ...string) []option {
	out := make([]option, len(all))
	for i, o := range all {
		o.Selected = slices.Contains(selected, o.Value)
		out[i] = o
	}
	return out
}

// renderClientForm shows the create form, or the edit form of client cur
// (as stored), with f's values.
func (a *Admin) renderClientForm(w http.ResponseWriter, r *http.Request, adm *identity.User, cur *identity.Client, status int, f clientForm, p problem) {
	catalog, err := a.Manage.Catalog(r.Context())
	if err != nil {
		a.serverError(w, r, "role catalog", err)
		return
	}
	can := manage.CanChangePrivilege(catalog, adm.Roles)
	page := clientFormPage{clientForm: f, CanPrivilege: can, Problem: p,
		AuthMethods: choices(formAuthMethods, f.AuthMethod), GrantTypeOptions: choices(formGrantTypes, f.GrantTypes...),
		TokenFormats: choices(formTokenFormats, f.TokenFormat), IDTokenAlgs: choices(formIDTokenAlgs, f.IDTokenAlg)}
	page.Locked = cur != nil && !can && manage.Privileged(catalog, cur)
	a.Pages.Render(w, r, status, "adminclientform", page)
}

func (a *Admin) showNewClient(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guard(w, r)
	if !ok {
		return
	}
	a.renderClientForm(w, r, adm, nil, http.StatusOK, newClientForm(), problem{})
}

// createClient registers a client. Its secret, if it has one, is shown
// once on the answer, as after a rotation: never in a URL, never logged,
// on a page that is not cached.
func (a *Admin) createClient(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guardForm(w, r)
	if !ok {
		return
	}
	f := readClientForm(r.PostForm)
	if p, bad := f.problem(); bad {
		a.renderClientForm(w, r, adm, nil, p.Status, f, p)
		return
	}
	// The client and its ledger entry land even if the browser goes.
	c, secret, err := a.Manage.CreateClient(context.WithoutCancel(r.Context()), a.manageActor(r, adm), f.spec())
	if err == nil {
		if secret == "" {
			localpath.Redirect(w, r, notice("/admin/clients/"+url.PathEscape(c.ID), "created"))
			return
		}
		a.renderClient(w, r, c.ID, http.StatusOK, clientPage{Secret: secret, Notice: clientNotices["created"]})
		return
	}
	if p, ok := a.problemOf(err, "admin.clients.problem.change_forbidden"); ok {
		if errors.Is(err, identity.ErrConflict) {
			p.Key, p.Detail = "admin.clients.problem.taken", ""
		}
		a.renderClientForm(w, r, adm, nil, p.Status, f, p)
		return
	}
	a.serverError(w, r, "create client", err)
}

func (a *Admin) showEditClient(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guard(w, r)
	if !ok {
		return
	}
	c, ok := a.loadClient(w, r, mux.Vars(r)["id"])
	if !ok {
		return
	}
	a.renderClientForm(w, r, adm, c, http.StatusOK, clientFormOf(c), problem{})
}

// loadClient reads client id, answering for a missing one.
func (a *Admin) loadClient(w http.ResponseWriter, r *http.Request, id string) (*identity.Client, bool) {
	c, err := a.Manage.Client(r.Context(), id)
	if errors.Is(err, identity.ErrNotFound) {
		a.notFound(w, r)
		return nil, false
	}
	if err != nil {
		a.serverError(w, r, "client", err)
		return nil, false
	}
	return c, true
}

// updateClient replaces a client's settings, unless it changed since the
// form was shown (then the form shows its current settings).
func (a *Admin) updateClient(w http.ResponseWriter, r *http.Request) {
	_, adm, ok := a.guardForm(w, r)
	if !ok {
		return
	}
	cur, ok := a.loadClient(w, r, mux.Vars(r)["id"])
	if !ok {
		return
	}
	f := readClientForm(r.PostForm)
	// Neither can change: the service refuses a change, and the form
	// does not post them.
	f.Editing, f.ID, f.Public, f.AuthMethod = true, cur.ID, cur.IsPublic(), cur.TokenEndpointAuthMethod
	version, err := time.Parse(time.RFC3339Nano, f.Version)
	if err != nil {
		a.badForm(w, r)
		return
	}
	if p, bad := f.problem(); bad {
		a.renderClientForm(w, r, adm, cur, p.Status, f, p)
		return
	}
	check := func(c *identity.Client) error {
		if !c.UpdatedAt.Equal(version) {
			return manage.ErrPrecondition
		}
		return nil
	}
	_, err = a.Manage.UpdateClient(context.WithoutCancel(r.Context()), a.manageActor(r, adm), cur.ID, f.spec(), check)
	switch {
	case err == nil:
		localpath.Redirect(w, r, notice("/admin/clients/"+url.PathEscape(cur.ID), "updated"))
		return
	case errors.Is(err, identity.ErrNotFound):
		a.notFound(w, r)
		return
	case errors.Is(err, manage.ErrPrecondition):
		// Someone else's change wins: show it, to be edited again.
		fresh, ok := a.loadClient(w, r, cur.ID)
		if ok {
			a.renderClientForm(w, r, adm, fresh, http.StatusConflict, clientFormOf(fresh),
				problem{Status: http.StatusConflict, Key: "admin.clients.problem.changed"})
		}
		return
	}
	if p, ok := a.problemOf(err, "admin.clients.problem.change_forbidden"); ok {
		a.renderClientForm(w, r, adm, cur, p.Status, f, p)
		return
	}
	a.serverError(w, r, "update client", err)
}
