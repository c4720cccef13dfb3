package resource

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portero-id/portero/internal/config"
)

var modes = []Mode{Introspect, LocalJWT}

func TestValidTokensAreAccepted(t *testing.T) {
	p := newPortero(t, nil)
	jwtToken := p.userToken("mobile", "alice", "orders:read orders:write", "orders-api")
	opaque := p.userToken("webapp", "alice", "orders:read", "orders-api")
	if h, _ := jwtParts(t, jwtToken); h["typ"] != "at+jwt" || h["alg"] != "ES256" {
		t.Fatalf("Portero's access token header = %v", h)
	}
	if !strings.HasPrefix(opaque, "portero_at_") {
		t.Fatal("shop-opaque did not get an opaque token")
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			v, tr, _ := p.newValidator(func(c *Config) { c.Mode = mode })
			for _, tc := range []struct {
				name, token, client string
				scopes              []string
			}{
				{"jwt", jwtToken, "mobile", []string{"orders:read", "orders:write"}},
				{"opaque", opaque, "webapp", []string{"orders:read"}},
			} {
				before := tr.count("/oauth2/introspect")
				res := call(v, "Bearer "+tc.token, nil)
				if res.status != http.StatusOK || res.claims == nil {
					t.Fatalf("%s: %d %s %s", tc.name, res.status, res.challenge, res.body)
				}
				c := res.claims
				if c.Subject != p.users["alice"] || c.ClientID != tc.client || c.Issuer != p.issuer ||
					!slices.Equal(c.Audience, []string{"orders-api"}) || !slices.Equal(c.Scopes, tc.scopes) ||
					!slices.Equal(c.Roles, []string{"customer", "vendor"}) || len(c.Permissions) != 0 {
					t.Fatalf("%s: claims = %+v", tc.name, c)
				}
				if d := time.Until(c.ExpiresAt); d < 14*time.Minute || d > 16*time.Minute || time.Since(c.IssuedAt) > time.Minute {
					t.Fatalf("%s: exp %v iat %v", tc.name, c.ExpiresAt, c.IssuedAt)
				}
				if c.Raw["client_id"] != tc.client {
					t.Fatalf("%s: raw = %v", tc.name, c.Raw)
				}
				// LocalJWT verifies JWTs without asking Portero; opaque
				// tokens fall back to introspection.
				asked := tr.count("/oauth2/introspect") - before
				if want := int64(1); mode == LocalJWT && tc.name == "jwt" {
					want = 0
					if asked != want {
						t.Fatalf("%s: %d introspections, want %d", tc.name, asked, want)
					}
				} else if asked != want {
					t.Fatalf("%s: %d introspections, want %d", tc.name, asked, want)
				}
			}
		})
	}

	// Validate returns a copy: changing it does not touch the cache.
	v, _, _ := p.newValidator(nil)
	c1, err := v.Validate(context.Background(), opaque)
	if err != nil {
		t.Fatal(err)
	}
	c1.Roles[0] = "admin"
	c1.Raw["sub"] = "someone-else"
	c2, _ := v.Validate(context.Background(), opaque)
	if c2.Roles[0] != "customer" || c2.Raw["sub"] != p.users["alice"] {
		t.Fatalf("the cached claims were changed through a returned copy: %+v", c2)
	}

	// Client-credentials tokens: the client is the subject, with its roles.
	for _, mode := range modes {
		v, _, _ := p.newValidator(func(c *Config) { c.Mode = mode; c.Audience = "" })
		for _, client := range []string{"shop", "shop-opaque"} {
			res := call(v, "Bearer "+p.serviceToken(client), nil)
			if c := res.claims; res.status != http.StatusOK || c.Subject != client || c.ClientID != client ||
				!slices.Equal(c.Roles, []string{"vendor"}) || !slices.Equal(c.Audience, []string{client}) {
				t.Fatalf("%v, %s: %d %+v", mode, client, res.status, c)
			}
		}
	}

	// LocalJWT without credentials verifies JWTs and refuses opaque tokens.
	v, tr, _ := p.newValidator(func(c *Config) { c.Mode = LocalJWT; c.ClientID, c.ClientSecret = "", "" })
	if res := call(v, "Bearer "+jwtToken, nil); res.status != http.StatusOK {
		t.Fatalf("JWT without credentials: %d %s", res.status, res.challenge)
	}
	if res := call(v, "Bearer "+opaque, nil); res.status != http.StatusUnauthorized || !strings.Contains(res.challenge, `error="invalid_token"`) {
		t.Fatalf("opaque without credentials: %d %s", res.status, res.challenge)
	}
	if n := tr.count("/oauth2/introspect"); n != 0 {
		t.Fatalf("%d introspections without credentials", n)
	}
}

