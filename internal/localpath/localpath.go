// Package localpath decides whether a redirect target taken from a request
// stays on Portero's origin. It is the one check every such redirect uses:
// browsers strip tabs and newlines from URLs and read a backslash as a
// slash, so "/\t/evil.example" and "/\evil.example" are "//evil.example",
// another origin.
package localpath

import (
	"net/http"
	"net/url"
	"strings"
)

// MaxLen bounds a local target; longer ones are refused.
const MaxLen = 2048

// Valid reports whether p is a same-origin absolute path (with an optional
// query): it starts with exactly one "/", holds no control character and
// no backslash, and parses as a URL with neither scheme nor host.
func Valid(p string) bool {
	if len(p) == 0 || len(p) > MaxLen || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(u.Path, "//")
}

// Or returns p when it is Valid, and fallback otherwise.
func Or(p, fallback string) string {
	if Valid(p) {
		return p
	}
	return fallback
}

// Redirect answers 303 See Other to target, a path on this origin built by
// the caller or taken from the request; a target that is not Valid sends
// the browser to "/" instead. Every page redirect to a computed path goes
// through here, so that none can leave the origin.
func Redirect(w http.ResponseWriter, r *http.Request, target string) {
	http.Redirect(w, r, Or(target, "/"), http.StatusSeeOther) // #nosec G710 -- the target passed Valid: a path on this origin
}
