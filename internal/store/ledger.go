package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/portero-id/portero/identity"
)

// ledgerWalkBatch is how many entries WalkLedger reads per query.
const ledgerWalkBatch = 1000

// ledgerColumns are the ledger's columns in the order scanLedgerEntry reads.
const ledgerColumns = `seq, occurred_at, kind, type, subject, actor, client_id, ip, user_agent, locale, payload, prev_hash, hash`

// AppendLedger appends e at the end of the chain. Appends are serialised:
// on SQLite by the writer queue and the write transaction (BEGIN
// IMMEDIATE, which other processes respect too); on PostgreSQL by a
// transaction-scoped advisory lock taken together with reading the last
// entry (ledger_lock_tail, one round trip), then one INSERT. Inside a
// transaction it joins it and the lock is held until that transaction ends.
// e is only changed once the entry is written (or, inside a caller's
// transaction, once it is part of it).
func (s *Store) AppendLedger(ctx context.Context, e *identity.LedgerEntry) error {
	entry := *e
	if err := entry.Normalize(now()); err != nil {
		return fmt.Errorf("store: append ledger: %w", err)
	}
	tail := `SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1`
	if s.dialect == DialectPostgres {
		tail = `SELECT seq, hash FROM ledger_lock_tail()`
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		prevSeq, prevHash := int64(0), identity.LedgerGenesis
		if _, err := s.queryOne(ctx, func(row scanner) error { return row.Scan(&prevSeq, &prevHash) }, tail); err != nil {
			return failed("append ledger: read the last entry", err)
		}
		entry.Seq, entry.PrevHash = prevSeq+1, prevHash
		entry.Hash = entry.ComputeHash()
		err := s.conn(ctx).Exec(`INSERT INTO ledger (`+ledgerColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			entry.Seq, s.timeArg(entry.OccurredAt), entry.Kind, entry.Type, entry.Subject, entry.Actor,
			entry.ClientID, entry.IP, entry.UserAgent, entry.Locale, string(entry.Payload),
			entry.PrevHash, entry.Hash).Error
		if err != nil {
			return failed("append ledger", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*e = entry
	if observe := s.ledgerObserver.Load(); observe != nil {
		(*observe)(string(entry.Kind), entry.Type)
	}
	return nil
}

// ObserveLedger has fn called with the kind and type of every entry
// appended (the server counts them: every security event is an entry). An
// entry appended in a transaction that later rolls back is counted too.
func (s *Store) ObserveLedger(fn func(kind, typ string)) { s.ledgerObserver.Store(&fn) }

// LedgerEntries returns the entries matching f in seq order (descending
// with f.Newest), at most f.EffectiveLimit().
func (s *Store) LedgerEntries(ctx context.Context, f identity.LedgerFilter) ([]identity.LedgerEntry, error) {
	var (
		where []string
		args  []any
	)
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("subject", f.Subject)
	eq("kind", f.Kind)
	eq("actor", f.Actor)
	eq("client_id", f.ClientID)
	switch len(f.Types) {
	case 0:
	case 1:
		eq("type", f.Types[0])
	default:
		where = append(where, "type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "occurred_at >= ?")
		args = append(args, s.timeArg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "occurred_at < ?")
		args = append(args, s.timeArg(f.Until))
	}
	if f.AfterSeq > 0 {
		where = append(where, "seq > ?")
		args = append(args, f.AfterSeq)
	}
	if f.BeforeSeq > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.BeforeSeq)
	}
	q := `SELECT ` + ledgerColumns + ` FROM ledger`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Newest {
		q += ` ORDER BY seq DESC LIMIT ?`
	} else {
		q += ` ORDER BY seq LIMIT ?`
	}
	args = append(args, f.EffectiveLimit())
	out, err := s.ledgerQuery(ctx, q, args...)
	if err != nil {
		return nil, failed("ledger entries", err)
	}
	return out, nil
}

// WalkLedger calls fn for every entry in seq order, reading
// ledgerWalkBatch entries per query. Entries appended during the walk are
// included.
func (s *Store) WalkLedger(ctx context.Context, fn func(identity.LedgerEntry) error) error {
	after := int64(0)
	for {
		batch, err := s.ledgerQuery(ctx, `SELECT `+ledgerColumns+` FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?`,
			after, ledgerWalkBatch)
		if err != nil {
			return failed("walk ledger", err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
			after = e.Seq
		}
		if len(batch) < ledgerWalkBatch {
			return nil
		}
	}
}

func (s *Store) ledgerQuery(ctx context.Context, q string, args ...any) ([]identity.LedgerEntry, error) {
	var out []identity.LedgerEntry
	err := s.queryAll(ctx, func(row scanner) error {
		var (
			e        identity.LedgerEntry
			occurred dbTime
			payload  string
		)
		if err := row.Scan(&e.Seq, &occurred, &e.Kind, &e.Type, &e.Subject, &e.Actor, &e.ClientID,
			&e.IP, &e.UserAgent, &e.Locale, &payload, &e.PrevHash, &e.Hash); err != nil {
			return err
		}
		e.OccurredAt = occurred.Time
		e.Payload = []byte(payload)
		out = append(out, e)
		return nil
	}, q, args...)
	return out, err
}
