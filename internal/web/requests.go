package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	"github.com/portero-id/portero/internal/localpath"
	"github.com/portero-id/portero/internal/render"
)

// "Mis solicitudes": the titular files consultas and reclamos (Ley 1581
// arts. 14-15), follows their terms and legends, completes an incomplete
// reclamo and may withdraw one. Every change goes through
// identity.Requests, which records it in the ledger.

// Message keys of the notices; the request vocabulary (kinds, types,
// statuses, refusal codes) comes from render.Key, shared with the admin
// pages.
var (
	requestNotices = map[string]string{
		"filed":     "requests.notice.filed",
		"info_sent": "requests.notice.info_sent",
		"withdrawn": "requests.notice.withdrawn",
	}
)

// colombianDate formats a due value as its date in Colombia.
func colombianDate(t time.Time) string { return t.In(calendar.Location()).Format("2006-01-02") }

type requestOption struct{ Value, Key string }

type requestItem struct {
	ID                          string
	KindKey, TypeKey, StatusKey string
	Description                 string
	Received, Due               string
	Extended                    bool
	ExtensionReason             string
	InfoRequested               bool
	InfoNeeded, WithdrawBy      string
	InfoProvided                string
	Answer, RefusalKey          string
	Legends                     []string
	Open, Overdue               bool
}

type requestsPage struct {
	Items   []requestItem
	Types   []requestOption
	Legends []string
	// The form, kept when it is shown again with a problem.
	Type, Description string
	MaxText           int
	Notice, Problem   string
}

func (s *dataPages) requestActor(r *http.Request) identity.RequestActor {
	return identity.RequestActor{IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 256), Locale: s.Pages.Lang(r)}
}

func (s *dataPages) showRequests(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.requireUser(w, r)
	if !ok {
		return nil
	}
	s.renderRequests(w, r, http.StatusOK, u, requestsPage{Notice: requestNotices[r.URL.Query().Get("notice")]})
	return nil
}

func (s *dataPages) renderRequests(w http.ResponseWriter, r *http.Request, status int, u *identity.User, page requestsPage) {
	rs, err := s.Requests.ForUser(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, "data requests", err)
		return
	}
	now := s.Now()
	for i := range rs {
		d := &rs[i]
		item := requestItem{ID: d.ID, KindKey: render.Key("requests.kind", d.Kind), TypeKey: render.Key("requests.type", d.Type), StatusKey: render.Key("requests.status", d.Status),
			Description: d.Description, Received: bogota(d.ReceivedAt), Due: colombianDate(d.EffectiveDue()),
			Extended: d.ExtendedDueAt != nil, ExtensionReason: d.ExtensionReason,
			InfoRequested: d.Status == identity.RequestInfoRequested, InfoNeeded: d.InfoNeeded, InfoProvided: d.InfoProvided,
			Answer: d.Answer, RefusalKey: render.Key("requests.refusal", d.RefusalReason), Legends: identity.Legends(d, now),
			Open: d.Open(), Overdue: d.Overdue(now)}
		if d.WithdrawAt != nil {
			item.WithdrawBy = colombianDate(*d.WithdrawAt)
		}
		page.Items = append(page.Items, item)
	}
	page.Legends = identity.UserLegends(rs, now)
	for _, t := range identity.RequestTypes {
		page.Types = append(page.Types, requestOption{Value: t, Key: render.Key("requests.type", t)})
	}
	page.MaxText = identity.RequestTextMax
	s.Pages.Render(w, r, status, "requests", page)
}

// requestProblem maps a refusal of the request rules to the page's
// message and status: the kind decides the status, the code names the
// message ("requests.problem.<code>", else the kind's own).
func (s *dataPages) requestProblem(err error) (int, string) {
	kind := identity.ErrorKind(err)
	fallback, ok := requestFallback[kind]
	if !ok {
		return 0, ""
	}
	key := "requests.problem." + strings.ReplaceAll(identity.ErrorCode(err), "-", "_")
	if !s.Pages.Has(key) {
		key = fallback
	}
	return requestStatus[kind], key
}

var (
	requestStatus = map[identity.Kind]int{
		identity.KindInvalid:  http.StatusBadRequest,
		identity.KindNotFound: http.StatusNotFound,
		identity.KindConflict: http.StatusConflict,
	}
	requestFallback = map[identity.Kind]string{
		identity.KindInvalid:  "error.form",
		identity.KindNotFound: "account.problem.not_found",
		identity.KindConflict: "requests.problem.request_closed",
	}
)

func (s *dataPages) fileRequest(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	typ, desc := r.PostForm.Get("type"), r.PostForm.Get("description")
	// The titular's request must land even if the browser goes away.
	_, err := s.Requests.File(context.WithoutCancel(r.Context()), s.requestActor(r), u.ID, typ, desc)
	if status, problem := s.requestProblem(err); problem != "" {
		s.renderRequests(w, r, status, u, requestsPage{Problem: problem, Type: typ, Description: desc})
		return nil
	}
	if err != nil {
		return fmt.Errorf("file data request: %w", err)
	}
	http.Redirect(w, r, "/account/requests?notice=filed", http.StatusSeeOther)
	return nil
}

func (s *dataPages) provideRequestInfo(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	_, err := s.Requests.ProvideInfo(context.WithoutCancel(r.Context()), s.requestActor(r), u.ID, mux.Vars(r)["id"], r.PostForm.Get("info"))
	s.afterRequestChange(w, r, u, err, "info_sent")
	return nil
}

func (s *dataPages) withdrawRequest(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	_, err := s.Requests.Withdraw(context.WithoutCancel(r.Context()), s.requestActor(r), u.ID, mux.Vars(r)["id"])
	s.afterRequestChange(w, r, u, err, "withdrawn")
	return nil
}

func (s *dataPages) afterRequestChange(w http.ResponseWriter, r *http.Request, u *identity.User, err error, notice string) {
	if status, problem := s.requestProblem(err); problem != "" {
		s.renderRequests(w, r, status, u, requestsPage{Problem: problem})
		return
	}
	if err != nil {
		s.serverError(w, r, "change data request", err)
		return
	}
	localpath.Redirect(w, r, "/account/requests?notice="+url.QueryEscape(notice))
}
