package server_test

import (
	"io"
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

// tight turns the limits on with small budgets: burst n, then one a
// minute.
func tight(n int) config.RateLimit { return config.RateLimit{Requests: 1, Per: time.Minute, Burst: n} }

func limited(tweak func(*config.RateLimits)) func(*config.Config) {
	return func(c *config.Config) {
		c.RateLimits = config.Defaults().RateLimits
		tweak(&c.RateLimits)
	}
}

// want429 checks a refusal: 429, Retry-After, and the IETF headers naming
// the class.
func want429(t *testing.T, what string, status int, h http.Header, class string) {
	t.Helper()
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" ||
		!strings.Contains(strings.Join(h.Values("RateLimit-Policy"), ","), `"`+class+`";q=`) ||
		!strings.Contains(strings.Join(h.Values("RateLimit"), ","), `"`+class+`";r=0;t=`) {
		t.Fatalf("%s: %d Retry-After %q RateLimit-Policy %q RateLimit %q, want 429 of %s", what, status, h.Get("Retry-After"),
			h.Values("RateLimit-Policy"), h.Values("RateLimit"), class)
	}
}

func TestTokenLimitPerClient(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, limited(func(l *config.RateLimits) { l.TokenPerClient = tight(3) }))
	token := func(id, secret string) (int, http.Header, map[string]any) {
		return e.postForm("/oauth2/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	}
	// Guessing orders-api's secret does not spend its budget: it is
	// counted once the client has authenticated.
	for range 5 {
		if status, _, _ := token("orders-api", "wrong"); status != http.StatusUnauthorized {
			t.Fatalf("wrong secret: %d", status)
		}
	}
	for i := range 3 {
		status, h, _ := token("orders-api", e.secrets["orders-api"])
		if status != http.StatusOK || !strings.Contains(strings.Join(h.Values("RateLimit"), ","), `"token-client";r=`) {
			t.Fatalf("token %d: %d %v", i, status, h)
		}
	}
	status, h, body := token("orders-api", e.secrets["orders-api"])
	want429(t, "fourth token", status, h, "token-client")
	if body["error"] != "temporarily_unavailable" || h.Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Fatalf("429 body %v (%s), want an RFC 6749-style JSON error", body, h.Get("Content-Type"))
	}
	// Another client is not touched.
	if status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"reports"}, "client_secret": {e.secrets["reports"]}}); status != http.StatusOK {
		t.Fatalf("another client: %d %v", status, body)
	}
	if !strings.Contains(e.metrics(t), `portero_rate_limited_total{class="token-client"} 1`) {
		t.Fatal("the refusal is not counted")
	}
	// A quota of its own (set by an administrator) replaces the default.
	prev, err := e.store.ClientByID(t.Context(), "orders-api")
	if err != nil {
		t.Fatal(err)
	}
	next := *prev
	next.TokenRateLimit, next.UpdatedAt = 6000, prev.UpdatedAt.Add(time.Second)
	if err := e.store.UpdateClient(t.Context(), &next, prev.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	status, h, _ = token("orders-api", e.secrets["orders-api"])
	if status != http.StatusOK || !strings.Contains(strings.Join(h.Values("RateLimit-Policy"), ","), `"token-client";q=6000;w=60`) {
		t.Fatalf("with a quota of 6000 a minute: %d %v", status, h.Values("RateLimit-Policy"))
	}
}

func TestIntrospectionLimitPerClient(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, limited(func(l *config.RateLimits) { l.IntrospectionPerClient = tight(2) }))
	tok := e.clientCredentials("orders-api")["access_token"].(string)
	for range 2 {
		e.introspect(tok)
	}
	status, h, body := e.postForm("/oauth2/introspect", "orders-api", e.secrets["orders-api"], url.Values{"token": {tok}})
	want429(t, "third introspection", status, h, "introspection-client")
	if body["error"] != "temporarily_unavailable" || body["active"] != nil {
		t.Fatalf("429 body %v: never an active verdict", body)
	}
}

func TestOAuthLimitPerAddress(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, limited(func(l *config.RateLimits) { l.OAuthPerAddress = tight(3) }))
	for range 3 {
		e.postForm("/oauth2/revoke", "orders-api", "wrong", url.Values{"token": {"x"}})
	}
	// The address's budget is spent whatever the endpoint or client.
	status, h, body := e.postForm("/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"client_credentials"}})
	want429(t, "token after three revocations", status, h, "oauth-address")
	if body["error"] != "temporarily_unavailable" {
		t.Fatalf("body %v", body)
	}
}

func TestPagesLimitPerAddress(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, limited(func(l *config.RateLimits) { l.PagesPerAddress = tight(2) }))
	for range 2 {
		if status, _, _ := get(t, e.issuer+"/login"); status != http.StatusOK {
			t.Fatalf("login page: %d", status)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "es-CO")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want429(t, "third page", resp.StatusCode, resp.Header, "pages-address")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "Demasiadas solicitudes") {
		t.Fatalf("the refusal is not a translated page: %s %s", resp.Header.Get("Content-Type"), body)
	}
	// Discovery is not a page of that class.
	if status, _, _ := get(t, e.issuer+"/.well-known/openid-configuration"); status != http.StatusOK {
		t.Fatalf("discovery: %d", status)
	}
}

