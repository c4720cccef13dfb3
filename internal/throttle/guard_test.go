package throttle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// guardAccount: back-off from the 2nd failure, locked at the 4th.
var guardAccount = Policy{FreeAttempts: 1, BaseDelay: time.Second, MaxDelay: time.Minute,
	LockoutAfter: 4, LockoutFor: 15 * time.Minute, Window: time.Hour}

// guardIP: looser; back-off from the 6th failure, locked at the 10th.
var guardIP = Policy{FreeAttempts: 5, BaseDelay: 10 * time.Second, MaxDelay: time.Hour,
	LockoutAfter: 10, LockoutFor: time.Hour, Window: time.Hour}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time      { return c.now }
func (c *fakeClock) Add(d time.Duration) { c.now = c.now.Add(d) }
func newGuard(s Store) (*Guard, *fakeClock) {
	c := &fakeClock{now: t0}
	return &Guard{Store: s, Account: guardAccount, IP: guardIP, Now: c.Now}, c
}

func guardDo(t *testing.T, what string, f func(context.Context, string, string) (Decision, error), account, ip string) Decision {
	t.Helper()
	d, err := f(context.Background(), account, ip)
	if err != nil {
		t.Fatalf("%s(%q, %q): %v", what, account, ip, err)
	}
	return d
}

func TestGuardAccountDenies(t *testing.T) {
	g, clk := newGuard(NewMemory(0))
	expect(t, "Fail 1", guardDo(t, "Fail", g.Fail, "alice", "192.0.2.1"), allowedWith(1))
	expect(t, "Fail 2", guardDo(t, "Fail", g.Fail, "alice", "192.0.2.1"), waitFor(time.Second, 2))
	expect(t, "Check same", guardDo(t, "Check", g.Check, "alice", "192.0.2.1"), waitFor(time.Second, 2))
	// The account counter denies from any address.
	expect(t, "Check other IP", guardDo(t, "Check", g.Check, "alice", "198.51.100.9"), waitFor(time.Second, 2))
	// Another account from the same address is fine (IP counter at 2 of 5 free).
	expect(t, "Check other account", guardDo(t, "Check", g.Check, "bob", "192.0.2.1"), allowed)
	clk.Add(time.Second)
	expect(t, "Check after back-off", guardDo(t, "Check", g.Check, "alice", "192.0.2.1"), allowedWith(2))
}

func TestGuardIPDenies(t *testing.T) {
	g, clk := newGuard(NewMemory(0))
	ip := "192.0.2.1"
	for i := range 5 {
		d := guardDo(t, "Fail", g.Fail, fmt.Sprintf("user%d", i), ip)
		expect(t, "spray Fail", d, allowedWith(1))
	}
	// The 6th failure is the IP's first past its free attempts: 10s; the
	// fresh account is still allowed, so the IP counter decides.
	expect(t, "6th spray Fail", guardDo(t, "Fail", g.Fail, "user5", ip), waitFor(10*time.Second, 6))
	expect(t, "fresh account, same IP", guardDo(t, "Check", g.Check, "carol", ip), waitFor(10*time.Second, 6))
	expect(t, "fresh account, other IP", guardDo(t, "Check", g.Check, "carol", "192.0.2.2"), allowed)
	clk.Add(10 * time.Second)
	expect(t, "after IP back-off", guardDo(t, "Check", g.Check, "carol", ip), allowedWith(0))
}

