// Package e2e holds black-box tests of the catqms binary: they build it,
// start it as real processes against the embedded store or a real
// redis-server, and drive it over HTTP, WebSocket and a real browser, as a
// user would.
package e2e
