package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/testdb"
	"github.com/portero-id/portero/migrations"
)

// ledgerDB is a backend for the ledger's own tests: open returns a fresh,
// migrated store; reopen returns a second store on the same database (a
// second replica).
type ledgerDB struct {
	name           string
	open           func(t *testing.T) (s *store.Store, reopen func() *store.Store)
	openUnmigrated func(t *testing.T) *store.Store
}

func ledgerDBs() []ledgerDB {
	sqlitePath := func(t *testing.T) string { return filepath.Join(t.TempDir(), "portero.db") }
	dbs := []ledgerDB{{
		name: "sqlite",
		open: func(t *testing.T) (*store.Store, func() *store.Store) {
			path := sqlitePath(t)
			s := openMigrated(t, store.Options{SQLitePath: path})
			return s, func() *store.Store { return openMigrated(t, store.Options{SQLitePath: path}) }
		},
		openUnmigrated: func(t *testing.T) *store.Store { return openUnmigrated(t, store.Options{SQLitePath: sqlitePath(t)}) },
	}}
	if os.Getenv(envDatabaseURL) != "" {
		dbs = append(dbs, ledgerDB{
			name: "postgres",
			open: func(t *testing.T) (*store.Store, func() *store.Store) {
				u := testdb.PostgresSchemaURL(t)
				return openPostgres(t, u), func() *store.Store { return openPostgres(t, u) }
			},
			openUnmigrated: func(t *testing.T) *store.Store {
				return openUnmigrated(t, store.Options{URL: testdb.PostgresSchemaURL(t)})
			},
		})
	}
	return dbs
}

func openUnmigrated(t *testing.T, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func appendN(t *testing.T, s *store.Store, n int) {
	t.Helper()
	for i := range n {
		e := &identity.LedgerEntry{Kind: identity.LedgerConsent, Type: "consent.accepted", Subject: "u-alice",
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, i+1))}
		if err := s.AppendLedger(t.Context(), e); err != nil {
			t.Fatalf("AppendLedger: %v", err)
		}
	}
}

func verifyBreak(t *testing.T, s *store.Store, seq int64, reason string) {
	t.Helper()
	n, err := identity.VerifyLedger(t.Context(), s)
	var brk *identity.LedgerBreak
	if !errors.As(err, &brk) || brk.Seq != seq || !strings.Contains(brk.Reason, reason) {
		t.Fatalf("VerifyLedger = %d, %v; want a break at entry %d (%q)", n, err, seq, reason)
	}
}

// The database refuses UPDATE, DELETE (and TRUNCATE) on the ledger and on
// the pre-ledger audit_events, whatever the SQL.
func TestH3LedgerIsAppendOnly(t *testing.T) {
	for _, db := range ledgerDBs() {
		t.Run(db.name, func(t *testing.T) {
			s, _ := db.open(t)
			appendN(t, s, 3)
			raw := s.DB()
			refused := []string{
				`UPDATE ledger SET payload = '{"n":9}' WHERE seq = 2`,
				`UPDATE ledger SET hash = hash`,
				`DELETE FROM ledger WHERE seq = 3`,
				`DELETE FROM ledger`,
				`INSERT INTO ledger (seq, occurred_at, kind, type, prev_hash, hash) VALUES (3, '2026-01-01', 'audit', 'x', '` +
					identity.LedgerGenesis + `', '` + identity.LedgerGenesis + `')`, // an existing seq
				`UPDATE audit_events SET type = 'x'`,
				`DELETE FROM audit_events`,
			}
			if s.Dialect() == store.DialectPostgres {
				refused = append(refused, `TRUNCATE ledger`, `TRUNCATE audit_events`)
			}
			// A row in audit_events for its triggers to refuse touching:
			// INSERT stays allowed (a previous release during an upgrade).
			if err := raw.Exec(`INSERT INTO audit_events (occurred_at, type) VALUES (?, 'login.success')`, "2026-01-01 00:00:00.000000+00:00").Error; err != nil {
				t.Fatalf("insert into audit_events: %v", err)
			}
			for _, q := range refused {
				if err := raw.Exec(q).Error; err == nil {
					t.Errorf("%s: accepted", q)
				} else if !strings.HasPrefix(q, "INSERT") && !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: %v, want an append-only error", q, err)
				}
			}
			var n int64
			if err := raw.Raw(`SELECT COUNT(*) FROM audit_events`).Scan(&n).Error; err != nil || n != 1 {
				t.Fatalf("audit_events rows: %d, %v", n, err)
			}
			if got, err := identity.VerifyLedger(t.Context(), s); err != nil || got != 3 {
				t.Fatalf("VerifyLedger = %d, %v", got, err)
			}
		})
	}
}

