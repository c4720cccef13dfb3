package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
)

var requestTests = []struct {
	name string
	fn   func(*testing.T, identity.Store)
}{
	{"data request round-trips every field", testDataRequestRoundTrip},
	{"data request: duplicate id is ErrConflict, missing or unknown user is ErrNotFound; deleted with the user", testDataRequestErrors},
	{"data request update checks the previous updated_at", testDataRequestUpdate},
	{"data requests filter and order by effective due date", testDataRequestFilters},
	{"data requests by user come newest first", testDataRequestsByUser},
	{"data requests are counted open, due soon and overdue per kind", testDataRequestCounts},
	{"request service records each change and its ledger entry together", testRequestServiceLedger},
	{"request service rolls back the change when the ledger append fails", testRequestServiceAtomic},
}

// fullRequest is a request with every field set.
func fullRequest(id, userID string) *identity.DataRequest {
	at := func(h int) *time.Time { t := base.Add(time.Duration(h) * time.Hour).UTC(); return &t }
	return &identity.DataRequest{
		ID: id, UserID: userID, Kind: identity.RequestReclamo, Type: identity.RequestRectify,
		Description: "Mi dirección es Cra. 7 # 12-34, Bogotá — ñandú", Status: identity.RequestExtended,
		ReceivedAt: base, DueAt: *at(400), ExtendedDueAt: at(600), ExtensionReason: "revisión con el área contable",
		InfoNeeded: "copia del recibo", InfoRequestedAt: at(1), WithdrawAt: at(1400), InfoProvided: "adjunto",
		InfoProvidedAt: at(2), LegendDueAt: at(50), JudicialDispute: true, Answer: "respuesta", RefusalReason: identity.RefusalNotOwner,
		ClosedAt: at(700), UpdatedAt: base.Add(time.Minute),
	}
}

// simpleRequest is an open request of typ whose first term ends dueHours
// after base.
func simpleRequest(id, userID, typ string, dueHours int) *identity.DataRequest {
	return &identity.DataRequest{ID: id, UserID: userID, Kind: identity.KindOf(typ), Type: typ, Status: identity.RequestReceived,
		ReceivedAt: base, DueAt: base.Add(time.Duration(dueHours) * time.Hour), UpdatedAt: base}
}

// requestUsers creates the titulars the request tests use.
func requestUsers(t *testing.T, s identity.Store) {
	t.Helper()
	for _, name := range []string{"alice", "bob", "carol"} {
		mustCreateUser(t, s, newUser(name))
	}
}

func mustCreateRequest(t *testing.T, s identity.Store, r *identity.DataRequest) {
	t.Helper()
	noErr(t, "CreateDataRequest("+r.ID+")", s.CreateDataRequest(t.Context(), r))
}

func requestIDs(rs []identity.DataRequest) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testDataRequestRoundTrip(t *testing.T, s identity.Store) {
	requestUsers(t, s)
	ctx := t.Context()
	r := fullRequest("dr-1", "u-alice")
	mustCreateRequest(t, s, r)
	got, err := s.DataRequestByID(ctx, r.ID)
	noErr(t, "DataRequestByID", err)
	checkFields(t, "DataRequestByID", *got, *r)
	checkUTC(t, "DataRequestByID", got.ReceivedAt, got.DueAt, *got.ExtendedDueAt, *got.InfoRequestedAt, *got.WithdrawAt,
		*got.InfoProvidedAt, *got.LegendDueAt, *got.ClosedAt, got.UpdatedAt)

	// A due value at the last microsecond of a Colombian day survives
	// exactly, and the optional fields come back nil.
	cal := calendar.New(nil)
	bare, err := identity.NewDataRequest(cal, base, "dr-2", "u-bob", identity.RequestKnow, "")
	noErr(t, "NewDataRequest", err)
	mustCreateRequest(t, s, bare)
	got, err = s.DataRequestByID(ctx, bare.ID)
	noErr(t, "DataRequestByID(bare)", err)
	checkFields(t, "DataRequestByID(bare)", *got, *bare)
	if !got.DueAt.Equal(cal.ConsultaDue(base)) || got.DueAt.Nanosecond() != 999999000 {
		t.Errorf("DueAt = %v, want exactly %v", got.DueAt, cal.ConsultaDue(base))
	}
}

