package loadgen

import (
	"testing"
	"time"
)

// The backoff is phoenix.js's default schedule, and jitter keeps each wait
// within its share of it.
func TestBackoff(t *testing.T) {
	want := []time.Duration{10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000}
	for i, w := range want {
		if got := backoff(i+1, 0); got != w*time.Millisecond {
			t.Errorf("wait after %d failed attempts = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	lo, hi := time.Hour, time.Duration(0)
	for range 1000 {
		d := backoff(8, 0.5)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 500*time.Millisecond || hi > 1500*time.Millisecond || hi-lo < 800*time.Millisecond {
		t.Errorf("1s with jitter 0.5 ranged over %v..%v, want about 500ms..1.5s", lo, hi)
	}
}
