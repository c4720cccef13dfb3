package identity_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
)

var cal = calendar.New(nil)

// at is an instant in Colombia.
func at(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, calendar.Location())
}

// day is the Colombian date of t.
func day(t time.Time) string { return t.In(calendar.Location()).Format("2006-01-02") }

func file(t *testing.T, received time.Time, typ string) *identity.DataRequest {
	t.Helper()
	r, err := identity.NewDataRequest(cal, received, "dr-1", "u-1", typ, "  descripción  ")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want %v", what, err, target)
	}
}

func TestKindFollowsType(t *testing.T) {
	for typ, kind := range map[string]string{
		"know": "consulta", "proof": "consulta", "update": "reclamo", "rectify": "reclamo", "delete": "reclamo", "revoke": "reclamo", "gossip": "",
	} {
		if got := identity.KindOf(typ); got != kind {
			t.Errorf("KindOf(%s) = %q, want %q", typ, got, kind)
		}
	}
	_, err := identity.NewDataRequest(cal, time.Now(), "x", "u", "gossip", "")
	wantIs(t, "unknown type", err, identity.ErrRequestType)
	_, err = identity.NewDataRequest(cal, time.Now(), "x", "u", "know", strings.Repeat("ñ", identity.RequestTextMax+1))
	wantIs(t, "long description", err, identity.ErrRequestText)
	r, err := identity.NewDataRequest(cal, time.Now(), "x", "u", "know", strings.Repeat("ñ", identity.RequestTextMax))
	if err != nil || r.Description == "" {
		t.Fatalf("a description of the maximum length: %v", err)
	}
}

// TestConsultaTerms: Ley 1581 art. 14, 10 business days counting the day
// of receipt, +5 with a reason before the first term ends.
func TestConsultaTerms(t *testing.T) {
	received := at(2026, time.February, 2, 16, 30) // Monday
	r := file(t, received, identity.RequestKnow)
	if r.Kind != identity.RequestConsulta || r.Status != identity.RequestReceived || r.Description != "descripción" {
		t.Fatalf("filed: %+v", r)
	}
	if day(r.DueAt) != "2026-02-13" || !r.DueAt.Equal(cal.ConsultaDue(received)) || r.LegendDueAt != nil {
		t.Fatalf("due %s (%v), legend %v; want 2026-02-13 and no legend", day(r.DueAt), r.DueAt, r.LegendDueAt)
	}
	if r.DueAt.Location() != time.UTC || r.ReceivedAt.Location() != time.UTC {
		t.Errorf("times are not UTC: %v, %v", r.DueAt, r.ReceivedAt)
	}
	if l := identity.Legends(r, received); len(l) != 0 {
		t.Errorf("a consulta has legends %q", l)
	}

	// Due soon: due today or within two business days; overdue the day after.
	for _, tc := range []struct {
		now           time.Time
		soon, overdue bool
	}{
		{at(2026, time.February, 10, 12, 0), false, false}, // Tue: 2 business days on is Thu 12
		{at(2026, time.February, 11, 0, 0), true, false},   // Wed: Fri 13 is the 2nd business day
		{at(2026, time.February, 13, 23, 59), true, false}, // the due day itself
		{at(2026, time.February, 14, 0, 0), false, true},   // Saturday after
		{at(2026, time.February, 16, 9, 0), false, true},   // Monday after
	} {
		if got := r.DueSoon(cal, tc.now); got != tc.soon {
			t.Errorf("DueSoon at %v = %v, want %v", tc.now, got, tc.soon)
		}
		if got := r.Overdue(tc.now); got != tc.overdue {
			t.Errorf("Overdue at %v = %v, want %v", tc.now, got, tc.overdue)
		}
	}

	c := *r
	wantIs(t, "extend without a reason", c.Extend(cal, at(2026, time.February, 12, 9, 0), "   "), identity.ErrReasonRequired)
	wantIs(t, "extend after the first term", c.Extend(cal, at(2026, time.February, 14, 0, 1), "volumen"), identity.ErrTermEnded)
	if err := c.Extend(cal, at(2026, time.February, 13, 23, 0), "Alto volumen de solicitudes"); err != nil {
		t.Fatal(err)
	}
	if c.Status != identity.RequestExtended || day(*c.ExtendedDueAt) != "2026-02-20" || !c.ExtendedDueAt.Equal(cal.ConsultaExtended(received)) ||
		c.ExtensionReason != "Alto volumen de solicitudes" || !c.DueAt.Equal(r.DueAt) {
		t.Fatalf("extended: %+v", c)
	}
	if !c.EffectiveDue().Equal(*c.ExtendedDueAt) || c.Overdue(at(2026, time.February, 16, 9, 0)) || !c.Overdue(at(2026, time.February, 21, 0, 0)) {
		t.Error("the extended term does not count")
	}
	wantIs(t, "extend twice", c.Extend(cal, at(2026, time.February, 13, 23, 30), "otra"), identity.ErrAlreadyExtended)
	wantIs(t, "ask a consulta for information", c.RequestInfo(cal, at(2026, time.February, 3, 9, 0), "x"), identity.ErrNotReclamo)

	// A consulta received on a holiday counts from the next business day.
	h := file(t, at(2026, time.March, 23, 9, 0), identity.RequestProof) // San José, moved
	// Holy Thursday and Good Friday fall in between.
	if day(h.DueAt) != "2026-04-08" {
		t.Errorf("consulta received on a holiday due %s, want 2026-04-08", day(h.DueAt))
	}
}

