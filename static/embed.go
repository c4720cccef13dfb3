// Package static holds the assets served under /static/.
package static

import "embed"

// FS holds the stylesheet (and, in later releases, the WebAuthn script).
//
//go:embed *.css
var FS embed.FS
