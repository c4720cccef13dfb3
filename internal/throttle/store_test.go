package throttle

import (
	"context"
	"testing"
	"time"
)

// t0 is the fake clock's start: millisecond-aligned (the Redis store keeps
// milliseconds) and years away from real time, so the Redis store is shown
// to decide by the passed now and not by server time.
var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

// conformancePolicy: 2 free attempts, back-off 1s,2s,4s,8s (cap), locked
// for a minute at the 8th failure, failures forgotten after 10 minutes.
var conformancePolicy = Policy{
	FreeAttempts: 2,
	BaseDelay:    time.Second,
	MaxDelay:     8 * time.Second,
	LockoutAfter: 8,
	LockoutFor:   time.Minute,
	Window:       10 * time.Minute,
}

// storeHarness wraps a Store with a policy and a fatal-on-error helper API.
type storeHarness struct {
	t *testing.T
	s Store
	p Policy
}

func (h storeHarness) check(key string, now time.Time) Decision {
	h.t.Helper()
	d, err := h.s.Check(context.Background(), key, h.p, now)
	if err != nil {
		h.t.Fatalf("Check(%q, %v): %v", key, now.Sub(t0), err)
	}
	return d
}

func (h storeHarness) fail(key string, now time.Time) Decision {
	h.t.Helper()
	d, err := h.s.Fail(context.Background(), key, h.p, now)
	if err != nil {
		h.t.Fatalf("Fail(%q, %v): %v", key, now.Sub(t0), err)
	}
	return d
}

func (h storeHarness) reset(key string) {
	h.t.Helper()
	if err := h.s.Reset(context.Background(), key); err != nil {
		h.t.Fatalf("Reset(%q): %v", key, err)
	}
}

func (h storeHarness) failN(key string, n int, now time.Time) Decision {
	h.t.Helper()
	var d Decision
	for range n {
		d = h.fail(key, now)
	}
	return d
}

func expect(t *testing.T, what string, got, want Decision) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

var allowed = Decision{Allowed: true}

func allowedWith(n int) Decision { return Decision{Allowed: true, Failures: n} }

func waitFor(d time.Duration, n int) Decision { return Decision{RetryAfter: d, Failures: n} }

func lockedFor(d time.Duration, n int) Decision {
	return Decision{RetryAfter: d, Locked: true, Failures: n}
}

