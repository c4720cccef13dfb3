package localpath

import "testing"

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"/account", true},
		{"/oauth2/auth?flow=abc&x=%2F%2F", true},
		{"/", true},
		{"", false},
		{"account", false},
		{"//evil.example/", false},
		{"/\\evil.example/", false},
		{"/\t/evil.example/", false},
		{"/\n/evil.example/", false},
		{"/\r/evil.example/", false},
		{"/%09/evil.example/", true}, // stays encoded: a path segment, not a host
		{"/a\\b", false},
		{"https://evil.example/", false},
		{"/\x7f/evil.example", false},
		{"/" + string(make([]byte, MaxLen)), false},
	} {
		if got := Valid(tc.p); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Or("//x", "/login") != "/login" || Or("/account", "/login") != "/account" {
		t.Error("Or")
	}
}
