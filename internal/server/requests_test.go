package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/mail"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/testdb"
)

// Data-subject requests (HABEAS_DATA H5-H7, H10, H11): the titular files
// consultas and reclamos at /account/requests; administrators work them at
// /admin/requests. Portero's clock is set to the dates of the calendar
// vectors of shared/HABEAS_DATA.md.

// clock is Portero's time.
func (e *env) clock() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }

// setClock moves Portero's clock to at (back or forward).
func (e *env) setClock(at time.Time) { e.advance(at.Sub(e.clock())) }

// cot is an instant in Colombia.
func cot(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, calendar.Location())
}

// signIn signs browser c in with a password (no second factor).
func (e *env) signIn(t *testing.T, c *http.Client, username string) {
	t.Helper()
	resp, _ := e.submit(c, "/login", url.Values{"username": {username}, "password": {testPassword}})
	if resp.Request.URL.Path != "/account" {
		t.Fatalf("%s: sign-in landed on %d %s", username, resp.StatusCode, resp.Request.URL)
	}
}

// testAdmin is an administrator with TOTP and a browser.
type testAdmin struct {
	c      *http.Client
	u      *identity.User
	secret string
}

// newAdmin creates an administrator and signs a browser in through the
// TOTP enrolment the MFA policy requires of the role: a fresh MFA session.
func (e *env) newAdmin(t *testing.T, username string) *testAdmin {
	t.Helper()
	a := &testAdmin{c: e.browser(), u: e.newUser(t, username, "admin")}
	resp, body := e.submit(a.c, "/login", url.Values{"username": {username}, "password": {testPassword}})
	if resp.Request.URL.Path != "/login/enroll" {
		t.Fatalf("an admin without a second factor should enrol, got %d %s", resp.StatusCode, resp.Request.URL)
	}
	a.secret = match(t, totpSecretPattern, body)
	code, _ := identity.TOTPCode(a.secret, e.clock())
	if resp, body = e.submit(a.c, "/login/enroll", url.Values{"code": {code}}); resp.StatusCode != http.StatusOK ||
		len(recoveryPattern.FindAllString(body, -1)) != 10 {
		t.Fatalf("admin TOTP enrolment: %d", resp.StatusCode)
	}
	return a
}

// signInAdmin signs the administrator in again with password and TOTP.
func (e *env) signInAdmin(t *testing.T, a *testAdmin) {
	t.Helper()
	resp, _ := e.submit(a.c, "/login", url.Values{"username": {a.u.Username}, "password": {testPassword}})
	if resp.Request.URL.Path != "/login/mfa" {
		t.Fatalf("admin sign-in: expected the TOTP prompt, got %d %s", resp.StatusCode, resp.Request.URL)
	}
	code, _ := identity.TOTPCode(a.secret, e.clock())
	if resp, _ = e.submit(a.c, "/login/mfa", url.Values{"method": {"totp"}, "code": {code}}); resp.Request.URL.Path != "/account" {
		t.Fatalf("admin TOTP sign-in: %d %s", resp.StatusCode, resp.Request.URL)
	}
}

// fileRequest files a request as the signed-in titular of c and returns it.
func (e *env) fileRequest(t *testing.T, c *http.Client, userID, typ, description string) *identity.DataRequest {
	t.Helper()
	before := e.requestsOf(t, userID)
	resp, body := e.submit(c, "/account/requests", url.Values{"type": {typ}, "description": {description}})
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != e.issuer+"/account/requests?notice=filed" {
		t.Fatalf("file %s: %d %s\n%s", typ, resp.StatusCode, resp.Request.URL, body)
	}
	after := e.requestsOf(t, userID)
	if len(after) != len(before)+1 {
		t.Fatalf("file %s: %d requests before, %d after", typ, len(before), len(after))
	}
	return &after[0]
}

