package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portero-id/portero/identity/calendar"
)

// Data-subject requests (Ley 1581 de 2012, arts. 14-15; HABEAS_DATA H5-H7):
// a titular files a consulta (to know what is held, or to get proof of the
// authorization) or a reclamo (to update, rectify or delete the data, or to
// revoke the authorization), and the responsable answers it within a term
// of business days fixed at receipt. The rules live here, as methods of
// DataRequest that take the calendar and the time; the Requests service
// stores each change together with its ledger entry.

// Request kinds.
const (
	RequestConsulta = "consulta" // art. 14: 10 business days from receipt, +5
	RequestReclamo  = "reclamo"  // art. 15: 15 business days from the next day, +8
)

// Request types: what the titular asks for (Ley 1581 art. 8).
const (
	RequestKnow    = "know"    // art. 8a, 8c, 8f: what data is held and how it is used (consulta)
	RequestProof   = "proof"   // art. 8b: proof of the authorization given (consulta)
	RequestUpdate  = "update"  // art. 8a: update the data (reclamo)
	RequestRectify = "rectify" // art. 8a: correct the data (reclamo)
	RequestDelete  = "delete"  // art. 8e: delete the data, supresión (reclamo)
	RequestRevoke  = "revoke"  // art. 8e: revoke the authorization (reclamo)
)

// RequestTypes lists the types in the order the pages offer them.
var RequestTypes = []string{RequestKnow, RequestProof, RequestUpdate, RequestRectify, RequestDelete, RequestRevoke}

// KindOf returns the kind of a request of type typ ("" for an unknown type):
// know and proof are consultas, the rest reclamos.
func KindOf(typ string) string {
	switch typ {
	case RequestKnow, RequestProof:
		return RequestConsulta
	case RequestUpdate, RequestRectify, RequestDelete, RequestRevoke:
		return RequestReclamo
	}
	return ""
}

// Request statuses. Received, info_requested and extended are open;
// answered, refused and withdrawn are closed and final.
const (
	RequestReceived      = "received"       // on its term, waiting for the responsable
	RequestInfoRequested = "info_requested" // an incomplete reclamo, waiting for the titular
	RequestExtended      = "extended"       // the term was extended (reason recorded, titular told)
	RequestAnswered      = "answered"
	RequestRefused       = "refused"
	RequestWithdrawn     = "withdrawn" // the titular desisted, or did not complete it in two months
)

// RequestStatuses lists every status, open ones first.
var RequestStatuses = []string{RequestReceived, RequestInfoRequested, RequestExtended, RequestAnswered, RequestRefused, RequestWithdrawn}

// Refusal reason codes. A request may be refused only with one of these,
// and only with a code that applies to its type (RefusalCodesFor):
//
//   - legal_duty: a legal duty requires keeping the data or processing it
//     (e.g. accounting and tax records, Código de Comercio art. 60; a
//     retention term set by law). Decreto 1377 art. 9 (DUR 1074/2015 art.
//     2.2.2.25.2.8): "la solicitud de supresión de la información y la
//     revocatoria de la autorización no procederán cuando el Titular tenga
//     un deber legal o contractual de permanecer en la base de datos".
//   - contract: the titular has a contractual duty to remain in the
//     database (an open order, a vendor's pending payouts), same article.
//   - judicial_order: an order of a judge or competent authority keeps the
//     data as it is (e.g. while the same data is in discussion in court).
//   - data_accurate: the data the titular wants updated or rectified is
//     already accurate and up to date (the answer shows why).
//   - not_owner: the requester's identity as the titular, their successor
//     or representative could not be established (Ley 1581 art. 20;
//     Decreto 1377 art. 20).
//
// Deletion and revocation may be refused only for legal_duty or contract:
// Decreto 1377 art. 9 names no other ground, and the Constitutional Court
// (C-748 de 2011, on art. 8e) held that the titular may ask for deletion
// at any time unless such a duty binds them. "public_interest" is not a
// code: the exceptions of Ley 1581 art. 10 dispense with the
// authorization, not with the titular's rights of art. 8.
const (
	RefusalLegalDuty     = "legal_duty"
	RefusalContract      = "contract"
	RefusalJudicialOrder = "judicial_order"
	RefusalDataAccurate  = "data_accurate"
	RefusalNotOwner      = "not_owner"
)

