package adminapi

import (
	"net/http"
	"strconv"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
)

func (a *API) listUsers(c *call) {
	cur, limit, ok := a.paging(c)
	if !ok {
		return
	}
	params := c.r.URL.Query()
	q := identity.UserQuery{Text: params.Get("q"), Role: params.Get("role"), Limit: limit + 1}
	if v := params.Get("disabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", "disabled must be true or false")
			return
		}
		q.Disabled = &b
	}
	if cur.ID != "" {
		q.After = &identity.User{ID: cur.ID, Username: cur.Username}
	}
	users, err := a.Manage.SearchUsers(c.ctx(), q)
	if err != nil {
		c.fail(a, err)
		return
	}
	c.write(http.StatusOK, pageOf(users, limit, adminview.UserOf,
		func(last *identity.User) cursor { return cursor{ID: last.ID, Username: last.Username} }))
}

// userDetail is a single user's representation, with its second factors.
func (a *API) userDetail(c *call, id string) (*adminview.User, error) {
	u, f, err := a.Manage.UserDetail(c.ctx(), id)
	if err != nil {
		return nil, err
	}
	v := adminview.UserDetailOf(u, f)
	return &v, nil
}

// ifMatchUser checks If-Match against the user's representation.
func (a *API) ifMatchUser(c *call) bool {
	if c.r.Header.Get("If-Match") == "" {
		return true
	}
	v, err := a.userDetail(c, c.var_("id"))
	if err == nil {
		err = c.matches(v)
	}
	if err != nil {
		c.fail(a, err)
		return false
	}
	return true
}

// answerUser sends the user's representation after a change.
func (a *API) answerUser(c *call) {
	v, err := a.userDetail(c, c.var_("id"))
	if err != nil {
		c.fail(a, err)
		return
	}
	c.write(http.StatusOK, v)
}

func (a *API) getUser(c *call) { a.answerUser(c) }

// userAction changes the user named in the path: If-Match is checked
// first, and the answer is the user as it is after the change.
func (a *API) userAction(c *call, change func(id string) error) {
	if !a.ifMatchUser(c) {
		return
	}
	if err := change(c.var_("id")); err != nil {
		c.fail(a, err)
		return
	}
	a.answerUser(c)
}

func (a *API) setUserState(c *call) {
	a.userAction(c, func(id string) error {
		_, err := a.Manage.SetUserDisabled(c.ctx(), c.actor, id, c.var_("state") == "disable")
		return err
	})
}

func (a *API) unlockUser(c *call) {
	a.userAction(c, func(id string) error { return a.Manage.Unlock(c.ctx(), c.actor, id) })
}

func (a *API) resetMFA(c *call) {
	a.userAction(c, func(id string) error { return a.Manage.ResetMFA(c.ctx(), c.actor, id) })
}

func (a *API) grantRole(c *call) {
	a.userAction(c, func(id string) error {
		_, err := a.Manage.GrantRole(c.ctx(), c.actor, id, c.var_("role"))
		return err
	})
}

func (a *API) revokeRole(c *call) {
	a.userAction(c, func(id string) error {
		_, err := a.Manage.RevokeRole(c.ctx(), c.actor, id, c.var_("role"))
		return err
	})
}

func (a *API) listSessions(c *call) {
	sessions, err := a.Manage.Sessions(c.ctx(), c.var_("id"))
	if err != nil {
		c.fail(a, err)
		return
	}
	c.write(http.StatusOK, whole(sessions, adminview.SessionOf))
}

func (a *API) revokeSessions(c *call) {
	if err := a.Manage.RevokeSession(c.ctx(), c.actor, c.var_("id"), ""); err != nil {
		c.fail(a, err)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

func (a *API) revokeSession(c *call) {
	if err := a.Manage.RevokeSession(c.ctx(), c.actor, c.var_("id"), c.var_("sid")); err != nil {
		c.fail(a, err)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

func (a *API) userConsents(c *call) {
	cs, err := a.Manage.UserConsents(c.ctx(), c.actor, c.var_("id"))
	if err != nil {
		c.fail(a, err)
		return
	}
	c.write(http.StatusOK, adminview.ConsentsOf(cs))
}
