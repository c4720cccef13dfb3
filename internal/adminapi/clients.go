package adminapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
	"github.com/portero-id/portero/internal/manage"
)

// clientInput is the body of POST /clients and PUT /clients/{id}.
type clientInput struct {
	ID                       string          `json:"client_id"`
	Name                     string          `json:"client_name"`
	Public                   bool            `json:"public"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris"`
	GrantTypes               []string        `json:"grant_types"`
	Scopes                   []string        `json:"scopes"`
	Audience                 []string        `json:"audience"`
	Roles                    []string        `json:"roles"`
	JWKS                     json.RawMessage `json:"jwks"`
	TokenFormat              string          `json:"token_format"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	IntrospectAny            bool            `json:"introspect_any"`
	FirstParty               bool            `json:"first_party"`
	PermissionsClaim         bool            `json:"permissions_claim"`
	BackchannelLogoutURI     string          `json:"backchannel_logout_uri"`
	TokenRateLimit           int             `json:"token_rate_limit"`
	AllowedOrigins           []string        `json:"allowed_origins"`
}

func (in *clientInput) spec() manage.ClientSpec {
	var jwks []byte
	if len(in.JWKS) > 0 && string(in.JWKS) != "null" {
		jwks = in.JWKS
	}
	return manage.ClientSpec{
		ID: in.ID, Name: in.Name, Public: in.Public, TokenEndpointAuthMethod: in.TokenEndpointAuthMethod,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, GrantTypes: in.GrantTypes,
		Scopes: in.Scopes, Audience: in.Audience, Roles: in.Roles, JWKS: jwks, TokenFormat: in.TokenFormat,
		IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg, IntrospectAny: in.IntrospectAny,
		FirstParty: in.FirstParty, PermissionsClaim: in.PermissionsClaim, BackchannelLogoutURI: in.BackchannelLogoutURI,
		TokenRateLimit: in.TokenRateLimit, AllowedOrigins: in.AllowedOrigins,
	}
}

// ifMatchClient checks If-Match against the client as stored.
func (c *call) ifMatchClient(cl *identity.Client) error { return c.matches(adminview.ClientOf(cl)) }

func (a *API) listClients(c *call) error {
	cur, limit, ok := a.paging(c)
	if !ok {
		return nil
	}
	all, err := a.Manage.Clients(c.ctx(), c.r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	start, _ := slices.BinarySearchFunc(all, cur.ID, func(cl identity.Client, id string) int { return strings.Compare(cl.ID, id) })
	if start < len(all) && cur.ID != "" && all[start].ID == cur.ID {
		start++
	}
	rest := all[start:min(len(all), start+limit+1)]
	c.write(http.StatusOK, pageOf(rest, limit, adminview.ClientOf,
		func(last *identity.Client) cursor { return cursor{ID: last.ID} }))
	return nil
}

func (a *API) getClient(c *call) error {
	cl, err := a.Manage.Client(c.ctx(), c.var_("id"))
	if err != nil {
		return err
	}
	c.write(http.StatusOK, adminview.ClientOf(cl))
	return nil
}

func (a *API) createClient(c *call) error {
	var in clientInput
	if !c.decode(a, &in) {
		return nil
	}
	cl, secret, err := a.Manage.CreateClient(c.ctx(), c.actor, in.spec())
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", Prefix+"/clients/"+cl.ID)
	view := adminview.ClientOf(cl)
	c.writeTagged(http.StatusCreated, adminview.ClientWithSecret{Client: view, Secret: secret}, view)
	return nil
}

func (a *API) updateClient(c *call) error {
	if !c.requireETag(a, "client") {
		return nil
	}
	var in clientInput
	if !c.decode(a, &in) {
		return nil
	}
	if in.ID != "" && in.ID != c.var_("id") {
		a.problem(c.w, c.r, http.StatusUnprocessableEntity, "invalid", "The request breaks a rule.", "client_id cannot change")
		return nil
	}
	cl, err := a.Manage.UpdateClient(c.ctx(), c.actor, c.var_("id"), in.spec(), c.ifMatchClient)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, adminview.ClientOf(cl))
	return nil
}

func (a *API) deleteClient(c *call) error {
	if err := a.Manage.DeleteClient(c.ctx(), c.actor, c.var_("id"), c.ifMatchClient); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rotateSecret(c *call) error {
	cl, secret, err := a.Manage.RotateClientSecret(c.ctx(), c.actor, c.var_("id"), c.ifMatchClient)
	if err != nil {
		return err
	}
	view := adminview.ClientOf(cl)
	c.writeTagged(http.StatusOK, adminview.ClientWithSecret{Client: view, Secret: secret}, view)
	return nil
}

func (a *API) setClientState(c *call) error {
	cl, err := a.Manage.SetClientDisabled(c.ctx(), c.actor, c.var_("id"), c.var_("state") == "disable", c.ifMatchClient)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, adminview.ClientOf(cl))
	return nil
}