func TestGuardLongerWaitAndLocked(t *testing.T) {
	g, clk := newGuard(NewMemory(0))
	ip := "192.0.2.1"
	for i := range 9 {
		guardDo(t, "Fail", g.Fail, fmt.Sprintf("user%d", i), ip)
		clk.Add(time.Hour - time.Second) // past every back-off, within the window
	}
	// Account "alice" at 1 failure (allowed) + IP's 10th failure: IP locks.
	d := guardDo(t, "Fail", g.Fail, "alice", ip)
	expect(t, "IP locks", d, Decision{RetryAfter: time.Hour, Locked: true, JustLocked: true, Failures: 10})
	expect(t, "Check", guardDo(t, "Check", g.Check, "alice", ip), lockedFor(time.Hour, 10))

	// Account back-off (1s) shorter than the IP lockout: the longer wins.
	d = guardDo(t, "Fail", g.Fail, "alice", ip)
	expect(t, "both deny", d, lockedFor(time.Hour, 11))

	// Account lockout longer than the IP back-off.
	g2, _ := newGuard(NewMemory(0))
	for i := 1; i <= 3; i++ {
		guardDo(t, "Fail", g2.Fail, "dave", fmt.Sprintf("203.0.113.%d", i))
	}
	d = guardDo(t, "Fail", g2.Fail, "dave", "203.0.113.4")
	expect(t, "account locks", d, Decision{RetryAfter: 15 * time.Minute, Locked: true, JustLocked: true, Failures: 4})
	d = guardDo(t, "Fail", g2.Fail, "dave", "203.0.113.4")
	expect(t, "still locked, not just locked", d, lockedFor(15*time.Minute, 5))
}

func TestGuardSuccessResetsAccountOnly(t *testing.T) {
	m := NewMemory(0)
	g, _ := newGuard(m)
	ip := "192.0.2.1"
	for range 3 {
		guardDo(t, "Fail", g.Fail, "alice", ip)
	}
	if err := g.Success(context.Background(), "alice", ip); err != nil {
		t.Fatal(err)
	}
	h := storeHarness{t: t, s: m, p: guardIP}
	expect(t, "IP counter kept", h.check("ip:"+ip, t0), allowedWith(3))
	h.p = guardAccount
	expect(t, "account counter reset", h.check("a:alice", t0), allowed)
	// The next failure starts the account afresh but the IP goes on.
	d := guardDo(t, "Fail", g.Fail, "alice", ip)
	expect(t, "Fail after Success", d, allowedWith(1))
	h.p = guardIP
	expect(t, "IP counter", h.check("ip:"+ip, t0), allowedWith(4))
}

// recordingStore records the keys a Guard touches.
type recordingStore struct {
	Store
	keys []string
	err  error
}

func (r *recordingStore) Check(ctx context.Context, key string, p Policy, now time.Time) (Decision, error) {
	r.keys = append(r.keys, "check "+key)
	if r.err != nil && strings.HasPrefix(key, "ip:") {
		return Decision{}, r.err
	}
	return r.Store.Check(ctx, key, p, now)
}

func (r *recordingStore) Fail(ctx context.Context, key string, p Policy, now time.Time) (Decision, error) {
	r.keys = append(r.keys, "fail "+key)
	if r.err != nil && strings.HasPrefix(key, "ip:") {
		return Decision{}, r.err
	}
	return r.Store.Fail(ctx, key, p, now)
}

func (r *recordingStore) Reset(ctx context.Context, key string) error {
	r.keys = append(r.keys, "reset "+key)
	return r.Store.Reset(ctx, key)
}

