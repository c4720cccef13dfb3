package identity

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portero-id/portero/identity/calendar"
)

// RequestsStore is what the Requests service needs from the store.
type RequestsStore interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	RequestStore
	LedgerStore
}

// Requests applies the request rules and records every change: the new
// state of the request and a ledger entry (kind LedgerRequest) in one
// transaction, so that no page or API can change a request without leaving
// proof of it (Decreto 1377 arts. 26-27). The pages of the titular and of
// the administrators, and a later admin API, all go through it.
type Requests struct {
	Store    RequestsStore
	Calendar *calendar.Calendar
	Now      func() time.Time
}

// RequestActor is who acts and through what channel, as the ledger entry
// records it.
type RequestActor struct {
	// Actor is "" for the titular, AdminActor(id) for an administrator,
	// "system" for Portero itself.
	Actor     string
	ClientID  string
	IP        string
	UserAgent string
	Locale    string
}

// ActorSystem marks changes Portero makes by itself (an expired reclamo).
const ActorSystem = "system"

// AdminActor is the ledger actor of administrator userID.
func AdminActor(userID string) string { return "admin:" + userID }

// RequestChange is the payload of a request ledger entry: the request and
// what changed.
type RequestChange struct {
	RequestID       string     `json:"request_id"`
	Kind            string     `json:"kind"`
	Type            string     `json:"type"`
	Status          string     `json:"status"`
	ReceivedAt      *time.Time `json:"received_at,omitempty"`
	DueAt           *time.Time `json:"due_at,omitempty"`
	ExtendedDueAt   *time.Time `json:"extended_due_at,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	InfoNeeded      string     `json:"info_needed,omitempty"`
	WithdrawAt      *time.Time `json:"withdraw_at,omitempty"`
	LegendDueAt     *time.Time `json:"legend_due_at,omitempty"`
	RefusalReason   string     `json:"refusal_reason,omitempty"`
	JudicialDispute *bool      `json:"judicial_dispute,omitempty"`
}

// ParseRequestChange reads the payload of a request ledger entry.
func ParseRequestChange(e LedgerEntry) (RequestChange, error) {
	var c RequestChange
	err := json.Unmarshal(e.Payload, &c)
	return c, err
}

func (s *Requests) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "dr_" + hex.EncodeToString(b)
}

// File records a new request of the titular userID.
func (s *Requests) File(ctx context.Context, by RequestActor, userID, typ, description string) (*DataRequest, error) {
	r, err := NewDataRequest(s.Calendar, s.now(), newRequestID(), userID, typ, description)
	if err != nil {
		return nil, err
	}
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.CreateDataRequest(ctx, r); err != nil {
			return err
		}
		c := change(r)
		c.ReceivedAt, c.DueAt, c.LegendDueAt = &r.ReceivedAt, &r.DueAt, r.LegendDueAt
		return s.record(ctx, by, r, RequestFiledEvent, c)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Get returns one request.
func (s *Requests) Get(ctx context.Context, id string) (*DataRequest, error) {
	return s.Store.DataRequestByID(ctx, id)
}

// ForUser returns the titular's requests, newest first. Requests deemed
// withdrawn by now show as such even before the sweep (ExpireDue) records
// it.
func (s *Requests) ForUser(ctx context.Context, userID string) ([]DataRequest, error) {
	rs, err := s.Store.DataRequestsByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	for i := range rs {
		if rs[i].Expired(s.now()) {
			if r, err := s.expire(ctx, rs[i].ID); err == nil {
				rs[i] = *r
			} else if !errors.Is(err, ErrNoChange) {
				return nil, err
			}
		}
	}
	return rs, nil
}

// Queue returns requests for the administrators' queue, by effective due
// date.
func (s *Requests) Queue(ctx context.Context, f DataRequestFilter) ([]DataRequest, error) {
	return s.Store.DataRequests(ctx, f)
}

// Extend extends the term (DataRequest.Extend).
func (s *Requests) Extend(ctx context.Context, by RequestActor, id, reason string) (*DataRequest, error) {
	return s.change(ctx, by, id, "", RequestExtendedEvent, func(r *DataRequest, now time.Time) (RequestChange, error) {
		if err := r.Extend(s.Calendar, now, reason); err != nil {
			return RequestChange{}, err
		}
		c := change(r)
		c.ExtendedDueAt, c.Reason = r.ExtendedDueAt, r.ExtensionReason
		return c, nil
	})
}

// RequestInfo asks the titular to complete a reclamo (DataRequest.RequestInfo).
func (s *Requests) RequestInfo(ctx context.Context, by RequestActor, id, what string) (*DataRequest, error) {
	return s.change(ctx, by, id, "", RequestInfoRequestedEvent, func(r *DataRequest, now time.Time) (RequestChange, error) {
		if err := r.RequestInfo(s.Calendar, now, what); err != nil {
			return RequestChange{}, err
		}
		c := change(r)
		c.InfoNeeded, c.WithdrawAt = r.InfoNeeded, r.WithdrawAt
		return c, nil
	})
}

// ProvideInfo records the titular userID's completion of their reclamo
// (DataRequest.ProvideInfo); another user's request is ErrNotFound. Too
// late, the reclamo is recorded as withdrawn and ErrWithdrawalDatePassed
// returned.
func (s *Requests) ProvideInfo(ctx context.Context, by RequestActor, userID, id, info string) (*DataRequest, error) {
	r, err := s.change(ctx, by, id, userID, RequestInfoProvidedEvent, func(r *DataRequest, now time.Time) (RequestChange, error) {
		if err := r.ProvideInfo(s.Calendar, now, info); err != nil {
			return RequestChange{}, err
		}
		// The information itself stays in the request row: the ledger
		// keeps no free text the titular may later want deleted.
		c := change(r)
		c.DueAt, c.LegendDueAt = &r.DueAt, r.LegendDueAt
		return c, nil
	})
	if errors.Is(err, ErrWithdrawalDatePassed) {
		if _, xerr := s.expire(ctx, id); xerr != nil && !errors.Is(xerr, ErrNoChange) {
			return nil, xerr
		}
	}
	return r, err
}

// Answer closes the request with an answer.
func (s *Requests) Answer(ctx context.Context, by RequestActor, id, answer string) (*DataRequest, error) {
	return s.change(ctx, by, id, "", RequestAnsweredEvent, func(r *DataRequest, now time.Time) (RequestChange, error) {
		if err := r.Respond(now, answer); err != nil {
			return RequestChange{}, err
		}
		return change(r), nil
	})
}

// Refuse closes the request refused, with a reason code.
func (s *Requests) Refuse(ctx context.Context, by RequestActor, id, code, explanation string) (*DataRequest, error) {
	return s.change(ctx, by, id, "", RequestRefusedEvent, func(r *DataRequest, now time.Time) (RequestChange, error) {
		if err := r.Refuse(now, code, explanation); err != nil {
			return RequestChange{}, err
		}
		c := change(r)
		c.RefusalReason = r.RefusalReason
		return c, nil
	})
}

// Withdraw closes the titular userID's request at their wish.
func (s *Requests) Withdraw(ctx context.Context, by RequestActor, userID, id string) (*DataRequest, error) {
	return s.change(ctx, by, id, userID, RequestWithdrawnEvent, func(r *DataRequest, now time.Time) (RequestChange, error) {
		if err := r.Withdraw(now); err != nil {
			return RequestChange{}, err
		}
		return change(r), nil
	})
}

// SetJudicialDispute sets or clears the judicial-dispute flag; setting it
// as it is changes nothing and records nothing.
func (s *Requests) SetJudicialDispute(ctx context.Context, by RequestActor, id string, on bool) (*DataRequest, error) {
	typ := RequestDisputeClearedEvent
	if on {
		typ = RequestDisputeSetEvent
	}
	return s.change(ctx, by, id, "", typ, func(r *DataRequest, now time.Time) (RequestChange, error) {
		if err := r.SetJudicialDispute(now, on); err != nil {
			return RequestChange{}, err
		}
		c := change(r)
		c.JudicialDispute = &on
		return c, nil
	})
}

// expire records one request as withdrawn if it is expired now;
// ErrNoChange if it is not.
func (s *Requests) expire(ctx context.Context, id string) (*DataRequest, error) {
	return s.change(ctx, RequestActor{Actor: ActorSystem}, id, "", RequestExpiredEvent, func(r *DataRequest, now time.Time) (RequestChange, error) {
		if !r.Expire(now) {
			return RequestChange{}, ErrNoChange
		}
		c := change(r)
		c.WithdrawAt = r.WithdrawAt
		return c, nil
	})
}

// ExpireDue records as withdrawn every incomplete reclamo whose two months
// have passed (Ley 1581 art. 15) and returns how many it closed.
func (s *Requests) ExpireDue(ctx context.Context) (int, error) {
	n := 0
	for {
		rs, err := s.Store.DataRequests(ctx, DataRequestFilter{Statuses: []string{RequestInfoRequested},
			WithdrawBefore: StartOfDay(s.now()), Limit: DataRequestMaxLimit})
		if err != nil {
			return n, err
		}
		closed := 0
		for _, r := range rs {
			_, err := s.expire(ctx, r.ID)
			switch {
			case err == nil:
				n++
				closed++
			case errors.Is(err, ErrNoChange) || errors.Is(err, ErrConflict):
				// Completed or expired by someone else meanwhile.
			default:
				return n, err
			}
		}
		if len(rs) < DataRequestMaxLimit || closed == 0 {
			return n, nil
		}
	}
}

// RequestSummary is the state of the queue at a moment: what the metrics
// and the daily log line report.
type RequestSummary struct {
	At     time.Time
	ByKind map[string]DataRequestCount // by RequestConsulta, RequestReclamo (always both)
}

// Totals adds up the kinds.
func (m RequestSummary) Totals() (open, dueSoon, overdue int64) {
	for _, c := range m.ByKind {
		open, dueSoon, overdue = open+c.Open, dueSoon+c.DueSoon, overdue+c.Overdue
	}
	return
}

// String is the daily log line.
func (m RequestSummary) String() string {
	open, soon, late := m.Totals()
	return fmt.Sprintf("data requests: %d open, %d due within %d business days, %d overdue", open, soon, DueSoonDays, late)
}

// Summary counts the open, due-soon and overdue requests now.
func (s *Requests) Summary(ctx context.Context) (RequestSummary, error) {
	now := s.now()
	counts, err := s.Store.CountDataRequests(ctx, StartOfDay(now), DueSoonLimit(s.Calendar, now))
	if err != nil {
		return RequestSummary{}, err
	}
	m := RequestSummary{At: now, ByKind: map[string]DataRequestCount{
		RequestConsulta: {Kind: RequestConsulta}, RequestReclamo: {Kind: RequestReclamo}}}
	for _, c := range counts {
		m.ByKind[c.Kind] = c
	}
	return m, nil
}

// History returns the ledger entries of request r (kind LedgerRequest, and
// the administrators' reads of it), oldest first.
func (s *Requests) History(ctx context.Context, r *DataRequest) ([]LedgerEntry, error) {
	var out []LedgerEntry
	for _, kind := range []string{LedgerRequest, LedgerAdmin} {
		var after int64
		for {
			page, err := s.Store.LedgerEntries(ctx, LedgerFilter{Subject: r.UserID, Kind: kind, AfterSeq: after, Limit: LedgerMaxLimit})
			if err != nil {
				return nil, err
			}
			for _, e := range page {
				if c, err := ParseRequestChange(e); err == nil && c.RequestID == r.ID {
					out = append(out, e)
				}
			}
			if len(page) < LedgerMaxLimit {
				break
			}
			after = page[len(page)-1].Seq
		}
	}
	slices.SortFunc(out, func(a, b LedgerEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// RecordView records that an administrator read request r and its
// titular's data (HABEAS_DATA H10).
func (s *Requests) RecordView(ctx context.Context, by RequestActor, r *DataRequest) error {
	return s.Store.AppendLedger(ctx, entry(by, r, s.now(), LedgerAdmin, RequestViewedEvent, change(r)))
}

// change loads request id, applies fn and stores the result with its
// ledger entry, in one transaction. A non-empty owner must be the
// request's titular (else ErrNotFound). Concurrent changes of the same
// request are ErrConflict for all but the first.
func (s *Requests) change(ctx context.Context, by RequestActor, id, owner, typ string,
	fn func(r *DataRequest, now time.Time) (RequestChange, error)) (*DataRequest, error) {
	var out *DataRequest
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		r, err := s.Store.DataRequestByID(ctx, id)
		if err != nil {
			return err
		}
		if owner != "" && r.UserID != owner {
			return fmt.Errorf("data request %s: %w", id, ErrNotFound)
		}
		prev := r.UpdatedAt
		now := s.now()
		if !now.After(prev) {
			// UpdatedAt must change for the optimistic check.
			now = prev.Add(time.Microsecond)
		}
		c, err := fn(r, now)
		if err != nil {
			return err
		}
		if err := s.Store.UpdateDataRequest(ctx, r, prev); err != nil {
			return err
		}
		if err := s.record(ctx, by, r, typ, c); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func change(r *DataRequest) RequestChange {
	return RequestChange{RequestID: r.ID, Kind: r.Kind, Type: r.Type, Status: r.Status}
}

func (s *Requests) record(ctx context.Context, by RequestActor, r *DataRequest, typ string, c RequestChange) error {
	return s.Store.AppendLedger(ctx, entry(by, r, r.UpdatedAt, LedgerRequest, typ, c))
}

func entry(by RequestActor, r *DataRequest, at time.Time, kind, typ string, c RequestChange) *LedgerEntry {
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err) // strings, times and bools always marshal
	}
	return &LedgerEntry{OccurredAt: at, Kind: kind, Type: typ, Subject: r.UserID, Actor: by.Actor,
		ClientID: by.ClientID, IP: by.IP, UserAgent: by.UserAgent, Locale: by.Locale, Payload: payload}
}
