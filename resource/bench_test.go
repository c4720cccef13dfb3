package resource

// BenchmarkIntrospection measures Middleware in Introspect mode against a
// real in-process Portero on SQLite (over HTTP on the loopback, with the
// package's default HTTP client), without the cache and with it:
//
//	go test ./resource -run '^$' -bench Introspection -benchtime 3s
//
// It reports req/s for each and fails when cached is not at least 10 times
// uncached. docs/benchmarks.md has the figures.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portero-id/portero/internal/config"
)

func BenchmarkIntrospection(b *testing.B) {
	p := newPortero(b, func(cfg *config.Config) {
		// Production runs with the client cache; so does the benchmark.
		cfg.OAuth.ClientCacheTTL = config.Defaults().OAuth.ClientCacheTTL
	})
	// 64 tokens, half JWT and half opaque, as 64 callers would present.
	tokens := make([]string, 64)
	for i := range tokens {
		client := "shop"
		if i%2 == 1 {
			client = "shop-opaque"
		}
		tokens[i] = "Bearer " + p.serviceToken(client)
	}
	rates := map[string]float64{}
	for _, tc := range []struct {
		name      string
		cacheSize int
	}{
		{"uncached", -1},
		{"cached", 0}, // the defaults: 10000 entries, 30 s
	} {
		b.Run(tc.name, func(b *testing.B) {
			v, err := New(context.Background(), Config{
				Issuer: p.issuer, ClientID: "orders-api", ClientSecret: p.secrets["orders-api"],
				CacheSize: tc.cacheSize, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				b.Fatal(err)
			}
			h := v.Middleware(RequireRole("vendor")(http.HandlerFunc(ok200)))
			serve := func(i int) int {
				req := httptest.NewRequest(http.MethodGet, "/orders", nil)
				req.Header.Set("Authorization", tokens[i%len(tokens)])
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			for i := range tokens { // warm connections (and the cache)
				if code := serve(i); code != http.StatusOK {
					b.Fatalf("warm-up: %d", code)
				}
			}
			var next, failed atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16) // 32 concurrent requests on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if serve(int(next.Add(1))) != http.StatusOK {
						failed.Add(1)
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d requests failed", n)
			}
			rate := float64(b.N) / elapsed.Seconds()
			b.ReportMetric(rate, "req/s")
			rates[tc.name] = rate
		})
	}
	if rates["uncached"] > 0 && rates["cached"] > 0 {
		ratio := rates["cached"] / rates["uncached"]
		b.Logf("uncached %.0f req/s, cached %.0f req/s: %.1f×", rates["uncached"], rates["cached"], ratio)
		if ratio < 10 {
			b.Errorf("the cache makes the middleware only %.1f× faster, want ≥ 10×", ratio)
		}
	}
}