func TestBadTokensAreRefused(t *testing.T) {
	p := newPortero(t, nil)
	good := p.userToken("mobile", "alice", "orders:read", "orders-api")
	_, base := jwtParts(t, good)
	header, _ := jwtParts(t, good)
	with := func(change map[string]any) map[string]any {
		c := maps.Clone(base)
		maps.Copy(c, change)
		return c
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64JSON(with(map[string]any{"roles": []string{"admin"}})) + "." + parts[2]
	algNone := b64JSON(map[string]any{"alg": "none", "typ": "at+jwt", "kid": header["kid"]}) + "." + parts[1] + "."
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	tokens := []struct {
		name, token string
	}{
		{"wrong issuer", p.forge("at+jwt", with(map[string]any{"iss": "https://evil.example"}))},
		{"wrong audience", p.userToken("mobile", "bob", "orders:read", "")}, // aud is [mobile]
		{"wrong audience, opaque", p.userToken("webapp", "bob", "orders:read", "")},
		{"wrong audience, service", p.serviceToken("shop")}, // aud is [shop]
		{"expired", p.forge("at+jwt", with(map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()}))},
		{"not yet valid", p.forge("at+jwt", with(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}))},
		{"tampered", tampered},
		{"alg none", algNone},
		{"typ JWT", p.forge("JWT", base)},
		{"no typ", p.forge("", base)},
		{"foreign key", signWith(t, attacker, header["kid"].(string), jose.ES256, "at+jwt", base)},
		{"unknown kid", signWith(t, attacker, "attacker", jose.ES256, "at+jwt", base)},
		{"garbage", "not-a-token"},
		{"garbage JWT", "eyJ.eyJ.sig"},
		{"refresh token", p.refreshToken()},
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			var logs bytes.Buffer
			v, _, _ := p.newValidator(func(c *Config) {
				c.Mode = mode
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			if res := call(v, "Bearer "+good, nil); res.status != http.StatusOK {
				t.Fatalf("the good token: %d %s", res.status, res.challenge)
			}
			for _, tc := range tokens {
				res := call(v, "Bearer "+tc.token, nil)
				if res.status != http.StatusUnauthorized || res.claims != nil {
					t.Errorf("%s: %d %s", tc.name, res.status, res.challenge)
					continue
				}
				if !strings.HasPrefix(res.challenge, `Bearer realm="orders-api", error="invalid_token", error_description="`) {
					t.Errorf("%s: WWW-Authenticate = %s", tc.name, res.challenge)
				}
				if !strings.Contains(res.body, `"error":"invalid_token"`) {
					t.Errorf("%s: body = %s", tc.name, res.body)
				}
				_, err := v.Validate(context.Background(), tc.token)
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("%s: Validate error = %v", tc.name, err)
				}
				for what, s := range map[string]string{"header": res.challenge, "body": res.body, "error": fmt.Sprint(err)} {
					parts := strings.Split(tc.token, ".")
					if strings.Contains(s, tc.token) || len(parts[len(parts)-1]) > 8 && strings.Contains(s, parts[len(parts)-1]) {
						t.Errorf("%s: the %s contains the token: %s", tc.name, what, s)
					}
				}
				t.Logf("%s: %s", tc.name, res.challenge)
			}
			for _, tc := range tokens {
				if strings.Contains(logs.String(), tc.token) {
					t.Errorf("the log contains the %s token", tc.name)
				}
			}
		})
	}

	// Expired by the validator's own clock too (30 s leeway).
	v, _, clock := p.newValidator(func(c *Config) { c.Mode = LocalJWT })
	clock.advance(15*time.Minute + 20*time.Second)
	if res := call(v, "Bearer "+good, nil); res.status != http.StatusOK {
		t.Fatalf("within the leeway: %d %s", res.status, res.challenge)
	}
	clock.advance(15 * time.Second)
	if res := call(v, "Bearer "+good, nil); res.status != http.StatusUnauthorized || !strings.Contains(res.challenge, "expired") {
		t.Fatalf("past the leeway: %d %s", res.status, res.challenge)
	}
}

