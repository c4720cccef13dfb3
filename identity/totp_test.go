package identity

import (
	"strings"
	"testing"
	"time"
)

func TestTOTPStepSkewAndFormat(t *testing.T) {
	e, err := NewTOTP("Portero", "ana@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URL, "otpauth://totp/Portero:ana@example.com?") || len(e.QRPNG) < 100 || string(e.QRPNG[1:4]) != "PNG" {
		t.Fatalf("enrollment = %q, %d bytes of PNG", e.URL, len(e.QRPNG))
	}
	now := time.Unix(1_800_000_015, 0)
	step := now.Unix() / 30
	for _, tc := range []struct {
		name   string
		at     time.Time
		ok     bool
		offset int64
	}{
		{"current step", now, true, 0},
		{"previous step (slow clock)", now.Add(-30 * time.Second), true, -1},
		{"next step (fast clock)", now.Add(30 * time.Second), true, 1},
		{"two steps ago", now.Add(-60 * time.Second), false, 0},
		{"two steps ahead", now.Add(60 * time.Second), false, 0},
	} {
		code, err := TOTPCode(e.Secret, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := TOTPStep(e.Secret, code, now)
		if ok != tc.ok || (ok && got != step+tc.offset) {
			t.Errorf("%s: step %d ok %v, want ok %v step %d", tc.name, got, ok, tc.ok, step+tc.offset)
		}
	}
	code, _ := TOTPCode(e.Secret, now)
	if _, ok := TOTPStep(e.Secret, code[:3]+" "+code[3:], now); !ok {
		t.Error("a code typed with a space was refused")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := TOTPStep(e.Secret, bad, now); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	key := []byte("k")
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Fatalf("code %q (duplicate %v)", c, seen[c])
		}
		seen[c] = true
		n, err := NormalizeRecoveryCode(strings.ToUpper(strings.ReplaceAll(c, "-", " ")))
		if err != nil || n != strings.ReplaceAll(c, "-", "") {
			t.Fatalf("normalize(%q) = %q, %v", c, n, err)
		}
		if HashRecoveryCode(key, n) == HashRecoveryCode([]byte("other"), n) {
			t.Fatal("digest does not depend on the key")
		}
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
	if n, err := NormalizeRecoveryCode("O1IL0-abcde"); err != nil || n != "01110abcde" {
		t.Fatalf("confusables: %q %v", n, err)
	}
	for _, bad := range []string{"", "abc", "abcde-abcdeu", "abcde-abcd!"} {
		if _, err := NormalizeRecoveryCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
