// Package throttle protects sign-in against brute force with per-key
// failure counters: exponential back-off after a few free attempts, and a
// temporary lockout after many.
//
// A counter is identified by a string key (Guard uses "a:"+account and
// "ip:"+ip). Its state is the number of failures, the time of the last
// failure and, while locked out, the time the lockout ends. The rules, all
// decided against the time the caller passes in (so tests can use a fake
// clock and every replica decides the same way):
//
//   - Back-off: after a failure at time t that brought the count to n, the
//     next attempt is allowed at t+Policy.Delay(n). The first
//     Policy.FreeAttempts failures cost nothing.
//   - Lockout: the failure that brings the count to Policy.LockoutAfter
//     locks the key until t+Policy.LockoutFor (Decision.JustLocked is set on
//     that failure only, so the caller can write one audit event). A lockout
//     needs both LockoutAfter > 0 and LockoutFor > 0.
//   - Failures during back-off or lockout still count (an attacker gets no
//     free guesses by hammering) and restart the back-off from the new
//     failure, but they never extend a lockout: it ends exactly LockoutFor
//     after the failure that triggered it, so a flood of failures cannot
//     keep a victim's account locked indefinitely beyond the back-off.
//   - When a lockout ends the counter is reset to zero (a fresh start): the
//     owner gets FreeAttempts again, and an attacker has to earn a new
//     lockout from scratch, which takes LockoutAfter more failures.
//   - Window: failures are forgotten Policy.Window after the last failure
//     (the window slides with each failure). A locked key is kept until its
//     lockout ends even when Window is shorter. Window <= 0 means failures
//     are never forgotten by age (not recommended; the Redis store then
//     keeps keys without a TTL). If Window is shorter than the back-off
//     delay, forgetting wins: the effective maximum delay is Window.
package throttle

import (
	"context"
	"math"
	"time"

	"github.com/portero-id/portero/identity"
)

// Policy is one counter's rules.
type Policy struct {
	FreeAttempts int           // failures allowed before any delay
	BaseDelay    time.Duration // delay after the first failure past FreeAttempts; doubles per further failure
	MaxDelay     time.Duration // cap on the back-off delay; <= 0 means no cap (saturates at the largest Duration)
	LockoutAfter int           // failures (within Window) that trigger a lockout; 0 = never
	LockoutFor   time.Duration // lockout length; <= 0 disables the lockout
	Window       time.Duration // failures older than this are forgotten (counter TTL, refreshed on each failure)
}

// Delay is the wait required after n consecutive failures: 0 for
// n <= FreeAttempts, otherwise BaseDelay*2^(n-FreeAttempts-1) capped at
// MaxDelay. It never overflows, however large n is. A BaseDelay <= 0
// disables back-off.
func (p Policy) Delay(failures int) time.Duration {
	free := max(p.FreeAttempts, 0)
	if failures <= free || p.BaseDelay <= 0 {
		return 0
	}
	limit := p.MaxDelay
	if limit <= 0 {
		limit = math.MaxInt64
	}
	if p.BaseDelay >= limit {
		return limit
	}
	exp := failures - free - 1 // >= 0, no overflow since failures > free >= 0
	// BaseDelay<<exp <= limit  <=>  BaseDelay <= limit>>exp (exp < 63).
	if exp >= 63 || p.BaseDelay > limit>>uint(exp) {
		return limit
	}
	return p.BaseDelay << uint(exp)
}

func (p Policy) lockoutEnabled() bool { return p.LockoutAfter > 0 && p.LockoutFor > 0 }

// Decision is the outcome of Check or Fail: the sign-in's own type, so a
// Guard is the identity.Guard a sign-in is metered by.
type Decision = identity.GuardDecision

// Store keeps counters for keys.
//
// Implementations: Memory (one process) and Redis (shared by replicas).
type Store interface {
	// Check reports whether an attempt on key is allowed now.
	Check(ctx context.Context, key string, p Policy, now time.Time) (Decision, error)
	// Fail records a failure atomically and returns the new decision
	// (Allowed = whether an immediate next attempt would be allowed).
	Fail(ctx context.Context, key string, p Policy, now time.Time) (Decision, error)
	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}

// state is one counter. The zero value is a fresh counter. Both stores keep
// the same state and share the rules below (the Redis Lua script mirrors
// fail; the shared conformance tests keep them in step).
type state struct {
	failures    int
	last        time.Time // last failure
	lockedUntil time.Time // zero: not locked
}

// current applies expiry at now: an ended lockout resets the counter, and
// failures older than Window are forgotten (not while locked).
func (s state) current(p Policy, now time.Time) state {
	if !s.lockedUntil.IsZero() {
		if !now.Before(s.lockedUntil) {
			return state{}
		}
		return s
	}
	if s.failures > 0 && p.Window > 0 && now.Sub(s.last) >= p.Window {
		return state{}
	}
	return s
}

// fail records one failure at now; it reports whether this failure locked
// the key.
func (s state) fail(p Policy, now time.Time) (state, bool) {
	s = s.current(p, now)
	if s.failures < math.MaxInt {
		s.failures++
	}
	if now.After(s.last) { // never move backwards (clock skew between replicas)
		s.last = now
	}
	if s.lockedUntil.IsZero() && p.lockoutEnabled() && s.failures >= p.LockoutAfter {
		s.lockedUntil = now.Add(p.LockoutFor)
		return s, true
	}
	return s, false
}

// expiry is when the state can be dropped (zero: never).
func (s state) expiry(p Policy) time.Time {
	if p.Window <= 0 && s.lockedUntil.IsZero() {
		return time.Time{}
	}
	var e time.Time
	if p.Window > 0 {
		e = s.last.Add(p.Window)
	}
	if s.lockedUntil.After(e) {
		e = s.lockedUntil
	}
	return e
}

// decide turns an (already current) state into a Decision at now.
func (s state) decide(p Policy, now time.Time) Decision {
	d := Decision{Failures: s.failures}
	if !s.lockedUntil.IsZero() && now.Before(s.lockedUntil) {
		d.Locked = true
		d.RetryAfter = s.lockedUntil.Sub(now)
		return d
	}
	if s.failures > 0 {
		if wait := s.last.Add(p.Delay(s.failures)).Sub(now); wait > 0 {
			d.RetryAfter = wait
			return d
		}
	}
	d.Allowed = true
	return d
}
