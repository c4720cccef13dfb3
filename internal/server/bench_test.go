package server_test

// In-process benchmarks of the back-channel hot paths through the whole
// handler stack (request id, mux, metrics and access log, body limit, form
// parsing, fosite, storage, database), on SQLite and, when
// PORTERO_TEST_DATABASE_URL is set, on PostgreSQL. bench/run.sh measures the
// same endpoints over HTTP with wrk; docs/benchmarks.md has the figures.
//
//	go test ./internal/server -run '^$' -bench . -benchtime=2s
//	PORTERO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable \
//	    go test ./internal/server -run '^$' -bench . -benchtime=2s -cpuprofile cpu.out

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/testdb"
)

// benchEnv is a Portero with the two clients bench/run.sh creates with the
// CLI: bench-jwt (JWT access tokens, may introspect any token) and
// bench-opaque (opaque access tokens), both client_secret_basic,
// client_credentials only, no scopes.
type benchEnv struct {
	*env
	jwtAuth, opaqueAuth string // Authorization header values
}

func newBenchEnv(b testing.TB, backend testdb.Backend, tweaks ...func(*config.Config)) *benchEnv {
	b.Helper()
	e := newEnv(b, backend, func(cfg *config.Config) {
		// The harness disables the client cache so tests see changes at
		// once; production runs with the default, and so do benchmarks.
		cfg.OAuth.ClientCacheTTL = config.Defaults().OAuth.ClientCacheTTL
		for _, t := range tweaks {
			t(cfg)
		}
	})
	for _, c := range []*identity.Client{
		{ID: "bench-jwt", TokenFormat: identity.TokenFormatJWT, Roles: []string{"vendor"}, IntrospectAny: true},
		{ID: "bench-opaque", TokenFormat: identity.TokenFormatOpaque, Roles: []string{"vendor"}},
	} {
		c.Name = c.ID
		c.TokenEndpointAuthMethod = identity.AuthMethodBasic
		c.GrantTypes = []string{"client_credentials"}
		c.IDTokenSignedResponseAlg = "RS256"
		e.createClient(c)
	}
	basic := func(id string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(e.secrets[id])))
	}
	return &benchEnv{env: e, jwtAuth: basic("bench-jwt"), opaqueAuth: basic("bench-opaque")}
}

// do sends one request straight to the handler (no sockets) and returns the
// recorder; it is safe for concurrent use.
func (e *benchEnv) do(path, auth, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	e.srv.Handler.ServeHTTP(rec, req)
	return rec
}

