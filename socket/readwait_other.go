//go:build !linux

package socket

import "net"

// readWaiter is Linux-only; elsewhere the reader parks inside gorilla.
type readWaiter struct{}

func newReadWaiter(net.Conn) *readWaiter { return nil }

func (*readWaiter) wait() {}
