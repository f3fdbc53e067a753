package testutil

import (
	"errors"
	"strings"
	"testing"
)

func TestLoopStopsAndCounts(t *testing.T) {
	seen := make(chan int, 1000)
	stop := Loop(t, func(n int) error {
		if n <= cap(seen) {
			seen <- n
		}
		return nil
	})
	for want := 1; want <= 5; want++ {
		if got := <-seen; got != want {
			t.Fatalf("step %d ran as %d", want, got)
		}
	}
	last := stop()
	if last < 5 {
		t.Fatalf("stop returned %d after five steps ran", last)
	}
	if again := stop(); again != last {
		t.Fatalf("a second stop returned %d, the first %d", again, last)
	}
}

func TestLoopReportsAFailingStep(t *testing.T) {
	var last int
	failed := make(chan struct{})
	f := run(t, func(tb testing.TB) {
		stop := Loop(tb, func(n int) error {
			if n == 3 {
				close(failed)
				return errors.New("step three broke")
			}
			return nil
		})
		<-failed
		last = stop() // waits for the loop, which ended by itself
	})
	if last != 2 {
		t.Errorf("stop returned %d, want 2 (the last step that succeeded)", last)
	}
	if len(f.msgs) != 1 || !strings.Contains(f.msgs[0], "step three broke") || f.fatal {
		t.Errorf("reported %q (fatal %v), want the step's error once, not fatal", f.msgs, f.fatal)
	}
}
