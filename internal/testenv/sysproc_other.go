//go:build !linux

package testenv

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; t.Cleanup still stops
// the child whenever the test binary exits normally.
func sysProcAttr() *syscall.SysProcAttr { return nil }
