//go:build unix

package server

import "syscall"

// openFileLimit is the process's soft limit on open files.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024
	}
	return int(min(rl.Cur, 1<<20)) // "unlimited" is not a number of connections to plan for
}