func TestGuardKeys(t *testing.T) {
	tests := []struct {
		name string
		ip   string
		want string
	}{
		{"with IP", "2001:db8::1", "check a:alice@example.com,check ip:2001:db8::1,fail a:alice@example.com,fail ip:2001:db8::1,reset a:alice@example.com"},
		{"empty IP skips the IP counter", "", "check a:alice@example.com,fail a:alice@example.com,reset a:alice@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recordingStore{Store: NewMemory(0)}
			g, _ := newGuard(r)
			guardDo(t, "Check", g.Check, "alice@example.com", tt.ip)
			guardDo(t, "Fail", g.Fail, "alice@example.com", tt.ip)
			if err := g.Success(context.Background(), "alice@example.com", tt.ip); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.keys, ","); got != tt.want {
				t.Errorf("keys:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestGuardEmptyIP(t *testing.T) {
	m := NewMemory(0)
	g, _ := newGuard(m)
	for range 3 {
		guardDo(t, "Fail", g.Fail, "alice", "")
	}
	expect(t, "Check", guardDo(t, "Check", g.Check, "alice", ""), waitFor(2*time.Second, 3))
	if n := m.Len(); n != 1 {
		t.Fatalf("store holds %d counters, want 1 (account only)", n)
	}
}

func TestGuardErrors(t *testing.T) {
	boom := errors.New("boom")
	r := &recordingStore{Store: NewMemory(0), err: boom}
	g, _ := newGuard(r)
	if d, err := g.Check(context.Background(), "alice", "192.0.2.1"); !errors.Is(err, boom) || d.Allowed {
		t.Errorf("Check = %+v, %v; want not allowed and boom", d, err)
	}
	r.keys = nil
	if _, err := g.Fail(context.Background(), "alice", "192.0.2.1"); !errors.Is(err, boom) {
		t.Errorf("Fail error = %v, want boom", err)
	}
	if got := strings.Join(r.keys, ","); got != "fail a:alice,fail ip:192.0.2.1" {
		t.Errorf("Fail touched %s, want both counters", got)
	}
	var zero Guard
	if _, err := zero.Check(context.Background(), "a", "b"); err == nil {
		t.Error("Guard without Store: Check gave no error")
	}
	if _, err := zero.Fail(context.Background(), "a", "b"); err == nil {
		t.Error("Guard without Store: Fail gave no error")
	}
	if err := zero.Success(context.Background(), "a", "b"); err == nil {
		t.Error("Guard without Store: Success gave no error")
	}
}

func TestGuardDefaultClock(t *testing.T) {
	g := &Guard{Store: NewMemory(0), Account: guardAccount, IP: guardIP}
	guardDo(t, "Fail", g.Fail, "alice", "192.0.2.1")
	d := guardDo(t, "Fail", g.Fail, "alice", "192.0.2.1")
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second {
		t.Fatalf("Fail with real clock = %+v, want about 1s back-off", d)
	}
}

func TestGuardWithRedis(t *testing.T) {
	c := testRedisClient(t)
	s, _ := testRedisStore(t, c)
	g, _ := newGuard(s)
	for range 3 {
		guardDo(t, "Fail", g.Fail, "alice@example.com", "192.0.2.1")
	}
	d := guardDo(t, "Fail", g.Fail, "alice@example.com", "192.0.2.1")
	expect(t, "4th Fail", d, Decision{RetryAfter: 15 * time.Minute, Locked: true, JustLocked: true, Failures: 4})
	if err := g.Success(context.Background(), "alice@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	expect(t, "after Success", guardDo(t, "Check", g.Check, "alice@example.com", "192.0.2.1"), allowed)
	h := storeHarness{t: t, s: s, p: guardIP}
	expect(t, "IP counter kept", h.check("ip:192.0.2.1", t0), allowedWith(4))
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name    string
		acc, ip Decision
		want    Decision
	}{
		{"both allow", allowedWith(2), allowedWith(7), allowedWith(2)},
		{"account denies", waitFor(time.Second, 3), allowedWith(7), waitFor(time.Second, 3)},
		{"ip denies", allowedWith(2), waitFor(time.Second, 9), waitFor(time.Second, 9)},
		{"ip longer", waitFor(time.Second, 3), waitFor(time.Minute, 9), waitFor(time.Minute, 9)},
		{"account longer", lockedFor(time.Hour, 5), waitFor(time.Minute, 9), lockedFor(time.Hour, 5)},
		{"tie", waitFor(time.Second, 3), waitFor(time.Second, 9), waitFor(time.Second, 3)},
		{"locked but shorter", lockedFor(time.Second, 5), waitFor(time.Minute, 9), Decision{RetryAfter: time.Minute, Locked: true, Failures: 9}},
		{"just locked either", allowedWith(1), Decision{RetryAfter: time.Hour, Locked: true, JustLocked: true, Failures: 10},
			Decision{RetryAfter: time.Hour, Locked: true, JustLocked: true, Failures: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, "merge", merge(tt.acc, tt.ip), tt.want)
		})
	}
}