// token issues a client credentials token to the client behind auth.
func (e *benchEnv) token(b testing.TB, auth string) string {
	b.Helper()
	rec := e.do("/oauth2/token", auth, "grant_type=client_credentials")
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.AccessToken == "" {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return body.AccessToken
}

// run drives fn from 16×GOMAXPROCS goroutines (32 on the 2-core reference
// machine, as many as wrk's -c32 connections): a server serves concurrent
// requests, and concurrency is what hides the database round trip and lets
// PostgreSQL group commits. (testdb caps the PostgreSQL pool at 8
// connections; the server's default is 32.) The first failure stops the
// benchmark with its response.
func (e *benchEnv) run(b *testing.B, fn func() *httptest.ResponseRecorder, check func(*httptest.ResponseRecorder) bool) {
	b.Helper()
	var failed atomic.Pointer[string]
	b.ReportAllocs()
	b.SetParallelism(16)
	gc0 := gcCPU()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := fn()
			if rec.Code != http.StatusOK || !check(rec) {
				msg := rec.Result().Status + " " + rec.Body.String()
				failed.CompareAndSwap(nil, &msg)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	cpu1, _ := processCPU()
	gc1 := gcCPU()
	if msg := failed.Load(); msg != nil {
		b.Fatalf("unexpected response: %s", *msg)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	// CPU per request (Portero's side only: PostgreSQL runs apart) is
	// steadier than req/s on a shared machine. Clock ticks are 10ms, so it
	// means something only for runs of a second or more.
	if d := cpu1 - cpu0; cpuOK && d > 0 {
		b.ReportMetric(d*1e6/float64(b.N), "cpu-µs/op")
		b.ReportMetric(100*(gc1-gc0)/d, "gc-%")
	}
}

// gcCPU is the runtime's estimate of the CPU time spent collecting
// garbage, in seconds; the runtime brings it up to date when a GC cycle
// ends, so it is read after one.
func gcCPU() float64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return s[0].Value.Float64()
}

// processCPU returns the CPU time (user + system) this process has used, in
// seconds, from /proc/self/stat; ok is false where there is no procfs.
// Clock ticks are taken to be 100 per second, as on every Linux port Go
// supports.
func processCPU() (seconds float64, ok bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is the first, utime the 12th and stime the 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (utime + stime) / 100, true
}

func hasAccessToken(rec *httptest.ResponseRecorder) bool {
	return strings.Contains(rec.Body.String(), `"access_token":"`)
}

func isActive(rec *httptest.ResponseRecorder) bool {
	return strings.Contains(rec.Body.String(), `"active":true`)
}

// forEachBackend runs fn as a sub-benchmark per backend. The testing
// package calls a sub-benchmark several times (b.N = 1, 100, ...); the
// environment (database, keys, clients) is built on the first call only and
// lives until the parent benchmark ends.
func forEachBackend(b *testing.B, fn func(b *testing.B, e *benchEnv)) {
	for _, backend := range testdb.Backends() {
		var e *benchEnv
		b.Run(backend.Name, func(sub *testing.B) {
			if e == nil {
				e = newBenchEnv(parentScoped{TB: sub, parent: b}, backend)
			}
			fn(sub, e)
		})
	}
}

// parentScoped fails through the running sub-benchmark but ties temporary
// directories and clean-ups to the parent, so they outlive one b.N round.
type parentScoped struct {
	testing.TB
	parent testing.TB
}

func (p parentScoped) Cleanup(f func()) { p.parent.Cleanup(f) }
func (p parentScoped) TempDir() string  { return p.parent.TempDir() }

// BenchmarkClientCredentialsJWT issues RFC 9068 JWT access tokens (ES256):
// client authentication, signing, and one INSERT of the grant per token.
func BenchmarkClientCredentialsJWT(b *testing.B) {
	forEachBackend(b, func(b *testing.B, e *benchEnv) {
		e.run(b, func() *httptest.ResponseRecorder {
			return e.do("/oauth2/token", e.jwtAuth, "grant_type=client_credentials")
		}, hasAccessToken)
	})
}

// BenchmarkClientCredentialsOpaque issues opaque HMAC access tokens: as
// above without the signature.
func BenchmarkClientCredentialsOpaque(b *testing.B) {
	forEachBackend(b, func(b *testing.B, e *benchEnv) {
		e.run(b, func() *httptest.ResponseRecorder {
			return e.do("/oauth2/token", e.opaqueAuth, "grant_type=client_credentials")
		}, hasAccessToken)
	})
}

// BenchmarkIntrospectJWT introspects a valid JWT access token as bench-jwt:
// client authentication, signature verification and the grant look-up
// (revocation check).
func BenchmarkIntrospectJWT(b *testing.B) {
	forEachBackend(b, func(b *testing.B, e *benchEnv) {
		body := url.Values{"token": {e.token(b, e.jwtAuth)}}.Encode()
		e.run(b, func() *httptest.ResponseRecorder {
			return e.do("/oauth2/introspect", e.jwtAuth, body)
		}, isActive)
	})
}

// BenchmarkIntrospectOpaque introspects a valid opaque access token (of
// bench-opaque) as bench-jwt: client authentication, HMAC check and the
// grant look-up.
func BenchmarkIntrospectOpaque(b *testing.B) {
	forEachBackend(b, func(b *testing.B, e *benchEnv) {
		body := url.Values{"token": {e.token(b, e.opaqueAuth)}}.Encode()
		e.run(b, func() *httptest.ResponseRecorder {
			return e.do("/oauth2/introspect", e.jwtAuth, body)
		}, isActive)
	})
}

// BenchmarkBareNetHTTP is the same-run baseline for the figures above: a
// bare net/http handler that parses the same form and answers a small
// JSON body through the same harness, so that req/s can be read as a
// ratio to what the machine does with no Portero at all.
func BenchmarkBareNetHTTP(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") == "" {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"x","token_type":"bearer","expires_in":900}`))
	})
	(&benchEnv{}).run(b, func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		bare.ServeHTTP(rec, req)
		return rec
	}, hasAccessToken)
}

