// Package ratelimit meters requests per key (a client, an address, an
// administrator) with the generic cell rate algorithm: in Redis, shared by
// every replica, through go-redis/redis_rate (one round trip per check);
// in memory with golang.org/x/time/rate when there is no Redis; and, when
// Redis fails, in memory again (fail-soft: a limit stays, counted per
// replica, and the fall-back is logged and counted) — never "no limit",
// never an outage.
package ratelimit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is Requests per Per on average, with bursts of up to Burst.
type Limit struct {
	Requests int
	Per      time.Duration
	Burst    int
}

// Off reports whether the limit lets everything through.
func (l Limit) Off() bool { return l.Requests <= 0 || l.Per <= 0 }

// Result is one check's answer.
type Result struct {
	Allowed bool
	// Remaining is how many requests may come at once now.
	Remaining int
	// RetryAfter is how long until the next request is allowed (when
	// refused).
	RetryAfter time.Duration
	// ResetAfter is how long until the quota is whole again.
	ResetAfter time.Duration
}

// Store checks and counts one request against key's limit.
type Store interface {
	Allow(ctx context.Context, key string, l Limit) (Result, error)
}

// Redis keeps the counters in Redis: every replica shares them.
//
// A round trip per request costs a busy key more than the work it meters,
// so a replica takes permits ahead (a lease): when a key's lease is used
// up within its Hold, the next one is twice as large (up to an eighth of
// the burst, and 64), and a lease that lapsed partly unused is followed by
// one the size of what was used. Permits come out of the shared budget
// before they are used, so no replica ever admits more than the limit;
// a lapsed lease's unused permits are the cost (at most one lease per key
// and replica per Hold). A quiet key costs one round trip per request.
type Redis struct {
	limiter *redis_rate.Limiter
	prefix  string
	// Hold is how long leased permits stay usable; 0 leases nothing.
	Hold time.Duration
	now  func() time.Time

	mu     sync.Mutex
	leases map[string]*lease
	// roundTrips counts the checks that asked Redis (tests).
	roundTrips atomic.Int64
}

// lease is the permits a replica took ahead for one key.
type lease struct {
	size, left int       // taken, and not used yet
	until      time.Time // when the unused ones lapse
	used       int       // checks answered from it
	res        Result    // Redis's answer when it was taken
	remaining  int       // Redis's remaining then, net of the lease
}

// maxLeases bounds the lease table; past it, the table starts afresh.
const maxLeases = 10000

// NewRedis meters in Redis under keys starting with prefix, leasing
// permits for a second.
func NewRedis(client *redis.Client, prefix string) *Redis {
	return &Redis{limiter: redis_rate.NewLimiter(client), prefix: prefix, Hold: time.Second, now: time.Now,
		leases: map[string]*lease{}}
}

func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	res, n, ok := r.fromLease(key, l)
	if ok {
		return res, nil
	}
	r.roundTrips.Add(1)
	got, err := r.limiter.AllowAtMost(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Requests, Period: l.Per, Burst: max(l.Burst, 1)}, n)
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	left := max(got.Allowed-1, 0)
	// What a client may still send at once: Redis's remaining, and the
	// permits this replica holds for it.
	res = Result{Allowed: got.Allowed > 0, Remaining: got.Remaining + left, RetryAfter: max(got.RetryAfter, 0), ResetAfter: max(got.ResetAfter, 0)}
	if r.Hold > 0 {
		r.mu.Lock()
		if len(r.leases) >= maxLeases {
			clear(r.leases)
		}
		r.leases[key] = &lease{size: max(got.Allowed, 1), left: left, until: r.now().Add(r.Hold), used: 1, res: res, remaining: got.Remaining}
		r.mu.Unlock()
	}
	return res, nil
}