func (e *env) requestsOf(t *testing.T, userID string) []identity.DataRequest {
	t.Helper()
	rs, err := e.store.DataRequestsByUser(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (e *env) request(t *testing.T, id string) *identity.DataRequest {
	t.Helper()
	r, err := e.store.DataRequestByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// act posts an admin action and returns the response (redirects inside
// Portero followed) and its body.
func (e *env) act(a *testAdmin, id, action string, form url.Values) (*http.Response, string) {
	return e.submit(a.c, "/admin/requests/"+id+"/"+action, form)
}

// mustAct posts an admin action that must succeed.
func (e *env) mustAct(t *testing.T, what string, a *testAdmin, id, action string, form url.Values) {
	t.Helper()
	resp, body := e.act(a, id, action, form)
	wantActed(t, what, resp, body)
}

// wantActed checks that an admin action succeeded.
func wantActed(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.RawQuery, "notice=") || !strings.Contains(body, `role="status"`) {
		t.Fatalf("%s: %d %s\n%s", what, resp.StatusCode, resp.Request.URL, alertOf(body))
	}
}

// wantRefused checks that an admin action was refused with status and
// the page's alert.
func wantRefused(t *testing.T, what string, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("%s: got %d, want %d with an alert", what, resp.StatusCode, status)
	}
}

var alertPattern = regexp.MustCompile(`role="alert">([^<]*)<`)

func alertOf(body string) string {
	if m := alertPattern.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// requestEntries returns the ledger entries about request id, oldest first.
func (e *env) requestEntries(t *testing.T, userID, id string) []identity.LedgerEntry {
	t.Helper()
	entries, err := e.store.LedgerEntries(context.Background(), identity.LedgerFilter{Subject: userID, Limit: identity.LedgerMaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []identity.LedgerEntry
	for _, en := range entries {
		if en.Kind != identity.LedgerRequest && en.Kind != identity.LedgerAdmin {
			continue
		}
		if c, err := identity.ParseRequestChange(en); err == nil && c.RequestID == id {
			out = append(out, en)
		}
	}
	return out
}

func typesOf(entries []identity.LedgerEntry) []string {
	var out []string
	for _, en := range entries {
		out = append(out, en.Type)
	}
	return out
}

// queueItem returns the <li> of request id on the queue page.
func queueItem(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="q-`+id+`"`)
	if i < 0 {
		t.Fatalf("the queue lacks %s", id)
	}
	j := strings.Index(body[i:], "</li>")
	return body[i : i+j]
}

// requestItem returns the <li> of request id on the titular's page.
func requestItem(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="request-`+id+`"`)
	if i < 0 {
		t.Fatalf("the titular's page lacks %s", id)
	}
	j := strings.Index(body[i:], "\n</li>")
	return body[i : i+j]
}

// metric reads one sample from /metrics.
func (e *env) metric(t *testing.T, sample string) bool {
	t.Helper()
	return strings.Contains(e.metrics(t), sample+"\n")
}

// TestH6ConsultaDueInTenBusinessDays: a consulta received Monday 2
// February 2026 is due Friday 13 February (the day of receipt counts);
// extended with a reason before then, Friday 20 February; an extension
// without a reason, or after the first term, is refused; the queue and
// the metrics show what is due soon and what is overdue.
func TestH6ConsultaDueInTenBusinessDays(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	e.setClock(cot(2026, time.February, 2, 16, 30))
	c := e.browser()
	e.signIn(t, c, "alice")
	know := e.fileRequest(t, c, e.userID, identity.RequestKnow, "¿Qué datos tienen de mí?")
	proof := e.fileRequest(t, c, e.userID, identity.RequestProof, "")
	if know.Kind != identity.RequestConsulta || know.Status != identity.RequestReceived {
		t.Fatalf("filed: %+v", know)
	}
	if got := know.DueAt.In(calendar.Location()).Format(time.DateOnly); got != "2026-02-13" {
		t.Fatalf("consulta due %s, want 2026-02-13", got)
	}
	_, body := e.page(c, "/account/requests")
	if item := requestItem(t, body, know.ID); !strings.Contains(item, "2026-02-13") || !strings.Contains(item, "Consulta") {
		t.Fatalf("the titular's page does not show the due date:\n%s", item)
	}
	if !strings.Contains(body, `<label for="request-type">`) || !strings.Contains(body, `<label for="request-description">`) {
		t.Error("the request form's fields are not labelled")
	}

	a := e.newAdmin(t, "root")
	_, body = e.page(a.c, "/admin/requests")
	if item := queueItem(t, body, know.ID); !strings.Contains(item, "2026-02-13") || strings.Contains(item, "data-flag") {
		t.Fatalf("queue item on receipt:\n%s", item)
	}
	resp, body := e.act(a, know.ID, "extend", url.Values{"reason": {"  "}})
	wantRefused(t, "extension without a reason", resp, body, http.StatusBadRequest)
	if r := e.request(t, know.ID); r.ExtendedDueAt != nil {
		t.Fatal("an extension without a reason was stored")
	}

	// Wednesday 11 February: both due within two business days.
	e.setClock(cot(2026, time.February, 11, 9, 0))
	e.signInAdmin(t, a)
	_, body = e.page(a.c, "/admin/requests")
	if item := queueItem(t, body, know.ID); !strings.Contains(item, `data-flag="due-soon"`) {
		t.Fatalf("a consulta due in two business days is not marked:\n%s", item)
	}
	if _, err := e.srv.RefreshDataRequests(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !e.metric(t, `portero_data_requests_due_soon{kind="consulta"} 2`) || !e.metric(t, `portero_data_requests_overdue{kind="consulta"} 0`) {
		t.Error("the due-soon gauge is not 2")
	}
	resp, body = e.act(a, know.ID, "extend", url.Values{"reason": {"Reunimos la información de tres sistemas"}})
	wantActed(t, "extension", resp, body)
	r := e.request(t, know.ID)
	if r.Status != identity.RequestExtended || r.ExtendedDueAt.In(calendar.Location()).Format(time.DateOnly) != "2026-02-20" {
		t.Fatalf("extended: status %s, due %v", r.Status, r.ExtendedDueAt)
	}
	if !strings.Contains(body, `id="extended-due">2026-02-20`) {
		t.Error("the detail page does not show the extended term")
	}
	resp, body = e.act(a, know.ID, "extend", url.Values{"reason": {"otra vez"}})
	wantRefused(t, "a second extension", resp, body, http.StatusConflict)

	// Monday 16 February: the proof consulta is overdue and can no longer
	// be extended; the extended one is not overdue.
	e.setClock(cot(2026, time.February, 16, 9, 0))
	e.signInAdmin(t, a)
	resp, body = e.act(a, proof.ID, "extend", url.Values{"reason": {"tarde"}})
	wantRefused(t, "an extension after the first term", resp, body, http.StatusConflict)
	_, body = e.page(a.c, "/admin/requests")
	if item := queueItem(t, body, proof.ID); !strings.Contains(item, `data-flag="overdue"`) {
		t.Fatalf("an overdue consulta is not marked:\n%s", item)
	}
	if item := queueItem(t, body, know.ID); strings.Contains(item, "data-flag") {
		t.Fatalf("the extended consulta is marked:\n%s", item)
	}
	if strings.Index(body, `id="q-`+proof.ID+`"`) > strings.Index(body, `id="q-`+know.ID+`"`) {
		t.Error("the queue is not ordered by due date")
	}
	m, err := e.srv.RefreshDataRequests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.String(); got != "data requests: 2 open, 0 due within 2 business days, 1 overdue" {
		t.Errorf("summary %q", got)
	}
	if !e.metric(t, `portero_data_requests_overdue{kind="consulta"} 1`) {
		t.Error("the overdue gauge is not 1")
	}
	_, body = e.page(c, "/account/requests") // alice's session expired: signs in again
	if !strings.Contains(body, `id="request-list"`) {
		e.signIn(t, c, "alice")
		_, body = e.page(c, "/account/requests")
	}
	if item := requestItem(t, body, know.ID); !strings.Contains(item, "2026-02-20") || !strings.Contains(item, "Reunimos la información") {
		t.Errorf("the titular is not told the new date and the reason:\n%s", item)
	}
}

// TestH7ReclamoTimersAndLegends: the HABEAS_DATA.md check (a reclamo
// received Monday 16 March 2026 is due 9 April, 21 April with the
// extension); the legend "reclamo en trámite"; an incomplete reclamo asked
// within 5 business days, withdrawn after two months without an answer,
// and its term restarted when completed; the judicial-dispute legend.
func TestH7ReclamoTimersAndLegends(t *testing.T) {
	testdb.ForEach(t, testH7ReclamoTimersAndLegends)
}

func testH7ReclamoTimersAndLegends(t *testing.T, b testdb.Backend) {
	e := newEnv(t, b, nil)
	e.setClock(cot(2026, time.March, 16, 10, 0))
	c := e.browser()
	e.signIn(t, c, "alice")
	rectify := e.fileRequest(t, c, e.userID, identity.RequestRectify, "Mi teléfono es 300 555 0101")
	incomplete := e.fileRequest(t, c, e.userID, identity.RequestUpdate, "")
	silent := e.fileRequest(t, c, e.userID, identity.RequestRevoke, "")
	late := e.fileRequest(t, c, e.userID, identity.RequestRectify, "") // not a deletion: answering one erases the account
	day := func(t time.Time) string { return t.In(calendar.Location()).Format(time.DateOnly) }
	if rectify.Kind != identity.RequestReclamo || day(rectify.DueAt) != "2026-04-09" || day(*rectify.LegendDueAt) != "2026-03-18" {
		t.Fatalf("reclamo: kind %s, due %s", rectify.Kind, day(rectify.DueAt))
	}
	_, body := e.page(c, "/account/requests")
	if !strings.Contains(requestItem(t, body, rectify.ID), "2026-04-09") {
		t.Fatal("the titular's page lacks the due date 2026-04-09")
	}
	if !strings.Contains(body, `id="user-legends"><li lang="es-CO"><strong>reclamo en trámite</strong>`) {
		t.Fatal("the legend «reclamo en trámite» is not shown with the titular's data")
	}

	a := e.newAdmin(t, "root")
	resp, body := e.act(a, rectify.ID, "extend", url.Values{"reason": {"Verificamos el dato con el operador"}})
	wantActed(t, "extension", resp, body)
	if r := e.request(t, rectify.ID); day(*r.ExtendedDueAt) != "2026-04-21" {
		t.Fatalf("extended to %s, want 2026-04-21", day(*r.ExtendedDueAt))
	}
	resp, body = e.act(a, incomplete.ID, "info", url.Values{"info_needed": {"el dato correcto y un soporte"}})
	wantActed(t, "info request", resp, body)
	resp, body = e.act(a, silent.ID, "info", url.Values{"info_needed": {"qué autorización revoca"}})
	wantActed(t, "info request", resp, body)
	if r := e.request(t, incomplete.ID); r.Status != identity.RequestInfoRequested || day(*r.WithdrawAt) != "2026-05-19" {
		// 16 May is a Saturday and 18 May a holiday (Ascension).
		t.Fatalf("info requested: %s, withdraw at %v; want 2026-05-19", r.Status, r.WithdrawAt)
	}
	resp, body = e.act(a, rectify.ID, "dispute", url.Values{"on": {"1"}})
	wantActed(t, "judicial dispute", resp, body)
	if !strings.Contains(body, "información en discusión judicial") {
		t.Error("the admin page does not show the judicial legend")
	}
	_, body = e.page(c, "/account/requests")
	if !strings.Contains(body, "<strong>información en discusión judicial</strong>") {
		t.Fatal("the titular's page lacks the judicial legend")
	}
	item := requestItem(t, body, incomplete.ID)
	if !strings.Contains(item, "el dato correcto y un soporte") || !strings.Contains(item, "2026-05-19") ||
		!strings.Contains(item, `action="/account/requests/`+incomplete.ID+`/info"`) || strings.Contains(item, "reclamo en trámite") {
		t.Fatalf("the incomplete reclamo on the titular's page:\n%s", item)
	}

	// Friday 20 March: the titular completes it; the term restarts.
	e.setClock(cot(2026, time.March, 20, 11, 0))
	e.signIn(t, c, "alice")
	resp, _ = e.submit(c, "/account/requests/"+incomplete.ID+"/info", url.Values{"info": {"  "}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty information: %d", resp.StatusCode)
	}
	resp, body = e.submit(c, "/account/requests/"+incomplete.ID+"/info", url.Values{"info": {"El correcto es Calle 10 # 5-20"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.RawQuery, "notice=info_sent") {
		t.Fatalf("providing the information: %d %s", resp.StatusCode, resp.Request.URL)
	}
	if r := e.request(t, incomplete.ID); r.Status != identity.RequestReceived || day(r.DueAt) != "2026-04-15" || day(*r.LegendDueAt) != "2026-03-25" {
		t.Fatalf("completed: %s, due %s; want received, 2026-04-15", r.Status, day(r.DueAt))
	}
	if !strings.Contains(requestItem(t, body, incomplete.ID), "2026-04-15") {
		t.Error("the titular's page does not show the restarted term")
	}
	// Another titular cannot complete or withdraw alice's reclamo.
	bob := e.newUser(t, "bob")
	cb := e.browser()
	e.signIn(t, cb, bob.Username)
	if resp, _ := e.submit(cb, "/account/requests/"+silent.ID+"/withdraw", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another titular's withdrawal: %d", resp.StatusCode)
	}

	// Wednesday 25 March: the five business days to ask are over.
	e.setClock(cot(2026, time.March, 25, 9, 0))
	e.signInAdmin(t, a)
	resp, body = e.act(a, late.ID, "info", url.Values{"info_needed": {"algo"}})
	wantRefused(t, "an info request after five business days", resp, body, http.StatusConflict)

	// 20 May: the silent reclamo is withdrawn after two months.
	e.setClock(cot(2026, time.May, 19, 23, 0))
	if _, err := e.srv.RefreshDataRequests(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := e.request(t, silent.ID); r.Status != identity.RequestInfoRequested {
		t.Fatalf("withdrawn on its last day: %s", r.Status)
	}
	e.setClock(cot(2026, time.May, 20, 0, 5))
	if _, err := e.srv.RefreshDataRequests(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := e.request(t, silent.ID); r.Status != identity.RequestWithdrawn || r.ClosedAt == nil {
		t.Fatalf("after two months: %s", r.Status)
	}
	entries := e.requestEntries(t, e.userID, silent.ID)
	if last := entries[len(entries)-1]; last.Type != identity.RequestExpiredEvent || last.Actor != identity.ActorSystem {
		t.Fatalf("the withdrawal is not recorded by the system: %+v", typesOf(entries))
	}

	// The dispute ends, the reclamos are answered: no legend is left.
	e.signInAdmin(t, a)
	e.mustAct(t, "clear dispute", a, rectify.ID, "dispute", url.Values{"on": {"0"}})
	for _, id := range []string{rectify.ID, incomplete.ID, late.ID} {
		e.mustAct(t, "answer", a, id, "answer", url.Values{"answer": {"Hecho."}})
	}
	e.signIn(t, c, "alice")
	_, body = e.page(c, "/account/requests")
	if strings.Contains(body, `id="user-legends"`) || strings.Contains(body, "reclamo en trámite") {
		t.Error("legends remain after every reclamo was decided and the dispute ended")
	}
}

// TestH5DeletionRefusalNeedsReasonCode: a deletion is a reclamo; refusing
// it needs a reason code, and only legal_duty or contract can refuse it
// (Decreto 1377 art. 9); the refusal and its code are in the ledger and
// shown to the titular.
func TestH5DeletionRefusalNeedsReasonCode(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	e.signIn(t, c, "alice")
	del := e.fileRequest(t, c, e.userID, identity.RequestDelete, "Borren todos mis datos")
	if del.Kind != identity.RequestReclamo {
		t.Fatalf("a deletion is a %s", del.Kind)
	}
	a := e.newAdmin(t, "root")
	_, body := e.page(a.c, "/admin/requests/"+del.ID)
	codes := regexp.MustCompile(`<option value="([a-z_]+)"`).FindAllStringSubmatch(body, -1)
	var offered []string
	for _, m := range codes {
		offered = append(offered, m[1])
	}
	if !slices.Equal(offered, []string{identity.RefusalLegalDuty, identity.RefusalContract}) {
		t.Fatalf("refusal codes offered for a deletion: %q", offered)
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"answer": {"No podemos"}}, "Una negativa necesita un motivo"},
		{url.Values{"code": {"public_interest"}, "answer": {"No podemos"}}, "Ese motivo no existe"},
		{url.Values{"code": {identity.RefusalNotOwner}, "answer": {"No podemos"}}, "Ese motivo no permite"},
		{url.Values{"code": {identity.RefusalLegalDuty}, "answer": {" "}}, "Escriba la respuesta"},
	} {
		resp, body := e.act(a, del.ID, "refuse", tc.form)
		wantRefused(t, "refusal "+tc.form.Encode(), resp, body, http.StatusBadRequest)
		if !strings.Contains(alertOf(body), tc.want) {
			t.Errorf("refusal %s: alert %q, want %q", tc.form.Encode(), alertOf(body), tc.want)
		}
	}
	if r := e.request(t, del.ID); r.Status != identity.RequestReceived || r.RefusalReason != "" {
		t.Fatalf("a rejected refusal changed the request: %+v", r)
	}
	resp, body := e.act(a, del.ID, "refuse", url.Values{"code": {identity.RefusalLegalDuty},
		"answer": {"Las facturas electrónicas se conservan 5 años (Estatuto Tributario, art. 632)."}})
	wantActed(t, "refusal with legal_duty", resp, body)
	r := e.request(t, del.ID)
	if r.Status != identity.RequestRefused || r.RefusalReason != identity.RefusalLegalDuty || r.ClosedAt == nil {
		t.Fatalf("refused: %+v", r)
	}
	var last identity.LedgerEntry
	for _, en := range e.requestEntries(t, e.userID, del.ID) {
		if en.Kind == identity.LedgerRequest {
			last = en
		}
	}
	ch, _ := identity.ParseRequestChange(last)
	if last.Type != identity.RequestRefusedEvent || last.Actor != "admin:"+a.u.ID || ch.RefusalReason != identity.RefusalLegalDuty {
		t.Fatalf("refusal entry: %s by %q, payload %s", last.Type, last.Actor, last.Payload)
	}
	_, body = e.page(c, "/account/requests")
	if item := requestItem(t, body, del.ID); !strings.Contains(item, "deber legal") || !strings.Contains(item, "Estatuto Tributario") {
		t.Errorf("the titular is not told why:\n%s", item)
	}
	resp, body = e.act(a, del.ID, "answer", url.Values{"answer": {"Sí"}})
	wantRefused(t, "answering a refused request", resp, body, http.StatusConflict)
}

// TestH11RequestActionsAreInTheLedger: every step of a request, by the
// titular, an administrator or Portero, is a ledger entry with its actor,
// and administrators' reads of it too; the chain verifies; the detail page
// shows the history.
func TestH11RequestActionsAreInTheLedger(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	e.setClock(cot(2026, time.March, 16, 10, 0))
	c := e.browser()
	e.signIn(t, c, "alice")
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/account/requests",
		strings.NewReader(url.Values{"type": {"update"}, "description": {"Nuevo correo"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "LedgerTest/1.0")
	req.Header.Set("Accept-Language", "en")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := e.requestsOf(t, e.userID)[0]

	a := e.newAdmin(t, "root")
	e.mustAct(t, "extend", a, r.ID, "extend", url.Values{"reason": {"Validamos el correo"}})
	e.mustAct(t, "dispute", a, r.ID, "dispute", url.Values{"on": {"1"}})
	e.mustAct(t, "dispute again (no change)", a, r.ID, "dispute", url.Values{"on": {"1"}})
	e.mustAct(t, "answer", a, r.ID, "answer", url.Values{"answer": {"Actualizado"}})
	_, body := e.page(a.c, "/admin/requests/"+r.ID)

	entries := e.requestEntries(t, e.userID, r.ID)
	var steps []identity.LedgerEntry
	for _, en := range entries {
		if en.Kind == identity.LedgerRequest {
			steps = append(steps, en)
		}
	}
	want := []string{identity.RequestFiledEvent, identity.RequestExtendedEvent, identity.RequestDisputeSetEvent, identity.RequestAnsweredEvent}
	if got := typesOf(steps); !slices.Equal(got, want) {
		t.Fatalf("request entries %q, want %q", got, want)
	}
	filed := steps[0]
	if filed.Actor != "" || filed.Subject != e.userID || filed.UserAgent != "LedgerTest/1.0" || filed.IP == "" || filed.Locale != "en" {
		t.Errorf("filed entry: actor %q, subject %q, UA %q, IP %q, locale %q", filed.Actor, filed.Subject, filed.UserAgent, filed.IP, filed.Locale)
	}
	if strings.Contains(string(filed.Payload), "Nuevo correo") {
		t.Error("the titular's free text is in the append-only ledger")
	}
	for _, en := range steps[1:] {
		if en.Actor != "admin:"+a.u.ID {
			t.Errorf("%s by %q, want admin:%s", en.Type, en.Actor, a.u.ID)
		}
	}
	if ch, _ := identity.ParseRequestChange(steps[1]); ch.Reason != "Validamos el correo" || ch.ExtendedDueAt == nil {
		t.Errorf("extension payload %s", steps[1].Payload)
	}
	views := 0
	for _, en := range entries {
		if en.Kind == identity.LedgerAdmin && en.Type == identity.RequestViewedEvent && en.Actor == "admin:"+a.u.ID {
			views++
		}
	}
	if views == 0 {
		t.Error("the administrator's reads are not recorded")
	}
	if n, err := identity.VerifyLedger(context.Background(), e.store); err != nil || n == 0 {
		t.Fatalf("VerifyLedger = %d, %v", n, err)
	}
	for _, typ := range want {
		if !strings.Contains(body, `data-type="`+typ+`"`) {
			t.Errorf("the detail page's history lacks %s", typ)
		}
	}
}

// TestAdminRequestsAreHiddenFromCustomers: a signed-in customer gets the
// not-found page for every admin page and action, and changes nothing; a
// browser without a session is sent to sign in.
func TestAdminRequestsAreHiddenFromCustomers(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	e.signIn(t, c, "alice")
	r := e.fileRequest(t, c, e.userID, identity.RequestDelete, "")
	for _, path := range []string{"/admin/requests", "/admin/requests/" + r.ID, "/admin/requests/no-such-request"} {
		resp, body := e.page(c, path)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, `id="request-details"`) || strings.Contains(body, `id="queue"`) {
			t.Errorf("customer GET %s: %d", path, resp.StatusCode)
		}
	}
	resp, _ := e.submit(c, "/admin/requests/"+r.ID+"/refuse", url.Values{"code": {"legal_duty"}, "answer": {"no"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("customer POST: %d", resp.StatusCode)
	}
	if got := e.request(t, r.ID); got.Status != identity.RequestReceived {
		t.Fatalf("a customer changed the request: %s", got.Status)
	}
	// A stale customer session gets the 404 too, not a sign-in prompt.
	e.advance(20 * time.Minute)
	if resp, _ := e.page(c, "/admin/requests"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("stale customer: %d", resp.StatusCode)
	}

	anon := e.browser()
	resp, err := anon.Get(e.issuer + "/admin/requests")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("anonymous: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestAdminRequestsNeedAFreshMFASession: an administrator whose sign-in is
// older than 15 minutes, or was done with a password only, is sent to sign
// in again; the action is not applied.
func TestAdminRequestsNeedAFreshMFASession(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c := e.browser()
	e.signIn(t, c, "alice")
	r := e.fileRequest(t, c, e.userID, identity.RequestKnow, "")
	a := e.newAdmin(t, "root")
	if resp, _ := e.page(a.c, "/admin/requests"); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh MFA admin: %d", resp.StatusCode)
	}
	e.advance(16 * time.Minute)
	noFollow := func(method, path string, form url.Values) *http.Response {
		req, _ := http.NewRequest(method, e.issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := a.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/admin/requests"}, {http.MethodGet, "/admin/requests/" + r.ID}, {http.MethodPost, "/admin/requests/" + r.ID + "/answer"},
	} {
		resp := noFollow(tc.method, tc.path, url.Values{"answer": {"Aquí están sus datos"}})
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?notice=reauth&login_hint=root" {
			t.Errorf("%s %s with a stale session: %d %q", tc.method, tc.path, resp.StatusCode, loc)
		}
	}
	if got := e.request(t, r.ID); got.Status != identity.RequestReceived {
		t.Fatalf("a stale session answered the request: %s", got.Status)
	}
	e.signInAdmin(t, a)
	if resp, _ := e.page(a.c, "/admin/requests"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after signing in again: %d", resp.StatusCode)
	}

	// Where the policy does not force a second factor on admins, a
	// password-only session is not enough for the admin pages.
	e2 := newEnv(t, sqlite(), func(c *config.Config) { c.Accounts.MFARequiredRoles = nil })
	weak := e2.newUser(t, "weakroot", "admin")
	wc := e2.browser()
	e2.signIn(t, wc, weak.Username)
	resp, err := wc.Get(e2.issuer + "/admin/requests")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?notice=reauth&login_hint=weakroot" {
		t.Errorf("password-only admin: %d %q", resp.StatusCode, loc)
	}
}

// TestAdminWorksTheQueue: an administrator with a fresh MFA session sees
// the open requests by due date, filters by status and works a request
// from its page.
func TestAdminWorksTheQueue(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	e.setClock(cot(2026, time.March, 16, 10, 0))
	c := e.browser()
	e.signIn(t, c, "alice")
	reclamo := e.fileRequest(t, c, e.userID, identity.RequestRectify, "") // due 9 April
	e.setClock(cot(2026, time.March, 17, 10, 0))
	e.signIn(t, c, "alice")
	consulta := e.fileRequest(t, c, e.userID, identity.RequestKnow, "") // due 31 March
	answered := e.fileRequest(t, c, e.userID, identity.RequestProof, "")

	a := e.newAdmin(t, "root")
	e.mustAct(t, "answer", a, answered.ID, "answer", url.Values{"answer": {"Adjuntamos su autorización"}})
	_, body := e.page(a.c, "/admin/requests")
	ci, ri := strings.Index(body, `id="q-`+consulta.ID+`"`), strings.Index(body, `id="q-`+reclamo.ID+`"`)
	if ci < 0 || ri < 0 || ci > ri || strings.Contains(body, `id="q-`+answered.ID+`"`) {
		t.Fatalf("open queue order: consulta at %d, reclamo at %d, answered shown: %v", ci, ri, strings.Contains(body, answered.ID))
	}
	if item := queueItem(t, body, reclamo.ID); !strings.Contains(item, "alice") || !strings.Contains(item, "reclamo en trámite") {
		t.Errorf("queue item lacks the titular or the legend:\n%s", item)
	}
	_, body = e.page(a.c, "/admin/requests?status=answered")
	if !strings.Contains(body, `id="q-`+answered.ID+`"`) || strings.Contains(body, `id="q-`+consulta.ID+`"`) {
		t.Error("the answered filter is wrong")
	}
	_, body = e.page(a.c, "/admin/requests?status=all")
	if !strings.Contains(body, `id="q-`+answered.ID+`"`) || !strings.Contains(body, `id="q-`+consulta.ID+`"`) {
		t.Error("the all filter is wrong")
	}

	_, body = e.page(a.c, "/admin/requests/"+reclamo.ID)
	for _, want := range []string{`id="due">2026-04-09`, "alice@example.com", `action="/admin/requests/` + reclamo.ID + `/info"`, `id="extend-reason"`, "2026-04-21"} {
		if !strings.Contains(body, want) {
			t.Errorf("the detail page lacks %s", want)
		}
	}
	if resp, _ := e.page(a.c, "/admin/requests/no-such-request"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a missing request: %d", resp.StatusCode)
	}

	// 27 March: the consulta (due 31 March) is due within two business days.
	e.setClock(cot(2026, time.March, 27, 9, 0))
	e.signInAdmin(t, a)
	_, body = e.page(a.c, "/admin/requests")
	if item := queueItem(t, body, consulta.ID); !strings.Contains(item, `data-flag="due-soon"`) {
		t.Errorf("due-soon consulta not marked:\n%s", item)
	}
	if item := queueItem(t, body, reclamo.ID); strings.Contains(item, "data-flag") {
		t.Errorf("the reclamo is marked:\n%s", item)
	}
	if _, err := e.srv.RefreshDataRequests(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, sample := range []string{`portero_data_requests_due_soon{kind="consulta"} 1`, `portero_data_requests_due_soon{kind="reclamo"} 0`,
		`portero_data_requests_overdue{kind="reclamo"} 0`, `portero_data_requests_open{kind="reclamo"} 1`} {
		if !e.metric(t, sample) {
			t.Errorf("metrics lack %s", sample)
		}
	}
}

// TestDataRequestsDailyLogLine: one INFO line a day, and at start-up.
func TestDataRequestsDailyLogLine(t *testing.T) {
	st := sqlite().Open(t)
	cfg := config.Defaults()
	cfg.Issuer = "http://localhost:8080"
	cfg.Secrets.System = "test-system-secret-0123456789abcdefghij"
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	now := cot(2026, time.March, 16, 10, 0)
	srv, err := server.NewWithStore(context.Background(), cfg, st, log, server.Dev(), server.WithClock(func() time.Time { return now }),
		server.WithMailer(&mail.Dev{Log: log}))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func() {
		t.Helper()
		if _, err := srv.RefreshDataRequests(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	lines := func() int {
		return strings.Count(buf.String(), `msg="data requests: 0 open, 0 due within 2 business days, 0 overdue"`)
	}
	refresh()
	if lines() != 1 {
		t.Fatalf("start-up: %d lines\n%s", lines(), buf.String())
	}
	now = now.Add(10 * time.Minute)
	refresh()
	now = cot(2026, time.March, 16, 23, 59)
	refresh()
	if lines() != 1 {
		t.Fatalf("same day: %d lines", lines())
	}
	now = cot(2026, time.March, 17, 0, 1)
	refresh()
	if lines() != 2 {
		t.Fatalf("next day: %d lines", lines())
	}
}
