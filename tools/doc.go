// Package tools pins, in a module of its own, the versions of the tools CI
// runs on Portero (vulnerability scan, static analysis, SBOM): `go tool
// -modfile=tools/go.mod NAME`. Kept apart from Portero's go.mod so that a
// tool's dependencies never change the versions Portero is built with.
package tools
