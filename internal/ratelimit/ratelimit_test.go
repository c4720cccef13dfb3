package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clock is a settable time for the memory store.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestMemoryBurstThenRate(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	m := NewMemory(10)
	m.now = c.now
	l := Limit{Requests: 60, Per: time.Minute, Burst: 3}
	ctx := context.Background()
	for i := range 3 {
		res, _ := m.Allow(ctx, "a", l)
		if !res.Allowed || res.Remaining != 2-i {
			t.Fatalf("request %d: %+v", i, res)
		}
	}
	res, _ := m.Allow(ctx, "a", l)
	if res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > time.Second {
		t.Fatalf("past the burst: %+v", res)
	}
	if res, _ := m.Allow(ctx, "b", l); !res.Allowed {
		t.Fatal("another key was refused")
	}
	c.t = c.t.Add(time.Second) // one request per second refills
	if res, _ := m.Allow(ctx, "a", l); !res.Allowed {
		t.Fatalf("after a second: %+v", res)
	}
}

func TestMemoryStaysBounded(t *testing.T) {
	m := NewMemory(100)
	l := Limit{Requests: 1, Per: time.Hour, Burst: 1}
	for i := range 1000 {
		_, _ = m.Allow(context.Background(), strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune(i)), l)
	}
	if n := len(m.keys); n > 100 {
		t.Fatalf("%d keys kept, want at most 100", n)
	}
}

// failing is a Store whose every check fails (Redis down).
type failing struct{ calls *int }

func (f failing) Allow(context.Context, string, Limit) (Result, error) {
	*f.calls++
	return Result{}, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

func TestFailoverKeepsALimit(t *testing.T) {
	fallbacks, tried := 0, 0
	f := &Failover{Primary: failing{&tried}, Fallback: NewMemory(10), Log: slog.New(slog.DiscardHandler), OnFallback: func() { fallbacks++ },
		RetryAfter: time.Hour}
	l := Limit{Requests: 1, Per: time.Hour, Burst: 2}
	var allowed int
	for range 5 {
		if res, err := f.Allow(context.Background(), "k", l); err == nil && res.Allowed {
			allowed++
		}
	}
	if allowed != 2 || fallbacks != 5 {
		t.Fatalf("with Redis down: %d allowed (want 2: the limit holds), %d fallbacks", allowed, fallbacks)
	}
	// Redis was asked once, then left alone for RetryAfter.
	if tried != 1 {
		t.Fatalf("Redis asked %d times while down, want once", tried)
	}
}

func TestRedisIsSharedAndExact(t *testing.T) {
	url := os.Getenv("PORTERO_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PORTERO_TEST_REDIS_URL is not set (CI must run this against Redis)")
		}
		t.Skip("PORTERO_TEST_REDIS_URL not set")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	prefix := "portero-test:" + t.Name() + ":" + time.Now().Format(time.RFC3339Nano) + ":"
	// Two replicas: two stores on one Redis.
	a, b := NewRedis(client, prefix), NewRedis(client, prefix)
	l := Limit{Requests: 10, Per: time.Minute, Burst: 4}
	allowed := 0
	for i := range 8 {
		s := []Store{a, b}[i%2]
		res, err := s.Allow(context.Background(), "client-x", l)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			allowed++
		} else if res.RetryAfter <= 0 {
			t.Fatalf("refused without Retry-After: %+v", res)
		}
	}
	if allowed != 4 {
		t.Fatalf("%d of 8 allowed across two replicas, want the burst of 4", allowed)
	}
}