// TestReclamoTerms: Ley 1581 art. 15 with the HABEAS_DATA.md check: a
// reclamo received Monday 16 March 2026 is due 9 April 2026, 21 April with
// the extension.
func TestReclamoTerms(t *testing.T) {
	received := at(2026, time.March, 16, 10, 0)
	r := file(t, received, identity.RequestRectify)
	if r.Kind != identity.RequestReclamo || day(r.DueAt) != "2026-04-09" || day(*r.LegendDueAt) != "2026-03-18" {
		t.Fatalf("reclamo: kind %s, due %s, legend due %v", r.Kind, day(r.DueAt), r.LegendDueAt)
	}
	if got := identity.Legends(r, received); !slices.Equal(got, []string{"reclamo en trámite"}) {
		t.Fatalf("legends %q", got)
	}
	if day(r.InfoRequestDue(cal)) != "2026-03-24" {
		t.Fatalf("info request due %s, want 2026-03-24 (23 March is a holiday)", day(r.InfoRequestDue(cal)))
	}
	ext := *r
	if err := ext.Extend(cal, at(2026, time.April, 9, 17, 0), "Verificación con el vendedor"); err != nil {
		t.Fatal(err)
	}
	if day(*ext.ExtendedDueAt) != "2026-04-21" || !ext.ExtendedDueAt.Equal(cal.ReclamoExtended(received)) {
		t.Fatalf("extended to %s, want 2026-04-21", day(*ext.ExtendedDueAt))
	}
	wantIs(t, "ask for information once extended", ext.RequestInfo(cal, at(2026, time.March, 17, 9, 0), "x"), identity.ErrInfoRequestLate)

	late := *r
	wantIs(t, "ask for information after 5 business days", late.RequestInfo(cal, at(2026, time.March, 25, 0, 0), "copia"), identity.ErrInfoRequestLate)
	last := *r
	if err := last.RequestInfo(cal, at(2026, time.March, 24, 23, 0), "copia"); err != nil {
		t.Fatalf("ask on the fifth business day: %v", err)
	}

	// Incomplete: asked on 17 March, the titular has until 17 May, a
	// Sunday; 18 May is a holiday (Ascension), so 19 May.
	inc := *r
	wantIs(t, "ask without saying what", inc.RequestInfo(cal, at(2026, time.March, 17, 9, 0), " "), identity.ErrReasonRequired)
	if err := inc.RequestInfo(cal, at(2026, time.March, 17, 9, 0), "Indique el dato correcto"); err != nil {
		t.Fatal(err)
	}
	if inc.Status != identity.RequestInfoRequested || day(*inc.WithdrawAt) != "2026-05-19" || inc.InfoNeeded != "Indique el dato correcto" {
		t.Fatalf("info requested: status %s, withdraw %v", inc.Status, inc.WithdrawAt)
	}
	if l := identity.Legends(&inc, at(2026, time.March, 18, 0, 0)); len(l) != 0 {
		t.Errorf("an incomplete reclamo shows legends %q", l)
	}
	if inc.Overdue(at(2026, time.April, 30, 0, 0)) || inc.DueSoon(cal, at(2026, time.April, 8, 0, 0)) {
		t.Error("a reclamo waiting for the titular counts against the responsable")
	}
	wantIs(t, "ask twice", inc.RequestInfo(cal, at(2026, time.March, 18, 9, 0), "x"), identity.ErrInfoRequestedAlready)
	wantIs(t, "extend while waiting", inc.Extend(cal, at(2026, time.March, 18, 9, 0), "x"), identity.ErrInfoRequestedAlready)
	if inc.Expired(at(2026, time.May, 19, 23, 59)) || !inc.Expired(at(2026, time.May, 20, 0, 0)) {
		t.Error("Expired is wrong around the withdrawal date")
	}

	// Completed on Friday 20 March: the term restarts from then.
	done := inc
	wantIs(t, "complete with nothing", done.ProvideInfo(cal, at(2026, time.March, 20, 11, 0), ""), identity.ErrAnswerRequired)
	if err := done.ProvideInfo(cal, at(2026, time.March, 20, 11, 0), "El dato correcto es 300 555 0101"); err != nil {
		t.Fatal(err)
	}
	if done.Status != identity.RequestReceived || day(done.DueAt) != "2026-04-15" || day(*done.LegendDueAt) != "2026-03-25" ||
		done.InfoProvided == "" || done.InfoProvidedAt == nil {
		t.Fatalf("completed: status %s, due %s, legend due %v", done.Status, day(done.DueAt), done.LegendDueAt)
	}
	if got := identity.Legends(&done, at(2026, time.March, 20, 12, 0)); !slices.Equal(got, []string{identity.LegendReclamo}) {
		t.Errorf("completed reclamo legends %q", got)
	}
	wantIs(t, "complete twice", done.ProvideInfo(cal, at(2026, time.March, 21, 11, 0), "x"), identity.ErrInfoNotRequested)

	// Never completed: too late after 19 May, then expired.
	gone := inc
	wantIs(t, "complete too late", gone.ProvideInfo(cal, at(2026, time.May, 20, 8, 0), "x"), identity.ErrWithdrawalDatePassed)
	if gone.Expire(at(2026, time.May, 19, 12, 0)) {
		t.Fatal("expired before the withdrawal date passed")
	}
	if !gone.Expire(at(2026, time.May, 20, 8, 0)) || gone.Status != identity.RequestWithdrawn || gone.ClosedAt == nil {
		t.Fatalf("expire: %+v", gone)
	}
	if r.Expire(at(2027, time.January, 1, 0, 0)) {
		t.Error("a complete reclamo expired")
	}
}

