package i18n

import (
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
)

func bundle(t *testing.T) *Bundle {
	t.Helper()
	b, err := Load(fstest.MapFS{
		"es-CO.json": {Data: []byte(`{"hello":"Hola, %s","only":"solo"}`)},
		"en.json":    {Data: []byte(`{"hello":"Hello, %s","only":"only"}`)},
	}, "es-CO")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadRefusesIncompleteCatalogs(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"missing key": {"es-CO.json": {Data: []byte(`{"a":"1","b":"2"}`)}, "en.json": {Data: []byte(`{"a":"1"}`)}},
		"extra key":   {"es-CO.json": {Data: []byte(`{"a":"1"}`)}, "en.json": {Data: []byte(`{"a":"1","b":"2"}`)}},
		"no default":  {"en.json": {Data: []byte(`{"a":"1"}`)}},
		"bad json":    {"es-CO.json": {Data: []byte(`{"a":`)}},
		"bad name":    {"es-CO.json": {Data: []byte(`{}`)}, "x_y_z!.json": {Data: []byte(`{}`)}},
	} {
		if _, err := Load(fsys, "es-CO"); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestNegotiate(t *testing.T) {
	b := bundle(t)
	tests := []struct {
		accept, cookie, want string
	}{
		{"", "", "es-CO"},
		{"en-US,en;q=0.9", "", "en"},
		{"es-MX,es;q=0.9,en;q=0.5", "", "es-CO"},
		{"de-DE", "", "es-CO"},
		{"fr;q=0.9,en;q=0.8", "", "en"},
		{"garbage;;;q=x", "", "es-CO"},
		{strings.Repeat("en,", 300), "", "es-CO"}, // absurd header: default, no work
		{"en", "es-CO", "es-CO"},                  // the switcher wins
		{"es", "en", "en"},
		{"en", "xx", "en"}, // an unknown cookie value is ignored
	}
	for _, tc := range tests {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: CookieName, Value: tc.cookie})
		}
		if got := b.Negotiate(r); got != tc.want {
			t.Errorf("Accept-Language %q, cookie %q: %s, want %s", tc.accept, tc.cookie, got, tc.want)
		}
	}
}

func TestT(t *testing.T) {
	b := bundle(t)
	if got := b.T("en", "hello", "Ana"); got != "Hello, Ana" {
		t.Errorf("formatted: %q", got)
	}
	if got := b.T("es-CO", "only"); got != "solo" {
		t.Errorf("plain: %q", got)
	}
	if got := b.T("xx", "only"); got != "solo" {
		t.Errorf("unknown language falls back to the default: %q", got)
	}
	// Free text (a protocol hint) passes through unchanged.
	if got := b.T("en", "The redirect_uri is not registered."); got != "The redirect_uri is not registered." {
		t.Errorf("free text: %q", got)
	}
	if !b.Has("hello") || b.Has("nope") {
		t.Error("Has")
	}
	if langs := b.Languages(); len(langs) != 2 || langs[0] != "es-CO" {
		t.Errorf("languages: %v", langs)
	}
}
