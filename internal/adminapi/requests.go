package adminapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
)

// requestStatuses are the statuses a listing may filter on; "open" is the
// three that wait for someone.
var requestStatuses = []string{identity.RequestReceived, identity.RequestInfoRequested, identity.RequestExtended,
	identity.RequestAnswered, identity.RequestRefused, identity.RequestWithdrawn}

func (a *API) listRequests(c *call) error {
	cur, limit, ok := a.paging(c)
	if !ok {
		return nil
	}
	q := c.r.URL.Query()
	f := identity.DataRequestFilter{UserID: q.Get("user_id"), Kind: q.Get("kind"), Limit: limit + 1, Offset: cur.Offset}
	if k := f.Kind; k != "" && k != identity.RequestConsulta && k != identity.RequestReclamo {
		a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", "kind is consulta or reclamo")
		return nil
	}
	for _, s := range strings.Split(q.Get("status"), ",") {
		switch {
		case s == "":
		case s == "open":
			f.Statuses = append(f.Statuses, identity.RequestReceived, identity.RequestInfoRequested, identity.RequestExtended)
		case slices.Contains(requestStatuses, s):
			f.Statuses = append(f.Statuses, s)
		default:
			a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", "unknown status "+s)
			return nil
		}
	}
	rs, err := a.Requests.Queue(c.ctx(), f)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, pageOf(rs, limit, adminview.DataRequestOf,
		func(*identity.DataRequest) cursor { return cursor{Offset: cur.Offset + limit} }))
	return nil
}

func (a *API) detail(ctx context.Context, d *identity.DataRequest) (*adminview.DataRequestDetail, error) {
	history, err := a.Requests.History(ctx, d)
	if err != nil {
		return nil, err
	}
	out := adminview.DataRequestDetailOf(d, history)
	return &out, nil
}

// getRequest shows one request; the read is recorded, as on the pages
// (HABEAS_DATA H10, H11).
func (a *API) getRequest(c *call) error {
	d, err := a.Requests.Get(c.ctx(), c.var_("id"))
	if err == nil {
		err = a.Requests.RecordView(c.ctx(), c.actor.RequestActor(), d)
	}
	if err != nil {
		return err
	}
	out, err := a.detail(c.ctx(), d)
	if err != nil {
		return err
	}
	c.writeTagged(http.StatusOK, out, out.DataRequest)
	return nil
}

// actionInput is the body of POST /requests/{id}/{action}; each action
// reads its own fields.
type actionInput struct {
	Reason     string `json:"reason"`      // extend
	InfoNeeded string `json:"info_needed"` // info
	Answer     string `json:"answer"`      // answer, refuse
	Code       string `json:"code"`        // refuse
	On         *bool  `json:"on"`          // dispute
}

func (a *API) actOnRequest(c *call) error {
	var in actionInput
	if !c.decode(a, &in) {
		return nil
	}
	id, by := c.var_("id"), c.actor.RequestActor()
	if c.r.Header.Get("If-Match") != "" {
		d, err := a.Requests.Get(c.ctx(), id)
		if err == nil {
			err = c.matches(adminview.DataRequestOf(d))
		}
		if err != nil {
			return err
		}
	}
	// The change and its ledger entry must land even if the caller goes.
	ctx := context.WithoutCancel(c.ctx())
	var (
		d   *identity.DataRequest
		err error
	)
	switch c.var_("action") {
	case "extend":
		d, err = a.Requests.Extend(ctx, by, id, in.Reason)
	case "info":
		d, err = a.Requests.RequestInfo(ctx, by, id, in.InfoNeeded)
	case "answer":
		// Answering a supresión carries it out (Ley 1581 art. 8e).
		d, err = a.Manage.AnswerRequest(ctx, c.actor, id, in.Answer)
	case "refuse":
		d, err = a.Requests.Refuse(ctx, by, id, in.Code, in.Answer)
	case "dispute":
		if in.On == nil {
			a.problem(c.w, c.r, http.StatusUnprocessableEntity, "invalid", "The request breaks a rule.", "on (true or false) is required")
			return nil
		}
		d, err = a.Requests.SetJudicialDispute(ctx, by, id, *in.On)
		if errors.Is(err, identity.ErrNoChange) {
			d, err = a.Requests.Get(ctx, id)
		}
	}
	if err != nil {
		return err
	}
	c.write(http.StatusOK, adminview.DataRequestOf(d))
	return nil
}
