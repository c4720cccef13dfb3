// Package templates holds the HTML templates of Portero's pages and their
// translations.
package templates

import "embed"

// FS holds every page template and the shared layout.
//
//go:embed *.html
var FS embed.FS

// Locales holds one catalog per language (<lang>.json: key → text).
//
//go:embed locales/*.json
var Locales embed.FS
