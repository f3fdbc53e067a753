package supervisor

import (
	"math"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	const ms = time.Millisecond
	b := Backoff{Initial: 10 * ms, Max: 100 * ms}
	tests := []struct {
		b      Backoff
		n      int
		jitter float64
		want   time.Duration
	}{
		{Backoff{}, 1, 0, 0},
		{b, 0, 0, 0},
		{b, 1, 0, 10 * ms},
		{b, 2, 0, 20 * ms},
		{b, 3, 0, 40 * ms},
		{b, 4, 0, 80 * ms},
		{b, 5, 0, 100 * ms},
		{b, 50, 0, 100 * ms},
		{b, 1, 0.5, 9 * ms},
		{b, 5, 0.5, 90 * ms},
		{Backoff{Initial: time.Second, Max: math.MaxInt64}, 100, 0, math.MaxInt64},
	}
	for _, tt := range tests {
		if got := tt.b.delay(tt.n, tt.jitter); got != tt.want {
			t.Errorf("%+v.delay(%d, %v) = %v, want %v", tt.b, tt.n, tt.jitter, got, tt.want)
		}
	}
}

func TestBackoffJitterStaysInRange(t *testing.T) {
	b := Spec{Backoff: Backoff{Initial: 50 * time.Millisecond}}.withDefaults().Backoff
	if b.Max != DefaultMaxBackoff {
		t.Fatalf("default Max = %v, want %v", b.Max, DefaultMaxBackoff)
	}
	for n := 1; n <= 8; n++ {
		top := b.delay(n, 0)
		for range 100 {
			if got := b.nextDelay(n); got > top || got < top-top/5 {
				t.Fatalf("nextDelay(%d) = %v, want within [%v, %v]", n, got, top-top/5, top)
			}
		}
	}
}
