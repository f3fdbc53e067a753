//go:build !linux

package socket

import "time"

// The idle poller is Linux-only; elsewhere an idle reader waits on a
// goroutine of its own.

func (r *wsReader) arm() bool { return false }

func (r *wsReader) unregister() {}

func (r *wsReader) readable() bool { return true }

func (r *wsReader) parkUntil(time.Duration) {}
