package identity

import (
	"strings"
)

// ErrNITFormat is returned by NITCheckDigit for a number that is not 1 to 15
// digits (optionally grouped by dots), or is zero.
var ErrNITFormat = newError(KindInvalid, "nit-format", "NIT must be 1 to 15 digits, optionally grouped by dots as 811.007.991")

// nitWeights are the DIAN weights, applied to the digits from the right.
var nitWeights = [15]int{3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71}

// NITCheckDigit returns the DIAN check digit (dígito de verificación, DV) of
// a NIT number given without its DV: "811007991" or, with dots as thousands
// separators, "811.007.991" (both give 8).
//
// The digits are weighted from the right by 3, 7, 13, 17, 19, 23, 29, 37, 41,
// 43, 47, 53, 59, 67, 71; r is the sum modulo 11; the DV is r when r is 0 or
// 1, else 11 − r. The number must have 1 to 15 ASCII digits (leading zeros
// allowed, not all zeros); dots, if any, must separate groups of exactly
// three digits after a first group of one to three. Nothing else is allowed,
// not even surrounding spaces.
func NITCheckDigit(number string) (int, error) {
	digits, ok := nitDigits(number)
	if !ok {
		return 0, ErrNITFormat
	}
	sum := 0
	for i := range len(digits) {
		sum += int(digits[len(digits)-1-i]-'0') * nitWeights[i]
	}
	r := sum % 11
	if r > 1 {
		return 11 - r, nil
	}
	return r, nil
}

// nitDigits returns number without its thousands dots, if it is well formed.
func nitDigits(number string) (string, bool) {
	if strings.Contains(number, ".") {
		groups := strings.Split(number, ".")
		if len(groups[0]) < 1 || len(groups[0]) > 3 {
			return "", false
		}
		for _, g := range groups[1:] {
			if len(g) != 3 {
				return "", false
			}
		}
		number = strings.Join(groups, "")
	}
	if len(number) < 1 || len(number) > len(nitWeights) {
		return "", false
	}
	zero := true
	for i := range len(number) {
		c := number[i]
		if c < '0' || c > '9' {
			return "", false
		}
		zero = zero && c == '0'
	}
	return number, !zero
}

// ValidNIT reports whether s is a NIT with a correct check digit, written as
// the number, a hyphen and the DV: "811007991-8" or "811.007.991-8" (see
// NITCheckDigit for the number). The hyphen is required: in "8110079918" the
// DV cannot be told from the number with certainty, so that form is
// rejected rather than guessed at. Callers trim user input before.
func ValidNIT(s string) bool {
	number, dv, ok := strings.Cut(s, "-")
	if !ok || len(dv) != 1 || dv[0] < '0' || dv[0] > '9' {
		return false
	}
	want, err := NITCheckDigit(number)
	return err == nil && want == int(dv[0]-'0')
}
