package oauth

import (
	"net/url"
	"testing"
)

// FuzzParseIntrospection checks that any body parses to either an error or
// a request with exactly one non-empty token and a known (or no) hint.
func FuzzParseIntrospection(f *testing.F) {
	for _, s := range []string{
		"token=abc",
		"token=abc&token_type_hint=access_token",
		"token=abc&token_type_hint=refresh_token",
		"token=abc&token_type_hint=id_token",
		"token=a&token=b",
		"token=",
		"",
		"%zz",
		"token=%00%ff&token_type_hint=%0a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		req, err := parseIntrospection(form)
		if err != nil {
			return
		}
		if req.Token == "" || len(form["token"]) != 1 {
			t.Fatalf("accepted %q as %+v", body, req)
		}
		switch req.TokenTypeHint {
		case "", "access_token", "refresh_token":
		default:
			t.Fatalf("unknown hint %q passed through", req.TokenTypeHint)
		}
	})
}
