// Package migrations holds Portero's hand-written, forward-only SQL
// migrations, one directory per database dialect. Both directories carry the
// same file names (a test in internal/store checks it); internal/store applies
// them with goose.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
