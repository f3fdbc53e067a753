package loadgen

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// flow lets the publisher wait for the subscribers without polling: every
// delivery is counted, and the one that reaches the publisher's mark wakes
// it.
type flow struct {
	delivered atomic.Int64
	mark      atomic.Int64  // wake the publisher once delivered reaches it
	wake      chan struct{} // capacity 1: wake-ups merge
}

func newFlow() *flow {
	f := &flow{wake: make(chan struct{}, 1)}
	f.mark.Store(math.MaxInt64)
	return f
}

func (f *flow) deliver() {
	if f.delivered.Add(1) >= f.mark.Load() {
		f.kick()
	}
}

// kick wakes the publisher if it waits; it never blocks.
func (f *flow) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

type waitResult int

const (
	waitReached waitResult = iota
	waitDeadline
	waitStalled
	waitCancelled
)

// wait blocks until the deliveries reach target() (read again at every
// wake-up), the deadline passes, nothing is delivered for stall, or ctx
// ends.
func (f *flow) wait(ctx context.Context, target func() int64, deadline time.Time, stall time.Duration) waitResult {
	defer f.mark.Store(math.MaxInt64)
	timer := time.NewTimer(stall)
	defer timer.Stop()
	progress, progressAt := f.delivered.Load(), time.Now()
	for {
		want := target()
		f.mark.Store(want)
		got := f.delivered.Load()
		if got >= want {
			return waitReached
		}
		now := time.Now()
		if got != progress {
			progress, progressAt = got, now
		}
		if !now.Before(deadline) {
			return waitDeadline
		}
		if now.Sub(progressAt) >= stall {
			return waitStalled
		}
		wakeAt := progressAt.Add(stall)
		if deadline.Before(wakeAt) {
			wakeAt = deadline
		}
		timer.Reset(wakeAt.Sub(now))
		select {
		case <-f.wake:
		case <-timer.C:
		case <-ctx.Done():
			return waitCancelled
		}
	}
}
