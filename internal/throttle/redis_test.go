package throttle

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisURLEnv names the Redis server the Redis tests use, e.g.
// redis://127.0.0.1:6379/0. They skip when it is unset.
const redisURLEnv = "PORTERO_TEST_REDIS_URL"

// testRedisClient connects to $PORTERO_TEST_REDIS_URL, skipping tb when it
// is unset and failing it when the server cannot be reached.
func testRedisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	url := os.Getenv(redisURLEnv)
	if url == "" {
		tb.Skipf("%s is not set; skipping Redis tests (set it, e.g. %s=redis://127.0.0.1:6379/0, to run them)",
			redisURLEnv, redisURLEnv)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("%s=%q: %v", redisURLEnv, url, err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("Redis at %s=%q unreachable: %v", redisURLEnv, url, err)
	}
	return c
}

// testRedisStore returns a Redis store under a fresh random prefix whose
// keys are deleted when tb ends.
func testRedisStore(tb testing.TB, c *redis.Client) (*Redis, string) {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "portero-test:throttle:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("cleaning up %s*: %v", prefix, err)
		}
	})
	return NewRedis(c, prefix), prefix
}

func TestRedisConformance(t *testing.T) {
	c := testRedisClient(t)
	testStore(t, func(t *testing.T) Store {
		s, _ := testRedisStore(t, c)
		return s
	})
}

