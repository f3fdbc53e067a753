//go:build !linux

package socket

import (
	"net"
	"syscall"
)

// Non-blocking writes are Linux-only; elsewhere every frame goes through
// a flusher goroutine.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

type nowWrite struct{}

func (*nowWrite) write(syscall.RawConn, []byte) (int, error) { return 0, nil }
