package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portero-id/portero/identity"
)

// The audit trail lives in the ledger as entries of kind "audit". The
// audit_events table of migration 00002 holds the events written before the
// ledger existed; it is kept unchanged and no longer read (see
// migrations/*/00003_ledger.sql).

// AppendAudit appends e to the ledger and writes its id (the entry's seq)
// and time back.
func (s *Store) AppendAudit(ctx context.Context, e *identity.AuditEvent) error {
	if e.Type == "" {
		return errors.New("store: append audit: empty type")
	}
	var payload []byte
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("store: append audit: %w", err)
		}
		payload = b
	}
	entry := identity.LedgerEntry{
		OccurredAt: e.OccurredAt, Kind: identity.LedgerAudit, Type: e.Type,
		Subject: e.UserID, Actor: e.Actor, IP: e.IP, UserAgent: e.UserAgent, Payload: payload,
	}
	if err := s.AppendLedger(ctx, &entry); err != nil {
		return err
	}
	e.ID, e.OccurredAt = entry.Seq, entry.OccurredAt
	return nil
}

// AuditEvents returns matching events, newest first (at most f.Limit, or
// 100 when it is not positive, and never more than
// identity.LedgerMaxLimit).
func (s *Store) AuditEvents(ctx context.Context, f identity.AuditFilter) ([]identity.AuditEvent, error) {
	lf := identity.LedgerFilter{Kind: identity.LedgerAudit, Subject: f.UserID, Limit: f.Limit, Newest: true}
	if f.Type != "" {
		lf.Types = []string{f.Type}
	}
	entries, err := s.LedgerEntries(ctx, lf)
	if err != nil {
		return nil, err
	}
	out := make([]identity.AuditEvent, 0, len(entries))
	for _, le := range entries {
		details, err := auditDetails(le.Payload)
		if err != nil {
			return nil, fmt.Errorf("store: audit event %d: %w", le.Seq, err)
		}
		out = append(out, identity.AuditEvent{
			ID: le.Seq, OccurredAt: le.OccurredAt, Type: le.Type, UserID: le.Subject, Actor: le.Actor,
			IP: le.IP, UserAgent: le.UserAgent, Details: details,
		})
	}
	return out, nil
}

// auditDetails decodes an audit entry's payload. AppendAudit writes string
// values only; a value of another JSON type (an entry of kind "audit"
// appended directly to the ledger) is kept as its JSON text.
func auditDetails(payload []byte) (map[string]string, error) {
	if string(payload) == "{}" {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			s = string(v)
		}
		out[k] = s
	}
	return out, nil
}
