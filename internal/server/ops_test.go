package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/testdb"
)

func get(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// metrics reads /metrics from the metrics listener's handler (tests run
// http.metrics_address without listening on it).
func (e *env) metrics(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.MetricsHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestOperationalEndpoints(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, nil)
	if s, _, _ := get(t, e.issuer+"/health/alive"); s != http.StatusOK {
		t.Fatalf("alive: %d", s)
	}
	if s, _, _ := get(t, e.issuer+"/health/ready"); s != http.StatusOK {
		t.Fatalf("ready: %d", s)
	}
	s, h, body := get(t, e.issuer+"/no/such/path")
	if s != http.StatusNotFound || !strings.Contains(body, "not_found") || h.Get("X-Request-Id") == "" {
		t.Fatalf("unknown path: %d %q", s, body)
	}
	e.clientCredentials("orders-api")
	metrics := e.metrics(t)
	for _, want := range []string{
		`portero_tokens_issued_total{grant_type="client_credentials"} 1`,
		`portero_http_requests_total{method="POST",route="/oauth2/token",status="200"} 1`,
		`portero_http_request_duration_seconds_bucket{route="/oauth2/token"`,
		`portero_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	e.introspect("nope")
	metrics = e.metrics(t)
	if !strings.Contains(metrics, `portero_introspections_total{result="inactive"} 1`) {
		t.Error("introspection metric missing")
	}
	// The database going away makes the replica unready.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := get(t, e.issuer+"/health/ready"); s != http.StatusServiceUnavailable {
		t.Fatalf("ready with the database closed: %d", s)
	}
	if s, _, _ := get(t, e.issuer+"/health/alive"); s != http.StatusOK {
		t.Fatalf("alive with the database closed: %d", s)
	}
}

func TestSecurityHeadersOnPages(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, nil)
	s, h, body := get(t, e.issuer+"/login")
	if s != http.StatusOK {
		t.Fatalf("login page: %d", s)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "script-src 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers: %v", h)
	}
	for _, want := range []string{`autocomplete="username webauthn"`, `autocomplete="current-password"`, `<label for="username"`, `<label for="password"`} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	// A cross-site form post is refused (CSRF).
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site login post: %d", resp.StatusCode)
	}
	// Wrong password and unknown user answer the same way.
	for _, user := range []string{"alice", "nobody"} {
		resp, err := http.PostForm(e.issuer+"/login", url.Values{"username": {user}, "password": {"wrong password here"}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `role="alert"`) || len(resp.Cookies()) != 0 {
			t.Fatalf("failed login for %s: %d", user, resp.StatusCode)
		}
	}
}

// TestGracefulShutdown: when shutdown starts, readiness fails at once while
// new requests are still served for the drain period; a request in flight
// still gets its answer; Run returns cleanly.
func TestGracefulShutdown(t *testing.T) {
	st := testdb.SQLite(t)
	cfg := config.Defaults()
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.Secrets.System = "test-system-secret-0123456789abcdefghij"
	cfg.Legal.File = "../legal/example/legal.yaml" // a legal file, as in production
	cfg.HTTP.DrainPeriod = 500 * time.Millisecond
	srv, err := server.NewWithStore(context.Background(), cfg, st, server.WithRequestIDs(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func(a net.Addr) { addrc <- a }) }()
	addr := <-addrc

	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr.String()+"/oauth2/token", pr)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight request failed: %v", err)
			respc <- nil
			return
		}
		respc <- resp
	}()
	_, _ = pw.Write([]byte("grant_type=client_"))
	time.Sleep(100 * time.Millisecond) // the handler is now reading the body
	cancel()
	time.Sleep(100 * time.Millisecond) // draining has begun
	base := "http://" + addr.String()
	if s, _, body := get(t, base+"/health/ready"); s != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("ready while draining: %d %s", s, body)
	}
	// A new connection is still served while the balancer takes the
	// replica out.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Get(base + "/health/alive"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a request while draining: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	_, _ = pw.Write([]byte("credentials"))
	pw.Close()
	resp := <-respc
	if resp == nil {
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("in-flight request answered %d, want 401 (no client credentials)", resp.StatusCode)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestReadinessReflectsRedis: with redis.url set, sign-ins need Redis, so
// a replica that cannot reach it is not ready.
func TestReadinessReflectsRedis(t *testing.T) {
	down := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) { c.Redis.URL = "redis://127.0.0.1:1/0" })
	if s, _, body := get(t, down.issuer+"/health/ready"); s != http.StatusServiceUnavailable || !strings.Contains(body, "redis") {
		t.Fatalf("ready with Redis unreachable: %d %s", s, body)
	}
	// A sign-in cannot meter the guess: it fails closed, as an outage
	// (503 with Retry-After, a page), not as a bare 500.
	_, challenge := pkcePair()
	resp := down.login(down.browser(), down.authURL(challenge), "alice", testPassword)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("sign-in with Redis unreachable: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
	url := os.Getenv("PORTERO_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PORTERO_TEST_REDIS_URL is not set (CI must run this against Redis)")
		}
		t.Skip("PORTERO_TEST_REDIS_URL not set")
	}
	up := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) { c.Redis.URL = url })
	if s, _, body := get(t, up.issuer+"/health/ready"); s != http.StatusOK {
		t.Fatalf("ready with Redis up: %d %s", s, body)
	}
}
