package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/testdb"
)

// within polls cond until it holds or d has passed.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicasFollowChanges: two replicas on one PostgreSQL database, each
// caching clients for a minute. A secret rotated, a client disabled and a
// signing key added through replica A hold on replica B within a second:
// the database announces the change and B drops what it cached.
func TestReplicasFollowChanges(t *testing.T) {
	if os.Getenv("PORTERO_TEST_DATABASE_URL") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PORTERO_TEST_DATABASE_URL is not set (CI must run this against PostgreSQL)")
		}
		t.Skip("change notifications need PostgreSQL (PORTERO_TEST_DATABASE_URL)")
	}
	pg := testdb.Backend{Name: "postgres", Open: testdb.Postgres}
	tweak := func(c *config.Config) { c.OAuth.ClientCacheTTL = time.Minute }
	a := newEnv(t, pg, tweak)
	b := a.replica(t, tweak)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.srv.FollowChanges(ctx)
	go b.srv.FollowChanges(ctx)

	token := func(e *env, secret string) int {
		status, _, _ := e.postForm("/oauth2/token", "orders-api", secret, url.Values{"grant_type": {"client_credentials"}})
		return status
	}
	old := a.secrets["orders-api"]
	// Both replicas cache the client.
	if token(a, old) != http.StatusOK || token(b, old) != http.StatusOK {
		t.Fatal("orders-api cannot get a token")
	}
	// B listens (its first resync has run) once a change made now shows.
	actor := manage.Actor{ID: "cli:test", Roles: []string{identity.RoleSuperAdmin}}
	_, fresh, err := a.srv.Manage.RotateClientSecret(context.Background(), actor, "orders-api", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !within(3*time.Second, func() bool { return token(b, fresh) == http.StatusOK }) {
		t.Fatal("replica B never accepted the rotated secret")
	}
	if token(b, old) != http.StatusUnauthorized {
		t.Fatal("replica B still accepts the old secret")
	}

	// Now timed: a second rotation holds on B within a second.
	start := time.Now()
	_, newer, err := a.srv.Manage.RotateClientSecret(context.Background(), actor, "orders-api", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !within(time.Second, func() bool { return token(b, newer) == http.StatusOK && token(b, fresh) == http.StatusUnauthorized }) {
		t.Fatalf("replica B did not follow the rotation within a second (%s)", time.Since(start))
	}

	if _, err := a.srv.Manage.SetClientDisabled(context.Background(), actor, "orders-api", true, nil); err != nil {
		t.Fatal(err)
	}
	if !within(time.Second, func() bool { return token(b, newer) == http.StatusUnauthorized }) {
		t.Fatal("replica B accepted a disabled client for over a second")
	}

	keys, err := a.srv.Manage.RotateKeys(context.Background(), actor)
	if err != nil {
		t.Fatal(err)
	}
	published := func() bool {
		_, _, body := get(t, b.issuer+"/.well-known/jwks.json")
		for _, k := range keys {
			if !strings.Contains(body, `"kid":"`+k.ID+`"`) {
				return false
			}
		}
		return true
	}
	if !within(time.Second, published) {
		t.Fatal("replica B did not publish the new signing keys within a second")
	}

	// A network denied on A is refused on B within a second.
	if _, err := a.srv.Manage.SetNetworkRule(context.Background(), actor, identity.NetworkRule{Prefix: "127.0.0.0/8", Action: identity.NetworkDeny}); err != nil {
		t.Fatal(err)
	}
	if !within(time.Second, func() bool { s, _, _ := get(t, b.issuer+"/.well-known/jwks.json"); return s == http.StatusForbidden }) {
		t.Fatal("replica B still serves a network denied on A after a second")
	}
	if err := a.srv.Manage.RemoveNetworkRule(context.Background(), actor, "127.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	if !within(time.Second, func() bool { s, _, _ := get(t, b.issuer+"/.well-known/jwks.json"); return s == http.StatusOK }) {
		t.Fatal("replica B still refuses a network no longer denied after a second")
	}
}

// TestRevokeACompromisedKey: revoking the access tokens' signing key
// unpublishes it, signs with a replacement from now on, and ends the
// access tokens still active (refresh tokens stay: clients refresh).
func TestRevokeACompromisedKey(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		actor := manage.Actor{ID: "cli:test", Roles: []string{identity.RoleSuperAdmin}}
		before := e.clientCredentials("orders-api")["access_token"].(string)
		header, _ := decodeJWT(t, before)
		kid := header["kid"].(string)
		refresh := e.tokensFor(t, e.browser())["refresh_token"].(string)

		replacement, n, err := e.srv.Manage.RevokeKey(context.Background(), actor, kid)
		if err != nil {
			t.Fatal(err)
		}
		// The user's access token has a row to deactivate; the
		// client-credentials one is stateless and ends with its key.
		if n < 1 {
			t.Fatalf("%d access tokens revoked, want every stored one", n)
		}
		if e.introspect(before)["active"] != false {
			t.Fatal("a token signed with the revoked key is still active")
		}
		if _, _, jwks := get(t, e.issuer+"/.well-known/jwks.json"); strings.Contains(jwks, kid) || !strings.Contains(jwks, replacement.ID) {
			t.Fatalf("JWKS after revoking %s: %s", kid, jwks)
		}
		after := e.clientCredentials("orders-api")["access_token"].(string)
		if h, _ := decodeJWT(t, after); h["kid"] != replacement.ID || e.introspect(after)["active"] != true {
			t.Fatalf("a new token: kid %v", h["kid"])
		}
		if status, body := e.refresh(refresh); status != http.StatusOK {
			t.Fatalf("the refresh token after the revocation: %d %v", status, body)
		}
		if _, _, err := e.srv.Manage.RevokeKey(context.Background(), actor, kid); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("revoking it again: %v", err)
		}
		nobody := manage.Actor{ID: "admin:x", Roles: []string{"admin"}}
		if _, _, err := e.srv.Manage.RevokeKey(context.Background(), nobody, replacement.ID); !errors.Is(err, manage.ErrForbidden) {
			t.Fatalf("an admin without portero:roles:admin: %v", err)
		}
	})
}
