package store_test

import (
	"context"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/storetest"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/testdb"
	"github.com/portero-id/portero/migrations"
)

// The conformance suite runs on SQLite always and on PostgreSQL when
// PORTERO_TEST_DATABASE_URL is set, e.g.
//
//	PORTERO_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./internal/store/...
//
// Each PostgreSQL test runs in a schema of its own, dropped afterwards.
const envDatabaseURL = "PORTERO_TEST_DATABASE_URL"

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) identity.Store { return openSQLite(t) })
}

// An in-memory SQLite database (one connection) passes the suite too.
func TestSQLiteInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) identity.Store {
		return openMigrated(t, store.Options{SQLitePath: ":memory:"})
	})
}

func TestPostgres(t *testing.T) {
	if os.Getenv(envDatabaseURL) == "" {
		t.Skip(envDatabaseURL + " not set")
	}
	storetest.Run(t, func(t *testing.T) identity.Store { return openPostgres(t, testdb.PostgresSchemaURL(t)) })
}

// openSQLite opens and migrates a new SQLite database in a temporary
// directory (a subdirectory, to check that Open creates it).
func openSQLite(tb testing.TB) *store.Store {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "data", "portero.db")
	return openMigrated(tb, store.Options{SQLitePath: path})
}

// openPostgres opens and migrates the database at dbURL.
func openPostgres(tb testing.TB, dbURL string) *store.Store {
	tb.Helper()
	return openMigrated(tb, store.Options{URL: dbURL, MaxOpenConns: 25})
}

func openMigrated(tb testing.TB, opts store.Options) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestMigrationDirsHaveTheSameFiles(t *testing.T) {
	names := func(dir string) []string {
		entries, err := fs.ReadDir(migrations.FS, dir)
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
			b, err := fs.ReadFile(migrations.FS, dir+"/"+e.Name())
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			if !strings.HasPrefix(text, "-- +goose Up\n") {
				t.Errorf("%s/%s does not start with -- +goose Up", dir, e.Name())
			}
			if strings.Contains(text, "+goose Down") {
				t.Errorf("%s/%s has a Down section: migrations are forward-only", dir, e.Name())
			}
		}
		return out
	}
	pg, lite := names("postgres"), names("sqlite")
	if len(pg) == 0 {
		t.Fatal("no migrations embedded")
	}
	if !slices.Equal(pg, lite) {
		t.Errorf("migration files differ:\npostgres: %q\nsqlite:   %q", pg, lite)
	}
}

