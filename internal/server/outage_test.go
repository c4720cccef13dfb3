package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/testdb"
)

// TestStorageFailureIsNeverAProtocolAnswer: with the database gone, every
// surface answers 503 with Retry-After (temporarily_unavailable on the
// back channel, a page in the browser), never active:false,
// invalid_client, invalid_grant or a 200 for a revocation that did not
// happen. Clients known a moment ago keep authenticating from the cache for
// a bounded while past its TTL.
func TestStorageFailureIsNeverAProtocolAnswer(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, func(c *config.Config) { c.OAuth.ClientCacheTTL = time.Minute })
		browser := e.browser()
		tokens := e.tokensFor(t, browser)
		service := e.clientCredentials("orders-api")["access_token"].(string)
		_, _, reports := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"reports"}, "client_secret": {e.secrets["reports"]}})
		opaque, _ := reports["access_token"].(string)
		if opaque == "" {
			t.Fatalf("reports token: %v", reports)
		}
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		// Past the cache TTL, within the bound for serving stale clients.
		e.advance(2 * time.Minute)

		wantUnavailable := func(what string, status int, hdr http.Header, body map[string]any) {
			t.Helper()
			if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || body["error"] != "temporarily_unavailable" {
				t.Errorf("%s with the database down: %d Retry-After=%q %v, want 503 temporarily_unavailable", what, status, hdr.Get("Retry-After"), body)
			}
		}
		for _, tok := range []string{service, opaque, tokens["access_token"].(string), tokens["refresh_token"].(string)} {
			status, hdr, body := e.postForm("/oauth2/introspect", "orders-api", e.secrets["orders-api"], url.Values{"token": {tok}})
			wantUnavailable("introspection", status, hdr, body)
		}
		status, hdr, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"reports"}, "client_secret": {e.secrets["reports"]}})
		wantUnavailable("client credentials", status, hdr, body)
		status, hdr, body = e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {tokens["refresh_token"].(string)}, "client_id": {"mobile"}})
		wantUnavailable("refresh", status, hdr, body)
		status, hdr, body = e.postForm("/oauth2/revoke", "orders-api", e.secrets["orders-api"], url.Values{"token": {service}})
		wantUnavailable("revocation", status, hdr, body)
		status, hdr, body = e.userinfo(t, "/userinfo", tokens["access_token"].(string))
		wantUnavailable("userinfo", status, hdr, body)
		// A client never seen by this replica: still not invalid_client.
		status, hdr, body = e.postForm("/oauth2/token", "nobody-known", "secret", url.Values{"grant_type": {"client_credentials"}})
		wantUnavailable("an uncached client", status, hdr, body)

		_, challenge := pkcePair()
		for _, path := range []string{strings.TrimPrefix(e.authURL(challenge), e.issuer), "/account"} {
			resp := e.send(browser, http.MethodGet, path, nil)
			page := readAll(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "temporarily_unavailable") {
				t.Errorf("GET %s with the database down: %d Retry-After=%q", path, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		resp := e.send(e.browser(), http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("sign-in with the database down: %d", resp.StatusCode)
		}
	})
}
