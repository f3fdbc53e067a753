package socket

import (
	"net"
	"syscall"
)

// rawConnOf is nc's raw connection for non-blocking writes, or nil (a TLS
// connection, say: every frame then goes through a flusher goroutine).
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// nowWrite makes one non-blocking attempt to write a buffer to a socket:
// the kernel takes what fits in its send buffer at once and the caller
// learns how much that was. It never waits for the socket to drain. Each
// pool worker has one; it is not for concurrent use.
type nowWrite struct {
	buf []byte // what attempt writes; set for the call only
	n   int    // bytes written by the last attempt
	err error  // the last attempt's error; "would block" is not one
	fn  func(fd uintptr) bool
}

// write writes what the kernel takes of p now and says how much that was.
func (a *nowWrite) write(rc syscall.RawConn, p []byte) (int, error) {
	if a.fn == nil {
		a.fn = a.attempt
	}
	a.buf, a.n, a.err = p, 0, nil
	err := rc.Write(a.fn)
	a.buf = nil
	if err != nil {
		return 0, err // the connection is closed
	}
	return a.n, a.err
}

// attempt runs under the connection's write lock. It reports true so that
// the runtime never parks the caller waiting for the socket to drain.
func (a *nowWrite) attempt(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), a.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
		case err != nil:
			a.err = err
		default:
			a.n = n
		}
		return true
	}
}
