package client

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A 503's Retry-After lengthens the reconnect backoff, never shortens it.
func TestReconnectDelay(t *testing.T) {
	steps := func(int) time.Duration { return 2 * time.Second }
	for _, tc := range []struct {
		last error
		want time.Duration
	}{
		{nil, 2 * time.Second},
		{errors.New("connection refused"), 2 * time.Second},
		{&HandshakeError{StatusCode: 503, RetryAfter: 7 * time.Second}, 7 * time.Second},
		{fmt.Errorf("wrapped: %w", &HandshakeError{StatusCode: 503, RetryAfter: time.Second}), 2 * time.Second},
		{&HandshakeError{StatusCode: 403}, 2 * time.Second},
	} {
		if got := reconnectDelay(steps, 0, tc.last); got != tc.want {
			t.Errorf("after %v: %v, want %v", tc.last, got, tc.want)
		}
	}
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{{"3", 3 * time.Second}, {" 10 ", 10 * time.Second}, {"", 0}, {"-1", 0}, {"Wed, 21 Oct 2015 07:28:00 GMT", 0}} {
		if got := retryAfter(tc.header); got != tc.want {
			t.Errorf("Retry-After %q: %v, want %v", tc.header, got, tc.want)
		}
	}
	// The default backoff spreads each step over half to one and a half.
	b := Backoff([]time.Duration{100 * time.Millisecond, time.Second})
	for range 100 {
		if d := b(0); d < 50*time.Millisecond || d > 150*time.Millisecond {
			t.Fatalf("step 0: %v", d)
		}
		if d := b(9); d < 500*time.Millisecond || d > 1500*time.Millisecond {
			t.Fatalf("past the last step: %v", d)
		}
	}
}
