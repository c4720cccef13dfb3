package oauth

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portero-id/portero/identity"
)

// fakeRevocations is a revocation store in memory.
type fakeRevocations struct {
	rules   []identity.TokenRevocation
	written uint64
	reads   int
}

func (f *fakeRevocations) AddTokenRevocation(_ context.Context, r *identity.TokenRevocation) error {
	r.Seq = int64(len(f.rules) + 1)
	f.rules = append(f.rules, *r)
	f.written++
	return nil
}

func (f *fakeRevocations) TokenRevocations(_ context.Context, after int64, now time.Time) ([]identity.TokenRevocation, error) {
	f.reads++
	var out []identity.TokenRevocation
	for _, r := range f.rules {
		if r.Seq > after && r.ExpiresAt.After(now) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeRevocations) DeleteExpiredTokenRevocations(context.Context, time.Time, int) (int64, error) {
	return 0, nil
}

func (f *fakeRevocations) RevocationsWritten() uint64 { return f.written }

func TestRevocationSet(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	st := &fakeRevocations{}
	set := &RevocationSet{Store: st, Now: func() time.Time { return now }}
	jti, other := uuid.NewString(), uuid.NewString()
	check := func(jti, sub, client string, iat time.Time) bool {
		t.Helper()
		revoked, err := set.Revoked(ctx, jti, sub, client, iat)
		if err != nil {
			t.Fatal(err)
		}
		return revoked
	}
	if check(jti, "svc", "svc", now) {
		t.Fatal("revoked with no rule")
	}
	_ = st.AddTokenRevocation(ctx, &identity.TokenRevocation{JTI: jti, ExpiresAt: now.Add(time.Minute)})
	_ = st.AddTokenRevocation(ctx, &identity.TokenRevocation{JTI: "not-a-uuid", ExpiresAt: now.Add(time.Minute)})
	_ = st.AddTokenRevocation(ctx, &identity.TokenRevocation{ClientID: "blog", IssuedBefore: now, ExpiresAt: now.Add(time.Hour)})
	_ = st.AddTokenRevocation(ctx, &identity.TokenRevocation{Subject: "ana", ClientID: "shop", IssuedBefore: now, ExpiresAt: now.Add(time.Hour)})
	cases := []struct {
		name             string
		jti, sub, client string
		iat              time.Time
		want             bool
	}{
		{"the revoked jti", jti, "svc", "svc", now, true},
		{"a jti in another form", "not-a-uuid", "svc", "svc", now, true},
		{"another jti", other, "svc", "svc", now, false},
		{"the client's token from before the cut", other, "blog", "blog", now.Add(-time.Second), true},
		{"the client's token from after the cut", other, "blog", "blog", now.Add(time.Second), false},
		{"the subject's token at the client named", other, "ana", "shop", now.Add(-time.Second), true},
		{"the subject's token at another client", other, "ana", "blog2", now.Add(-time.Second), false},
		{"another subject's token at that client", other, "bob", "shop", now.Add(-time.Second), false},
	}
	for _, c := range cases {
		if got := check(c.jti, c.sub, c.client, c.iat); got != c.want {
			t.Errorf("%s: revoked %v, want %v", c.name, got, c.want)
		}
	}
	// Steady state: checks read nothing.
	reads := st.reads
	for range 100 {
		check(other, "svc", "svc", now)
	}
	if st.reads != reads {
		t.Errorf("%d reads for checks with nothing new", st.reads-reads)
	}
	// Expired entries go at the next prune.
	now = now.Add(2 * time.Hour)
	if err := set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if set.Len() != 0 || check(jti, "svc", "svc", now.Add(-3*time.Hour)) {
		t.Errorf("after expiry: %d entries", set.Len())
	}
	// Forget makes the next check load every rule again.
	set.Forget()
	reads = st.reads
	check(other, "svc", "svc", now)
	if st.reads != reads+1 {
		t.Error("a check after Forget did not reload")
	}
}

// TestRevocationSetMemory measures a million revoked tokens in the set:
// the target is under 100 MB.
func TestRevocationSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million entries")
	}
	const n = 1_000_000
	set := &RevocationSet{jtis: map[[16]byte]int64{}, otherJTIs: map[string]int64{}}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	exp := time.Now().Add(time.Hour)
	for range n {
		set.add(identity.TokenRevocation{JTI: uuid.NewString(), ExpiresAt: exp})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	mb := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	t.Logf("%d revoked tokens: %.1f MB of heap (%.0f bytes each)", set.Len(), mb, mb*(1<<20)/n)
	if mb >= 100 {
		t.Errorf("%.1f MB for a million revoked tokens, want under 100", mb)
	}
	runtime.KeepAlive(set)
}
