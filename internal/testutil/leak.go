package testutil

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// LeakTimeout is how long the leak checks give goroutines and actors to
// finish after the code under test has let them go.
const LeakTimeout = 5 * time.Second

// leakTimeout is LeakTimeout, shortened by this package's own tests.
var leakTimeout = LeakTimeout

// GoroutineBaseline is the number of goroutines running at some point, and
// which they were.
type GoroutineBaseline struct {
	// Count is the number of goroutines at the baseline.
	Count int
	// ids are the goroutines running at the baseline; nil for a baseline
	// built from a bare Count, whose report then shows every goroutine.
	ids map[uint64]bool
}

// Goroutines records the goroutines running now.
func Goroutines() GoroutineBaseline {
	ids := map[uint64]bool{}
	for _, g := range goroutineStacks() {
		ids[g.id] = true
	}
	// The count comes from the runtime rather than from the dump, so that
	// it is measured the way Wait measures it.
	return GoroutineBaseline{Count: runtime.NumGoroutine(), ids: ids}
}

// Wait polls until at most b.Count+slack goroutines run. If more still do
// after LeakTimeout, the test fails (Fatal), printing the stacks of the
// goroutines that were not running at the baseline. slack allows for
// goroutines the test does not own that may come and go, such as a timer's.
func (b GoroutineBaseline) Wait(tb testing.TB, slack int) {
	tb.Helper()
	if msg, ok := b.settle(slack); !ok {
		tb.Fatal(msg)
	}
}

// settle polls until the goroutines are back to b plus slack and otherwise
// returns the failure report.
func (b GoroutineBaseline) settle(slack int) (string, bool) {
	want := b.Count + slack
	if poll(leakTimeout, func() bool { return runtime.NumGoroutine() <= want }) {
		return "", true
	}
	var extra bytes.Buffer
	n := 0
	for _, g := range goroutineStacks() {
		if b.ids == nil || !b.ids[g.id] {
			extra.Write(g.stack)
			extra.WriteString("\n\n")
			n++
		}
	}
	what := "goroutines not running at the baseline"
	if b.ids == nil {
		what = "all goroutines"
	}
	return fmt.Sprintf("%d goroutines after %v, want at most %d (baseline %d, slack %d); %s (%d):\n\n%s",
		runtime.NumGoroutine(), leakTimeout, want, b.Count, slack, what, n, bytes.TrimSpace(extra.Bytes())), false
}

// CheckGoroutines records the goroutines running now and, when the test
// and the clean-ups registered after this call are done, fails the test
// (Error) unless the count is back at or below the baseline within
// LeakTimeout, printing the stacks of the goroutines that are new. Call it
// after starting anything meant to outlive the check, such as a shared
// server whose clean-up runs later.
func CheckGoroutines(tb testing.TB) {
	tb.Helper()
	b := Goroutines()
	tb.Cleanup(func() {
		if msg, ok := b.settle(0); !ok {
			tb.Error(msg)
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

type goroutine struct {
	id    uint64
	stack []byte
}

// goroutineStacks returns every goroutine's stack, each beginning with its
// "goroutine N [state]:" line.
func goroutineStacks() []goroutine {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for _, block := range bytes.Split(buf, []byte("\n\n")) {
		rest, ok := bytes.CutPrefix(block, []byte("goroutine "))
		if !ok {
			continue
		}
		idText, _, _ := bytes.Cut(rest, []byte(" "))
		id, err := strconv.ParseUint(string(idText), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, goroutine{id: id, stack: block})
	}
	return out
}
