package testutil

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// LeakTimeout is how long the leak checks give goroutines and actors to
// finish after the code under test has let them go.
const LeakTimeout = 5 * time.Second

// leakTimeout is LeakTimeout, shortened by this package's own tests.
var leakTimeout = LeakTimeout

// GoroutineBaseline is the set of goroutines running at some point. The
// check against it is by identity: a goroutine running at the end that
// was not running at the baseline is a leak, whatever the count, so one
// that ends meanwhile cannot hide one that starts.
type GoroutineBaseline struct {
	current goleak.Option
}

// Goroutines records the goroutines running now.
func Goroutines() GoroutineBaseline {
	return GoroutineBaseline{current: goleak.IgnoreCurrent()}
}

// Wait polls until every goroutine that was not running at the baseline
// has ended (the testing package's own and the runtime's are never
// counted). If some still run after LeakTimeout, the test fails (Fatal)
// with their stacks. ignore adds goleak filters for goroutines the test
// does not own, such as goleak.IgnoreTopFunction of a library's
// background worker.
func (b GoroutineBaseline) Wait(tb testing.TB, ignore ...goleak.Option) {
	tb.Helper()
	if err := b.settle(ignore); err != nil {
		tb.Fatal(err)
	}
}

// settle polls goleak until no goroutine beyond the baseline and ignore
// is left, or LeakTimeout passes, and returns goleak's last report. One
// Find retries for about half a second by itself; the poll stretches that
// to LeakTimeout for code that takes longer to let go under the race
// detector.
func (b GoroutineBaseline) settle(ignore []goleak.Option) error {
	opts := append([]goleak.Option{b.current}, ignore...)
	var err error
	poll(leakTimeout, func() bool { err = goleak.Find(opts...); return err == nil })
	return err
}

// CheckGoroutines records the goroutines running now and, when the test
// and the clean-ups registered after this call are done, fails the test
// (Error) if any goroutine that was not running then is still running
// after LeakTimeout, printing their stacks. Call it after starting
// anything meant to outlive the check, such as a shared server whose
// clean-up runs later.
func CheckGoroutines(tb testing.TB, ignore ...goleak.Option) {
	tb.Helper()
	b := Goroutines()
	tb.Cleanup(func() {
		if err := b.settle(ignore); err != nil {
			tb.Error(err)
		}
	})
}

// CountBackTo polls count until it returns at most baseline. If it has
// not within LeakTimeout, the test fails (Fatal) naming what is counted
// and the last count.
func CountBackTo(tb testing.TB, what string, baseline int, count func() int) {
	tb.Helper()
	last := 0
	if !poll(leakTimeout, func() bool { last = count(); return last <= baseline }) {
		tb.Fatalf("%s: %d after %v, want at most %d", what, last, leakTimeout, baseline)
	}
}

// CheckActors records count() now and, when the test and the clean-ups
// registered after this call are done, fails the test (Error) unless
// count() is back at or below that baseline within LeakTimeout. count is
// usually a handler's ActorCount; any count that must not grow over the
// test will do.
func CheckActors(tb testing.TB, count func() int) {
	tb.Helper()
	baseline := count()
	tb.Cleanup(func() {
		last := 0
		if !poll(leakTimeout, func() bool { last = count(); return last <= baseline }) {
			tb.Errorf("actors: %d after %v, want at most the %d at the start", last, leakTimeout, baseline)
		}
	})
}
