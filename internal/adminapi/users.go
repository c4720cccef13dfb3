package adminapi

import (
	"net/http"
	"strconv"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
	"github.com/portero-id/portero/internal/manage"
)

// userInput is the body of POST /users.
type userInput struct {
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	// SendResetLink mails the new user a link to choose a password: an
	// account made here has none.
	SendResetLink bool `json:"send_reset_link"`
}

// createUser makes an account without a password; with send_reset_link
// the user gets the link that lets them choose one.
func (a *API) createUser(c *call) error {
	var in userInput
	if !c.decode(a, &in) {
		return nil
	}
	if in.SendResetLink && a.Manage.ResetLinks == nil {
		// Refused before the account exists: one that cannot get a
		// password is not what was asked for.
		return manage.ErrNoResetLinks
	}
	u, err := a.Manage.CreateUser(c.ctx(), c.actor, &identity.User{Username: in.Username, Email: in.Email, Roles: in.Roles})
	if err != nil {
		return err
	}
	if in.SendResetLink {
		if err := a.Manage.SendResetLink(c.ctx(), c.actor, u.ID); err != nil {
			// The account exists (201); the link failed on the way (the
			// mail relay): the administrator sends it again with
			// POST /users/{id}/reset-link.
			a.Log.WarnContext(c.ctx(), "reset link for a new user", "user_id", u.ID, "err", err)
		}
	}
	v, err := a.userDetail(c, u.ID)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", Prefix+"/users/"+u.ID)
	c.write(http.StatusCreated, v)
	return nil
}

// deleteUser erases the account (If-Match is checked when sent); 204.
func (a *API) deleteUser(c *call) error {
	if err := a.ifMatchUser(c); err != nil {
		return err
	}
	if err := a.Manage.DeleteUser(c.ctx(), c.actor, c.var_("id")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// sendResetLink mails the user a password-reset link; 204.
func (a *API) sendResetLink(c *call) error {
	if err := a.Manage.SendResetLink(c.ctx(), c.actor, c.var_("id")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listUsers(c *call) error {
	cur, limit, ok := a.paging(c)
	if !ok {
		return nil
	}
	params := c.r.URL.Query()
	q := identity.UserQuery{Text: params.Get("q"), Role: params.Get("role"), Limit: limit + 1}
	if v := params.Get("disabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", "disabled must be true or false")
			return nil
		}
		q.Disabled = &b
	}
	if cur.ID != "" {
		q.After = &identity.User{ID: cur.ID, Username: cur.Username}
	}
	users, err := a.Manage.SearchUsers(c.ctx(), q)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, pageOf(users, limit, adminview.UserOf,
		func(last *identity.User) cursor { return cursor{ID: last.ID, Username: last.Username} }))
	return nil
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
func (a *API) ifMatchUser(c *call) error {
	if c.r.Header.Get("If-Match") == "" {
		return nil
	}
	v, err := a.userDetail(c, c.var_("id"))
	if err != nil {
		return err
	}
	return c.matches(v)
}

// answerUser sends the user's representation after a change.
func (a *API) answerUser(c *call) error {
	v, err := a.userDetail(c, c.var_("id"))
	if err != nil {
		return err
	}
	c.write(http.StatusOK, v)
	return nil
}

func (a *API) getUser(c *call) error { return a.answerUser(c) }

// userAction changes the user named in the path: If-Match is checked
// first, and the answer is the user as it is after the change.
func (a *API) userAction(c *call, change func(id string) error) error {
	if err := a.ifMatchUser(c); err != nil {
		return err
	}
	if err := change(c.var_("id")); err != nil {
		return err
	}
	return a.answerUser(c)
}

func (a *API) setUserState(c *call) error {
	return a.userAction(c, func(id string) error {
		_, err := a.Manage.SetUserDisabled(c.ctx(), c.actor, id, c.var_("state") == "disable")
		return err
	})
}

func (a *API) unlockUser(c *call) error {
	return a.userAction(c, func(id string) error { return a.Manage.Unlock(c.ctx(), c.actor, id) })
}

func (a *API) resetMFA(c *call) error {
	return a.userAction(c, func(id string) error { return a.Manage.ResetMFA(c.ctx(), c.actor, id) })
}

func (a *API) grantRole(c *call) error {
	return a.userAction(c, func(id string) error {
		_, err := a.Manage.GrantRole(c.ctx(), c.actor, id, c.var_("role"))
		return err
	})
}

func (a *API) revokeRole(c *call) error {
	return a.userAction(c, func(id string) error {
		_, err := a.Manage.RevokeRole(c.ctx(), c.actor, id, c.var_("role"))
		return err
	})
}

func (a *API) listSessions(c *call) error {
	sessions, err := a.Manage.Sessions(c.ctx(), c.var_("id"))
	if err != nil {
		return err
	}
	c.write(http.StatusOK, whole(sessions, adminview.SessionOf))
	return nil
}

func (a *API) revokeSessions(c *call) error {
	if err := a.Manage.RevokeSession(c.ctx(), c.actor, c.var_("id"), ""); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) revokeSession(c *call) error {
	if err := a.Manage.RevokeSession(c.ctx(), c.actor, c.var_("id"), c.var_("sid")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) userConsents(c *call) error {
	cs, err := a.Manage.UserConsents(c.ctx(), c.actor, c.var_("id"))
	if err != nil {
		return err
	}
	c.write(http.StatusOK, adminview.ConsentsOf(cs))
	return nil
}