// RefusalCodes lists every refusal code.
var RefusalCodes = []string{RefusalLegalDuty, RefusalContract, RefusalJudicialOrder, RefusalDataAccurate, RefusalNotOwner}

// RefusalCodesFor returns the codes with which a request of type typ may be
// refused.
func RefusalCodesFor(typ string) []string {
	switch typ {
	case RequestDelete, RequestRevoke:
		return []string{RefusalLegalDuty, RefusalContract}
	case RequestUpdate, RequestRectify:
		return []string{RefusalDataAccurate, RefusalJudicialOrder, RefusalNotOwner}
	case RequestKnow, RequestProof:
		return []string{RefusalNotOwner}
	}
	return nil
}

// The legends of Ley 1581 art. 15 and art. 18 lit. h, in the law's words.
const (
	LegendReclamo  = "reclamo en trámite"
	LegendJudicial = "información en discusión judicial"
)

// Request ledger entry types (kind LedgerRequest). Each payload is a
// RequestChange.
const (
	RequestFiledEvent          = "request.filed"
	RequestExtendedEvent       = "request.extended"
	RequestInfoRequestedEvent  = "request.info_requested"
	RequestInfoProvidedEvent   = "request.info_provided"
	RequestAnsweredEvent       = "request.answered"
	RequestRefusedEvent        = "request.refused"
	RequestWithdrawnEvent      = "request.withdrawn"
	RequestExpiredEvent        = "request.expired" // withdrawn: two months without the missing information
	RequestDisputeSetEvent     = "request.judicial_dispute_set"
	RequestDisputeClearedEvent = "request.judicial_dispute_cleared"
)

// RequestViewedEvent (kind LedgerAdmin) records that an administrator read
// a request and its titular's data (HABEAS_DATA H10).
const RequestViewedEvent = "admin.request_viewed"

// Limits of the free-text fields, in characters.
const (
	RequestTextMax   = 5000
	RequestReasonMax = 2000
)

// Errors of the request rules.
var (
	ErrRequestType          = newError(KindInvalid, "request-type", "unknown request type")
	ErrRequestText          = newError(KindInvalid, "text-too-long", "text too long")
	ErrRequestClosed        = newError(KindConflict, "request-closed", "the request is closed")
	ErrReasonRequired       = newError(KindInvalid, "reason-required", "a reason is required")
	ErrAnswerRequired       = newError(KindInvalid, "answer-required", "an answer is required")
	ErrTermEnded            = newError(KindConflict, "term-ended", "the first term has ended: it can no longer be extended")
	ErrAlreadyExtended      = newError(KindConflict, "already-extended", "the term was already extended")
	ErrNotReclamo           = newError(KindConflict, "not-reclamo", "only a reclamo can be incomplete")
	ErrInfoRequestLate      = newError(KindConflict, "info-request-late", "the five business days to ask for missing information have passed")
	ErrInfoNotRequested     = newError(KindConflict, "info-not-requested", "no information was requested")
	ErrInfoRequestedAlready = newError(KindConflict, "waiting-for-info", "the request is waiting for the titular's information")
	ErrWithdrawalDatePassed = newError(KindConflict, "withdrawn", "the request was withdrawn: the missing information came too late")
	ErrRefusalCodeRequired  = newError(KindInvalid, "refusal-code-required", "a refusal needs a reason code")
	ErrRefusalCode          = newError(KindInvalid, "refusal-code-unknown", "unknown refusal reason code")
	ErrRefusalNotAllowed    = newError(KindInvalid, "refusal-code-not-allowed", "this reason code cannot refuse this request")
	ErrNoChange             = errors.New("nothing to change")
)

