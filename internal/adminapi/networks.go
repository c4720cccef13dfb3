package adminapi

import (
	"net/http"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
)

func (a *API) listNetworkRules(c *call) error {
	rules, err := a.Manage.NetworkRules(c.ctx())
	if err != nil {
		return err
	}
	c.write(http.StatusOK, whole(rules, adminview.NetworkRuleOf))
	return nil
}

// networkRuleInput is the body of POST /network-rules.
type networkRuleInput struct {
	Prefix string `json:"prefix"`
	Action string `json:"action"`
	Note   string `json:"note"`
}

func (a *API) setNetworkRule(c *call) error {
	var in networkRuleInput
	if !c.decode(a, &in) {
		return nil
	}
	r, err := a.Manage.SetNetworkRule(c.ctx(), c.actor, identity.NetworkRule{Prefix: in.Prefix, Action: in.Action, Note: in.Note})
	if err != nil {
		return err
	}
	c.write(http.StatusOK, adminview.NetworkRuleOf(r))
	return nil
}

// removeNetworkRule takes the prefix as a query parameter: a CIDR range
// has a slash, which a path segment cannot carry.
func (a *API) removeNetworkRule(c *call) error {
	if err := a.Manage.RemoveNetworkRule(c.ctx(), c.actor, c.r.URL.Query().Get("prefix")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
