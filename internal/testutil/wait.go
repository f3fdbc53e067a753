package testutil

import (
	"fmt"
	"testing"
	"time"
)

// The polling interval starts small, so that a condition that is nearly
// true costs little, and grows to a cap, so that a long wait does not spin.
const (
	firstPoll = time.Millisecond
	maxPoll   = 10 * time.Millisecond
)

// poll calls cond until it returns true or timeout passes, and reports
// whether it returned true.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	interval := firstPoll
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval) // polling: the caller has no signal to wait on
		interval = min(2*interval, maxPoll)
	}
	return true
}

// Eventually polls cond until it returns true. If it has not within
// timeout, the test fails (Fatal) with "timed out after <timeout> waiting
// for" and the message that format and args make. The arguments are
// formatted at that moment, so a Lazy argument reports the state at the
// time of failure.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	if !poll(timeout, cond) {
		tb.Fatalf("timed out after %v waiting for %s", timeout, fmt.Sprintf(format, args...))
	}
}

// Lazy is a message argument computed only when it is printed: a failing
// Eventually prints the state as it is when the wait gives up, not as it
// was when the wait began.
type Lazy func() string

// String calls l.
func (l Lazy) String() string { return l() }

// Receive returns the next value from ch. If none arrives within timeout,
// the test fails (Fatal) with the message that format and args make.
func Receive[T any](tb testing.TB, ch <-chan T, timeout time.Duration, format string, args ...any) T {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		tb.Fatalf(format, args...)
		var zero T
		return zero
	}
}