func testDataRequestErrors(t *testing.T, s identity.Store) {
	requestUsers(t, s)
	ctx := t.Context()
	mustCreateRequest(t, s, fullRequest("dr-1", "u-alice"))
	wantErr(t, "CreateDataRequest(same id)", s.CreateDataRequest(ctx, fullRequest("dr-1", "u-bob")), identity.ErrConflict)
	_, err := s.DataRequestByID(ctx, "dr-none")
	wantErr(t, "DataRequestByID(missing)", err, identity.ErrNotFound)
	missing := fullRequest("dr-none", "u-alice")
	wantErr(t, "UpdateDataRequest(missing)", s.UpdateDataRequest(ctx, missing, missing.UpdatedAt), identity.ErrNotFound)
	wantErr(t, "CreateDataRequest(unknown user)", s.CreateDataRequest(ctx, fullRequest("dr-2", "u-nobody")), identity.ErrNotFound)

	// Deleting the account deletes its requests (the ledger keeps their proof).
	noErr(t, "DeleteUser", s.DeleteUser(ctx, "u-alice"))
	_, err = s.DataRequestByID(ctx, "dr-1")
	wantErr(t, "DataRequestByID(deleted user)", err, identity.ErrNotFound)
}

func testDataRequestUpdate(t *testing.T, s identity.Store) {
	requestUsers(t, s)
	ctx := t.Context()
	r := simpleRequest("dr-1", "u-alice", identity.RequestDelete, 100)
	mustCreateRequest(t, s, r)
	prev := r.UpdatedAt
	changed := *fullRequest("dr-1", "u-alice")
	changed.Kind, changed.Type, changed.ReceivedAt = r.Kind, r.Type, r.ReceivedAt // not changeable
	changed.UpdatedAt = base.Add(time.Hour)
	noErr(t, "UpdateDataRequest", s.UpdateDataRequest(ctx, &changed, prev))
	got, err := s.DataRequestByID(ctx, r.ID)
	noErr(t, "DataRequestByID", err)
	checkFields(t, "after update", *got, changed)

	// A writer that read the request before that update loses.
	stale := *r
	stale.Status, stale.UpdatedAt = identity.RequestAnswered, base.Add(2*time.Hour)
	wantErr(t, "UpdateDataRequest(stale)", s.UpdateDataRequest(ctx, &stale, prev), identity.ErrConflict)
	got, err = s.DataRequestByID(ctx, r.ID)
	noErr(t, "DataRequestByID", err)
	checkFields(t, "after the stale update", *got, changed)

	// Nulls clear.
	cleared := changed
	cleared.ExtendedDueAt, cleared.ClosedAt, cleared.JudicialDispute, cleared.UpdatedAt = nil, nil, false, base.Add(3*time.Hour)
	noErr(t, "UpdateDataRequest(clear)", s.UpdateDataRequest(ctx, &cleared, changed.UpdatedAt))
	got, err = s.DataRequestByID(ctx, r.ID)
	noErr(t, "DataRequestByID", err)
	checkFields(t, "after clearing", *got, cleared)
}

func testDataRequestFilters(t *testing.T, s identity.Store) {
	requestUsers(t, s)
	ctx := t.Context()
	// Effective due order: d (10h), b (20h), a (30h, extended from 5h), c (40h), e (50h).
	a := simpleRequest("a", "u-alice", identity.RequestDelete, 5)
	a.Status, a.ExtendedDueAt = identity.RequestExtended, new(base.Add(30*time.Hour))
	b := simpleRequest("b", "u-bob", identity.RequestKnow, 20)
	c := simpleRequest("c", "u-alice", identity.RequestRectify, 40)
	c.Status, c.InfoRequestedAt, c.WithdrawAt = identity.RequestInfoRequested, new(base), new(base.Add(100*time.Hour))
	d := simpleRequest("d", "u-carol", identity.RequestProof, 10)
	d.Status, d.ClosedAt = identity.RequestAnswered, new(base)
	e := simpleRequest("e", "u-alice", identity.RequestUpdate, 50)
	e.Status, e.InfoRequestedAt, e.WithdrawAt = identity.RequestInfoRequested, new(base), new(base.Add(300*time.Hour))
	for _, r := range []*identity.DataRequest{a, b, c, d, e} {
		mustCreateRequest(t, s, r)
	}
	for _, tc := range []struct {
		name string
		f    identity.DataRequestFilter
		want []string
	}{
		{"all", identity.DataRequestFilter{}, []string{"d", "b", "a", "c", "e"}},
		{"open", identity.DataRequestFilter{Statuses: []string{identity.RequestReceived, identity.RequestInfoRequested, identity.RequestExtended}}, []string{"b", "a", "c", "e"}},
		{"one status", identity.DataRequestFilter{Statuses: []string{identity.RequestInfoRequested}}, []string{"c", "e"}},
		{"user", identity.DataRequestFilter{UserID: "u-alice"}, []string{"a", "c", "e"}},
		{"kind", identity.DataRequestFilter{Kind: identity.RequestConsulta}, []string{"d", "b"}},
		{"withdraw before", identity.DataRequestFilter{WithdrawBefore: base.Add(200 * time.Hour)}, []string{"c"}},
		{"limit", identity.DataRequestFilter{Limit: 2}, []string{"d", "b"}},
		{"offset", identity.DataRequestFilter{Limit: 2, Offset: 2}, []string{"a", "c"}},
		{"nothing", identity.DataRequestFilter{UserID: "u-nobody"}, []string{}},
	} {
		got, err := s.DataRequests(ctx, tc.f)
		noErr(t, "DataRequests("+tc.name+")", err)
		if ids := requestIDs(got); !slices.Equal(ids, tc.want) {
			t.Errorf("DataRequests(%s) = %q, want %q", tc.name, ids, tc.want)
		}
	}
}

