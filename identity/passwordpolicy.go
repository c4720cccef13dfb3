package identity

import (
	"strings"
	"unicode/utf8"

	"github.com/portero-id/portero/identity/commonpasswords"
	"golang.org/x/text/unicode/norm"
)

// Errors returned by PasswordPolicy.Check.
var (
	ErrPasswordTooShort        = newError(KindInvalid, "password-too-short", "password too short")
	ErrPasswordTooLong         = newError(KindInvalid, "password-too-long", "password too long")
	ErrPasswordCommon          = newError(KindInvalid, "password-common", "password is too common")
	ErrPasswordMatchesIdentity = newError(KindInvalid, "password-matches-identity", "password matches the username or e-mail")
)

// Defaults for a zero PasswordPolicy.
const (
	DefaultPasswordMinLength = 12
	DefaultPasswordMaxLength = 1024
)

// PasswordPolicy follows NIST SP 800-63B: a minimum length, no composition
// rules, no common passwords, not the user's own identifiers.
//
// Lengths are counted in Unicode code points after NFC normalisation (NIST:
// each code point counts as one character), so "contraseña" is 10 long
// whether its ñ arrives composed or decomposed. Passwords are not trimmed:
// spaces, leading and trailing included, count like any other character;
// a password that repeats one short unit (all spaces, "abcabcabcabc") is
// refused as common.
type PasswordPolicy struct {
	// MinLength is the minimum length in code points; 0 means
	// DefaultPasswordMinLength (12).
	MinLength int
	// MaxLength is the maximum length in code points; 0 means
	// DefaultPasswordMaxLength (1024). Argon2's cost does not depend on the
	// password's length, but the limit bounds request sizes and the work
	// this check does.
	MaxLength int
}

func (p PasswordPolicy) minLength() int {
	if p.MinLength > 0 {
		return p.MinLength
	}
	return DefaultPasswordMinLength
}

func (p PasswordPolicy) maxLength() int {
	if p.MaxLength > 0 {
		return p.MaxLength
	}
	return DefaultPasswordMaxLength
}

// Check returns nil if password is acceptable for the account with the given
// identifiers (username, e-mail address, ...), or the first problem found, in
// this order: ErrPasswordTooLong, ErrPasswordTooShort,
// ErrPasswordMatchesIdentity, ErrPasswordCommon.
//
// The password matches an identifier if, ignoring case and Unicode
// normalisation, it equals the identifier, the local part of an e-mail
// identifier (before the last "@"), or either of these followed only by
// digits, punctuation, symbols or spaces ("alice2024!"). Empty identifiers
// are ignored; identifiers, unlike passwords, are trimmed.
//
// The password is common if commonpasswords.Contains reports it: it is on
// the embedded list of common and breached passwords and common Spanish
// words and names, or is such an entry (of at least 4 characters) followed
// only by digits, punctuation, symbols or spaces ("Colombia2024!"); white
// space around the password is ignored for this check (but not for length).
func (p PasswordPolicy) Check(password string, identifiers ...string) error {
	maxLen := p.maxLength()
	// A code point takes at most utf8.UTFMax bytes, and NFC composes at most
	// a few code points (a Hangul syllable: 3 of 3 bytes) into one, so
	// anything longer than this cannot be within maxLen after normalising.
	// Refuse it before spending time on it.
	if len(password) > 4*utf8.UTFMax*maxLen {
		return ErrPasswordTooLong
	}
	n := utf8.RuneCountInString(norm.NFC.String(password))
	if n > maxLen {
		return ErrPasswordTooLong
	}
	if n < p.minLength() {
		return ErrPasswordTooShort
	}
	if matchesIdentifier(password, identifiers) {
		return ErrPasswordMatchesIdentity
	}
	if commonpasswords.Contains(password) || repetitive(password) {
		return ErrPasswordCommon
	}
	return nil
}

// repetitive reports a password that is one short unit repeated
// ("            ", "aaaaaaaaaaaa", "abcabcabcabc"): NIST SP 800-63B names
// repetitive characters among the values to refuse.
func repetitive(password string) bool {
	r := []rune(commonpasswords.Normalize(password))
	for unit := 1; unit <= 3 && unit < len(r); unit++ {
		if len(r)%unit != 0 {
			continue
		}
		same := true
		for i := unit; i < len(r) && same; i++ {
			same = r[i] == r[i-unit]
		}
		if same {
			return true
		}
	}
	return false
}

func matchesIdentifier(password string, identifiers []string) bool {
	pw := commonpasswords.Normalize(password)
	for _, id := range identifiers {
		id = commonpasswords.Normalize(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		if equalOrSuffixed(pw, id) {
			return true
		}
		if at := strings.LastIndexByte(id, '@'); at > 0 && equalOrSuffixed(pw, id[:at]) {
			return true
		}
	}
	return false
}

// equalOrSuffixed reports whether pw is id followed by nothing but
// characters the common-password suffix rule strips (digits, punctuation,
// symbols, spaces).
func equalOrSuffixed(pw, id string) bool {
	rest, ok := strings.CutPrefix(pw, id)
	return ok && strings.TrimRightFunc(rest, commonpasswords.IsSuffixRune) == ""
}