// fromLease answers from key's lease when it has a permit left; otherwise
// it says how many permits to ask Redis for.
func (r *Redis) fromLease(key string, l Limit) (Result, int, bool) {
	if r.Hold <= 0 {
		return Result{}, 1, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	le := r.leases[key]
	if le == nil || !le.res.Allowed {
		return Result{}, 1, false
	}
	now := r.now()
	if le.left > 0 && now.Before(le.until) {
		le.left--
		le.used++
		res := le.res
		res.Remaining = le.remaining + le.left
		return res, 0, true
	}
	limit := min(max(l.Burst/8, 1), 64)
	if now.Before(le.until) {
		return Result{}, min(2*le.size, limit), false // used up in time: demand is higher
	}
	return Result{}, min(max(le.used, 1), limit), false
}

// Memory keeps the counters in this process, for at most max keys: when
// it is full, keys whose quota is whole again (they are as good as new)
// are dropped first, then any.
type Memory struct {
	max int
	now func() time.Time

	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

// NewMemory meters in memory for up to max keys.
func NewMemory(max int) *Memory {
	return &Memory{max: max, now: time.Now, keys: map[string]*rate.Limiter{}}
}

func (m *Memory) Allow(_ context.Context, key string, l Limit) (Result, error) {
	now := m.now()
	every := rate.Limit(float64(l.Requests) / l.Per.Seconds())
	burst := max(l.Burst, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	lim, ok := m.keys[key]
	if !ok || lim.Limit() != every || lim.Burst() != burst {
		m.makeRoom(now)
		lim = rate.NewLimiter(every, burst)
		m.keys[key] = lim
	}
	res := lim.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return Result{RetryAfter: delay, ResetAfter: resetAfter(lim, now)}, nil
	}
	return Result{Allowed: true, Remaining: int(math.Floor(lim.TokensAt(now))), ResetAfter: resetAfter(lim, now)}, nil
}

func resetAfter(lim *rate.Limiter, now time.Time) time.Duration {
	missing := float64(lim.Burst()) - lim.TokensAt(now)
	if missing <= 0 || lim.Limit() <= 0 {
		return 0
	}
	return time.Duration(missing / float64(lim.Limit()) * float64(time.Second))
}

// makeRoom keeps the map under max keys (m.mu held).
func (m *Memory) makeRoom(now time.Time) {
	if len(m.keys) < m.max {
		return
	}
	for k, lim := range m.keys {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(m.keys, k)
		}
	}
	for k := range m.keys {
		if len(m.keys) < m.max {
			return
		}
		delete(m.keys, k)
	}
}

// Failover meters in Primary (Redis) and, when Primary fails, in Fallback
// (memory): a limit per replica instead of a shared one until Redis
// answers again. After a failure it does not ask Primary again for
// RetryAfter (a second by default), so that a Redis that is down costs
// one failed check per second, not a dial and a retry on every request.
type Failover struct {
	Primary, Fallback Store
	Log               *slog.Logger
	// OnFallback is called for every check the fallback answered.
	OnFallback func()
	// RetryAfter is how long Primary is left alone after it failed.
	RetryAfter time.Duration

	lastLog   atomic.Int64
	downUntil atomic.Int64 // unix nanoseconds
}

func (f *Failover) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	if time.Now().UnixNano() >= f.downUntil.Load() {
		res, err := f.Primary.Allow(ctx, key, l)
		if err == nil {
			return res, nil
		}
		f.downUntil.Store(time.Now().Add(cmp.Or(f.RetryAfter, time.Second)).UnixNano())
		f.warn(ctx, err)
	}
	if f.OnFallback != nil {
		f.OnFallback()
	}
	return f.Fallback.Allow(ctx, key, l)
}

func (f *Failover) warn(ctx context.Context, err error) {
	// One line a minute is enough to say Redis is down.
	if now := time.Now().Unix(); now-f.lastLog.Load() >= 60 {
		f.lastLog.Store(now)
		f.Log.WarnContext(ctx, "rate limits fall back to this replica's memory", "err", err)
	}
}

// Policy names a limit for the RateLimit-Policy header.
type Policy struct {
	Name string
	Limit
}

// WriteHeaders sets the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers) and, when refused, Retry-After.
func WriteHeaders(h http.Header, p Policy, res Result) {
	window := int(math.Ceil(p.Per.Seconds()))
	h.Add("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", p.Name, p.Requests, window))
	h.Add("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", p.Name, max(res.Remaining, 0), seconds(res.ResetAfter)))
	if !res.Allowed {
		h.Set("Retry-After", strconv.Itoa(max(seconds(res.RetryAfter), 1)))
	}
}

// seconds rounds up to whole seconds.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