func TestRegistrationLimitPerAddress(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) {
		limited(func(l *config.RateLimits) { l.RegistrationPerAddress = tight(1) })(c)
		c.Secrets.ClientRegistration = registrationToken
	})
	first, _ := http.Post(e.issuer+"/oauth2/register", "application/json", strings.NewReader(`{}`))
	first.Body.Close()
	resp, err := http.Post(e.issuer+"/oauth2/register", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want429(t, "second registration", resp.StatusCode, resp.Header, "registration-address")
}

func TestAdminAPILimit(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, limited(func(l *config.RateLimits) { l.AdminPerPrincipal = tight(2) }))
	for range 2 {
		if status, _, _ := get(t, e.issuer+"/admin/v1/clients"); status != http.StatusUnauthorized {
			t.Fatalf("admin API without a token: %d", status)
		}
	}
	status, h, body := get(t, e.issuer+"/admin/v1/clients")
	want429(t, "third admin request", status, h, "admin-address")
	if h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, "too-many-requests") {
		t.Fatalf("the refusal is not a problem: %s %s", h.Get("Content-Type"), body)
	}
}

// TestLimitsSharedThroughRedis: two replicas on one Redis spend one
// budget; with Redis unreachable each replica still limits on its own
// (fail-soft: never no limit, never an outage).
func TestLimitsSharedThroughRedis(t *testing.T) {
	redisURL := os.Getenv("PORTERO_TEST_REDIS_URL")
	if redisURL == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PORTERO_TEST_REDIS_URL is not set (CI must run this against Redis)")
		}
		t.Skip("PORTERO_TEST_REDIS_URL not set")
	}
	prefix := "portero-test:" + randomString() + ":"
	tweak := limited(func(l *config.RateLimits) { l.TokenPerClient = tight(3) })
	withRedis := func(url string) func(*config.Config) {
		return func(c *config.Config) { tweak(c); c.Redis.URL, c.Redis.KeyPrefix = url, prefix }
	}
	a := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, withRedis(redisURL))
	b := a.replica(t, withRedis(redisURL))
	statuses := []int{}
	for i := range 4 {
		e := []*env{a, b}[i%2]
		status, _, _ := e.postForm("/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"client_credentials"}})
		statuses = append(statuses, status)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 200 || statuses[3] != http.StatusTooManyRequests {
		t.Fatalf("across two replicas: %v, want three 200 and a 429", statuses)
	}

	down := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, withRedis("redis://127.0.0.1:1/0"))
	down.createClient(&identity.Client{ID: "batch", Name: "batch", TokenEndpointAuthMethod: identity.AuthMethodBasic,
		GrantTypes: []string{"client_credentials"}, TokenFormat: identity.TokenFormatOpaque, IDTokenSignedResponseAlg: "RS256"})
	statuses = statuses[:0]
	start := time.Now()
	for range 4 {
		status, _, _ := down.postForm("/oauth2/token", "batch", down.secrets["batch"], url.Values{"grant_type": {"client_credentials"}})
		statuses = append(statuses, status)
	}
	if statuses[0] != 200 || statuses[2] != 200 || statuses[3] != http.StatusTooManyRequests {
		t.Fatalf("with Redis down: %v, want the limit kept in memory", statuses)
	}
	t.Logf("4 requests with Redis down: %s", time.Since(start))
	// Each request checks its address and its client: eight fall-backs.
	if m := down.metrics(t); !strings.Contains(m, "\nportero_rate_limit_fallback_total 8\n") {
		t.Fatal("the fall-backs to memory are not counted")
	}
}

// TestNetworkRules: a denied network is refused everywhere but the health
// probes, at once on this replica; the most specific rule wins; an allowed
// network has no address budget.
func TestNetworkRules(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, limited(func(l *config.RateLimits) { l.PagesPerAddress = tight(1) }))
	actor := manage.Actor{ID: "cli:test", Roles: []string{identity.RoleSuperAdmin}}
	if _, err := e.srv.Manage.SetNetworkRule(t.Context(), actor, identity.NetworkRule{Prefix: "127.0.0.0/8", Action: identity.NetworkDeny}); err != nil {
		t.Fatal(err)
	}
	status, _, body := e.postForm("/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"client_credentials"}})
	if status != http.StatusForbidden || body["error"] != "access_denied" {
		t.Fatalf("token from a denied network: %d %v", status, body)
	}
	if status, _, _ := get(t, e.issuer+"/health/ready"); status != http.StatusOK {
		t.Fatalf("readiness from a denied network: %d", status)
	}
	// The host inside the denied range is allowed: the longer prefix wins,
	// and it spends no address budget.
	if _, err := e.srv.Manage.SetNetworkRule(t.Context(), actor, identity.NetworkRule{Prefix: "127.0.0.1", Action: identity.NetworkAllow}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if status, _, _ := get(t, e.issuer+"/login"); status != http.StatusOK {
			t.Fatalf("login page from an allowed address: %d", status)
		}
	}
	if err := e.srv.Manage.RemoveNetworkRule(t.Context(), actor, "127.0.0.1/32"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/login", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("a browser on a denied network: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	entries, err := e.store.LedgerEntries(t.Context(), identity.LedgerFilter{Types: []string{manage.EventNetworkRuleSet, manage.EventNetworkRuleRemoved}, Limit: 10})
	if err != nil || len(entries) != 3 {
		t.Fatalf("ledger: %d entries, %v", len(entries), err)
	}
}