// BenchmarkClientCredentialsJWTLimited is BenchmarkClientCredentialsJWT
// with the rate limits on, with budgets too large to refuse anything: the
// limiter's cost on the token path (two checks a request, the address's
// and the client's), in memory and through Redis (PORTERO_TEST_REDIS_URL).
//
//	go test ./internal/server -run '^$' -bench 'BareNetHTTP|ClientCredentialsJWT' -benchtime 2s
func BenchmarkClientCredentialsJWTLimited(b *testing.B) {
	huge := config.RateLimit{Requests: 1 << 30, Per: time.Second, Burst: 1 << 30}
	for _, where := range []string{"memory", "redis"} {
		b.Run(where, func(b *testing.B) {
			redisURL := ""
			if where == "redis" {
				if redisURL = os.Getenv("PORTERO_TEST_REDIS_URL"); redisURL == "" {
					b.Skip("PORTERO_TEST_REDIS_URL not set")
				}
			}
			e := newBenchEnv(b, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) {
				c.RateLimits = config.Defaults().RateLimits
				c.RateLimits.TokenPerClient, c.RateLimits.OAuthPerAddress = huge, huge
				c.Redis.URL, c.Redis.KeyPrefix = redisURL, "portero-bench:"+randomString()+":"
			})
			e.run(b, func() *httptest.ResponseRecorder {
				return e.do("/oauth2/token", e.jwtAuth, "grant_type=client_credentials")
			}, hasAccessToken)
		})
	}
}

// BenchmarkTokenBesideAFlood measures one client's token throughput while
// another floods the endpoint at ten times its budget (600 a minute, so
// 100 requests a second, answered 429 once the burst is spent): the flood
// must not cost the well-behaved client more than a tenth. Compare with
// BenchmarkClientCredentialsJWTLimited/memory in the same run.
func BenchmarkTokenBesideAFlood(b *testing.B) {
	huge := config.RateLimit{Requests: 1 << 30, Per: time.Second, Burst: 1 << 30}
	e := newBenchEnv(b, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) {
		c.RateLimits = config.Defaults().RateLimits
		c.RateLimits.OAuthPerAddress = huge // one test address for both clients
	})
	e.createClient(&identity.Client{ID: "bench-flood", Name: "bench-flood", TokenEndpointAuthMethod: identity.AuthMethodBasic,
		GrantTypes: []string{"client_credentials"}, TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
		TokenRateLimit: identity.MaxTokenRateLimit}) // the measured client is never limited
	flooder := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench-opaque:"+url.QueryEscape(e.secrets["bench-opaque"])))
	measured := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench-flood:"+url.QueryEscape(e.secrets["bench-flood"])))
	stop := make(chan struct{})
	var refused atomic.Int64
	go func() {
		tick := time.NewTicker(10 * time.Millisecond) // 100 a second: 10× 600 a minute
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if e.do("/oauth2/token", flooder, "grant_type=client_credentials").Code == http.StatusTooManyRequests {
					refused.Add(1)
				}
			}
		}
	}()
	e.run(b, func() *httptest.ResponseRecorder {
		return e.do("/oauth2/token", measured, "grant_type=client_credentials")
	}, hasAccessToken)
	close(stop)
	b.ReportMetric(float64(refused.Load()), "flood-429s")
}
