// Package testdb opens migrated databases for tests: SQLite always, and
// PostgreSQL when PORTERO_TEST_DATABASE_URL is set, each test in a schema
// of its own that is dropped afterwards.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/portero-id/portero/internal/store"
)

// EnvPostgres names the variable holding the PostgreSQL URL for tests.
const EnvPostgres = "PORTERO_TEST_DATABASE_URL"

// Backend opens a fresh, migrated store.
type Backend struct {
	Name string
	Open func(t testing.TB) *store.Store
}

// Backends returns SQLite and, when configured, PostgreSQL.
func Backends() []Backend {
	b := []Backend{{Name: "sqlite", Open: SQLite}}
	if os.Getenv(EnvPostgres) != "" {
		b = append(b, Backend{Name: "postgres", Open: Postgres})
	}
	return b
}

// ForEach runs fn as a subtest on every backend.
func ForEach(t *testing.T, fn func(t *testing.T, b Backend)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// SQLite opens a migrated SQLite database in a temporary directory.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(t.TempDir(), "portero.db")})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	return migrated(t, st)
}

// Postgres opens a migrated PostgreSQL schema of the test's own.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skip(EnvPostgres + " is not set")
	}
	ctx := context.Background()
	admin, err := store.Open(ctx, store.Options{URL: base, MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if err := admin.DB().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_ = admin.DB().Exec("DROP SCHEMA " + schema + " CASCADE").Error
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := store.Open(ctx, store.Options{URL: u.String(), MaxOpenConns: 8})
	if err != nil {
		t.Fatalf("open postgres schema: %v", err)
	}
	return migrated(t, st)
}

func migrated(t testing.TB, st *store.Store) *store.Store {
	t.Helper()
	if err := st.Migrate(context.Background()); err != nil {
		st.Close()
		t.Fatalf("migrate: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
