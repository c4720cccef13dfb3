package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/testdb"
	"github.com/portero-id/portero/oauth"
)

// statements counts the storage statements among the spans recorded.
func statements(spans tracetest.SpanStubs) int {
	n := 0
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindClient {
			n++
		}
	}
	return n
}

// TestStatelessTokensTouchNoDatabase: once the caches are warm, issuing
// client-credentials JWTs and introspecting them runs no storage
// statement at all (counted with the store's own spans, one per
// statement); in the stored mode every token costs a write.
func TestStatelessTokensTouchNoDatabase(t *testing.T) {
	for _, stored := range []bool{false, true} {
		exporter := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
		st, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(t.TempDir(), "portero.db"), Tracer: tp})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The harness turns the client cache off; a deployment has it on.
		e := newServer(t, st, func(c *config.Config) { c.OAuth.StoredAccessTokens, c.OAuth.ClientCacheTTL = stored, time.Minute },
			extras{opts: []server.Option{server.WithTracerProvider(tp)}})
		e.seed()
		e.introspect(e.clientCredentials("orders-api")["access_token"].(string)) // warm the caches
		exporter.Reset()
		const n = 20
		for range n {
			token := e.clientCredentials("orders-api")["access_token"].(string)
			if e.introspect(token)["active"] != true {
				t.Fatal("a fresh token is inactive")
			}
		}
		got := statements(exporter.GetSpans())
		switch {
		case !stored && got != 0:
			t.Errorf("stateless: %d storage statements for %d tokens issued and introspected, want none", got, n)
		case stored && got < n:
			t.Errorf("stored: %d storage statements for %d tokens, want at least one write each", got, n)
		}
	}
}

func revokeToken(e *env, client, token string) int {
	status, _, _ := e.postForm("/oauth2/revoke", client, e.secrets[client], url.Values{"token": {token}})
	return status
}

// TestStatelessRevocation: every way of ending a token ends a stateless
// one, at once on the replica that ended it.
func TestStatelessRevocation(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		ctx := context.Background()
		actor := manage.Actor{ID: "cli:test", Roles: []string{identity.RoleSuperAdmin}}
		token := func() string { return e.clientCredentials("orders-api")["access_token"].(string) }
		active := func(tok string) bool { return e.introspect(tok)["active"] == true }

		// RFC 7009, by the token's own client: that token only.
		one, two := token(), token()
		if status := revokeToken(e, "orders-api", one); status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		if active(one) || !active(two) {
			t.Fatalf("after revoking one token: one active=%v, two active=%v", active(one), active(two))
		}
		if n, err := e.srv.Store.TokenRevocations(ctx, 0, time.Now()); err != nil || len(n) != 1 {
			t.Fatalf("revocation rules: %v, %v", n, err)
		}

		// An administrator ends the client's tokens: the earlier ones end,
		// a token issued right after is good.
		if _, err := e.srv.Manage.RevokeTokens(ctx, actor, identity.GrantFilter{ClientID: "orders-api"}); err != nil {
			t.Fatal(err)
		}
		after := token()
		if active(two) || !active(after) {
			t.Fatalf("after revoking the client's tokens: earlier active=%v, new active=%v", active(two), active(after))
		}

		// A disabled client's tokens stop validating, and come back with it.
		if _, err := e.srv.Manage.SetClientDisabled(ctx, actor, "orders-api", true, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.srv.Provider.Principal(ctx, after); !errors.Is(err, oauth.ErrInactiveToken) {
			t.Fatalf("a disabled client's token: %v", err)
		}
		if _, err := e.srv.Manage.SetClientDisabled(ctx, actor, "orders-api", false, nil); err != nil {
			t.Fatal(err)
		}
		if !active(after) {
			t.Fatal("the token did not come back with its client")
		}

		// A forged token that claims to be stateless is nothing.
		if active(after[:strings.LastIndexByte(after, '.')] + ".AAAA") {
			t.Fatal("a token with a forged signature is active")
		}
	})
}

// TestStoredAccessTokensMode: with oauth.stored_access_tokens, a
// client-credentials token has its row again, and revoking it
// deactivates the row.
func TestStoredAccessTokensMode(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, func(c *config.Config) { c.OAuth.StoredAccessTokens = true })
		token := e.clientCredentials("orders-api")["access_token"].(string)
		sum := sha256.Sum256([]byte(token))
		g, err := e.srv.Store.GrantBySignature(context.Background(), identity.GrantAccessToken, base64.RawURLEncoding.EncodeToString(sum[:]))
		if err != nil || !g.Active {
			t.Fatalf("the token's row: %+v, %v", g, err)
		}
		if _, claims := decodeJWT(t, token); claims["stateless"] != nil {
			t.Fatal("a stored token claims to be stateless")
		}
		if revokeToken(e, "orders-api", token) != http.StatusOK || e.introspect(token)["active"] != false {
			t.Fatal("the stored token survived its revocation")
		}
	})
}

// TestStatelessRevocationReachesReplicas: two replicas on one PostgreSQL.
// A token revoked on A is inactive on B within a second; and when B's
// announcements are cut (its listening connection killed) just before a
// revocation, B still catches up, through the full reload after it
// reconnects.
func TestStatelessRevocationReachesReplicas(t *testing.T) {
	dsn := os.Getenv("PORTERO_TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PORTERO_TEST_DATABASE_URL is not set (CI must run this against PostgreSQL)")
		}
		t.Skip("announcements need PostgreSQL (PORTERO_TEST_DATABASE_URL)")
	}
	pg := testdb.Backend{Name: "postgres", Open: testdb.Postgres}
	a := newEnv(t, pg, nil)
	b := a.replica(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.srv.FollowChanges(ctx)
	go b.srv.FollowChanges(ctx)

	token := func() string { return a.clientCredentials("orders-api")["access_token"].(string) }
	activeOn := func(e *env, tok string) bool { return e.introspect(tok)["active"] == true }
	first := token()
	if !activeOn(b, first) {
		t.Fatal("replica B does not accept replica A's token")
	}
	// B listens once a revocation made now shows there.
	if revokeToken(a, "orders-api", first) != http.StatusOK || !within(3*time.Second, func() bool { return !activeOn(b, first) }) {
		t.Fatal("replica B never saw the revocation")
	}
	second := token()
	start := time.Now()
	if revokeToken(a, "orders-api", second) != http.StatusOK {
		t.Fatal("revoke")
	}
	if !within(time.Second, func() bool { return !activeOn(b, second) }) {
		t.Fatalf("replica B accepted a revoked token for over a second (%s)", time.Since(start))
	}
	t.Logf("revocation on A seen on B after %s", time.Since(start))

	// Cut every listening connection, then revoke at once: B may miss
	// the announcement, and must catch up when it reconnects.
	third := token()
	if !activeOn(b, third) {
		t.Fatal("the third token is not active on B")
	}
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Error; err != nil {
		t.Fatal(err)
	}
	if revokeToken(a, "orders-api", third) != http.StatusOK {
		t.Fatal("revoke")
	}
	if !within(5*time.Second, func() bool { return !activeOn(b, third) }) {
		t.Fatal("replica B never caught up with a revocation made while its announcements were cut")
	}
}