func TestTokenExpiredAtPortero(t *testing.T) {
	p := newPortero(t, func(cfg *config.Config) { cfg.OAuth.AccessTokenLifespan = time.Second })
	for _, client := range []string{"mobile", "webapp"} {
		tok := p.userToken(client, "alice", "orders:read", "orders-api")
		v, _, _ := p.newValidator(func(c *Config) { c.CacheTTL = time.Hour })
		if res := call(v, "Bearer "+tok, nil); res.status != http.StatusOK {
			t.Fatalf("%s fresh: %d %s", client, res.status, res.challenge)
		}
		// The cache entry does not outlive the token, however long
		// CacheTTL is.
		v.cache.mu.Lock()
		e := v.cache.byKey[sha256.Sum256([]byte(tok))].Value.(*cacheEntry)
		v.cache.mu.Unlock()
		if e.expires.After(e.claims.ExpiresAt) {
			t.Fatalf("%s: cache entry expires %v, after the token (%v)", client, e.expires, e.claims.ExpiresAt)
		}
		time.Sleep(time.Until(e.claims.ExpiresAt) + 50*time.Millisecond)
		res := call(v, "Bearer "+tok, nil)
		if res.status != http.StatusUnauthorized || !strings.Contains(res.challenge, `error="invalid_token"`) {
			t.Fatalf("%s expired: %d %s", client, res.status, res.challenge)
		}
	}
}

func TestMalformedAndMissingCredentials(t *testing.T) {
	p := newPortero(t, nil)
	v, tr, _ := p.newValidator(nil)
	for _, tc := range []struct {
		name, header string
		status       int
		challenge    string
	}{
		{"missing", "", 401, `Bearer realm="orders-api"`},
		{"another scheme", "Basic b3JkZXJzOnNlY3JldA==", 401, `Bearer realm="orders-api"`},
		{"empty bearer", "Bearer", 400, `Bearer realm="orders-api", error="invalid_request"`},
		{"bearer and spaces", "Bearer    ", 400, `Bearer realm="orders-api", error="invalid_request"`},
		{"two words", "Bearer abc def", 400, `Bearer realm="orders-api", error="invalid_request"`},
		{"bad characters", "Bearer abc$def", 400, `Bearer realm="orders-api", error="invalid_request"`},
		{"only padding", "Bearer ===", 400, `Bearer realm="orders-api", error="invalid_request"`},
	} {
		res := call(v, tc.header, nil)
		if res.status != tc.status || !strings.HasPrefix(res.challenge, tc.challenge) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, res.status, res.challenge, tc.status, tc.challenge)
		}
		if tc.status == 401 && res.challenge != tc.challenge {
			t.Errorf("%s: no error code without a token (RFC 6750 §3.1), got %q", tc.name, res.challenge)
		}
	}
	// Two Authorization headers.
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Add("Authorization", "Bearer abc")
	req.Header.Add("Authorization", "Bearer def")
	if _, st := bearerToken(req); st != tokenMalformed {
		t.Error("two Authorization headers accepted")
	}
	// The scheme is case-insensitive.
	tok := p.userToken("mobile", "alice", "orders:read", "orders-api")
	if res := call(v, "bearer "+tok, nil); res.status != http.StatusOK {
		t.Errorf("lower-case scheme: %d", res.status)
	}
	if n := tr.count("/oauth2/introspect"); n != 1 {
		t.Errorf("%d introspections, want 1 (malformed headers never reach Portero)", n)
	}
}

