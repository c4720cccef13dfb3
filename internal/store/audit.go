package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portero-id/portero/identity"
)

// AppendAudit appends e and writes its id and time back.
func (s *Store) AppendAudit(ctx context.Context, e *identity.AuditEvent) error {
	if e.Type == "" {
		return errors.New("store: append audit: empty type")
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = now()
	}
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("store: append audit: %w", err)
		}
		details = string(b)
	}
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = s.queryOne(ctx, func(row scanner) error { return row.Scan(&e.ID) },
		`INSERT INTO audit_events (occurred_at, type, user_id, actor, ip, user_agent, details)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		s.timeArg(e.OccurredAt), e.Type, e.UserID, e.Actor, e.IP, e.UserAgent, details)
	if err != nil {
		return failed("append audit", err)
	}
	return nil
}

// AuditEvents returns matching events, newest first (at most f.Limit, or
// 100 when it is not positive).
func (s *Store) AuditEvents(ctx context.Context, f identity.AuditFilter) ([]identity.AuditEvent, error) {
	q := `SELECT id, occurred_at, type, user_id, actor, ip, user_agent, details FROM audit_events WHERE 1 = 1`
	var args []any
	if f.UserID != "" {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if f.Type != "" {
		q += ` AND type = ?`
		args = append(args, f.Type)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	var out []identity.AuditEvent
	err := s.queryAll(ctx, func(row scanner) error {
		var (
			e        identity.AuditEvent
			occurred dbTime
			details  string
		)
		if err := row.Scan(&e.ID, &occurred, &e.Type, &e.UserID, &e.Actor, &e.IP, &e.UserAgent, &details); err != nil {
			return err
		}
		e.OccurredAt = occurred.Time
		if details != "" && details != "{}" {
			if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
				return fmt.Errorf("store: audit details: %w", err)
			}
		}
		out = append(out, e)
		return nil
	}, q, args...)
	if err != nil {
		return nil, failed("audit events", err)
	}
	return out, nil
}