// TestRefusalCodes: H5, a deletion (or revocation) may be refused only
// with legal_duty or contract, and a refusal always needs a code.
func TestRefusalCodes(t *testing.T) {
	now := at(2026, time.March, 17, 9, 0)
	for _, tc := range []struct {
		typ, code string
		want      error
	}{
		{identity.RequestDelete, "", identity.ErrRefusalCodeRequired},
		{identity.RequestDelete, "public_interest", identity.ErrRefusalCode},
		{identity.RequestDelete, identity.RefusalNotOwner, identity.ErrRefusalNotAllowed},
		{identity.RequestDelete, identity.RefusalDataAccurate, identity.ErrRefusalNotAllowed},
		{identity.RequestDelete, identity.RefusalJudicialOrder, identity.ErrRefusalNotAllowed},
		{identity.RequestDelete, identity.RefusalLegalDuty, nil},
		{identity.RequestDelete, identity.RefusalContract, nil},
		{identity.RequestRevoke, identity.RefusalContract, nil},
		{identity.RequestRevoke, identity.RefusalNotOwner, identity.ErrRefusalNotAllowed},
		{identity.RequestRectify, identity.RefusalDataAccurate, nil},
		{identity.RequestRectify, identity.RefusalLegalDuty, identity.ErrRefusalNotAllowed},
		{identity.RequestKnow, identity.RefusalNotOwner, nil},
		{identity.RequestKnow, "", identity.ErrRefusalCodeRequired},
	} {
		r := file(t, now, tc.typ)
		err := r.Refuse(now, tc.code, "Motivo explicado al titular")
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("refuse %s with %q: %v, want %v", tc.typ, tc.code, err, tc.want)
			continue
		}
		if err == nil && (r.Status != identity.RequestRefused || r.RefusalReason != tc.code || r.ClosedAt == nil || r.Open()) {
			t.Errorf("refused %s: %+v", tc.typ, r)
		}
		if err != nil && (r.Status != identity.RequestReceived || r.RefusalReason != "") {
			t.Errorf("a rejected refusal changed the request: %+v", r)
		}
	}
	r := file(t, now, identity.RequestDelete)
	wantIs(t, "refuse without explanation", r.Refuse(now, identity.RefusalLegalDuty, " "), identity.ErrAnswerRequired)
	for _, code := range identity.RefusalCodes {
		for _, typ := range identity.RequestTypes {
			if slices.Contains(identity.RefusalCodesFor(typ), code) && !slices.Contains(identity.RefusalCodes, code) {
				t.Errorf("%s allows an unlisted code %s", typ, code)
			}
		}
	}
}

