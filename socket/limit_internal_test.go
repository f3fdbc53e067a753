package socket

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// A socket's bucket starts full, gives its burst and then refuses, as
// rate.Limiter does; with no limit it never refuses; concurrent callers
// share one burst.
func TestEventBucket(t *testing.T) {
	const burst = 5
	var b eventBucket
	slow := rate.Limit(1e-6) // no token comes back within the test
	for i := range burst {
		if !b.allow(slow, burst) {
			t.Fatalf("event %d refused within the burst", i)
		}
	}
	if b.allow(slow, burst) {
		t.Fatal("event past the burst allowed")
	}
	var inf eventBucket
	for i := range 3 * burst {
		if !inf.allow(rate.Inf, burst) {
			t.Fatalf("event %d refused with no limit", i)
		}
	}
	var shared eventBucket
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 4 {
		wg.Go(func() {
			for range burst {
				if shared.allow(slow, burst) {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != burst {
		t.Fatalf("%d events allowed by four goroutines, want the burst, %d", allowed, burst)
	}
}

// Tokens come back at the rate, never past the burst.
func TestEventBucketRefills(t *testing.T) {
	const burst = 4
	var b eventBucket
	perSecond := rate.Limit(2)
	for range burst {
		b.allow(perSecond, burst)
	}
	if b.allow(perSecond, burst) {
		t.Fatal("event past the burst allowed")
	}
	b.mu.Lock()
	b.last -= int64(time.Second) // a second passes: two tokens come back
	b.mu.Unlock()
	for i := range 2 {
		if !b.allow(perSecond, burst) {
			t.Fatalf("event %d refused after a second at 2/s", i)
		}
	}
	if b.allow(perSecond, burst) {
		t.Fatal("a third event allowed after a second at 2/s")
	}
	b.mu.Lock()
	b.last -= int64(time.Hour) // long idle: full again, and no more
	b.mu.Unlock()
	for i := range burst {
		if !b.allow(perSecond, burst) {
			t.Fatalf("event %d refused after an hour", i)
		}
	}
	if b.allow(perSecond, burst) {
		t.Fatal("event past the burst allowed after an hour")
	}
}
