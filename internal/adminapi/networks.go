package adminapi

import (
	"net/http"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
)

func (a *API) listNetworkRules(c *call) {
	rules, err := a.Manage.NetworkRules(c.ctx())
	if err != nil {
		c.fail(a, err)
		return
	}
	c.write(http.StatusOK, whole(rules, adminview.NetworkRuleOf))
}

// networkRuleInput is the body of POST /network-rules.
type networkRuleInput struct {
	Prefix string `json:"prefix"`
	Action string `json:"action"`
	Note   string `json:"note"`
}

func (a *API) setNetworkRule(c *call) {
	var in networkRuleInput
	if !c.decode(a, &in) {
		return
	}
	r, err := a.Manage.SetNetworkRule(c.ctx(), c.actor, identity.NetworkRule{Prefix: in.Prefix, Action: in.Action, Note: in.Note})
	if err != nil {
		c.fail(a, err)
		return
	}
	c.write(http.StatusOK, adminview.NetworkRuleOf(r))
}

// removeNetworkRule takes the prefix as a query parameter: a CIDR range
// has a slash, which a path segment cannot carry.
func (a *API) removeNetworkRule(c *call) {
	if err := a.Manage.RemoveNetworkRule(c.ctx(), c.actor, c.r.URL.Query().Get("prefix")); err != nil {
		c.fail(a, err)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}
