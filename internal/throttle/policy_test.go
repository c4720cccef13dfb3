package throttle

import (
	"math"
	"testing"
	"time"
)

func TestPolicyDelay(t *testing.T) {
	p := Policy{FreeAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Minute}
	tests := []struct {
		name     string
		p        Policy
		failures int
		want     time.Duration
	}{
		{"no failures", p, 0, 0},
		{"negative", p, -5, 0},
		{"within free", p, 3, 0},
		{"first past free", p, 4, time.Second},
		{"doubles", p, 5, 2 * time.Second},
		{"doubles again", p, 6, 4 * time.Second},
		{"just below cap", p, 9, 32 * time.Second},
		{"capped", p, 10, time.Minute},
		{"capped far", p, 1000, time.Minute},
		{"huge n", p, math.MaxInt, time.Minute},
		{"shift 62", Policy{BaseDelay: 1, MaxDelay: math.MaxInt64}, 63, 1 << 62},
		{"shift 63 saturates", Policy{BaseDelay: 1, MaxDelay: math.MaxInt64}, 64, math.MaxInt64},
		{"no cap saturates", Policy{BaseDelay: time.Second}, 100, math.MaxInt64},
		{"no cap huge n", Policy{BaseDelay: time.Hour}, math.MaxInt, math.MaxInt64},
		{"no cap small", Policy{BaseDelay: time.Second}, 3, 4 * time.Second},
		{"overflow boundary", Policy{BaseDelay: 3, MaxDelay: math.MaxInt64}, 62, 3 << 61},
		{"overflow boundary+1", Policy{BaseDelay: 3, MaxDelay: math.MaxInt64}, 63, math.MaxInt64},
		{"zero base", Policy{FreeAttempts: 1, MaxDelay: time.Minute}, 50, 0},
		{"negative base", Policy{BaseDelay: -time.Second, MaxDelay: time.Minute}, 50, 0},
		{"base above cap", Policy{BaseDelay: time.Hour, MaxDelay: time.Minute}, 1, time.Minute},
		{"no free attempts", Policy{BaseDelay: time.Second, MaxDelay: time.Minute}, 1, time.Second},
		{"negative free attempts", Policy{FreeAttempts: -3, BaseDelay: time.Second, MaxDelay: time.Minute}, 1, time.Second},
		{"free attempts MaxInt", Policy{FreeAttempts: math.MaxInt, BaseDelay: time.Second}, math.MaxInt, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Delay(tt.failures); got != tt.want {
				t.Errorf("%+v.Delay(%d) = %v, want %v", tt.p, tt.failures, got, tt.want)
			}
		})
	}
}

func TestPolicyDelayMonotonic(t *testing.T) {
	p := Policy{FreeAttempts: 2, BaseDelay: 7 * time.Millisecond, MaxDelay: 90 * time.Minute}
	prev := time.Duration(0)
	for n := 0; n < 200; n++ {
		d := p.Delay(n)
		if d < prev || d > p.MaxDelay {
			t.Fatalf("Delay(%d) = %v after %v (cap %v)", n, d, prev, p.MaxDelay)
		}
		prev = d
	}
	if prev != p.MaxDelay {
		t.Fatalf("Delay never reached the cap: %v", prev)
	}
}