func TestAnswerWithdrawAndJudicialDispute(t *testing.T) {
	now := at(2026, time.March, 16, 10, 0)
	r := file(t, now, identity.RequestDelete)
	wantIs(t, "empty answer", r.Respond(now, ""), identity.ErrAnswerRequired)
	if err := r.SetJudicialDispute(now, true); err != nil {
		t.Fatal(err)
	}
	wantIs(t, "set twice", r.SetJudicialDispute(now, true), identity.ErrNoChange)
	if got := identity.Legends(r, now); !slices.Equal(got, []string{identity.LegendReclamo, identity.LegendJudicial}) {
		t.Fatalf("legends %q", got)
	}
	if err := r.Respond(now.Add(time.Hour), "Sus datos fueron suprimidos"); err != nil {
		t.Fatal(err)
	}
	if r.Status != identity.RequestAnswered || r.ClosedAt == nil || r.Open() {
		t.Fatalf("answered: %+v", r)
	}
	// The court process outlives the reclamo: only the judicial legend stays.
	if got := identity.Legends(r, now); !slices.Equal(got, []string{"información en discusión judicial"}) {
		t.Fatalf("legends after the answer %q", got)
	}
	wantIs(t, "answer twice", r.Respond(now, "x"), identity.ErrRequestClosed)
	wantIs(t, "withdraw closed", r.Withdraw(now), identity.ErrRequestClosed)
	wantIs(t, "extend closed", r.Extend(cal, now, "x"), identity.ErrRequestClosed)
	if err := r.SetJudicialDispute(now, false); err != nil || len(identity.Legends(r, now)) != 0 {
		t.Fatalf("clearing the flag: %v, %q", err, identity.Legends(r, now))
	}

	w := file(t, now, identity.RequestKnow)
	if err := w.Withdraw(now); err != nil || w.Status != identity.RequestWithdrawn || w.ClosedAt == nil {
		t.Fatalf("withdraw: %v %+v", err, w)
	}

	legends := identity.UserLegends([]identity.DataRequest{*w, *file(t, now, identity.RequestUpdate), *file(t, now, identity.RequestDelete)}, now)
	if !slices.Equal(legends, []string{identity.LegendReclamo}) {
		t.Errorf("UserLegends %q", legends)
	}
}

func TestRequestSummaryLine(t *testing.T) {
	m := identity.RequestSummary{ByKind: map[string]identity.DataRequestCount{
		"consulta": {Kind: "consulta", Open: 3, DueSoon: 1, Overdue: 1},
		"reclamo":  {Kind: "reclamo", Open: 4, DueSoon: 2, Overdue: 0},
	}}
	if got, want := m.String(), "data requests: 7 open, 3 due within 2 business days, 1 overdue"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
