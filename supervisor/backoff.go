package supervisor

import (
	"math/rand/v2"
	"time"
)

// delay is the wait before restart number n (1-based) within a Period.
// jitter is in [0, 1): it takes off up to a fifth of the delay. protoactor's
// own "exponential" backoff grows linearly, which is why this one exists.
func (b Backoff) delay(n int, jitter float64) time.Duration {
	if b.Initial <= 0 || n < 1 {
		return 0
	}
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		if d > b.Max/2 {
			d = b.Max
			break
		}
		d *= 2
	}
	d = min(d, b.Max)
	return d - time.Duration(jitter*float64(d)/5)
}

// nextDelay is delay with a random jitter.
func (b Backoff) nextDelay(n int) time.Duration {
	return b.delay(n, rand.Float64())
}
