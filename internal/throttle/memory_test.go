package throttle

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestMemoryConformance(t *testing.T) {
	testStore(t, func(*testing.T) Store { return NewMemory(0) })
}

func TestMemoryDefaultBound(t *testing.T) {
	if m := NewMemory(-1); m.maxKeys != DefaultMaxKeys {
		t.Fatalf("maxKeys = %d, want %d", m.maxKeys, DefaultMaxKeys)
	}
}

func TestMemoryBound(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(10)
	for i := range 1000 {
		if _, err := m.Fail(ctx, fmt.Sprintf("spray-%d", i), conformancePolicy, t0); err != nil {
			t.Fatal(err)
		}
		if n := m.Len(); n > 10 {
			t.Fatalf("after %d keys Len = %d, want <= 10", i+1, n)
		}
	}
	// The most recent keys survive.
	h := storeHarness{t: t, s: m, p: conformancePolicy}
	expect(t, "newest key", h.check("spray-999", t0), allowedWith(1))
	expect(t, "oldest key", h.check("spray-0", t0), allowed)
}

func TestMemoryEvictionSparesLockedKeys(t *testing.T) {
	m := NewMemory(4)
	h := storeHarness{t: t, s: m, p: conformancePolicy}
	h.failN("victim", 8, t0) // locked, and the least recently failed
	for i := range 100 {
		h.fail(fmt.Sprintf("spray-%d", i), t0.Add(time.Second))
	}
	expect(t, "victim", h.check("victim", t0.Add(2*time.Second)), lockedFor(58*time.Second, 8))
	if n := m.Len(); n != 4 {
		t.Fatalf("Len = %d, want 4", n)
	}
}

func TestMemoryEvictionWhenAllLocked(t *testing.T) {
	m := NewMemory(3)
	h := storeHarness{t: t, s: m, p: Policy{LockoutAfter: 1, LockoutFor: time.Hour, Window: time.Hour}}
	for i := range 5 {
		h.fail(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second))
	}
	if n := m.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if d := h.check("0", t0.Add(10*time.Second)); d.Locked {
		t.Errorf("oldest locked key was not evicted: %+v", d)
	}
	if d := h.check("4", t0.Add(10*time.Second)); !d.Locked {
		t.Errorf("newest locked key was evicted: %+v", d)
	}
}

func TestMemoryPrunesExpired(t *testing.T) {
	m := NewMemory(100)
	h := storeHarness{t: t, s: m, p: conformancePolicy} // Window 10m, lockout 1m
	for i := range 20 {
		h.fail(fmt.Sprintf("old-%d", i), t0)
	}
	h.failN("locked", 8, t0.Add(time.Minute))
	if n := m.Len(); n != 21 {
		t.Fatalf("Len = %d, want 21", n)
	}
	// Any Fail prunes the expired entries from the least recently failed end.
	h.fail("new", t0.Add(10*time.Minute))
	if n := m.Len(); n != 2 {
		t.Fatalf("after expiry Len = %d, want 2 (locked + new)", n)
	}
	// A Check of an expired key drops it.
	h.check("locked", t0.Add(11*time.Minute))
	if n := m.Len(); n != 1 {
		t.Fatalf("after Check of expired key Len = %d, want 1", n)
	}
	h.reset("new")
	if n := m.Len(); n != 0 {
		t.Fatalf("after Reset Len = %d, want 0", n)
	}
}

func TestMemoryEvictionPrefersExpired(t *testing.T) {
	m := NewMemory(3)
	short := Policy{Window: time.Second}
	long := Policy{Window: time.Hour}
	ctx := context.Background()
	m.Fail(ctx, "long-1", long, t0)
	m.Fail(ctx, "short", short, t0.Add(time.Millisecond)) // expires before long-1, but is behind it
	m.Fail(ctx, "long-2", long, t0.Add(2*time.Millisecond))
	m.Fail(ctx, "long-3", long, t0.Add(time.Minute)) // full: evicts "short", not long-1
	h := storeHarness{t: t, s: m, p: long}
	expect(t, "long-1", h.check("long-1", t0.Add(time.Minute)), allowedWith(1))
	if _, ok := m.keys["short"]; ok {
		t.Error("expired key was not the one evicted")
	}
}

func TestMemoryConcurrentFail(t *testing.T) {
	const n = 64
	m := NewMemory(0)
	p := Policy{FreeAttempts: 1000, BaseDelay: time.Second, LockoutAfter: n / 2, LockoutFor: time.Hour, Window: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	just := 0
	for range n {
		wg.Go(func() {
			d, err := m.Fail(context.Background(), "k", p, t0)
			if err != nil {
				t.Error(err)
			}
			if d.JustLocked {
				mu.Lock()
				just++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d, _ := m.Check(context.Background(), "k", p, t0)
	if d.Failures != n || just != 1 {
		t.Fatalf("Failures = %d (want %d), JustLocked %d times (want 1)", d.Failures, n, just)
	}
}
