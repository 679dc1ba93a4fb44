package testenv

import "syscall"

// sysProcAttr asks the kernel to SIGKILL the child when the test binary dies,
// so that a test that crashes or is killed by `go test -timeout` does not
// leave a redis-server behind. Pdeathsig fires when the OS thread that
// started the child exits; the Go runtime only ends threads that a goroutine
// locked and did not unlock, which this package never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