// TestRedisConcurrentFail shows Fail is atomic: N concurrent failures count
// exactly N and exactly one of them reports JustLocked.
func TestRedisConcurrentFail(t *testing.T) {
	c := testRedisClient(t)
	s, _ := testRedisStore(t, c)
	const n = 100
	p := Policy{FreeAttempts: 1000, BaseDelay: time.Second, LockoutAfter: n / 2, LockoutFor: time.Hour, Window: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	just := 0
	for i := range n {
		wg.Go(func() {
			// Distinct, increasing instants as separate replicas would use.
			d, err := s.Fail(context.Background(), "alice@example.com", p, t0.Add(time.Duration(i)*time.Millisecond))
			if err != nil {
				t.Error(err)
				return
			}
			if d.JustLocked {
				mu.Lock()
				just++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d, err := s.Check(context.Background(), "alice@example.com", p, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if d.Failures != n || just != 1 || !d.Locked {
		t.Fatalf("Failures = %d (want %d), JustLocked %d times (want 1), Locked = %v", d.Failures, n, just, d.Locked)
	}
}

func TestRedisKeysHashed(t *testing.T) {
	c := testRedisClient(t)
	s, prefix := testRedisStore(t, c)
	ctx := context.Background()
	secrets := []string{"a:alice@example.com", "ip:192.0.2.77"}
	for _, k := range secrets {
		if _, err := s.Fail(ctx, k, conformancePolicy, t0); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, k := range secrets {
		sum := sha256.Sum256([]byte(k))
		want[prefix+hex.EncodeToString(sum[:])] = true
		if got := s.Key(k); !want[got] {
			t.Errorf("Key(%q) = %q, not prefix+sha256-hex", k, got)
		}
	}
	if len(keys) != len(secrets) {
		t.Fatalf("KEYS %s* = %q, want %d keys", prefix, keys, len(secrets))
	}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected key %q", k)
		}
		fields, err := c.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		all := k
		for f, v := range fields {
			all += " " + f + "=" + v
		}
		for _, leak := range []string{"alice", "example", "192.0.2"} {
			if strings.Contains(all, leak) {
				t.Errorf("Redis holds personal data %q: %s", leak, all)
			}
		}
	}
}

func TestRedisStoredFields(t *testing.T) {
	c := testRedisClient(t)
	s, _ := testRedisStore(t, c)
	ctx := context.Background()
	for range 8 {
		if _, err := s.Fail(ctx, "k", conformancePolicy, t0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.HGetAll(ctx, s.Key("k")).Result()
	if err != nil {
		t.Fatal(err)
	}
	ms := t0.UnixMilli()
	want := map[string]string{
		"n":    "8",
		"last": strconv.FormatInt(ms, 10),
		"lock": strconv.FormatInt(ms+time.Minute.Milliseconds(), 10),
	}
	if len(got) != len(want) {
		t.Fatalf("hash = %v, want %v", got, want)
	}
	for f, v := range want {
		if got[f] != v {
			t.Errorf("field %s = %q, want %q", f, got[f], v)
		}
	}
}

func TestRedisTTL(t *testing.T) {
	c := testRedisClient(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		p     Policy
		fails int
		want  time.Duration // -1: no TTL
	}{
		{"window", conformancePolicy, 1, conformancePolicy.Window + TTLSlack},
		{"window longer than lockout", conformancePolicy, 8, conformancePolicy.Window + TTLSlack},
		{"lockout longer than window", Policy{LockoutAfter: 2, LockoutFor: 2 * time.Hour, Window: time.Minute}, 2, 2*time.Hour + TTLSlack},
		{"unlocked, lockout not counted", Policy{LockoutAfter: 2, LockoutFor: 2 * time.Hour, Window: time.Minute}, 1, time.Minute + TTLSlack},
		{"no window", Policy{BaseDelay: time.Second}, 3, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testRedisStore(t, c)
			for range tt.fails {
				if _, err := s.Fail(ctx, "k", tt.p, t0); err != nil {
					t.Fatal(err)
				}
			}
			ttl, err := c.PTTL(ctx, s.Key("k")).Result()
			if err != nil {
				t.Fatal(err)
			}
			if tt.want < 0 {
				if ttl != -1 { // go-redis reports "no TTL" as -1 (not scaled)
					t.Fatalf("PTTL = %v, want none", ttl)
				}
				return
			}
			if ttl > tt.want || ttl < tt.want-5*time.Second {
				t.Fatalf("PTTL = %v, want about %v", ttl, tt.want)
			}
		})
	}
}

// TestRedisTTLShrinksAfterLockout: each failure sets the TTL anew, so the
// fresh start after a long lockout drops back to the window.
func TestRedisTTLShrinksAfterLockout(t *testing.T) {
	c := testRedisClient(t)
	s, _ := testRedisStore(t, c)
	ctx := context.Background()
	p := Policy{LockoutAfter: 2, LockoutFor: 2 * time.Hour, Window: time.Minute}
	for range 2 {
		if _, err := s.Fail(ctx, "k", p, t0); err != nil {
			t.Fatal(err)
		}
	}
	if ttl := c.PTTL(ctx, s.Key("k")).Val(); ttl <= time.Hour {
		t.Fatalf("locked: PTTL = %v, want about 2h", ttl)
	}
	d, err := s.Fail(ctx, "k", p, t0.Add(3*time.Hour)) // lockout over: fresh start
	if err != nil {
		t.Fatal(err)
	}
	if d != allowedWith(1) {
		t.Fatalf("Fail after lockout = %+v, want a fresh start", d)
	}
	if ttl := c.PTTL(ctx, s.Key("k")).Val(); ttl > time.Minute+TTLSlack || ttl <= 0 {
		t.Fatalf("after fresh start: PTTL = %v, want about %v", ttl, time.Minute+TTLSlack)
	}
}

func TestRedisErrors(t *testing.T) {
	c := testRedisClient(t)
	s, _ := testRedisStore(t, c)
	ctx := context.Background()
	if err := c.HSet(ctx, s.Key("bad"), "n", "lots").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Check(ctx, "bad", conformancePolicy, t0); err == nil {
		t.Error("Check of a corrupt hash: no error")
	}

	opt := *c.Options()
	closed := redis.NewClient(&opt)
	_ = closed.Close()
	cs := NewRedis(closed, "x:")
	if _, err := cs.Check(ctx, "k", conformancePolicy, t0); err == nil {
		t.Error("Check on a closed client: no error")
	}
	if _, err := cs.Fail(ctx, "k", conformancePolicy, t0); err == nil {
		t.Error("Fail on a closed client: no error")
	}
	if err := cs.Reset(ctx, "k"); err == nil {
		t.Error("Reset on a closed client: no error")
	}
}
