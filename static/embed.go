// Package static holds the assets served under /static/.
package static

import "embed"

// FS holds the stylesheet and the WebAuthn script, the only JavaScript
// Portero serves.
//
//go:embed *.css *.js
var FS embed.FS