func TestRequireScopeRoleAndPermission(t *testing.T) {
	p := newPortero(t, nil)
	read := p.userToken("mobile", "alice", "orders:read", "orders-api")
	write := p.userToken("mobile", "alice", "orders:write", "orders-api")
	customer := p.userToken("mobile", "bob", "orders:read orders:write", "orders-api")
	opaque := p.userToken("webapp", "alice", "orders:read", "orders-api")
	service := p.serviceToken("shop") // role vendor, no scope
	_, base := jwtParts(t, read)
	withPerm := maps.Clone(base)
	withPerm["permissions"] = []string{"orders:refund", "orders:cancel"}
	permToken := p.forge("at+jwt", withPerm)
	spaced := maps.Clone(base)
	spaced["permissions"] = "orders:cancel orders:refund"
	spacedToken := p.forge("at+jwt", spaced)

	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			v, _, _ := p.newValidator(func(c *Config) { c.Mode = mode })
			vs, _, _ := p.newValidator(func(c *Config) { c.Mode = mode; c.Audience = "" })
			if res := call(vs, "Bearer "+service, RequireRole("vendor")(http.HandlerFunc(ok200))); res.status != 200 {
				t.Errorf("service token, role vendor: %d %s", res.status, res.challenge)
			}
			if res := call(vs, "Bearer "+service, RequireScope("orders:read")(http.HandlerFunc(ok200))); res.status != 403 {
				t.Errorf("service token, scope orders:read: %d %s", res.status, res.challenge)
			}
			for _, tc := range []struct {
				name    string
				h       http.Handler
				token   string
				status  int
				scope   string
				jwtOnly bool // a forged token, which only LocalJWT accepts
			}{
				{"scope missing", RequireScope("orders:write")(http.HandlerFunc(ok200)), read, 403, "orders:write", false},
				{"scope present", RequireScope("orders:write")(http.HandlerFunc(ok200)), write, 200, "", false},
				{"scope, opaque", RequireScope("orders:read")(http.HandlerFunc(ok200)), opaque, 200, "", false},
				{"scope missing, opaque", RequireScope("orders:write")(http.HandlerFunc(ok200)), opaque, 403, "orders:write", false},
				{"role missing", RequireRole("vendor", "admin")(http.HandlerFunc(ok200)), customer, 403, "", false},
				{"role customer", RequireRole("customer")(http.HandlerFunc(ok200)), customer, 200, "", false},
				{"role present", RequireRole("admin", "vendor")(http.HandlerFunc(ok200)), read, 200, "", false},
				{"role, opaque", RequireRole("vendor")(http.HandlerFunc(ok200)), opaque, 200, "", false},
				{"permission missing (Portero does not issue them yet)", RequirePermission("orders:refund")(http.HandlerFunc(ok200)), read, 403, "", false},
				{"permission present", RequirePermission("orders:refund")(http.HandlerFunc(ok200)), permToken, 200, "", true},
				{"permission, space-separated", RequirePermission("orders:refund")(http.HandlerFunc(ok200)), spacedToken, 200, "", true},
				{"permission, another", RequirePermission("orders:delete")(http.HandlerFunc(ok200)), permToken, 403, "", true},
			} {
				if tc.jwtOnly && mode != LocalJWT {
					continue
				}
				res := call(v, "Bearer "+tc.token, tc.h)
				if res.status != tc.status {
					t.Errorf("%s: %d %s, want %d", tc.name, res.status, res.challenge, tc.status)
					continue
				}
				if tc.status != 403 {
					continue
				}
				want := `Bearer realm="orders-api", error="insufficient_scope", error_description="`
				if !strings.HasPrefix(res.challenge, want) || !strings.Contains(res.body, `"error":"insufficient_scope"`) {
					t.Errorf("%s: %s %s", tc.name, res.challenge, res.body)
				}
				if hasScope := strings.Contains(res.challenge, `scope="`+tc.scope+`"`); tc.scope != "" && !hasScope {
					t.Errorf("%s: WWW-Authenticate lacks scope=%q: %s", tc.name, tc.scope, res.challenge)
				}
				if tc.scope == "" && strings.Contains(res.challenge, ` scope=`) {
					t.Errorf("%s: unexpected scope in %s", tc.name, res.challenge)
				}
			}
		})
	}
	// Behind no Middleware, the Require functions fail closed.
	rec := statusOf(RequireRole("vendor")(http.HandlerFunc(ok200)))
	if rec != http.StatusUnauthorized {
		t.Fatalf("RequireRole without Middleware: %d", rec)
	}
}

