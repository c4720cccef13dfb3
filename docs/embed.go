// Package docs embeds the documents Portero serves: the admin API's
// OpenAPI description.
package docs

import _ "embed"

// OpenAPI is openapi.yaml, served at /admin/v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
