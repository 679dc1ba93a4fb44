// Package api holds the published contract of the catqms HTTP API: its
// OpenAPI 3.1 document, committed as openapi.json beside this file and
// served by the server at GET /api/v1/openapi.json. docs/api.md is the
// same contract in prose.
//
// The document is kept true by tests, not generated: the server's API
// tests and the end-to-end walk check every answer they receive against it
// (internal/apitest), and a server test checks that it lists exactly the
// routes the server registers.
package api

import _ "embed"

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document as JSON. Each call returns its
// own copy, which the caller may keep or change.
func OpenAPI() []byte {
	return append([]byte(nil), openAPI...)
}
