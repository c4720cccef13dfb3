package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/testdb"
)

// BenchmarkSignIn measures password sign-in (POST /login) with the
// production argon2id cost (OWASP: m=19 MiB, t=2, p=1) against the bare
// argon2id verification, to show what the rest of the request adds; and
// the known, wrong-password and unknown-user paths side by side, which
// must cost the same (no user enumeration by timing).
//
//	go test ./internal/server -run '^$' -bench SignIn -benchtime=3s
func BenchmarkSignIn(b *testing.B) {
	e := newEnv(b, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) {
		d := config.Defaults()
		c.Accounts.Argon2MemoryKiB, c.Accounts.Argon2Iterations, c.Accounts.Argon2Parallelism =
			d.Accounts.Argon2MemoryKiB, d.Accounts.Argon2Iterations, d.Accounts.Argon2Parallelism
		// Measure the sign-in, not the back-off.
		c.Throttle.Account.FreeAttempts, c.Throttle.IP.FreeAttempts = 1<<30, 1<<30
		c.Throttle.Account.LockoutAfter, c.Throttle.IP.LockoutAfter = 0, 0
	})
	const password = "benchmark passphrase 2026"
	hash, err := identity.HashPassword(password, identity.DefaultArgon2Params)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), &identity.User{Username: "bench", Email: "bench@example.com", PasswordHash: hash, Roles: []string{"customer"}}); err != nil {
		b.Fatal(err)
	}
	login := func(username, pw string, want int) func() {
		body := url.Values{"username": {username}, "password": {pw}}.Encode()
		return func() {
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			e.srv.Handler.ServeHTTP(rec, req)
			if rec.Code != want {
				b.Fatalf("%s: %d, want %d", username, rec.Code, want)
			}
		}
	}
	serial := func(name string, fn func()) {
		b.Run(name, func(b *testing.B) {
			fn() // warm up (dummy hash, statements)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				fn()
			}
		})
	}
	serial("argon2id-verify", func() {
		if err := identity.VerifyPassword(hash, password); err != nil {
			b.Fatal(err)
		}
	})
	serial("login-success", login("bench", password, http.StatusSeeOther))
	serial("login-wrong-password", login("bench", "not the password at all", http.StatusUnauthorized))
	serial("login-unknown-user", login("nobody", "not the password at all", http.StatusUnauthorized))

	// The request without argon2id's cost: a server configured with the
	// cheapest parameters (1 MiB, t=1; the test harness's) signs alice in,
	// next to the bare verification of her hash. The difference is what
	// Portero adds: form parsing, CSRF check, throttle, user lookup,
	// session row, cookie, audit event, access log and metrics.
	cheapHash, _ := identity.HashPassword(testPassword, identity.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	serial("argon2id-verify-1MiB", func() {
		if err := identity.VerifyPassword(cheapHash, testPassword); err != nil {
			b.Fatal(err)
		}
	})
	cheapBody := url.Values{"username": {"alice"}, "password": {testPassword}}.Encode()
	for _, backend := range testdb.Backends() {
		cheap := newEnv(b, backend, func(c *config.Config) {
			c.Throttle.Account.FreeAttempts, c.Throttle.IP.FreeAttempts = 1<<30, 1<<30
		})
		serial("login-success-1MiB-"+backend.Name, func() {
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(cheapBody))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			cheap.srv.Handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther {
				b.Fatalf("alice: %d", rec.Code)
			}
		})
	}

	// Throughput: as many concurrent sign-ins as the machine takes.
	b.Run("login-success-parallel", func(b *testing.B) {
		ok := login("bench", password, http.StatusSeeOther)
		b.SetParallelism(4)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ok()
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
	})
}

// BenchmarkAuthorizeSignedIn is the dispatcher's whole path for a browser
// already signed in: validate the request, gather the facts, decide the
// step (identity.Next) and issue a code (first-party client, no pages).
//
//	go test ./internal/server -run '^$' -bench AuthorizeSignedIn -benchtime=3s
func BenchmarkAuthorizeSignedIn(b *testing.B) {
	e := newEnv(b, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, nil)
	browser := e.browser()
	_, challenge := pkcePair()
	authURL := e.authURL(challenge)
	if q := e.authorize(browser, authURL); q.Get("code") == "" {
		b.Fatalf("no code: %v", q)
	}
	u, _ := url.Parse(e.issuer)
	var cookies []string
	for _, c := range browser.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	path := strings.TrimPrefix(authURL, e.issuer)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
		rec := httptest.NewRecorder()
		e.srv.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "code=") {
			b.Fatalf("authorize: %d %s", rec.Code, rec.Header().Get("Location"))
		}
	}
}