func testDataRequestsByUser(t *testing.T, s identity.Store) {
	requestUsers(t, s)
	for i, id := range []string{"old", "new", "mid"} {
		r := simpleRequest(id, "u-alice", identity.RequestKnow, 10)
		r.ReceivedAt = base.Add(time.Duration([]int{0, 2, 1}[i]) * time.Hour)
		mustCreateRequest(t, s, r)
	}
	mustCreateRequest(t, s, simpleRequest("other", "u-bob", identity.RequestKnow, 10))
	got, err := s.DataRequestsByUser(t.Context(), "u-alice")
	noErr(t, "DataRequestsByUser", err)
	if ids := requestIDs(got); !slices.Equal(ids, []string{"new", "mid", "old"}) {
		t.Errorf("DataRequestsByUser = %q, want new, mid, old", ids)
	}
	got, err = s.DataRequestsByUser(t.Context(), "u-nobody")
	noErr(t, "DataRequestsByUser(nobody)", err)
	if len(got) != 0 {
		t.Errorf("DataRequestsByUser(nobody) = %q", requestIDs(got))
	}
}

func testDataRequestCounts(t *testing.T, s identity.Store) {
	requestUsers(t, s)
	ctx := t.Context()
	counts, err := s.CountDataRequests(ctx, base, base.Add(48*time.Hour))
	noErr(t, "CountDataRequests(empty)", err)
	if len(counts) != 0 {
		t.Fatalf("CountDataRequests on no requests = %+v", counts)
	}
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	rows := []*identity.DataRequest{
		simpleRequest("late-consulta", "u-alice", identity.RequestKnow, -1),  // overdue
		simpleRequest("soon-consulta", "u-alice", identity.RequestProof, 0),  // due soon (at the bound)
		simpleRequest("soon-consulta2", "u-bob", identity.RequestKnow, 48),   // due soon (at the upper bound)
		simpleRequest("later-consulta", "u-bob", identity.RequestKnow, 49),   // open only
		simpleRequest("late-reclamo", "u-alice", identity.RequestDelete, -5), // overdue, but extended to soon
		simpleRequest("wait-reclamo", "u-alice", identity.RequestUpdate, -5), // waiting for the titular: open only
		simpleRequest("done-reclamo", "u-bob", identity.RequestRevoke, -5),   // closed: not counted
	}
	rows[4].Status, rows[4].ExtendedDueAt = identity.RequestExtended, new(at(24))
	rows[5].Status = identity.RequestInfoRequested
	rows[6].Status = identity.RequestRefused
	for _, r := range rows {
		mustCreateRequest(t, s, r)
	}
	counts, err = s.CountDataRequests(ctx, base, at(48))
	noErr(t, "CountDataRequests", err)
	want := []identity.DataRequestCount{
		{Kind: identity.RequestConsulta, Open: 4, DueSoon: 2, Overdue: 1},
		{Kind: identity.RequestReclamo, Open: 2, DueSoon: 1, Overdue: 0},
	}
	if !slices.Equal(counts, want) {
		t.Errorf("CountDataRequests = %+v, want %+v", counts, want)
	}
}

// requestLedger returns the request entries of the ledger.
func requestLedger(t *testing.T, s identity.Store) []identity.LedgerEntry {
	t.Helper()
	entries, err := s.LedgerEntries(t.Context(), identity.LedgerFilter{Kind: identity.LedgerRequest})
	noErr(t, "LedgerEntries", err)
	return entries
}

