package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portero-id/portero/identity"
)

// dataRequestColumns are the columns in the order scanDataRequest reads.
const dataRequestColumns = `id, user_id, kind, type, description, status, received_at, due_at, extended_due_at,
	extension_reason, info_needed, info_requested_at, withdraw_at, info_provided, info_provided_at,
	legend_due_at, judicial_dispute, answer, refusal_reason, closed_at, updated_at`

// effectiveDue is the SQL of DataRequest.EffectiveDue.
const effectiveDue = `COALESCE(extended_due_at, due_at)`

func scanDataRequest(row scanner) (identity.DataRequest, error) {
	var (
		r                                          identity.DataRequest
		received, due, extended, infoReq, withdraw dbTime
		infoProv, legend, closed, updated          dbTime
	)
	err := row.Scan(&r.ID, &r.UserID, &r.Kind, &r.Type, &r.Description, &r.Status, &received, &due, &extended,
		&r.ExtensionReason, &r.InfoNeeded, &infoReq, &withdraw, &r.InfoProvided, &infoProv,
		&legend, &r.JudicialDispute, &r.Answer, &r.RefusalReason, &closed, &updated)
	if err != nil {
		return r, err
	}
	r.ReceivedAt, r.DueAt, r.UpdatedAt = received.Time, due.Time, updated.Time
	r.ExtendedDueAt, r.InfoRequestedAt, r.WithdrawAt = extended.ptr(), infoReq.ptr(), withdraw.ptr()
	r.InfoProvidedAt, r.LegendDueAt, r.ClosedAt = infoProv.ptr(), legend.ptr(), closed.ptr()
	return r, nil
}

// CreateDataRequest inserts r; an unknown user is identity.ErrNotFound.
func (s *Store) CreateDataRequest(ctx context.Context, r *identity.DataRequest) error {
	if r.ID == "" || r.UserID == "" {
		return errors.New("store: create data request: empty id or user id")
	}
	_, err := s.exec(ctx, `INSERT INTO data_requests (`+dataRequestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.UserID, r.Kind, r.Type, r.Description, r.Status, s.timeArg(r.ReceivedAt), s.timeArg(r.DueAt),
		s.nullTimePtrArg(r.ExtendedDueAt), r.ExtensionReason, r.InfoNeeded, s.nullTimePtrArg(r.InfoRequestedAt),
		s.nullTimePtrArg(r.WithdrawAt), r.InfoProvided, s.nullTimePtrArg(r.InfoProvidedAt), s.nullTimePtrArg(r.LegendDueAt),
		r.JudicialDispute, r.Answer, r.RefusalReason, s.nullTimePtrArg(r.ClosedAt), s.timeArg(r.UpdatedAt))
	if isDuplicate(err) {
		return fmt.Errorf("create data request %s: %w", r.ID, identity.ErrConflict)
	}
	if isForeignKey(err) {
		return fmt.Errorf("create data request: user %q: %w", r.UserID, identity.ErrNotFound)
	}
	if err != nil {
		return failed("create data request", err)
	}
	return nil
}

// DataRequestByID returns one request.
func (s *Store) DataRequestByID(ctx context.Context, id string) (*identity.DataRequest, error) {
	var r identity.DataRequest
	found, err := s.queryOne(ctx, func(row scanner) (err error) {
		r, err = scanDataRequest(row)
		return err
	}, `SELECT `+dataRequestColumns+` FROM data_requests WHERE id = ?`, id)
	if err != nil {
		return nil, failed("data request", err)
	}
	if !found {
		return nil, fmt.Errorf("data request %s: %w", id, identity.ErrNotFound)
	}
	return &r, nil
}