func statusOf(h http.Handler) int {
	w := &statusWriter{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	h.ServeHTTP(w, req)
	return w.status
}

type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header         { return w.header }
func (w *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusWriter) WriteHeader(s int)           { w.status = s }

func TestRevokedTokens(t *testing.T) {
	p := newPortero(t, nil)

	t.Run("introspection, after the cache TTL", func(t *testing.T) {
		for _, client := range []string{"mobile", "webapp"} {
			v, tr, clock := p.newValidator(func(c *Config) { c.CacheTTL = time.Minute })
			tok := p.userToken(client, "alice", "orders:read", "orders-api")
			if res := call(v, "Bearer "+tok, nil); res.status != http.StatusOK {
				t.Fatalf("%s: %d", client, res.status)
			}
			p.revoke(client, tok)
			// Within CacheTTL the cached answer stands: the documented bound.
			clock.advance(59 * time.Second)
			if res := call(v, "Bearer "+tok, nil); res.status != http.StatusOK {
				t.Fatalf("%s within the TTL: %d", client, res.status)
			}
			if n := tr.count("/oauth2/introspect"); n != 1 {
				t.Fatalf("%s: %d introspections, want 1 (cached)", client, n)
			}
			clock.advance(2 * time.Second)
			res := call(v, "Bearer "+tok, nil)
			if res.status != http.StatusUnauthorized || !strings.Contains(res.challenge, `error="invalid_token", error_description="the access token is not active"`) {
				t.Fatalf("%s after the TTL: %d %s", client, res.status, res.challenge)
			}
			// The refusal is cached for NegativeTTL.
			call(v, "Bearer "+tok, nil)
			if n := tr.count("/oauth2/introspect"); n != 2 {
				t.Fatalf("%s: %d introspections, want 2 (negative answer cached)", client, n)
			}
			clock.advance(6 * time.Second)
			call(v, "Bearer "+tok, nil)
			if n := tr.count("/oauth2/introspect"); n != 3 {
				t.Fatalf("%s: %d introspections, want 3 (negative answer expired)", client, n)
			}
		}
	})

	t.Run("real time, 50 ms TTL", func(t *testing.T) {
		v, _, _ := p.newValidator(func(c *Config) { c.CacheTTL = 50 * time.Millisecond; c.Now = nil })
		tok := p.userToken("webapp", "alice", "orders:read", "orders-api")
		if res := call(v, "Bearer "+tok, nil); res.status != http.StatusOK {
			t.Fatal(res.status)
		}
		p.revoke("webapp", tok)
		time.Sleep(60 * time.Millisecond)
		if res := call(v, "Bearer "+tok, nil); res.status != http.StatusUnauthorized {
			t.Fatalf("after 60 ms: %d", res.status)
		}
	})

	t.Run("local JWT with RevocationCheck and no cache: at once", func(t *testing.T) {
		v, tr, _ := p.newValidator(func(c *Config) { c.Mode = LocalJWT; c.RevocationCheck = true; c.CacheSize = -1 })
		if v.cache != nil {
			t.Fatal("CacheSize -1 left a cache")
		}
		tok := p.userToken("mobile", "alice", "orders:read", "orders-api")
		for range 2 {
			if res := call(v, "Bearer "+tok, nil); res.status != http.StatusOK {
				t.Fatalf("before revocation: %d %s", res.status, res.challenge)
			}
		}
		if n := tr.count("/oauth2/introspect"); n != 2 {
			t.Fatalf("%d introspections, want 2 (no cache)", n)
		}
		p.revoke("mobile", tok)
		res := call(v, "Bearer "+tok, nil)
		if res.status != http.StatusUnauthorized || !strings.Contains(res.challenge, "not active") {
			t.Fatalf("right after revocation: %d %s", res.status, res.challenge)
		}
	})

	t.Run("local JWT without RevocationCheck: valid until exp", func(t *testing.T) {
		// The documented trade-off of LocalJWT.
		v, _, _ := p.newValidator(func(c *Config) { c.Mode = LocalJWT; c.Audience = "" })
		tok := p.serviceToken("shop")
		p.revoke("shop", tok)
		if res := call(v, "Bearer "+tok, nil); res.status != http.StatusOK {
			t.Fatalf("%d", res.status)
		}
	})
}

func TestCache(t *testing.T) {
	p := newPortero(t, nil)
	v, tr, clock := p.newValidator(func(c *Config) { c.CacheSize = 2; c.CacheTTL = time.Hour })
	toks := []string{
		p.userToken("mobile", "alice", "orders:read", "orders-api"),
		p.userToken("webapp", "alice", "orders:read", "orders-api"),
		p.userToken("mobile", "bob", "orders:read", "orders-api"),
	}
	for _, tok := range toks {
		if _, err := v.Validate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	// Bounded: the least recently used entry went.
	if n := v.cache.len(); n != 2 {
		t.Fatalf("cache holds %d entries, want 2", n)
	}
	v.cache.mu.Lock()
	_, first := v.cache.byKey[sha256.Sum256([]byte(toks[0]))]
	dump := fmt.Sprintf("%#v", v.cache.byKey)
	for el := v.cache.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*cacheEntry)
		dump += fmt.Sprintf("%#v %#v %#v", e.key, *e.claims, e.claims.Raw)
	}
	keys := slices.Collect(maps.Keys(v.cache.byKey))
	v.cache.mu.Unlock()
	if first {
		t.Fatal("the least recently used entry was not evicted")
	}
	// Keyed by the SHA-256 digest; the token appears nowhere.
	for _, tok := range toks[1:] {
		if !slices.Contains(keys, sha256.Sum256([]byte(tok))) {
			t.Fatal("an entry is not keyed by the token's SHA-256 digest")
		}
		if strings.Contains(dump, tok) || strings.Contains(dump, strings.TrimPrefix(tok, "portero_at_")) {
			t.Fatal("the cache holds the token")
		}
	}
	// An entry of an active JWT lasts min(CacheTTL, exp - now).
	v.cache.mu.Lock()
	e := v.cache.byKey[sha256.Sum256([]byte(toks[2]))].Value.(*cacheEntry)
	v.cache.mu.Unlock()
	if !e.expires.Equal(e.claims.ExpiresAt) {
		t.Fatalf("entry expires %v, token %v: want the token's exp when CacheTTL is longer", e.expires, e.claims.ExpiresAt)
	}
	n := tr.count("/oauth2/introspect")
	clock.advance(14 * time.Minute)
	if _, err := v.Validate(context.Background(), toks[2]); err != nil {
		t.Fatal(err)
	}
	if tr.count("/oauth2/introspect") != n {
		t.Fatal("a live entry was not used")
	}
	// Past exp the entry is gone: Portero is asked again (here it still
	// says active, its clock being behind), and past the 30 s leeway the
	// validator refuses the answer itself.
	clock.advance(time.Minute + time.Second)
	if _, err := v.Validate(context.Background(), toks[2]); err != nil {
		t.Fatal(err)
	}
	if tr.count("/oauth2/introspect") != n+1 {
		t.Fatal("an entry outlived the token's exp")
	}
	clock.advance(30 * time.Second)
	if _, err := v.Validate(context.Background(), toks[2]); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("past exp and leeway: %v", err)
	}

	// Concurrent look-ups of one token make one introspection.
	v, tr, _ = p.newValidator(nil)
	tr.delay.Store(int64(100 * time.Millisecond))
	tok := p.userToken("webapp", "alice", "orders:read", "orders-api")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := v.Validate(context.Background(), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := tr.count("/oauth2/introspect"); n != 1 {
		t.Fatalf("50 concurrent look-ups made %d introspections, want 1", n)
	}

	// A caller that goes away does not fail the others, nor the cache.
	v, tr, _ = p.newValidator(nil)
	tr.delay.Store(int64(100 * time.Millisecond))
	tok = p.userToken("webapp", "bob", "orders:read", "orders-api")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := v.Validate(ctx, tok); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cancelled caller: %v", err)
	}
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := tr.count("/oauth2/introspect"); n != 1 {
		t.Fatalf("%d introspections, want 1 (the cancelled caller's call completed and was shared)", n)
	}
}