func testRequestServiceLedger(t *testing.T, s identity.Store) {
	requestUsers(t, s)
	ctx := t.Context()
	now := base
	svc := &identity.Requests{Store: s, Calendar: calendar.New(nil), Now: func() time.Time { return now }}
	titular := identity.RequestActor{IP: "192.0.2.1", UserAgent: "Navegador/1.0", Locale: "es-CO"}
	admin := identity.RequestActor{Actor: identity.AdminActor("u-root")}

	r, err := svc.File(ctx, titular, "u-alice", identity.RequestDelete, "Borren mi cuenta")
	noErr(t, "File", err)
	now = now.Add(time.Hour)
	_, err = svc.Extend(ctx, admin, r.ID, "")
	wantErr(t, "Extend without a reason", err, identity.ErrReasonRequired)
	_, err = svc.Extend(ctx, admin, r.ID, "consulta con contabilidad")
	noErr(t, "Extend", err)
	now = now.Add(time.Hour)
	_, err = svc.Refuse(ctx, admin, r.ID, "", "no")
	wantErr(t, "Refuse without a code", err, identity.ErrRefusalCodeRequired)
	_, err = svc.Refuse(ctx, admin, r.ID, identity.RefusalNotOwner, "no")
	wantErr(t, "Refuse a deletion with not_owner", err, identity.ErrRefusalNotAllowed)
	_, err = svc.Refuse(ctx, admin, r.ID, identity.RefusalLegalDuty, "Factura electrónica: 5 años (Estatuto Tributario art. 632)")
	noErr(t, "Refuse", err)
	_, err = svc.Answer(ctx, admin, r.ID, "otra")
	wantErr(t, "Answer a closed request", err, identity.ErrRequestClosed)
	_, err = svc.Withdraw(ctx, titular, "u-bob", r.ID)
	wantErr(t, "Withdraw another titular's request", err, identity.ErrNotFound)

	got, err := svc.Get(ctx, r.ID)
	noErr(t, "Get", err)
	if got.Status != identity.RequestRefused || got.RefusalReason != identity.RefusalLegalDuty || got.ExtendedDueAt == nil {
		t.Fatalf("stored request: %+v", got)
	}
	entries := requestLedger(t, s)
	var types []string
	for _, e := range entries {
		types = append(types, e.Type)
		c, err := identity.ParseRequestChange(e)
		if err != nil || c.RequestID != r.ID || e.Subject != "u-alice" {
			t.Errorf("entry %d: subject %q, payload %s (%v)", e.Seq, e.Subject, e.Payload, err)
		}
	}
	if want := []string{identity.RequestFiledEvent, identity.RequestExtendedEvent, identity.RequestRefusedEvent}; !slices.Equal(types, want) {
		t.Fatalf("ledger types = %q, want %q (refused changes leave no entry)", types, want)
	}
	if entries[0].Actor != "" || entries[0].IP != "192.0.2.1" || entries[1].Actor != "admin:u-root" || !entries[2].OccurredAt.Equal(trunc(base.Add(2*time.Hour))) {
		t.Errorf("entries: actors %q, %q; IP %q; third at %v", entries[0].Actor, entries[1].Actor, entries[0].IP, entries[2].OccurredAt)
	}
	if c, _ := identity.ParseRequestChange(entries[2]); c.RefusalReason != identity.RefusalLegalDuty || c.Status != identity.RequestRefused {
		t.Errorf("refusal payload %s", entries[2].Payload)
	}
	history, err := svc.History(ctx, got)
	noErr(t, "History", err)
	if len(history) != 3 {
		t.Errorf("History has %d entries, want 3", len(history))
	}
	mustVerify(t, s, 3)
}

// failingLedger is a store whose ledger appends fail.
type failingLedger struct{ identity.Store }

var errLedgerDown = errors.New("ledger down")

func (failingLedger) AppendLedger(context.Context, *identity.LedgerEntry) error { return errLedgerDown }

func testRequestServiceAtomic(t *testing.T, s identity.Store) {
	requestUsers(t, s)
	ctx := t.Context()
	now := base
	good := &identity.Requests{Store: s, Calendar: calendar.New(nil), Now: func() time.Time { return now }}
	bad := &identity.Requests{Store: failingLedger{s}, Calendar: good.Calendar, Now: good.Now}

	_, err := bad.File(ctx, identity.RequestActor{}, "u-alice", identity.RequestKnow, "")
	wantErr(t, "File with the ledger down", err, errLedgerDown)
	if rs, _ := s.DataRequestsByUser(ctx, "u-alice"); len(rs) != 0 {
		t.Fatalf("a request was stored without its ledger entry: %+v", rs)
	}
	r, err := good.File(ctx, identity.RequestActor{}, "u-alice", identity.RequestKnow, "")
	noErr(t, "File", err)
	now = now.Add(time.Minute)
	_, err = bad.Answer(ctx, identity.RequestActor{Actor: "admin:u-root"}, r.ID, "Estos son sus datos")
	wantErr(t, "Answer with the ledger down", err, errLedgerDown)
	got, err := s.DataRequestByID(ctx, r.ID)
	noErr(t, "DataRequestByID", err)
	if got.Status != identity.RequestReceived || got.Answer != "" {
		t.Fatalf("the answer was stored without its ledger entry: %+v", got)
	}
	if n := len(requestLedger(t, s)); n != 1 {
		t.Fatalf("ledger has %d request entries, want 1", n)
	}
}
