//go:build !unix

package server

// openFileLimit is a conservative guess where there is no getrlimit.
func openFileLimit() int { return 8192 }
