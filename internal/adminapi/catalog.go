package adminapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
	"github.com/portero-id/portero/internal/manage"
)

// --- roles ---

func (a *API) listRoles(c *call) error {
	roles, err := a.Manage.Roles(c.ctx())
	if err != nil {
		return err
	}
	c.write(http.StatusOK, whole(roles, adminview.RoleOf))
	return nil
}

// role finds one role of the catalog.
func (a *API) role(ctx context.Context, name string) (*identity.Role, error) {
	roles, err := a.Manage.Roles(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(roles, func(r identity.Role) bool { return r.Name == name })
	if i < 0 {
		return nil, identity.ErrNotFound
	}
	return &roles[i], nil
}

func (a *API) getRole(c *call) error {
	r, err := a.role(c.ctx(), c.var_("name"))
	if err != nil {
		return err
	}
	c.write(http.StatusOK, adminview.RoleOf(r))
	return nil
}

// roleInput is the body of PUT /roles/{name}.
type roleInput struct {
	Description string   `json:"description"`
	Includes    []string `json:"includes"`
	Permissions []string `json:"permissions"`
}

// ifMatchRole checks If-Match against the role as it is (a role that does
// not exist yet matches no ETag but "*"... and nothing at all when absent).
func (a *API) ifMatchRole(c *call) error {
	if c.r.Header.Get("If-Match") == "" {
		return nil
	}
	r, err := a.role(c.ctx(), c.var_("name"))
	if errors.Is(err, identity.ErrNotFound) {
		err = manage.ErrPrecondition // RFC 9110 §13.1.1: If-Match fails when there is no current representation
	} else if err == nil {
		err = c.matches(adminview.RoleOf(r))
	}
	return err
}

func (a *API) putRole(c *call) error {
	var in roleInput
	if !c.decode(a, &in) {
		return nil
	}
	if err := a.ifMatchRole(c); err != nil {
		return err
	}
	name := c.var_("name")
	if err := a.Manage.PutRole(c.ctx(), c.actor, &identity.Role{Name: name, Description: in.Description,
		Includes: in.Includes, Permissions: in.Permissions}); err != nil {
		return err
	}
	r, err := a.role(c.ctx(), name)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, adminview.RoleOf(r))
	return nil
}

func (a *API) deleteRole(c *call) error {
	if err := a.ifMatchRole(c); err != nil {
		return err
	}
	if err := a.Manage.DeleteRole(c.ctx(), c.actor, c.var_("name")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- signing keys ---

func (a *API) listKeys(c *call) error {
	keys := a.Manage.SigningKeys()
	c.write(http.StatusOK, whole(keys, adminview.KeyOf))
	return nil
}

func (a *API) rotateKeys(c *call) error {
	keys, err := a.Manage.RotateKeys(c.ctx(), c.actor)
	if err != nil {
		return err
	}
	c.write(http.StatusCreated, whole(keys, adminview.KeyOf))
	return nil
}

// --- the ledger ---

func (a *API) listEvents(c *call) error {
	cur, limit, ok := a.paging(c)
	if !ok {
		return nil
	}
	q := c.r.URL.Query()
	f := identity.LedgerFilter{Subject: q.Get("subject"), Actor: q.Get("actor"), Kind: q.Get("kind"),
		ClientID: q.Get("client_id"), Limit: limit + 1, Newest: true, BeforeSeq: cur.Seq}
	switch f.Kind {
	case "", identity.LedgerAudit, identity.LedgerConsent, identity.LedgerRequest, identity.LedgerAdmin:
	default:
		a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", "kind is audit, consent, request or admin")
		return nil
	}
	if t := q.Get("type"); t != "" {
		f.Types = strings.Split(t, ",")
	}
	var err error
	if f.Since, err = timeParam(q.Get("since")); err == nil {
		f.Until, err = timeParam(q.Get("until"))
	}
	if err != nil {
		a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", "since and until are RFC 3339 times")
		return nil
	}
	events, err := a.Manage.Events(c.ctx(), f)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, pageOf(events, limit, adminview.EventOf,
		func(last *identity.LedgerEntry) cursor { return cursor{Seq: last.Seq} }))
	return nil
}