func TestMeterHeaders(t *testing.T) {
	m := &Meter{Class: "token", Limit: Limit{Requests: 600, Per: time.Minute, Burst: 2}, Store: NewMemory(10)}
	h := http.Header{}
	if !m.Allow(context.Background(), h, "shop") {
		t.Fatal("first request refused")
	}
	if got := h.Get("RateLimit-Policy"); got != `"token";q=600;w=60` {
		t.Fatalf("RateLimit-Policy = %q", got)
	}
	if got := h.Get("RateLimit"); !strings.HasPrefix(got, `"token";r=1;t=`) {
		t.Fatalf("RateLimit = %q", got)
	}
	m.Allow(context.Background(), http.Header{}, "shop")
	h = http.Header{}
	if m.Allow(context.Background(), h, "shop") || h.Get("Retry-After") == "" || !strings.HasPrefix(h.Get("RateLimit"), `"token";r=0;`) {
		t.Fatalf("third request: headers %v", h)
	}
	var off *Meter
	if !off.Allow(context.Background(), http.Header{}, "x") {
		t.Fatal("a nil meter refused")
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5000":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":   "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":      "192.0.2.7",
		"198.51.100.1":               "198.51.100.1",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestMeterPerKeyQuota(t *testing.T) {
	m := &Meter{Class: "token-client", Limit: Limit{Requests: 600, Per: time.Minute, Burst: 100}, Store: NewMemory(10)}
	// A client with 6000 a minute gets bursts of 1000 (the class's
	// proportion); one with 60, bursts of 10.
	if got := m.Limit.scaled(6000); got != (Limit{Requests: 6000, Per: time.Minute, Burst: 1000}) {
		t.Fatalf("scaled(6000) = %+v", got)
	}
	if got := (Limit{}).scaled(60); got != (Limit{Requests: 60, Per: time.Minute, Burst: 10}) {
		t.Fatalf("scaled(60) with the class off = %+v", got)
	}
	h := http.Header{}
	allowed := 0
	for range 15 {
		if m.AllowAt(context.Background(), h, "small", 60) {
			allowed++
		}
	}
	if allowed != 10 || !strings.Contains(strings.Join(h.Values("RateLimit-Policy"), ","), `"token-client";q=60;w=60`) {
		t.Fatalf("quota 60: %d allowed, policy %v", allowed, h.Values("RateLimit-Policy"))
	}
}

// TestRedisLeases: a busy key takes permits ahead, in growing leases, so
// most checks cost no round trip; and still no more than the budget is
// ever admitted, across two replicas.
func TestRedisLeases(t *testing.T) {
	url := os.Getenv("PORTERO_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PORTERO_TEST_REDIS_URL is not set (CI must run this against Redis)")
		}
		t.Skip("PORTERO_TEST_REDIS_URL not set")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	prefix := "portero-test:" + t.Name() + ":" + time.Now().Format(time.RFC3339Nano) + ":"
	a, b := NewRedis(client, prefix), NewRedis(client, prefix)
	// A budget that does not refill during the test: exactly the burst.
	l := Limit{Requests: 1, Per: time.Hour, Burst: 400}
	allowed := 0
	for i := range 600 {
		s := []*Redis{a, b}[i/50%2] // bursts of 50 on each replica in turn
		res, err := s.Allow(context.Background(), "busy", l)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			allowed++
		}
	}
	trips := a.roundTrips.Load() + b.roundTrips.Load()
	t.Logf("600 checks, %d allowed, %d round trips", allowed, trips)
	if allowed > 400 {
		t.Fatalf("%d admitted, over the budget of 400", allowed)
	}
	if allowed < 400-2*50 {
		t.Fatalf("%d admitted: leases lost more than one lease per replica", allowed)
	}
	if trips > 300 {
		t.Fatalf("%d round trips for 600 checks: leases did not cut them", trips)
	}
	// A quiet key is asked about every time: its leases stay at one.
	quiet := NewRedis(client, prefix)
	for range 3 {
		if _, err := quiet.Allow(context.Background(), "quiet", Limit{Requests: 10, Per: time.Minute, Burst: 100}); err != nil {
			t.Fatal(err)
		}
		quiet.now = func() time.Time { return time.Now().Add(2 * time.Second) } // the lease lapses
	}
	if got := quiet.roundTrips.Load(); got != 3 {
		t.Errorf("a quiet key: %d round trips for 3 checks, want 3", got)
	}
}
