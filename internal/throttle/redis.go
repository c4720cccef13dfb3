package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portero-id/portero/identity"
)

// TTLSlack is added to every Redis key's PEXPIRE so that replicas whose
// clocks run slightly behind the one that wrote a key still find it while
// they consider it live. Expiry is decided from the timestamps stored in the
// hash (see Redis); the TTL only reclaims memory, so being generous is
// harmless.
const TTLSlack = time.Minute

// Redis is a Store whose counters live in Redis, so every replica shares
// them.
//
// Each counter is one hash with fields "n" (failures), "last" (last failure,
// unix milliseconds) and "lock" (locked until, unix milliseconds; 0 when not
// locked). Fail runs as one Lua script (EVALSHA, falling back to EVAL), so
// concurrent failures from any number of replicas are counted exactly and
// only one of them reports JustLocked. Every script touches a single key,
// so it works with Redis Cluster too.
//
// Key names are prefix + hex(SHA-256(key)). Keys hold account names, which
// are often e-mail addresses, and client IP addresses: hashing keeps that
// personal data out of Redis memory, dumps, replicas and MONITOR output.
// This is pseudonymisation, not anonymisation: someone with Redis access
// can still test a guessed address against the hashes.
//
// Time: decisions compare the stored timestamps with the now the caller
// passes, not with Redis server time, so all replicas (and tests with a
// fake clock) apply the same rules. The key's PEXPIRE is only for reclaiming
// memory; it is a duration computed from the policy, max(Window, lockout
// remaining) + TTLSlack, refreshed on every failure. Because it is at least
// as long as the counter's logical life, a fake clock that runs ahead of
// real time still sees its state, and with a real clock the key disappears
// shortly after the counter would have been forgotten anyway. A policy with
// Window <= 0 keeps unlocked keys without a TTL.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a Store using client, with every key name starting with
// prefix (e.g. "portero:throttle:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Key returns the Redis key name that holds key's counter.
func (r *Redis) Key(key string) string {
	sum := sha256.Sum256([]byte(key))
	return r.prefix + hex.EncodeToString(sum[:])
}

// failScript mirrors state.fail (throttle.go) plus the TTL rule. Times are
// unix milliseconds; Lua numbers are doubles, exact for these integers.
//
// ARGV: now, window, lockout_after (0 = off), lockout_for (0 = off), slack.
// Returns {failures, last, locked_until, just_locked}.
var failScript = redis.NewScript(`
local now     = tonumber(ARGV[1])
local window  = tonumber(ARGV[2])
local after   = tonumber(ARGV[3])
local lockfor = tonumber(ARGV[4])
local slack   = tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'n', 'last', 'lock')
local n    = tonumber(v[1]) or 0
local last = tonumber(v[2]) or 0
local lock = tonumber(v[3]) or 0
if lock > 0 then
  if now >= lock then n = 0; last = 0; lock = 0 end
elseif n > 0 and window > 0 and now - last >= window then
  n = 0; last = 0
end
n = n + 1
if now > last then last = now end
local just = 0
if lock == 0 and after > 0 and lockfor > 0 and n >= after then
  lock = now + lockfor
  just = 1
end
redis.call('HSET', KEYS[1], 'n', string.format('%d', n),
  'last', string.format('%d', last), 'lock', string.format('%d', lock))
local ttl = 0
if window > 0 then ttl = window end
if lock > 0 and lock - now > ttl then ttl = lock - now end
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl + slack))
else
  redis.call('PERSIST', KEYS[1])
end
return {n, last, lock, just}
`)

// DialRedis connects to redis.url. Unless the URL chooses otherwise
// (dial_timeout, max_retries), a Redis that is down is reported within
// about a second instead of after go-redis's default five-second dial and
// three retries: sign-in waits on it, and fails closed with a 503 then
// (its errors are identity.ErrUnavailable), so the user should hear soon.
func DialRedis(rawURL string) (*redis.Client, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if u, err := url.Parse(rawURL); err == nil {
		q = u.Query()
	}
	if !q.Has("dial_timeout") {
		opts.DialTimeout = 500 * time.Millisecond
	}
	if !q.Has("max_retries") {
		opts.MaxRetries = 1
	}
	return redis.NewClient(opts), nil
}

// Check implements Store.
func (r *Redis) Check(ctx context.Context, key string, p Policy, now time.Time) (Decision, error) {
	vals, err := r.client.HMGet(ctx, r.Key(key), "n", "last", "lock").Result()
	if err != nil {
		return Decision{}, fmt.Errorf("throttle: redis check: %w", identity.Unavailable(err))
	}
	var ms [3]int64
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return Decision{}, fmt.Errorf("throttle: redis check: unexpected field type %T", v)
		}
		if ms[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return Decision{}, fmt.Errorf("throttle: redis check: bad field: %w", err)
		}
	}
	st := stateFromMillis(ms[0], ms[1], ms[2]).current(p, now)
	return st.decide(p, now), nil
}

// Fail implements Store.
func (r *Redis) Fail(ctx context.Context, key string, p Policy, now time.Time) (Decision, error) {
	after := int64(0)
	lockFor := int64(0)
	if p.lockoutEnabled() {
		after, lockFor = int64(p.LockoutAfter), max(p.LockoutFor.Milliseconds(), 1)
	}
	window := int64(0)
	if p.Window > 0 {
		window = max(p.Window.Milliseconds(), 1)
	}
	res, err := failScript.Run(ctx, r.client, []string{r.Key(key)},
		now.UnixMilli(), window, after, lockFor, TTLSlack.Milliseconds()).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("throttle: redis fail: %w", identity.Unavailable(err))
	}
	if len(res) != 4 {
		return Decision{}, errors.New("throttle: redis fail: unexpected script reply")
	}
	st := stateFromMillis(res[0], res[1], res[2])
	d := st.decide(p, now)
	d.JustLocked = res[3] == 1
	return d, nil
}

// Reset implements Store.
func (r *Redis) Reset(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.Key(key)).Err(); err != nil {
		return fmt.Errorf("throttle: redis reset: %w", identity.Unavailable(err))
	}
	return nil
}

func stateFromMillis(n, last, lock int64) state {
	if n <= 0 {
		return state{}
	}
	st := state{failures: int(n), last: time.UnixMilli(last)}
	if lock > 0 {
		st.lockedUntil = time.UnixMilli(lock)
	}
	return st
}