// DataRequest is one consulta or reclamo. Times are UTC; due values are
// the last microsecond of the due day in Colombia (package calendar).
type DataRequest struct {
	ID          string
	UserID      string // the titular
	Kind        string // RequestConsulta or RequestReclamo, from Type
	Type        string // RequestKnow, RequestProof, …
	Description string
	Status      string
	// ReceivedAt is when the request was filed.
	ReceivedAt time.Time
	// DueAt is the end of the first term, fixed at receipt (for a reclamo
	// completed after an info request: at the completion, see ProvideInfo).
	DueAt time.Time
	// ExtendedDueAt and ExtensionReason are set by Extend.
	ExtendedDueAt   *time.Time
	ExtensionReason string
	// InfoNeeded, InfoRequestedAt and WithdrawAt are set by RequestInfo:
	// what is missing from an incomplete reclamo, when it was asked, and
	// the last day on which the titular may still provide it.
	InfoNeeded      string
	InfoRequestedAt *time.Time
	WithdrawAt      *time.Time
	// InfoProvided and InfoProvidedAt are set by ProvideInfo.
	InfoProvided   string
	InfoProvidedAt *time.Time
	// LegendDueAt (reclamos) is by when the legend "reclamo en trámite"
	// must show with the titular's data.
	LegendDueAt *time.Time
	// JudicialDispute: the responsable was notified of a court process
	// about this data (legend "información en discusión judicial").
	JudicialDispute bool
	// Answer is the answer sent to the titular (the explanation, for a
	// refusal); RefusalReason is the refusal's code.
	Answer        string
	RefusalReason string
	ClosedAt      *time.Time
	UpdatedAt     time.Time
}

// Open reports whether the request still waits for an answer.
func (r *DataRequest) Open() bool {
	switch r.Status {
	case RequestReceived, RequestInfoRequested, RequestExtended:
		return true
	}
	return false
}

// EffectiveDue is the date the answer is due now: the extended term when
// there is one, else the first term.
func (r *DataRequest) EffectiveDue() time.Time {
	if r.ExtendedDueAt != nil {
		return *r.ExtendedDueAt
	}
	return r.DueAt
}

// waitsForResponsable reports whether the term runs against the
// responsable: open and not waiting for the titular's information.
func (r *DataRequest) waitsForResponsable() bool {
	return r.Status == RequestReceived || r.Status == RequestExtended
}

// Overdue reports whether the answer is late at now.
func (r *DataRequest) Overdue(now time.Time) bool {
	return r.waitsForResponsable() && calendar.Overdue(r.EffectiveDue(), now)
}

// DueSoonDays is how close to its due date a request counts as due soon:
// due today or within the next two business days.
const DueSoonDays = 2

// DueSoon reports whether the answer is due today or within DueSoonDays
// business days of now, and not late yet.
func (r *DataRequest) DueSoon(cal *calendar.Calendar, now time.Time) bool {
	return r.waitsForResponsable() && !r.Overdue(now) && !r.EffectiveDue().After(DueSoonLimit(cal, now))
}

// DueSoonLimit is the latest due value that counts as due soon at now: the
// end of the DueSoonDays-th business day after today.
func DueSoonLimit(cal *calendar.Calendar, now time.Time) time.Time {
	return cal.AddBusinessDays(now, DueSoonDays)
}

// StartOfDay is 00:00 of now's date in Colombia: a due value before it is
// overdue (calendar.Overdue), for queries that compare in the database.
func StartOfDay(now time.Time) time.Time {
	y, m, d := now.In(calendar.Location()).Date()
	return calendar.Date(y, m, d)
}

// InfoRequestDue is the last day on which the responsable may ask the
// titular to complete a reclamo: 5 business days after receipt (art. 15).
func (r *DataRequest) InfoRequestDue(cal *calendar.Calendar) time.Time {
	return cal.IncompleteReclamoRequestDue(r.ReceivedAt)
}