func checkMigrated(t *testing.T, s *store.Store) {
	t.Helper()
	status, err := s.MigrationStatus(context.Background())
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if len(status) == 0 {
		t.Fatal("MigrationStatus lists no migrations")
	}
	for _, m := range status {
		if !m.Applied || m.AppliedAt.IsZero() || m.Version <= 0 || !strings.HasSuffix(m.Name, ".sql") {
			t.Errorf("migration %+v: want applied", m)
		}
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestMigrateIsIdempotentSQLite(t *testing.T) {
	s := openSQLite(t)
	for range 2 {
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	checkMigrated(t, s)
}

func TestMigrateIsIdempotentPostgres(t *testing.T) {
	s := openPostgres(t, testdb.PostgresSchemaURL(t))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	checkMigrated(t, s)
}

// Two replicas starting together: both Migrate calls succeed, one waits
// for the other's advisory lock.
func TestMigrateConcurrentlyPostgres(t *testing.T) {
	dbURL := testdb.PostgresSchemaURL(t)
	var stores []*store.Store
	for range 2 {
		s, err := store.Open(t.Context(), store.Options{URL: dbURL, MaxOpenConns: 2})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	checkMigrated(t, stores[0])
	if err := stores[1].CreateUser(t.Context(), &identity.User{Username: "alice"}); err != nil {
		t.Errorf("CreateUser after concurrent migrations: %v", err)
	}
}

func TestOpenRejectsUnknownURLWithoutLeakingIt(t *testing.T) {
	_, err := store.Open(t.Context(), store.Options{URL: "mysql://root:s3cr3t@db.internal/portero"})
	if err == nil {
		t.Fatal("Open(mysql://…) succeeded")
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "db.internal") {
		t.Errorf("error leaks the URL: %v", err)
	}
	if _, err := store.Open(t.Context(), store.Options{}); err == nil {
		t.Error("Open with no database configured succeeded")
	}
}

func TestSQLitePragmas(t *testing.T) {
	s := openSQLite(t)
	if s.Dialect() != store.DialectSQLite {
		t.Fatalf("Dialect() = %q", s.Dialect())
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "5000",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := s.DB().Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

// Times on SQLite are fixed-width UTC text, so that comparing the text
// compares the times, and read back exactly.
func TestSQLiteTimeStorage(t *testing.T) {
	s := openSQLite(t)
	at := time.Date(2031, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("COT", -5*3600))
	g := &identity.Grant{
		Kind: identity.GrantAccessToken, Signature: "sig", RequestID: "req", ClientID: "c",
		Active: true, RequestedAt: at, ExpiresAt: at.Add(time.Hour), Data: []byte("{}"),
	}
	if err := s.CreateGrant(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	var raw []string
	if err := s.DB().Raw("SELECT CAST(requested_at AS TEXT) FROM grants UNION ALL SELECT CAST(expires_at AS TEXT) FROM grants").Scan(&raw).Error; err != nil {
		t.Fatal(err)
	}
	if want := []string{"2031-01-02 08:04:05.600000+00:00", "2031-01-02 09:04:05.600000+00:00"}; !slices.Equal(raw, want) {
		t.Errorf("stored times %q, want %q", raw, want)
	}
	got, err := s.GrantBySignature(t.Context(), g.Kind, g.Signature)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RequestedAt.Equal(at) || got.RequestedAt.Location() != time.UTC {
		t.Errorf("RequestedAt = %v, want %v in UTC", got.RequestedAt, at)
	}
}

// UseJTI prunes expired JTIs in bounded batches now and then.
func TestUseJTIPrunesExpired(t *testing.T) {
	s := openSQLite(t)
	db := s.DB()
	past := time.Now().UTC().Add(-time.Hour).Format("2006-01-02 15:04:05.000000-07:00")
	for i := range 200 {
		if err := db.Exec("INSERT INTO used_jtis (jti, expires_at) VALUES (?, ?)", fmt.Sprintf("old-%d", i), past).Error; err != nil {
			t.Fatal(err)
		}
	}
	for i := range 64 {
		if err := s.UseJTI(t.Context(), fmt.Sprintf("new-%d", i), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	if err := db.Raw("SELECT COUNT(*) FROM used_jtis").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 64 {
		t.Errorf("%d JTIs left after pruning, want the 64 unexpired", n)
	}
}

// DeleteExpiredSessions spends what is left of its limit on expired
// pending authorizations.
func TestDeleteExpiredSessionsPrunesPendingAuthorizations(t *testing.T) {
	s := openSQLite(t)
	ctx := t.Context()
	now := time.Now()
	if err := s.CreateUser(ctx, &identity.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		sess := &identity.Session{ID: fmt.Sprintf("s%d", i), UserID: "u1", AuthTime: now, ExpiresAt: now.Add(-time.Minute)}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		p := &identity.PendingAuthorization{ID: fmt.Sprintf("p%d", i), Query: "a=b", ExpiresAt: now.Add(-time.Minute)}
		if err := s.CreatePendingAuthorization(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	live := &identity.PendingAuthorization{ID: "live", Query: "a=b", ExpiresAt: now.Add(time.Minute)}
	if err := s.CreatePendingAuthorization(ctx, live); err != nil {
		t.Fatal(err)
	}
	var removed []int64
	for range 3 {
		n, err := s.DeleteExpiredSessions(ctx, now, 5)
		if err != nil {
			t.Fatal(err)
		}
		removed = append(removed, n)
	}
	if want := []int64{5, 2, 0}; !slices.Equal(removed, want) {
		t.Errorf("DeleteExpiredSessions(limit 5) removed %v in turn, want %v", removed, want)
	}
	if _, err := s.PendingAuthorizationByID(ctx, "live"); err != nil {
		t.Errorf("unexpired pending authorization: %v", err)
	}
}

// Signatures, JTIs and session ids are secrets: errors do not carry them.
func TestErrorsDoNotCarrySecrets(t *testing.T) {
	s := openSQLite(t)
	ctx := t.Context()
	const secret = "c2VjcmV0LXNpZ25hdHVyZQ"
	g := &identity.Grant{Kind: identity.GrantRefreshToken, Signature: secret, RequestID: "r", ClientID: "c", Active: true, Data: []byte("{}")}
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	_, errMissing := s.GrantBySignature(ctx, identity.GrantAccessToken, secret)
	_, errSession := s.SessionByID(ctx, secret)
	_ = s.UseJTI(ctx, secret, time.Now().Add(time.Hour))
	for _, err := range []error{
		s.CreateGrant(ctx, g),
		errMissing,
		s.DeleteGrant(ctx, identity.GrantAccessToken, secret),
		s.UseJTI(ctx, secret, time.Now().Add(time.Hour)),
		errSession,
		s.TouchSession(ctx, secret, time.Now()),
		s.DeleteSession(ctx, secret),
		s.DeletePendingAuthorization(ctx, secret),
	} {
		if err == nil {
			t.Error("want an error")
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("error carries the secret: %v", err)
		}
	}
}

// The transaction of one store is not picked up by another.
func TestTransactionBelongsToItsStore(t *testing.T) {
	a, b := openSQLite(t), openSQLite(t)
	err := a.InTx(t.Context(), func(ctx context.Context) error {
		if err := b.CreateUser(ctx, &identity.User{ID: "u1", Username: "alice"}); err != nil {
			return err
		}
		return context.Canceled // roll back a's transaction
	})
	if err != context.Canceled {
		t.Fatalf("InTx: %v", err)
	}
	if _, err := b.UserByID(t.Context(), "u1"); err != nil {
		t.Errorf("write to store b inside store a's transaction was lost: %v", err)
	}
}

// A writer that waits for the SQLite writer queue gives up with ctx.
func TestSQLiteWriterHonoursContext(t *testing.T) {
	s := openSQLite(t)
	txCtx, err := s.BeginTx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.RollbackTx(txCtx)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = s.CreateUser(ctx, &identity.User{Username: "alice"})
	if err == nil || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Errorf("CreateUser while another transaction writes: %v, want deadline exceeded", err)
	}
}

// Benchmarks.
//
//	go test ./internal/store -run '^$' -bench . -benchtime 2s
//	PORTERO_BENCH_GRANTS=1000000 PORTERO_TEST_DATABASE_URL=… go test ./internal/store -run '^$' -bench 'GrantBySignature/postgres'

func benchGrantCount(b *testing.B) int {
	n := 10000
	if v := os.Getenv("PORTERO_BENCH_GRANTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("PORTERO_BENCH_GRANTS=%q: want a positive number", v)
		}
	}
	return n
}

type benchDB struct {
	name string
	open func(b *testing.B) *store.Store
}

func benchDBs() []benchDB {
	dbs := []benchDB{{"sqlite", func(b *testing.B) *store.Store { return openSQLite(b) }}}
	if u := os.Getenv(envDatabaseURL); u != "" {
		dbs = append(dbs, benchDB{"postgres", func(b *testing.B) *store.Store {
			return openPostgres(b, testdb.PostgresSchemaURL(b))
		}})
	}
	return dbs
}

const benchData = 512 // bytes of serialized request per grant

// seedGrants inserts n access tokens with signatures sig-1 … sig-n.
func seedGrants(b *testing.B, s *store.Store, n int) {
	b.Helper()
	start := time.Now()
	db := s.DB()
	if s.Dialect() == store.DialectPostgres {
		err := db.Exec(`INSERT INTO grants
			(kind, signature, request_id, client_id, subject, active, rotated_at, requested_at, expires_at, data)
			SELECT 'access_token', 'sig-' || g, 'req-' || g, 'client-1', 'user-' || (g % 1000), TRUE, NULL,
			       now(), now() + interval '1 hour', convert_to(repeat('x', ?), 'UTF8')
			FROM generate_series(1, ?) AS g`, benchData, n).Error
		if err == nil {
			err = db.Exec("ANALYZE grants").Error
		}
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	} else {
		const batch = 500
		now := time.Now().UTC()
		requested := now.Format("2006-01-02 15:04:05.000000-07:00")
		expires := now.Add(time.Hour).Format("2006-01-02 15:04:05.000000-07:00")
		data := []byte(strings.Repeat("x", benchData))
		err := db.Transaction(func(tx *gorm.DB) error {
			for lo := 1; lo <= n; lo += batch {
				hi := min(lo+batch-1, n)
				var sb strings.Builder
				sb.WriteString(`INSERT INTO grants
					(kind, signature, request_id, client_id, subject, active, rotated_at, requested_at, expires_at, data) VALUES `)
				args := make([]any, 0, 6*(hi-lo+1))
				for i := lo; i <= hi; i++ {
					if i > lo {
						sb.WriteString(", ")
					}
					sb.WriteString("('access_token', ?, ?, 'client-1', ?, TRUE, NULL, ?, ?, ?)")
					args = append(args, "sig-"+strconv.Itoa(i), "req-"+strconv.Itoa(i), "user-"+strconv.Itoa(i%1000), requested, expires, data)
				}
				if err := tx.Exec(sb.String(), args...).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	b.Logf("seeded %d grants in %v", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkGrantBySignature looks up grants by random signature among
// PORTERO_BENCH_GRANTS rows (default 10000), one goroutine and in parallel.
func BenchmarkGrantBySignature(b *testing.B) {
	n := benchGrantCount(b)
	for _, db := range benchDBs() {
		b.Run(fmt.Sprintf("%s/rows=%d", db.name, n), func(b *testing.B) {
			s := db.open(b)
			seedGrants(b, s, n)
			ctx := context.Background()
			// Warm up, and check the seed.
			if _, err := s.GrantBySignature(ctx, identity.GrantAccessToken, "sig-1"); err != nil {
				b.Fatal(err)
			}
			b.Run("serial", func(b *testing.B) {
				rng := mrand.New(mrand.NewPCG(1, 2))
				b.ReportAllocs()
				for b.Loop() {
					sig := "sig-" + strconv.Itoa(1+rng.IntN(n))
					if _, err := s.GrantBySignature(ctx, identity.GrantAccessToken, sig); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				var seed atomic.Uint64
				b.RunParallel(func(pb *testing.PB) {
					rng := mrand.New(mrand.NewPCG(seed.Add(1), 2))
					for pb.Next() {
						sig := "sig-" + strconv.Itoa(1+rng.IntN(n))
						if _, err := s.GrantBySignature(ctx, identity.GrantAccessToken, sig); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkCreateGrant inserts access tokens, one goroutine and in parallel.
func BenchmarkCreateGrant(b *testing.B) {
	for _, db := range benchDBs() {
		b.Run(db.name, func(b *testing.B) {
			s := db.open(b)
			ctx := context.Background()
			var seq atomic.Int64
			data := []byte(strings.Repeat("x", benchData))
			create := func() error {
				i := seq.Add(1)
				now := time.Now()
				return s.CreateGrant(ctx, &identity.Grant{
					Kind: identity.GrantAccessToken, Signature: "sig-" + strconv.FormatInt(i, 10),
					RequestID: "req-" + strconv.FormatInt(i, 10), ClientID: "client-1", Subject: "user-1",
					Active: true, RequestedAt: now, ExpiresAt: now.Add(time.Hour), Data: data,
				})
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := create(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := create(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
