package admin

import (
	"context"
	"errors"
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

// queueLimit is how many requests the queue page shows.
const queueLimit = 200

// Message keys; literal, so that the catalog test sees them. The request
// vocabulary (kinds, types, statuses, refusal codes) comes from
// render.Key, shared with the titular's page.
var (
	eventKeys = map[string]string{
		identity.RequestFiledEvent:          "admin.event.filed",
		identity.RequestExtendedEvent:       "admin.event.extended",
		identity.RequestInfoRequestedEvent:  "admin.event.info_requested",
		identity.RequestInfoProvidedEvent:   "admin.event.info_provided",
		identity.RequestAnsweredEvent:       "admin.event.answered",
		identity.RequestRefusedEvent:        "admin.event.refused",
		identity.RequestWithdrawnEvent:      "admin.event.withdrawn",
		identity.RequestExpiredEvent:        "admin.event.expired",
		identity.RequestDisputeSetEvent:     "admin.event.dispute_set",
		identity.RequestDisputeClearedEvent: "admin.event.dispute_cleared",
		identity.RequestViewedEvent:         "admin.event.viewed",
	}
	noticeKeys = map[string]string{
		"extend":  "admin.notice.extend",
		"info":    "admin.notice.info",
		"answer":  "admin.notice.answer",
		"refuse":  "admin.notice.refuse",
		"dispute": "admin.notice.dispute",
		"erased":  "admin.notice.erased",
	}
	// filters of the queue: "open" (the default), one status, or all.
	filters = []option{
		{Value: "open", Key: "admin.filter.open"},
		{Value: identity.RequestReceived, Key: "requests.status.received"},
		{Value: identity.RequestInfoRequested, Key: "requests.status.info_requested"},
		{Value: identity.RequestExtended, Key: "requests.status.extended"},
		{Value: identity.RequestAnswered, Key: "requests.status.answered"},
		{Value: identity.RequestRefused, Key: "requests.status.refused"},
		{Value: identity.RequestWithdrawn, Key: "requests.status.withdrawn"},
		{Value: "all", Key: "admin.filter.all"},
	}
)

type option struct {
	Value, Key string
	Selected   bool
}

// day formats a due value as its date in Colombia.
func day(t time.Time) string { return t.In(calendar.Location()).Format("2006-01-02") }

// moment formats an instant in Colombian time.
func moment(t time.Time) string { return t.In(calendar.Location()).Format("2006-01-02 15:04 -07:00") }

func optDay(t *time.Time) string {
	if t == nil {
		return ""
	}
	return day(*t)
}

func optMoment(t *time.Time) string {
	if t == nil {
		return ""
	}
	return moment(*t)
}

type queueItem struct {
	ID                          string
	KindKey, TypeKey, StatusKey string
	UserID, Username            string
	Received, Due               string
	WaitingUntil                string // info requested: the withdrawal date
	Overdue, DueSoon, Extended  bool
	Legends                     []string
}

type queuePage struct {
	Items     []queueItem
	Filters   []option
	Truncated bool
}

// users resolves user ids to users once per page.
type users struct {
	store identity.UserStore
	ctx   context.Context
	seen  map[string]*identity.User
}

func (u *users) get(id string) *identity.User {
	if x, ok := u.seen[id]; ok {
		return x
	}
	x, err := u.store.UserByID(u.ctx, id)
	if err != nil {
		x = nil // a deleted account still shows its id
	}
	u.seen[id] = x
	return x
}

func (a *Admin) users(ctx context.Context) *users {
	return &users{store: a.Users, ctx: ctx, seen: map[string]*identity.User{}}
}

func (a *Admin) showQueue(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := a.guard(w, r); !ok {
		return
	}
	filter := r.URL.Query().Get("status")
	f := identity.DataRequestFilter{Limit: queueLimit}
	switch filter {
	case "all":
	case identity.RequestReceived, identity.RequestInfoRequested, identity.RequestExtended,
		identity.RequestAnswered, identity.RequestRefused, identity.RequestWithdrawn:
		f.Statuses = []string{filter}
	default:
		filter = "open"
		f.Statuses = []string{identity.RequestReceived, identity.RequestInfoRequested, identity.RequestExtended}
	}
	rs, err := a.Requests.Queue(r.Context(), f)
	if err != nil {
		a.serverError(w, r, "request queue", err)
		return
	}
	now := a.Now()
	names := a.users(r.Context())
	page := queuePage{Truncated: len(rs) == queueLimit}
	for _, o := range filters {
		o.Selected = o.Value == filter
		page.Filters = append(page.Filters, o)
	}
	for i := range rs {
		d := &rs[i]
		item := queueItem{ID: d.ID, KindKey: render.Key("requests.kind", d.Kind), TypeKey: render.Key("requests.type", d.Type), StatusKey: render.Key("requests.status", d.Status),
			UserID: d.UserID, Received: moment(d.ReceivedAt), Due: day(d.EffectiveDue()), Extended: d.ExtendedDueAt != nil,
			Overdue: d.Overdue(now), DueSoon: d.DueSoon(a.Requests.Calendar, now), Legends: identity.Legends(d, now)}
		if d.Status == identity.RequestInfoRequested {
			item.WaitingUntil = optDay(d.WithdrawAt)
		}
		if u := names.get(d.UserID); u != nil {
			item.Username = u.Username
		}
		page.Items = append(page.Items, item)
	}
	a.Pages.Render(w, r, http.StatusOK, "adminqueue", page)
}

type historyItem struct {
	Seq             int64
	At              string
	EventKey, Type  string
	Actor, ActorKey string
	Detail          string
}

type detailPage struct {
	ID                           string
	KindKey, TypeKey, StatusKey  string
	Reclamo, Open                bool
	Description                  string
	Received, Due, ExtendedDue   string
	ExtensionReason              string
	InfoNeeded, InfoRequested    string
	WithdrawAt                   string
	InfoProvided, InfoProvidedAt string
	LegendDue                    string
	JudicialDispute              bool
	Answer, RefusalKey, Closed   string
	Overdue, DueSoon             bool
	// Deletion: answering erases the account.
	Deletion bool
	// Waiting: the term stops while the titular completes the reclamo.
	Waiting bool

	UserID, Username, Email string
	// Legends of all of the titular's requests: what shows with their data.
	Legends []string
	History []historyItem

	CanExtend, CanRequestInfo bool
	ExtendTo, InfoRequestDue  string
	RefusalCodes              []option

	// The forms, kept when shown again with a problem.
	Reason, InfoText, AnswerText, Code string
	Notice, Problem                    string
}

func (a *Admin) showRequest(w http.ResponseWriter, r *http.Request) {
	_, u, ok := a.guard(w, r)
	if !ok {
		return
	}
	d, err := a.Requests.Get(r.Context(), mux.Vars(r)["id"])
	if errors.Is(err, identity.ErrNotFound) {
		a.notFound(w, r)
		return
	}
	if err != nil {
		a.serverError(w, r, "data request", err)
		return
	}
	// The read of the titular's data is recorded before it is shown.
	if err := a.Requests.RecordView(context.WithoutCancel(r.Context()), a.actor(r, u), d); err != nil {
		a.serverError(w, r, "record admin read", err)
		return
	}
	a.renderRequest(w, r, http.StatusOK, d, detailPage{Notice: noticeKeys[r.URL.Query().Get("notice")]})
}

// historyItems shows a request's ledger entries newest first, naming who
// acted.
func historyItems(history []identity.LedgerEntry, names *users) []historyItem {
	items := make([]historyItem, 0, len(history))
	for i := len(history) - 1; i >= 0; i-- {
		e := history[i]
		h := historyItem{Seq: e.Seq, At: moment(e.OccurredAt), EventKey: eventKeys[e.Type], Type: e.Type, Actor: e.Actor}
		switch {
		case e.Actor == "":
			h.ActorKey = "admin.actor.titular"
		case e.Actor == identity.ActorSystem:
			h.ActorKey = "admin.actor.system"
		case strings.HasPrefix(e.Actor, "admin:"):
			if adm := names.get(strings.TrimPrefix(e.Actor, "admin:")); adm != nil {
				h.Actor += " (" + adm.Username + ")"
			}
		}
		if c, err := identity.ParseRequestChange(e); err == nil {
			h.Detail = strings.Join(nonEmpty(c.Reason, c.InfoNeeded, c.RefusalReason), " · ")
		}
		items = append(items, h)
	}
	return items
}

func (a *Admin) renderRequest(w http.ResponseWriter, r *http.Request, status int, d *identity.DataRequest, page detailPage) {
	ctx := r.Context()
	now := a.Now()
	cal := a.Requests.Calendar
	page.ID, page.KindKey, page.TypeKey, page.StatusKey = d.ID, render.Key("requests.kind", d.Kind), render.Key("requests.type", d.Type), render.Key("requests.status", d.Status)
	page.Deletion = d.Type == identity.RequestDelete
	page.Reclamo, page.Open, page.Description = d.Kind == identity.RequestReclamo, d.Open(), d.Description
	page.Received, page.Due, page.ExtendedDue = moment(d.ReceivedAt), day(d.DueAt), optDay(d.ExtendedDueAt)
	page.ExtensionReason, page.InfoNeeded, page.InfoRequested = d.ExtensionReason, d.InfoNeeded, optMoment(d.InfoRequestedAt)
	page.WithdrawAt, page.InfoProvided, page.InfoProvidedAt = optDay(d.WithdrawAt), d.InfoProvided, optMoment(d.InfoProvidedAt)
	page.LegendDue, page.JudicialDispute = optDay(d.LegendDueAt), d.JudicialDispute
	page.Answer, page.RefusalKey, page.Closed = d.Answer, render.Key("requests.refusal", d.RefusalReason), optMoment(d.ClosedAt)
	page.Overdue, page.DueSoon = d.Overdue(now), d.DueSoon(cal, now)
	page.Waiting = d.Status == identity.RequestInfoRequested
	page.UserID = d.UserID
	names := a.users(ctx)
	if u := names.get(d.UserID); u != nil {
		page.Username, page.Email = u.Username, u.Email
	}
	all, err := a.Requests.ForUser(ctx, d.UserID)
	if err != nil {
		a.serverError(w, r, "titular's requests", err)
		return
	}
	page.Legends = identity.UserLegends(all, now)
	history, err := a.Requests.History(ctx, d)
	if err != nil {
		a.serverError(w, r, "request history", err)
		return
	}
	page.History = historyItems(history, names)
	page.CanExtend = d.Open() && d.Status != identity.RequestInfoRequested && d.ExtendedDueAt == nil && !calendar.Overdue(d.DueAt, now)
	if page.CanExtend {
		ext := *d
		if ext.Extend(cal, now, "-") == nil {
			page.ExtendTo = day(*ext.ExtendedDueAt)
		}
	}
	if d.Kind == identity.RequestReclamo {
		page.InfoRequestDue = day(d.InfoRequestDue(cal))
		probe := *d
		page.CanRequestInfo = probe.RequestInfo(cal, now, "-") == nil
	}
	for _, c := range identity.RefusalCodesFor(d.Type) {
		page.RefusalCodes = append(page.RefusalCodes, option{Value: c, Key: render.Key("requests.refusal", c), Selected: c == page.Code})
	}
	a.Pages.Render(w, r, status, "adminrequest", page)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// act applies one action of an administrator to a request.
func (a *Admin) act(w http.ResponseWriter, r *http.Request) {
	_, u, ok := a.guardForm(w, r)
	if !ok {
		return
	}
	id, action := mux.Vars(r)["id"], mux.Vars(r)["action"]
	form := r.PostForm
	by := a.actor(r, u)
	// The change and its ledger entry must land even if the browser goes.
	ctx := context.WithoutCancel(r.Context())
	var err error
	switch action {
	case "extend":
		_, err = a.Requests.Extend(ctx, by, id, form.Get("reason"))
	case "info":
		_, err = a.Requests.RequestInfo(ctx, by, id, form.Get("info_needed"))
	case "answer":
		// Answering a supresión carries it out (Ley 1581 art. 8e).
		var d *identity.DataRequest
		if d, err = a.Manage.AnswerRequest(ctx, a.manageActor(r, u), id, form.Get("answer")); err == nil && d.Type == identity.RequestDelete {
			http.Redirect(w, r, "/admin/requests?notice=erased", http.StatusSeeOther)
			return
		}
	case "refuse":
		_, err = a.Requests.Refuse(ctx, by, id, form.Get("code"), form.Get("answer"))
	case "dispute":
		_, err = a.Requests.SetJudicialDispute(ctx, by, id, form.Get("on") == "1")
		if errors.Is(err, identity.ErrNoChange) {
			err = nil
		}
	}
	if errors.Is(err, identity.ErrNotFound) {
		a.notFound(w, r)
		return
	}
	if p, ok := a.problemOf(err, "admin.users.problem.forbidden"); ok {
		status, problem := p.Status, p.Key
		d, gerr := a.Requests.Get(r.Context(), id)
		if gerr != nil {
			a.serverError(w, r, "data request", gerr)
			return
		}
		page := detailPage{Problem: problem, Reason: form.Get("reason"), InfoText: form.Get("info_needed"), Code: form.Get("code")}
		if action == "answer" || action == "refuse" {
			page.AnswerText = form.Get("answer")
		}
		a.renderRequest(w, r, status, d, page)
		return
	}
	if err != nil {
		a.serverError(w, r, "data request "+action, err)
		return
	}
	localpath.Redirect(w, r, "/admin/requests/"+url.PathEscape(id)+"?notice="+action)
}
