package pow

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIssueSolveVerify(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	iss := &Issuer{Key: []byte("k"), Bits: 12, TTL: 2 * time.Minute, Now: clock}
	c := iss.Issue()
	nonce := Solve(c, 12)
	if err := iss.Verify(c, nonce); err != nil {
		t.Fatalf("a solved challenge: %v", err)
	}
	if err := iss.Verify(c, nonce); !errors.Is(err, ErrReplayed) {
		t.Fatalf("used twice: %v", err)
	}
	c2 := iss.Issue()
	for name, tc := range map[string]struct {
		challenge, nonce string
		want             error
	}{
		"no work":     {c2, "no-work-at-all-" + strings.Repeat("x", 3), ErrWork},
		"forged":      {strings.Replace(c2, ".12.", ".1.", 1), Solve(strings.Replace(c2, ".12.", ".1.", 1), 1), ErrSignature},
		"other key":   {(&Issuer{Key: []byte("other"), Bits: 12, TTL: time.Minute, Now: clock}).Issue(), "0", ErrSignature},
		"malformed":   {"v1.only.three", "1", ErrMalformed},
		"empty nonce": {c2, "", ErrMalformed},
		"too easy":    {(&Issuer{Key: []byte("k"), Bits: 4, TTL: time.Minute, Now: clock}).Issue(), "1", ErrMalformed},
	} {
		if err := iss.Verify(tc.challenge, tc.nonce); !errors.Is(err, tc.want) {
			// "no work" may by chance have enough zero bits: 1 in 4096.
			if !(name == "no work" && err == nil) {
				t.Errorf("%s: %v, want %v", name, err, tc.want)
			}
		}
	}
	late := iss.Issue()
	now = now.Add(3 * time.Minute)
	if err := iss.Verify(late, Solve(late, 12)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}

// TestLeadingZeroBitsMatchesTheBrowser pins the hash input the browser
// uses (static/pow.js): SHA-256 of challenge ":" nonce.
func TestLeadingZeroBitsMatchesTheBrowser(t *testing.T) {
	// sha256("a:0") = 0ed32d33… (first byte 0x0e: four leading zero bits).
	if got := LeadingZeroBits("a", "0"); got != 4 {
		t.Fatalf("LeadingZeroBits(a, 0) = %d", got)
	}
	n := Solve("a", 8)
	if LeadingZeroBits("a", n) < 8 {
		t.Fatal("Solve returned a nonce that does not solve")
	}
}