// testStore is the conformance suite every Store must pass. newStore must
// return an empty store; each subtest gets its own.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	h := func(t *testing.T, p Policy) storeHarness {
		return storeHarness{t: t, s: newStore(t), p: p}
	}

	t.Run("fresh key allowed", func(t *testing.T) {
		s := h(t, conformancePolicy)
		expect(t, "Check", s.check("k", t0), allowed)
	})

	t.Run("free attempts allowed", func(t *testing.T) {
		s := h(t, conformancePolicy)
		for i := 1; i <= 2; i++ {
			expect(t, "Fail", s.fail("k", t0), allowedWith(i))
			expect(t, "Check", s.check("k", t0), allowedWith(i))
		}
	})

	t.Run("back-off timing exact", func(t *testing.T) {
		s := h(t, conformancePolicy)
		s.failN("k", 2, t0)
		now := t0.Add(5 * time.Second)
		steps := []struct {
			wait time.Duration
			n    int
		}{{time.Second, 3}, {2 * time.Second, 4}, {4 * time.Second, 5}, {8 * time.Second, 6}, {8 * time.Second, 7}}
		for _, st := range steps {
			expect(t, "Fail", s.fail("k", now), waitFor(st.wait, st.n))
			expect(t, "Check at failure", s.check("k", now), waitFor(st.wait, st.n))
			expect(t, "Check 1ms early", s.check("k", now.Add(st.wait-time.Millisecond)), waitFor(time.Millisecond, st.n))
			now = now.Add(st.wait)
			expect(t, "Check on time", s.check("k", now), allowedWith(st.n))
		}
	})

	t.Run("failure during back-off counts and restarts it", func(t *testing.T) {
		s := h(t, conformancePolicy)
		expect(t, "3rd Fail", s.failN("k", 3, t0), waitFor(time.Second, 3))
		now := t0.Add(100 * time.Millisecond)
		expect(t, "Fail during back-off", s.fail("k", now), waitFor(2*time.Second, 4))
		expect(t, "Check", s.check("k", now.Add(1999*time.Millisecond)), waitFor(time.Millisecond, 4))
		expect(t, "Check", s.check("k", now.Add(2*time.Second)), allowedWith(4))
	})

	t.Run("lockout triggers JustLocked once and is not extended", func(t *testing.T) {
		s := h(t, conformancePolicy)
		for i := 1; i <= 7; i++ {
			if d := s.fail("k", t0); d.Locked || d.JustLocked {
				t.Fatalf("failure %d locked early: %+v", i, d)
			}
		}
		lockAt := t0.Add(time.Second)
		expect(t, "8th Fail", s.fail("k", lockAt),
			Decision{RetryAfter: time.Minute, Locked: true, JustLocked: true, Failures: 8})
		expect(t, "Check", s.check("k", lockAt.Add(30*time.Second)), lockedFor(30*time.Second, 8))
		for i := 9; i <= 20; i++ {
			expect(t, "Fail while locked", s.fail("k", lockAt.Add(30*time.Second)), lockedFor(30*time.Second, i))
		}
		end := lockAt.Add(time.Minute)
		expect(t, "Check 1ms before end", s.check("k", end.Add(-time.Millisecond)), lockedFor(time.Millisecond, 20))
		// After the lockout the counter starts afresh.
		expect(t, "Check at end", s.check("k", end), allowed)
		expect(t, "Fail after end", s.fail("k", end), allowedWith(1))
		expect(t, "Fail after end", s.fail("k", end), allowedWith(2))
		expect(t, "Fail after end", s.fail("k", end), waitFor(time.Second, 3))
	})

	t.Run("lockout expiry resets even without a Check in between", func(t *testing.T) {
		s := h(t, conformancePolicy)
		s.failN("k", 8, t0)
		end := t0.Add(time.Minute)
		expect(t, "Fail after end", s.fail("k", end.Add(time.Hour)), allowedWith(1))
	})

	t.Run("relock after fresh start", func(t *testing.T) {
		s := h(t, conformancePolicy)
		s.failN("k", 8, t0)
		now := t0.Add(time.Minute)
		d := s.failN("k", 7, now)
		if d.Locked {
			t.Fatalf("locked too early after fresh start: %+v", d)
		}
		expect(t, "8th Fail after fresh start", s.fail("k", now),
			Decision{RetryAfter: time.Minute, Locked: true, JustLocked: true, Failures: 8})
	})

	t.Run("lockout outlives a shorter window", func(t *testing.T) {
		s := h(t, Policy{FreeAttempts: 10, BaseDelay: time.Second, MaxDelay: time.Second,
			LockoutAfter: 3, LockoutFor: time.Minute, Window: 30 * time.Second})
		expect(t, "3rd Fail", s.failN("k", 3, t0),
			Decision{RetryAfter: time.Minute, Locked: true, JustLocked: true, Failures: 3})
		expect(t, "Check after window", s.check("k", t0.Add(45*time.Second)), lockedFor(15*time.Second, 3))
		expect(t, "Check at end", s.check("k", t0.Add(time.Minute)), allowed)
	})

	t.Run("LockoutAfter 0 never locks", func(t *testing.T) {
		s := h(t, Policy{BaseDelay: time.Second, MaxDelay: 4 * time.Second, Window: time.Hour})
		expect(t, "50th Fail", s.failN("k", 50, t0), waitFor(4*time.Second, 50))
	})

	t.Run("LockoutFor 0 never locks", func(t *testing.T) {
		s := h(t, Policy{FreeAttempts: 100, BaseDelay: time.Second, MaxDelay: time.Second,
			LockoutAfter: 2, Window: time.Hour})
		expect(t, "5th Fail", s.failN("k", 5, t0), allowedWith(5))
	})

	t.Run("window expiry forgets", func(t *testing.T) {
		s := h(t, conformancePolicy)
		s.failN("k", 3, t0)
		expect(t, "Check before window", s.check("k", t0.Add(10*time.Minute-time.Millisecond)), allowedWith(3))
		expect(t, "Check at window", s.check("k", t0.Add(10*time.Minute)), allowed)
		expect(t, "Fail after window", s.fail("k", t0.Add(10*time.Minute)), allowedWith(1))
	})

	t.Run("window slides from the last failure", func(t *testing.T) {
		s := h(t, conformancePolicy)
		s.fail("k", t0)
		s.fail("k", t0.Add(9*time.Minute))
		expect(t, "Check", s.check("k", t0.Add(15*time.Minute)), allowedWith(2))
		expect(t, "Fail", s.fail("k", t0.Add(18*time.Minute)), waitFor(time.Second, 3))
		expect(t, "Check", s.check("k", t0.Add(28*time.Minute)), allowed)
	})

	t.Run("Reset", func(t *testing.T) {
		s := h(t, conformancePolicy)
		s.reset("never-seen")
		s.failN("k", 8, t0)
		expect(t, "Check locked", s.check("k", t0), lockedFor(time.Minute, 8))
		s.reset("k")
		expect(t, "Check after Reset", s.check("k", t0), allowed)
		expect(t, "Fail after Reset", s.fail("k", t0), allowedWith(1))
	})

	t.Run("independent keys", func(t *testing.T) {
		s := h(t, conformancePolicy)
		s.failN("alice@example.com", 8, t0)
		s.failN("a:bob", 3, t0)
		expect(t, "other key", s.check("bob", t0), allowed)
		expect(t, "other key Fail", s.fail("bob", t0), allowedWith(1))
		expect(t, "prefixed key", s.check("a:bob", t0), waitFor(time.Second, 3))
		s.reset("bob")
		expect(t, "locked key untouched", s.check("alice@example.com", t0), lockedFor(time.Minute, 8))
		expect(t, "prefixed key untouched", s.check("a:bob", t0), waitFor(time.Second, 3))
	})

	t.Run("odd keys", func(t *testing.T) {
		s := h(t, conformancePolicy)
		for _, k := range []string{"", " ", "ünïcødé@example.com", "with\x00nul", "*", "[a-z]?"} {
			expect(t, "Fail "+k, s.fail(k, t0), allowedWith(1))
			expect(t, "Check "+k, s.check(k, t0), allowedWith(1))
		}
	})
}