// Legends returns the legends that must show with the titular's data
// because of this request: "reclamo en trámite" while a complete reclamo
// waits for its answer (art. 15: from its receipt — at the latest 2
// business days later — "hasta que el reclamo sea decidido"; not while it
// is incomplete and waiting for the titular), and "información en discusión
// judicial" while the request is flagged (art. 18 lit. h). The legend is
// shown from receipt, so LegendDueAt is always met. now is not needed by
// these rules; it is part of the signature so that a time-bound legend
// would not change every caller.
func Legends(r *DataRequest, now time.Time) []string {
	var out []string
	if r.Kind == RequestReclamo && r.waitsForResponsable() {
		out = append(out, LegendReclamo)
	}
	if r.JudicialDispute {
		out = append(out, LegendJudicial)
	}
	return out
}

// UserLegends returns the legends of all of a titular's requests, each
// once, in the order of LegendReclamo then LegendJudicial.
func UserLegends(rs []DataRequest, now time.Time) []string {
	var out []string
	for _, want := range []string{LegendReclamo, LegendJudicial} {
		for i := range rs {
			if slices.Contains(Legends(&rs[i], now), want) {
				out = append(out, want)
				break
			}
		}
	}
	return out
}

// checkText trims s and checks its length.
func checkText(s string, max int) (string, error) {
	s = strings.TrimSpace(cleanText(s))
	if utf8.RuneCountInString(s) > max {
		return "", fmt.Errorf("%w (at most %d characters)", ErrRequestText, max)
	}
	return s, nil
}

// NewDataRequest files a request of type typ received at now: its kind
// follows from the type and its due dates are fixed now (consulta: Ley 1581
// art. 14, counting the day of receipt; reclamo: art. 15, from the next
// day, with the legend due within 2 business days). The description may be
// empty: a reclamo lacking what it needs is completed through RequestInfo.
func NewDataRequest(cal *calendar.Calendar, now time.Time, id, userID, typ, description string) (*DataRequest, error) {
	kind := KindOf(typ)
	if kind == "" {
		return nil, fmt.Errorf("%w %q", ErrRequestType, typ)
	}
	description, err := checkText(description, RequestTextMax)
	if err != nil {
		return nil, err
	}
	now = now.UTC()
	r := &DataRequest{ID: id, UserID: userID, Kind: kind, Type: typ, Description: description,
		Status: RequestReceived, ReceivedAt: now, UpdatedAt: now}
	if kind == RequestConsulta {
		r.DueAt = cal.ConsultaDue(now).UTC()
	} else {
		r.DueAt = cal.ReclamoDue(now).UTC()
		r.LegendDueAt = ptr(cal.LegendDue(now).UTC())
	}
	return r, nil
}

func ptr(t time.Time) *time.Time { return &t }

// Extend extends the term, once, before the first term ends, for a reason
// that the titular is told together with the new date (Ley 1581 arts. 14
// and 15): the new due date is the longest the law allows, 5 (consulta) or
// 8 (reclamo) business days after the first term, counted from the stored
// first term so that it is fixed too.
func (r *DataRequest) Extend(cal *calendar.Calendar, now time.Time, reason string) error {
	switch {
	case !r.Open():
		return ErrRequestClosed
	case r.Status == RequestInfoRequested:
		return ErrInfoRequestedAlready
	case r.ExtendedDueAt != nil:
		return ErrAlreadyExtended
	case calendar.Overdue(r.DueAt, now):
		return ErrTermEnded
	}
	reason, err := checkText(reason, RequestReasonMax)
	if err != nil {
		return err
	}
	if reason == "" {
		return ErrReasonRequired
	}
	days := 5
	if r.Kind == RequestReclamo {
		days = 8
	}
	r.ExtendedDueAt = ptr(cal.AddBusinessDays(r.DueAt, days).UTC())
	r.ExtensionReason = reason
	r.Status = RequestExtended
	r.UpdatedAt = now.UTC()
	return nil
}

