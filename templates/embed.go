// Package templates holds the HTML templates of Portero's pages.
package templates

import "embed"

// FS holds every page template and the shared layout.
//
//go:embed *.html
var FS embed.FS
