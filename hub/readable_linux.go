package hub

import (
	"syscall"
	"unsafe"
)

// readable reports whether a read on the socket fd would not block: data,
// end of stream or an error is waiting. It peeks without consuming.
func readable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if errno != syscall.EINTR {
			return errno != syscall.EAGAIN
		}
	}
}
