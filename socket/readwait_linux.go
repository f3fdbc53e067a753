package socket

import (
	"net"
	"syscall"
	"unsafe"
)

// readWaiter parks a connection's reader until the socket has bytes to
// read, on a short call stack (see wsReader.loop).
type readWaiter struct {
	rc     syscall.RawConn
	probe  [1]byte
	waited bool
	ready  func(fd uintptr) bool // w.check, bound once
}

func newReadWaiter(nc net.Conn) *readWaiter {
	rc := rawConnOf(nc)
	if rc == nil {
		return nil
	}
	w := &readWaiter{rc: rc}
	w.ready = w.check
	return w
}

// wait returns once the socket is readable, has failed or has passed its
// read deadline; the read that follows sees which.
func (w *readWaiter) wait() {
	w.waited = false
	_ = w.rc.Read(w.ready)
}

// check runs under the runtime's poller: first to look for bytes already
// queued (a peek that consumes nothing), then, after the poller has parked
// and woken the goroutine, to end the wait.
func (w *readWaiter) check(fd uintptr) bool {
	if w.waited {
		return true
	}
	w.waited = true
	// Ready on a byte, on end of stream, and on any error but "would
	// block": the read that follows reports the error.
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&w.probe[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno != syscall.EAGAIN
}
