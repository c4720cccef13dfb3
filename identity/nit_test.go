package identity

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestNITCheckDigit(t *testing.T) {
	for _, tc := range []struct {
		number string
		want   int
	}{
		{"811007991", 8},
		{"811.007.991", 8},
		{"830080150", 1},
		{"830.080.150", 1},
		{"901458652", 7},
		{"800197268", 4},       // DIAN's own NIT, 800.197.268-4
		{"15", 0},              // 5·3 + 1·7 = 22, r = 0 → 0
		{"19", 1},              // 9·3 + 1·7 = 34, r = 1 → 1
		{"11", 1},              // 1·3 + 1·7 = 10, r = 10 → 11 − 10
		{"1", 8},               // 3, r = 3 → 8
		{"100000000000000", 6}, // 15 digits: 1·71 = 71, r = 5 → 6
		{"100.000.000.000.000", 6},
		{"000811007991", 8}, // leading zeros do not change the sum
	} {
		got, err := NITCheckDigit(tc.number)
		if err != nil || got != tc.want {
			t.Errorf("NITCheckDigit(%q) = %d, %v; want %d", tc.number, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"", "0", "000000000", "81100799a", "811 007 991", " 811007991", "811007991 ",
		"+811007991", "-811007991", "811,007,991", "８１１００７９９１", "٨١١٠٠٧٩٩١",
		"1000000000000000", // 16 digits
		"8110.07.991", "811.007991", "811007.991", ".811007991", "811.007.991.",
		"811..007", "1.000.000.000.000.000", // 16 digits with dots
	} {
		if got, err := NITCheckDigit(bad); !errors.Is(err, ErrNITFormat) {
			t.Errorf("NITCheckDigit(%q) = %d, %v; want ErrNITFormat", bad, got, err)
		}
	}
}

func TestValidNIT(t *testing.T) {
	valid := []string{
		"811007991-8", "830080150-1", "901458652-7",
		"811.007.991-8", "830.080.150-1", "901.458.652-7",
		"800197268-4", "15-0", "19-1", "100000000000000-6",
	}
	for _, s := range valid {
		if !ValidNIT(s) {
			t.Errorf("ValidNIT(%q) = false", s)
		}
		// Every other check digit is wrong.
		number, dv, _ := strings.Cut(s, "-")
		for d := range 10 {
			if w := number + "-" + strconv.Itoa(d); strconv.Itoa(d) != dv && ValidNIT(w) {
				t.Errorf("ValidNIT(%q) = true, wrong check digit", w)
			}
		}
	}
	for _, s := range []string{
		"", "-", "-8", "811007991", "811007991-", "8110079918", // no hyphen: rejected
		"811007991-88", "811007991--8", "811-007991-8", "811007991-x", "81100799a-8",
		"811007991 -8", "811007991- 8", " 811007991-8", "811007991-8 ", "811007991–8", // en dash
		"811 007 991-8", "8110.07.991-8", "811.007991-8",
		"000000000-0",        // zero is not a NIT
		"1000000000000000-6", // 16 digits
		"811007991-٨",
	} {
		if ValidNIT(s) {
			t.Errorf("ValidNIT(%q) = true", s)
		}
	}
}