func TestPorteroUnavailable(t *testing.T) {
	p := newPortero(t, nil)
	v, tr, _ := p.newValidator(nil)
	tok := p.userToken("webapp", "alice", "orders:read", "orders-api")
	tr.fail.Store(true)
	res := call(v, "Bearer "+tok, nil)
	if res.status != http.StatusServiceUnavailable || res.challenge != "" || strings.Contains(res.body, tok) {
		t.Fatalf("Portero down: %d %q %s", res.status, res.challenge, res.body)
	}
	// Nothing was cached: once Portero is back, the token is accepted.
	tr.fail.Store(false)
	if res := call(v, "Bearer "+tok, nil); res.status != http.StatusOK {
		t.Fatalf("Portero back: %d", res.status)
	}

	// Wrong credentials are a 503 (a configuration error), not a 401.
	v, _, _ = p.newValidator(func(c *Config) { c.ClientSecret = "wrong-secret-0123456789abcdefghijkl" })
	if res := call(v, "Bearer "+tok, nil); res.status != http.StatusServiceUnavailable {
		t.Fatalf("wrong credentials: %d", res.status)
	}
}

func TestJWKSRotationWithoutDowntime(t *testing.T) {
	p := newPortero(t, nil)
	v, tr, clock := p.newValidator(func(c *Config) { c.Mode = LocalJWT; c.Audience = "" })
	old := p.serviceToken("shop")
	oldHeader, _ := jwtParts(t, old)
	if res := call(v, "Bearer "+old, nil); res.status != http.StatusOK {
		t.Fatalf("before rotation: %d", res.status)
	}
	fetches := tr.count("/.well-known/jwks.json")

	// portero keys rotate: the new keys are published at once and sign
	// after jwks_cache_period.
	if _, err := p.srv.Keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.advance(config.Defaults().OAuth.JWKSCachePeriod + time.Second)
	rotated := p.serviceToken("shop")
	newHeader, _ := jwtParts(t, rotated)
	if newHeader["kid"] == oldHeader["kid"] {
		t.Fatal("Portero still signs with the old key")
	}
	// The validator last fetched the set 11 s ago: the unknown kid makes
	// it fetch again, once.
	clock.advance(11 * time.Second)
	for _, tc := range []struct{ name, token string }{{"new key", rotated}, {"old key", old}, {"new key again", rotated}} {
		if res := call(v, "Bearer "+tc.token, nil); res.status != http.StatusOK {
			t.Fatalf("%s after rotation: %d %s", tc.name, res.status, res.challenge)
		}
	}
	if n := tr.count("/.well-known/jwks.json") - fetches; n != 1 {
		t.Fatalf("%d JWKS fetches after the rotation, want 1", n)
	}

	// Unknown kids do not make the validator hammer the JWKS: at most one
	// fetch per 10 s.
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, claims := jwtParts(t, rotated)
	fetches = tr.count("/.well-known/jwks.json")
	for i := range 20 {
		bogus := signWith(t, attacker, fmt.Sprintf("bogus-%d", i), jose.ES256, "at+jwt", claims)
		if res := call(v, "Bearer "+bogus, nil); res.status != http.StatusUnauthorized {
			t.Fatalf("bogus kid: %d", res.status)
		}
	}
	if n := tr.count("/.well-known/jwks.json") - fetches; n > 1 {
		t.Fatalf("20 unknown kids made %d JWKS fetches, want at most 1", n)
	}
	clock.advance(11 * time.Second)
	bogus := signWith(t, attacker, "bogus-late", jose.ES256, "at+jwt", claims)
	call(v, "Bearer "+bogus, nil)
	if n := tr.count("/.well-known/jwks.json") - fetches; n < 1 || n > 2 {
		t.Fatalf("%d JWKS fetches, want one more after 10 s", n)
	}

	// A stale set (older than Portero's max-age, 10 min) is fetched again
	// before use, and Portero unreachable then does not stop validation.
	tr.fail.Store(true)
	clock.advance(11 * time.Minute)
	if res := call(v, "Bearer "+rotated, nil); res.status != http.StatusOK {
		t.Fatalf("stale set, JWKS unreachable: %d %s", res.status, res.challenge)
	}
	tr.fail.Store(false)

	// The introspection mode is unaffected by rotations.
	vi, _, _ := p.newValidator(func(c *Config) { c.Audience = "" })
	for _, tok := range []string{old, rotated} {
		if res := call(vi, "Bearer "+tok, nil); res.status != http.StatusOK {
			t.Fatalf("introspection after rotation: %d", res.status)
		}
	}
}