// RequestInfo asks the titular to complete an incomplete reclamo, which
// the responsable may do only within 5 business days of receipt (art. 15).
// The titular then has two calendar months (WithdrawAt, per
// calendar.WithdrawalDate) before the reclamo is deemed withdrawn; the
// term stops until the reclamo is complete (ProvideInfo).
func (r *DataRequest) RequestInfo(cal *calendar.Calendar, now time.Time, what string) error {
	switch {
	case r.Kind != RequestReclamo:
		return ErrNotReclamo
	case !r.Open():
		return ErrRequestClosed
	case r.Status == RequestInfoRequested:
		return ErrInfoRequestedAlready
	case r.InfoRequestedAt != nil || r.ExtendedDueAt != nil:
		// Asked once already and completed, or already extended: the
		// reclamo was taken as complete.
		return ErrInfoRequestLate
	case calendar.Overdue(r.InfoRequestDue(cal), now):
		return ErrInfoRequestLate
	}
	what, err := checkText(what, RequestReasonMax)
	if err != nil {
		return err
	}
	if what == "" {
		return ErrReasonRequired
	}
	now = now.UTC()
	r.Status = RequestInfoRequested
	r.InfoNeeded = what
	r.InfoRequestedAt = ptr(now)
	r.WithdrawAt = ptr(cal.WithdrawalDate(now).UTC())
	r.UpdatedAt = now
	return nil
}

// ProvideInfo records the titular's completion of an incomplete reclamo.
// The reclamo counts as received complete now: Ley 1581 art. 15 counts the
// 15 business days "a partir del día siguiente a la fecha de su recibo",
// which, read with its numeral 1 (an incomplete reclamo is first to be
// completed, "subsane las fallas") and with the legend that is due "una vez
// recibido el reclamo completo", is the receipt of the complete reclamo. So
// the term restarts: DueAt and LegendDueAt are computed anew from now (and
// fixed from then on). After WithdrawAt it is too late: the reclamo is
// deemed withdrawn (ErrWithdrawalDatePassed; see Expire).
func (r *DataRequest) ProvideInfo(cal *calendar.Calendar, now time.Time, info string) error {
	switch {
	case !r.Open():
		return ErrRequestClosed
	case r.Status != RequestInfoRequested:
		return ErrInfoNotRequested
	case r.WithdrawAt != nil && calendar.Overdue(*r.WithdrawAt, now):
		return ErrWithdrawalDatePassed
	}
	info, err := checkText(info, RequestTextMax)
	if err != nil {
		return err
	}
	if info == "" {
		return ErrAnswerRequired
	}
	now = now.UTC()
	r.Status = RequestReceived
	r.InfoProvided = info
	r.InfoProvidedAt = ptr(now)
	r.DueAt = cal.ReclamoDue(now).UTC()
	r.LegendDueAt = ptr(cal.LegendDue(now).UTC())
	r.UpdatedAt = now
	return nil
}

// Respond answers the request (status answered) with the answer sent to
// the titular. A late answer is still an answer (Overdue told it was late).
func (r *DataRequest) Respond(now time.Time, answer string) error {
	if !r.Open() {
		return ErrRequestClosed
	}
	answer, err := checkText(answer, RequestTextMax)
	if err != nil {
		return err
	}
	if answer == "" {
		return ErrAnswerRequired
	}
	now = now.UTC()
	r.Status, r.Answer, r.ClosedAt, r.UpdatedAt = RequestAnswered, answer, ptr(now), now
	return nil
}

// Refuse closes the request refused, with a reason code that applies to
// its type (RefusalCodesFor: deletion and revocation only for legal_duty or
// contract) and the explanation sent to the titular.
func (r *DataRequest) Refuse(now time.Time, code, explanation string) error {
	if !r.Open() {
		return ErrRequestClosed
	}
	switch {
	case code == "":
		return ErrRefusalCodeRequired
	case !slices.Contains(RefusalCodes, code):
		return fmt.Errorf("%w %q", ErrRefusalCode, code)
	case !slices.Contains(RefusalCodesFor(r.Type), code):
		return fmt.Errorf("%w: %s for %s", ErrRefusalNotAllowed, code, r.Type)
	}
	explanation, err := checkText(explanation, RequestTextMax)
	if err != nil {
		return err
	}
	if explanation == "" {
		return ErrAnswerRequired
	}
	now = now.UTC()
	r.Status, r.RefusalReason, r.Answer, r.ClosedAt, r.UpdatedAt = RequestRefused, code, explanation, ptr(now), now
	return nil
}

