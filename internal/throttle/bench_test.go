package throttle

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// benchKeys are account-like keys; the benchmarks cycle through them.
var benchKeys = func() []string {
	ks := make([]string, 1024)
	for i := range ks {
		ks[i] = fmt.Sprintf("a:user%d@example.com", i)
	}
	return ks
}()

// benchPolicy never locks, so every Fail does the same work.
var benchPolicy = Policy{FreeAttempts: 3, BaseDelay: time.Second, MaxDelay: 15 * time.Minute, Window: time.Hour}

func benchCheck(b *testing.B, s Store) {
	ctx := context.Background()
	for _, k := range benchKeys {
		if _, err := s.Fail(ctx, k, benchPolicy, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Check(ctx, benchKeys[i%len(benchKeys)], benchPolicy, t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchFail(b *testing.B, s Store) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Fail(ctx, benchKeys[i%len(benchKeys)], benchPolicy, t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryCheck(b *testing.B) { benchCheck(b, NewMemory(0)) }
func BenchmarkMemoryFail(b *testing.B)  { benchFail(b, NewMemory(0)) }

// BenchmarkMemoryFailEvicting is Fail on new keys with the store full: the
// key-spraying case.
func BenchmarkMemoryFailEvicting(b *testing.B) {
	m := NewMemory(1000)
	ctx := context.Background()
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("ip:198.51.%d.%d", i>>8, i&0xff)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Fail(ctx, keys[i%len(keys)], benchPolicy, t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryFailParallel(b *testing.B) {
	m := NewMemory(0)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Fail(ctx, benchKeys[i%len(benchKeys)], benchPolicy, t0); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkRedisCheck(b *testing.B) {
	c := testRedisClient(b)
	s, _ := testRedisStore(b, c)
	benchCheck(b, s)
}

func BenchmarkRedisFail(b *testing.B) {
	c := testRedisClient(b)
	s, _ := testRedisStore(b, c)
	benchFail(b, s)
}

func BenchmarkRedisFailParallel(b *testing.B) {
	c := testRedisClient(b)
	s, _ := testRedisStore(b, c)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Fail(ctx, benchKeys[i%len(benchKeys)], benchPolicy, t0); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
