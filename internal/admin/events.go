package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
)

// eventsPerPage is how many ledger entries the search shows at once.
const eventsPerPage = 50

// the kind filter of the ledger search.
var eventKinds = []option{
	{Value: "", Key: "admin.events.kind.any"},
	{Value: identity.LedgerAudit, Key: "admin.events.kind.audit"},
	{Value: identity.LedgerConsent, Key: "admin.events.kind.consent"},
	{Value: identity.LedgerRequest, Key: "admin.events.kind.request"},
	{Value: identity.LedgerAdmin, Key: "admin.events.kind.admin"},
}

type eventRow struct {
	Seq                  int64
	At                   string
	Kind, Type           string
	Subject, SubjectName string
	SubjectExists        bool
	Actor, ActorName     string
	ClientID             string
	IP, UserAgent        string
	Payload              string
}

type eventsPage struct {
	// The filters as typed.
	Subject, Actor, Client, Kind, Type, Since, Until string
	Kinds                                            []option
	Events                                           []eventRow
	// Next continues with older entries; First starts again from the
	// newest.
	Next, First string
	Problem     problem
}

// parseDay reads a filter's time: a date (the whole day in Colombia) or an
// RFC 3339 instant. end moves a date to the start of the next day, so that
// "until" includes the day typed.
func parseDay(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, calendar.Location()); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// eventsURL is the search with its filters, continuing before seq (0:
// from the newest).
func (p *eventsPage) url(before int64) string {
	v := url.Values{}
	for k, x := range map[string]string{"subject": p.Subject, "actor": p.Actor, "client": p.Client, "kind": p.Kind, "type": p.Type, "since": p.Since, "until": p.Until} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return "/admin/events"
	}
	return "/admin/events?" + v.Encode()
}

// resolveUser turns a user typed as a username, e-mail or id into the
// id; what names no user (a pseudonym of an erased account) stays as is.
func (a *Admin) resolveUser(r *http.Request, s string) string {
	if s == "" {
		return ""
	}
	if u, err := a.Manage.ResolveUser(r.Context(), s); err == nil {
		return u.ID
	}
	return s
}

// eventRows shows entries with the usernames of their subjects and
// administrators, where those accounts still exist.
func (a *Admin) eventRows(r *http.Request, entries []identity.LedgerEntry) []eventRow {
	names := a.users(r.Context())
	rows := make([]eventRow, 0, len(entries))
	for _, e := range entries {
		row := eventRow{Seq: e.Seq, At: moment(e.OccurredAt), Kind: e.Kind, Type: e.Type, Subject: e.Subject,
			Actor: e.Actor, ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, Payload: prettyJSON(e.Payload)}
		if e.Subject != "" {
			if u := names.get(e.Subject); u != nil {
				row.SubjectName, row.SubjectExists = u.Username, true
			}
		}
		if id, ok := strings.CutPrefix(e.Actor, "admin:"); ok {
			if u := names.get(id); u != nil {
				row.ActorName = u.Username
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func (a *Admin) showEvents(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := a.guard(w, r); !ok {
		return
	}
	q := r.URL.Query()
	page := eventsPage{Subject: strings.TrimSpace(q.Get("subject")), Actor: strings.TrimSpace(q.Get("actor")), Client: strings.TrimSpace(q.Get("client")),
		Kind: q.Get("kind"), Type: strings.TrimSpace(q.Get("type")), Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until"))}
	f := identity.LedgerFilter{Subject: a.resolveUser(r, page.Subject), Actor: page.Actor, ClientID: page.Client, Types: list(page.Type),
		Limit: eventsPerPage + 1, Newest: true}
	// An administrator typed as a username is their actor.
	if page.Actor != "" && !strings.Contains(page.Actor, ":") && page.Actor != identity.ActorSystem {
		if id := a.resolveUser(r, page.Actor); id != page.Actor {
			f.Actor = identity.AdminActor(id)
		}
	}
	for _, o := range eventKinds {
		o.Selected = o.Value == page.Kind
		page.Kinds = append(page.Kinds, o)
		if o.Selected {
			f.Kind = o.Value
		}
	}
	var errSince, errUntil, errBefore error
	f.Since, errSince = parseDay(page.Since, false)
	f.Until, errUntil = parseDay(page.Until, true)
	if b := q.Get("before"); b != "" {
		f.BeforeSeq, errBefore = strconv.ParseInt(b, 10, 64)
		page.First = page.url(0)
	}
	if err := errors.Join(errSince, errUntil, errBefore); err != nil {
		page.Problem = problem{Status: http.StatusBadRequest, Key: "admin.events.problem.bad_filter"}
		a.Pages.Render(w, r, http.StatusBadRequest, "adminevents", page)
		return
	}
	entries, err := a.Manage.Events(r.Context(), f)
	if err != nil {
		a.serverError(w, r, "ledger search", err)
		return
	}
	if len(entries) > eventsPerPage {
		entries = entries[:eventsPerPage]
		page.Next = page.url(entries[eventsPerPage-1].Seq)
	}
	page.Events = a.eventRows(r, entries)
	a.Pages.Render(w, r, http.StatusOK, "adminevents", page)
}

// prettyJSON indents a ledger payload for reading; the stored bytes (what
// the hash covers) are untouched.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}