// Withdraw closes an open request at the titular's wish (desistimiento).
func (r *DataRequest) Withdraw(now time.Time) error {
	if !r.Open() {
		return ErrRequestClosed
	}
	now = now.UTC()
	r.Status, r.ClosedAt, r.UpdatedAt = RequestWithdrawn, ptr(now), now
	return nil
}

// Expired reports whether an incomplete reclamo is deemed withdrawn at now:
// its WithdrawAt day has passed without the missing information.
func (r *DataRequest) Expired(now time.Time) bool {
	return r.Status == RequestInfoRequested && r.WithdrawAt != nil && calendar.Overdue(*r.WithdrawAt, now)
}

// Expire closes the request as withdrawn if it is Expired at now, and
// reports whether it did.
func (r *DataRequest) Expire(now time.Time) bool {
	if !r.Expired(now) {
		return false
	}
	now = now.UTC()
	r.Status, r.ClosedAt, r.UpdatedAt = RequestWithdrawn, ptr(now), now
	return true
}

// SetJudicialDispute sets or clears the judicial-dispute flag, once the
// responsable is notified by the competent authority of a court process
// about the quality of the data (art. 18 lit. h), or of its end. It may
// change on a closed request too: the process can outlive the request.
func (r *DataRequest) SetJudicialDispute(now time.Time, on bool) error {
	if r.JudicialDispute == on {
		return ErrNoChange
	}
	r.JudicialDispute, r.UpdatedAt = on, now.UTC()
	return nil
}

// DataRequestFilter selects requests; zero fields match everything.
type DataRequestFilter struct {
	UserID   string
	Kind     string
	Statuses []string // any of these
	// WithdrawBefore keeps requests whose WithdrawAt is before it.
	WithdrawBefore time.Time
	Limit          int // DataRequestDefaultLimit when not positive, at most DataRequestMaxLimit
	Offset         int
}

// Request filter limits.
const (
	DataRequestDefaultLimit = 100
	DataRequestMaxLimit     = 1000
)

// EffectiveLimit is f.Limit within bounds.
func (f DataRequestFilter) EffectiveLimit() int {
	switch {
	case f.Limit <= 0:
		return DataRequestDefaultLimit
	case f.Limit > DataRequestMaxLimit:
		return DataRequestMaxLimit
	}
	return f.Limit
}

// DataRequestCount is how many requests of a kind are open, due soon and
// overdue (CountDataRequests).
type DataRequestCount struct {
	Kind    string
	Open    int64
	DueSoon int64
	Overdue int64
}

// RequestStore keeps data-subject requests.
type RequestStore interface {
	// CreateDataRequest stores a new request; an existing id is
	// ErrConflict, an unknown user ErrNotFound. DeleteUser deletes the
	// user's requests (their proof stays in the ledger).
	CreateDataRequest(ctx context.Context, r *DataRequest) error
	DataRequestByID(ctx context.Context, id string) (*DataRequest, error)
	// UpdateDataRequest stores every field of r if the stored request
	// still has UpdatedAt equal to prev (at microsecond precision):
	// ErrConflict when another writer changed it meanwhile, ErrNotFound
	// when there is none.
	UpdateDataRequest(ctx context.Context, r *DataRequest, prev time.Time) error
	// DataRequests returns matching requests ordered by effective due date
	// (ExtendedDueAt, else DueAt), then id.
	DataRequests(ctx context.Context, f DataRequestFilter) ([]DataRequest, error)
	// DataRequestsByUser returns the user's requests, newest first.
	DataRequestsByUser(ctx context.Context, userID string) ([]DataRequest, error)
	// CountDataRequests counts, per kind that has any, the open requests;
	// of those waiting for the responsable (received or extended), the
	// ones whose effective due date is before overdueBefore (Overdue) and
	// the others due at or before dueSoonBy (DueSoon). Kinds come sorted.
	CountDataRequests(ctx context.Context, overdueBefore, dueSoonBy time.Time) ([]DataRequestCount, error)
}