// Whoever gets around the triggers (the table's owner, a restored copy) is
// caught by the chain.
func TestH11TamperingIsDetected(t *testing.T) {
	for _, db := range ledgerDBs() {
		t.Run(db.name, func(t *testing.T) {
			s, _ := db.open(t)
			appendN(t, s, 5)
			raw := s.DB()
			disable := []string{`DROP TRIGGER ledger_no_update`, `DROP TRIGGER ledger_no_delete`}
			if s.Dialect() == store.DialectPostgres {
				disable = []string{`ALTER TABLE ledger DISABLE TRIGGER USER`}
			}
			for _, q := range disable {
				if err := raw.Exec(q).Error; err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			mustExec := func(q string, args ...any) {
				t.Helper()
				if res := raw.Exec(q, args...); res.Error != nil || res.RowsAffected != 1 {
					t.Fatalf("%s: %v (%d rows)", q, res.Error, res.RowsAffected)
				}
			}
			// An edited payload: that entry's hash no longer matches.
			mustExec(`UPDATE ledger SET payload = '{"n":2, "edited":true}' WHERE seq = 4`)
			verifyBreak(t, s, 4, "does not match its contents")
			// An edit that recomputes the hash: the next entry's link breaks.
			got, err := s.LedgerEntries(t.Context(), identity.LedgerFilter{AfterSeq: 3, Limit: 1})
			if err != nil || len(got) != 1 {
				t.Fatalf("LedgerEntries: %v", err)
			}
			forged := got[0]
			forged.Hash = forged.ComputeHash()
			mustExec(`UPDATE ledger SET hash = ? WHERE seq = 4`, forged.Hash)
			verifyBreak(t, s, 5, "does not match entry 4's hash")
			// An earlier deletion comes first.
			mustExec(`DELETE FROM ledger WHERE seq = 2`)
			verifyBreak(t, s, 3, "entry 2 is missing")
			// A changed time, earlier still.
			mustExec(`UPDATE ledger SET occurred_at = ? WHERE seq = 1`, "2020-01-01 00:00:00.000000+00:00")
			verifyBreak(t, s, 1, "does not match its contents")
		})
	}
}

// Two stores on one database (two replicas, or a CLI beside the server)
// appending at once still build one chain.
func TestLedgerAppendsFromTwoReplicas(t *testing.T) {
	for _, db := range ledgerDBs() {
		t.Run(db.name, func(t *testing.T) {
			a, reopen := db.open(t)
			b := reopen()
			const each = 25
			var wg sync.WaitGroup
			errs := make(chan error, 2*each)
			for i := range each {
				for _, s := range []*store.Store{a, b} {
					wg.Go(func() {
						errs <- s.AppendAudit(context.Background(), &identity.AuditEvent{
							Type: identity.AuditLoginSuccess, UserID: fmt.Sprintf("u-%d", i),
						})
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("AppendAudit: %v", err)
				}
			}
			for _, s := range []*store.Store{a, b} {
				if n, err := identity.VerifyLedger(t.Context(), s); err != nil || n != 2*each {
					t.Fatalf("VerifyLedger = %d, %v; want %d", n, err, 2*each)
				}
			}
		})
	}
}

// Migration 00003 keeps the audit events written before it, untouched, and
// starts the chain empty.
func TestLedgerMigrationKeepsOldAuditEvents(t *testing.T) {
	for _, db := range ledgerDBs() {
		t.Run(db.name, func(t *testing.T) {
			s := db.openUnmigrated(t)
			sqlDB, err := s.DB().DB()
			if err != nil {
				t.Fatal(err)
			}
			dir, dialect := "sqlite", goose.DialectSQLite3
			if s.Dialect() == store.DialectPostgres {
				dir, dialect = "postgres", goose.DialectPostgres
			}
			fsys, err := fs.Sub(migrations.FS, dir)
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(dialect, sqlDB, fsys, goose.WithTableName(store.MigrationTable))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(t.Context(), 2); err != nil {
				t.Fatalf("migrate to 2: %v", err)
			}
			old := identity.AuditEvent{OccurredAt: time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC),
				Type: identity.AuditLoginFailure, UserID: "u-alice", IP: "192.0.2.1", Details: map[string]string{"reason": "password"}}
			if err := s.DB().Exec(`INSERT INTO audit_events (occurred_at, type, user_id, ip, details) VALUES (?, ?, ?, ?, ?)`,
				old.OccurredAt.Format("2006-01-02 15:04:05.000000-07:00"), old.Type, old.UserID, old.IP, `{"reason":"password"}`).Error; err != nil {
				t.Fatalf("insert old event: %v", err)
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			var (
				typ, user, details string
				n                  int64
			)
			if err := s.DB().Raw(`SELECT type, user_id, details FROM audit_events`).Row().Scan(&typ, &user, &details); err != nil {
				t.Fatalf("old event: %v", err)
			}
			if typ != old.Type || user != old.UserID || details != `{"reason":"password"}` {
				t.Fatalf("old event changed: %s %s %s", typ, user, details)
			}
			if err := s.DB().Raw(`SELECT COUNT(*) FROM ledger`).Scan(&n).Error; err != nil || n != 0 {
				t.Fatalf("ledger rows after migration: %d, %v", n, err)
			}
			// New events go to the ledger; the old one is no longer read.
			if err := s.AppendAudit(t.Context(), &identity.AuditEvent{Type: identity.AuditLoginSuccess, UserID: "u-alice"}); err != nil {
				t.Fatal(err)
			}
			events, err := s.AuditEvents(t.Context(), identity.AuditFilter{UserID: "u-alice"})
			if err != nil || len(events) != 1 || events[0].ID != 1 || events[0].Type != identity.AuditLoginSuccess {
				t.Fatalf("AuditEvents = %+v, %v", events, err)
			}
		})
	}
}

// BenchmarkAppendLedger appends audit events (what every sign-in does), one
// goroutine and in parallel, and checks the chain afterwards.
//
//	go test ./internal/store -run '^$' -bench AppendLedger -benchtime 2s
func BenchmarkAppendLedger(b *testing.B) {
	for _, db := range benchDBs() {
		b.Run(db.name, func(b *testing.B) {
			s := db.open(b)
			ctx := context.Background()
			var n atomic.Int64
			appendOne := func() error {
				i := n.Add(1)
				return s.AppendAudit(ctx, &identity.AuditEvent{
					Type: identity.AuditLoginSuccess, UserID: "u-" + fmt.Sprint(i%1000), IP: "192.0.2.1",
					UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
					Details:   map[string]string{"method": "password", "client_id": "shop"},
				})
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := appendOne(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := appendOne(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			checked, err := identity.VerifyLedger(ctx, s)
			if err != nil || checked != n.Load() {
				b.Fatalf("VerifyLedger = %d, %v; want %d", checked, err, n.Load())
			}
		})
	}
}
