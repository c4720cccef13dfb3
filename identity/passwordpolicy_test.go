package identity

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPasswordPolicyCheck(t *testing.T) {
	const (
		username = "juan.perez.garcia"
		email    = "Maria.Fernanda@Example.com"
	)
	tests := []struct {
		name     string
		policy   PasswordPolicy
		password string
		ids      []string
		want     error
	}{
		// Length: code points after NFC, not bytes.
		{name: "empty", password: "", want: ErrPasswordTooShort},
		{name: "11 ascii", password: "xkq7 vbn2 w", want: ErrPasswordTooShort},
		{name: "12 ascii", password: "xkq7 vbn2 wz", want: nil},
		{name: "11 runes 14 bytes", password: "ñandú pingü", want: ErrPasswordTooShort},
		{name: "12 runes 15 bytes", password: "ñandú pingüé", want: nil},
		{name: "12 runes NFD 16 raw runes", password: "n\u0303andu\u0301 pingu\u0308e\u0301", want: nil},
		{name: "11 runes NFD 14 raw runes", password: "n\u0303andu\u0301 pingu\u0308", want: ErrPasswordTooShort},
		{name: "12 CJK runes 36 bytes", password: "我的密码很长而且很安全啊", want: nil},
		{name: "custom min 8", policy: PasswordPolicy{MinLength: 8}, password: "ñandú pí", want: nil},
		{name: "custom min 8 short", policy: PasswordPolicy{MinLength: 8}, password: "ñandú p", want: ErrPasswordTooShort},
		{name: "custom min 16", policy: PasswordPolicy{MinLength: 16}, password: "ñandú pingüé", want: ErrPasswordTooShort},

		// White space is not trimmed and counts like any character.
		{name: "11 spaces", password: strings.Repeat(" ", 11), want: ErrPasswordTooShort},
		{name: "12 spaces", password: strings.Repeat(" ", 12), want: ErrPasswordCommon},
		{name: "one letter repeated", password: strings.Repeat("z", 14), want: ErrPasswordCommon},
		{name: "three letters repeated", password: strings.Repeat("xqz", 5), want: ErrPasswordCommon},
		{name: "four letters repeated are judged by the list", password: strings.Repeat("xqzw", 4), want: nil},
		{name: "padding counts for length", password: "  ñandú roto", want: nil},
		{name: "padding alone too short", password: "ñandú roto", want: ErrPasswordTooShort},

		// Maximum length.
		{name: "default max", password: strings.Repeat("xkq7 vbn2 wz", 85) + "abcd", want: nil},                     // 1024
		{name: "default max + 1", password: strings.Repeat("xkq7 vbn2 wz", 85) + "abcde", want: ErrPasswordTooLong}, // 1025
		{name: "custom max", policy: PasswordPolicy{MaxLength: 16}, password: strings.Repeat("ñandú", 3) + "x", want: nil},
		{name: "custom max + 1", policy: PasswordPolicy{MaxLength: 16}, password: strings.Repeat("ñ", 17), want: ErrPasswordTooLong},
		{name: "custom max NFD", policy: PasswordPolicy{MaxLength: 16}, password: strings.Repeat("n\u0303andu\u0301", 3) + "x", want: nil},
		{name: "huge", password: strings.Repeat("x", 1<<20), want: ErrPasswordTooLong},

		// Common passwords and words.
		{name: "common", password: "qwertyuiop12", want: ErrPasswordCommon},
		{name: "common long entry", password: "mayoritariamente", want: ErrPasswordCommon},
		{name: "common any case", password: "MayoritariaMENTE", want: ErrPasswordCommon},
		{name: "common with suffix", password: "Password2024!", want: ErrPasswordCommon},
		{name: "common spanish with suffix", password: "Contraseña123", want: ErrPasswordCommon},
		{name: "common country with year", password: "Colombia2024", want: ErrPasswordCommon},
		{name: "common name with suffix", password: "Peñalver#1990", want: ErrPasswordCommon},
		{name: "common padded with spaces", password: "   password   ", want: ErrPasswordCommon},
		{name: "common at custom min 8", policy: PasswordPolicy{MinLength: 8}, password: "tequiero", want: ErrPasswordCommon},
		{name: "common prefix not stripped", password: "2024colombia", want: nil},

		// The user's own identifiers.
		{name: "equals username", password: "Juan.Perez.Garcia", ids: []string{username, email}, want: ErrPasswordMatchesIdentity},
		{name: "username with suffix", password: "juan.perez.garcia2024!", ids: []string{username, email}, want: ErrPasswordMatchesIdentity},
		{name: "equals email", password: "maria.fernanda@example.com", ids: []string{username, email}, want: ErrPasswordMatchesIdentity},
		{name: "equals email local part", password: "MARIA.FERNANDA", ids: []string{username, email}, want: ErrPasswordMatchesIdentity},
		{name: "email local part with suffix", password: "maria.fernanda 1!", ids: []string{username, email}, want: ErrPasswordMatchesIdentity},
		{name: "identifier NFD", password: "peñalver.ruiz", ids: []string{"pen\u0303alver.ruiz"}, want: ErrPasswordMatchesIdentity},
		{name: "identifier ending in digits", password: "juanito1990!!", ids: []string{"juanito1990"}, want: ErrPasswordMatchesIdentity},
		{name: "identity wins over common", password: "password1234", ids: []string{"password1234"}, want: ErrPasswordMatchesIdentity},
		{name: "identifier plus letters", password: "juan.perez.garcia escribe", ids: []string{username, email}, want: nil},
		{name: "identifier inside", password: "soy juan.perez.garcia", ids: []string{username, email}, want: nil},
		{name: "empty identifiers ignored", password: "!?!.!?!.!?!#", ids: []string{"", "   "}, want: nil},
		{name: "email domain only", password: "@example.com!", ids: []string{"@example.com"}, want: ErrPasswordMatchesIdentity},

		// Good passphrases.
		{name: "passphrase", password: "tangerine glacier cobalt fjord", ids: []string{username, email}, want: nil},
		{name: "spanish passphrase", password: "el murciélago toca el violonchelo", ids: []string{username, email}, want: nil},
		{name: "random", password: "q8#Lw2!vZp0@", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Check(tt.password, tt.ids...); !errors.Is(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Check(%q [%d bytes, %d runes], %q) = %v, want %v",
					abbrev(tt.password), len(tt.password), utf8.RuneCountInString(tt.password), tt.ids, got, tt.want)
			}
		})
	}
}

func TestPasswordPolicyDefaults(t *testing.T) {
	var p PasswordPolicy
	if p.minLength() != 12 || p.maxLength() != 1024 {
		t.Fatalf("defaults = %d..%d, want 12..1024", p.minLength(), p.maxLength())
	}
	p = PasswordPolicy{MinLength: 8, MaxLength: 64}
	if p.minLength() != 8 || p.maxLength() != 64 {
		t.Fatalf("custom = %d..%d, want 8..64", p.minLength(), p.maxLength())
	}
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