func TestNewChecksTheConfiguration(t *testing.T) {
	p := newPortero(t, nil)
	secret := p.secrets["orders-api"]
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no issuer", Config{ClientID: "orders-api", ClientSecret: secret}, "Issuer"},
		{"introspection without credentials", Config{Issuer: p.issuer}, "ClientID and ClientSecret"},
		{"revocation check without credentials", Config{Issuer: p.issuer, Mode: LocalJWT, RevocationCheck: true}, "ClientID and ClientSecret"},
		{"half the credentials", Config{Issuer: p.issuer, Mode: LocalJWT, ClientID: "orders-api"}, "both"},
		{"another issuer", Config{Issuer: p.issuer + "/", ClientID: "orders-api", ClientSecret: secret}, "issuer"},
		{"unreachable", Config{Issuer: "http://127.0.0.1:1", ClientID: "orders-api", ClientSecret: secret}, "discovery"},
		{"unknown mode", Config{Issuer: p.issuer, Mode: 7}, "mode"},
	} {
		_, err := New(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error contains the secret", tc.name)
		}
	}
}

func TestIntrospectionAnswersAreChecked(t *testing.T) {
	v := &Validator{cfg: Config{Issuer: "https://id.example", Audience: "orders-api"}, now: time.Now}
	ok := func() map[string]any {
		return map[string]any{"active": true, "iss": "https://id.example", "aud": []any{"orders-api"}, "token_type": "Bearer",
			"token_use": "access_token", "exp": float64(time.Now().Add(time.Minute).Unix()), "sub": "u1", "scope": "a b"}
	}
	if c, err := v.checkIntrospection(ok()); err != nil || c.Subject != "u1" || !slices.Equal(c.Scopes, []string{"a", "b"}) {
		t.Fatalf("good answer: %+v %v", c, err)
	}
	for name, change := range map[string]map[string]any{
		"refresh token":  {"token_use": "refresh_token", "token_type": "refresh_token"},
		"another issuer": {"iss": "https://evil.example"},
		"other audience": {"aud": "billing-api"},
		"expired":        {"exp": float64(time.Now().Add(-time.Hour).Unix())},
	} {
		raw := ok()
		maps.Copy(raw, change)
		if _, err := v.checkIntrospection(raw); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
