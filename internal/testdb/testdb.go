// Package testdb opens migrated databases for tests: SQLite always, and
// PostgreSQL when PORTERO_TEST_DATABASE_URL is set, each test in a schema
// of its own that is dropped afterwards.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
	st, err := store.Open(context.Background(), store.Options{URL: PostgresSchemaURL(t), MaxOpenConns: 8})
	if err != nil {
		t.Fatalf("open postgres schema: %v", err)
	}
	return migrated(t, st)
}

// PostgresSchemaURL creates an empty schema, dropped when the test ends,
// and returns the PostgreSQL URL with its search_path. It skips the test
// when PORTERO_TEST_DATABASE_URL is not set.
func PostgresSchemaURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		tb.Skip(EnvPostgres + " is not set")
	}
	admin, err := store.Open(context.Background(), store.Options{URL: base, MaxOpenConns: 1})
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if err := admin.DB().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		_ = admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		// Registered before the stores using the schema, so it runs after
		// they have closed.
		defer admin.Close()
		if err := admin.DB().Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func migrated(t testing.TB, st *store.Store) *store.Store {
	t.Helper()
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", errors.Join(err, st.Close()))
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
