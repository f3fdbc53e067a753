package testutil

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Loop calls step(1), step(2), … on a goroutine of its own, as a test's
// background publisher does, until the returned stop is called or a step
// fails (the error is reported through tb with Error, and the loop ends).
// A step paces itself if it must. stop waits for the goroutine and returns
// the number of the last step that succeeded; it may be called more than
// once, and is also called when the test ends.
func Loop(tb testing.TB, step func(n int) error) (stop func() int) {
	tb.Helper()
	quit := make(chan struct{})
	var done sync.WaitGroup
	var last atomic.Int64
	done.Go(func() {
		for n := 1; ; n++ {
			select {
			case <-quit:
				return
			default:
			}
			if err := step(n); err != nil {
				tb.Error(err)
				return
			}
			last.Store(int64(n))
		}
	})
	var once sync.Once
	stop = func() int {
		once.Do(func() { close(quit) })
		done.Wait()
		return int(last.Load())
	}
	tb.Cleanup(func() { stop() })
	return stop
}