// UpdateDataRequest writes every mutable field of r if the row still has
// updated_at = prev.
func (s *Store) UpdateDataRequest(ctx context.Context, r *identity.DataRequest, prev time.Time) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		n, err := s.exec(ctx, `UPDATE data_requests SET status = ?, description = ?, due_at = ?, extended_due_at = ?,
			extension_reason = ?, info_needed = ?, info_requested_at = ?, withdraw_at = ?, info_provided = ?,
			info_provided_at = ?, legend_due_at = ?, judicial_dispute = ?, answer = ?, refusal_reason = ?,
			closed_at = ?, updated_at = ?
			WHERE id = ? AND updated_at = ?`,
			r.Status, r.Description, s.timeArg(r.DueAt), s.nullTimePtrArg(r.ExtendedDueAt),
			r.ExtensionReason, r.InfoNeeded, s.nullTimePtrArg(r.InfoRequestedAt), s.nullTimePtrArg(r.WithdrawAt), r.InfoProvided,
			s.nullTimePtrArg(r.InfoProvidedAt), s.nullTimePtrArg(r.LegendDueAt), r.JudicialDispute, r.Answer, r.RefusalReason,
			s.nullTimePtrArg(r.ClosedAt), s.timeArg(r.UpdatedAt),
			r.ID, s.timeArg(prev))
		if err != nil {
			return failed("update data request", err)
		}
		if n == 1 {
			return nil
		}
		// Tell a missing request from one changed meanwhile.
		var one int
		found, err := s.queryOne(ctx, func(row scanner) error { return row.Scan(&one) },
			`SELECT 1 FROM data_requests WHERE id = ?`, r.ID)
		if err != nil {
			return failed("update data request", err)
		}
		if !found {
			return fmt.Errorf("data request %s: %w", r.ID, identity.ErrNotFound)
		}
		return fmt.Errorf("data request %s was changed meanwhile: %w", r.ID, identity.ErrConflict)
	})
}

// DataRequests returns the requests matching f by effective due date.
func (s *Store) DataRequests(ctx context.Context, f identity.DataRequestFilter) ([]identity.DataRequest, error) {
	var (
		where []string
		args  []any
	)
	if f.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN (?"+strings.Repeat(", ?", len(f.Statuses)-1)+")")
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if !f.WithdrawBefore.IsZero() {
		where, args = append(where, "withdraw_at < ?"), append(args, s.timeArg(f.WithdrawBefore))
	}
	q := `SELECT ` + dataRequestColumns + ` FROM data_requests`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY ` + effectiveDue + `, id LIMIT ? OFFSET ?`
	args = append(args, f.EffectiveLimit(), max(f.Offset, 0))
	return s.dataRequests(ctx, "data requests", q, args...)
}

// DataRequestsByUser returns the user's requests, newest first.
func (s *Store) DataRequestsByUser(ctx context.Context, userID string) ([]identity.DataRequest, error) {
	return s.dataRequests(ctx, "data requests of user", `SELECT `+dataRequestColumns+` FROM data_requests
		WHERE user_id = ? ORDER BY received_at DESC, id DESC`, userID)
}

func (s *Store) dataRequests(ctx context.Context, what, q string, args ...any) ([]identity.DataRequest, error) {
	var out []identity.DataRequest
	err := s.queryAll(ctx, func(row scanner) error {
		r, err := scanDataRequest(row)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	}, q, args...)
	if err != nil {
		return nil, failed(what, err)
	}
	return out, nil
}

// CountDataRequests counts open, due-soon and overdue requests per kind in
// one query.
func (s *Store) CountDataRequests(ctx context.Context, overdueBefore, dueSoonBy time.Time) ([]identity.DataRequestCount, error) {
	var out []identity.DataRequestCount
	waiting := `status IN ('` + identity.RequestReceived + `', '` + identity.RequestExtended + `')`
	err := s.queryAll(ctx, func(row scanner) error {
		var c identity.DataRequestCount
		if err := row.Scan(&c.Kind, &c.Open, &c.DueSoon, &c.Overdue); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	}, `SELECT kind, COUNT(*),
			COALESCE(SUM(CASE WHEN `+waiting+` AND `+effectiveDue+` >= ? AND `+effectiveDue+` <= ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN `+waiting+` AND `+effectiveDue+` < ? THEN 1 ELSE 0 END), 0)
		FROM data_requests
		WHERE status IN ('`+identity.RequestReceived+`', '`+identity.RequestInfoRequested+`', '`+identity.RequestExtended+`')
		GROUP BY kind ORDER BY kind`,
		s.timeArg(overdueBefore), s.timeArg(dueSoonBy), s.timeArg(overdueBefore))
	if err != nil {
		return nil, failed("count data requests", err)
	}
	return out, nil
}
