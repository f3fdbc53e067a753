package supervisor

import (
	"errors"
	"testing"
	"time"
)

func TestPolicyDecide(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		p      Policy
		failed []bool          // one exit each
		at     []time.Duration // since t0, per exit
		want   []Decision      // Delay checked apart
	}{
		{"temporary never restarts", Policy{Restart: Temporary}, []bool{true, false}, []time.Duration{0, 0},
			[]Decision{{}, {}}},
		{"transient restarts failures only", Policy{Restart: Transient}, []bool{false, true}, []time.Duration{0, 0},
			[]Decision{{}, {Restart: true, Count: 1}}},
		{"permanent restarts stops too", Policy{}, []bool{false, true}, []time.Duration{0, 0},
			[]Decision{{Restart: true, Count: 1}, {Restart: true, Count: 2}}},
		{"intensity exceeded", Policy{Intensity: 2}, []bool{true, true, true}, []time.Duration{0, 0, 0},
			[]Decision{{Restart: true, Count: 1}, {Restart: true, Count: 2}, {Exceeded: true, Count: 3}}},
		{"period forgets old restarts", Policy{Intensity: 1, Period: time.Second}, []bool{true, true, true},
			[]time.Duration{0, 2 * time.Second, 2500 * time.Millisecond},
			[]Decision{{Restart: true, Count: 1}, {Restart: true, Count: 1}, {Exceeded: true, Count: 2}}},
		{"no restarts", Policy{Intensity: NoRestarts}, []bool{true}, []time.Duration{0},
			[]Decision{{Exceeded: true, Count: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Restarts
			for i, failed := range tt.failed {
				got := tt.p.Decide(&r, failed, t0.Add(tt.at[i]))
				got.Delay = 0
				if got != tt.want[i] {
					t.Errorf("exit %d: got %+v, want %+v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestPolicyDecideBackoff(t *testing.T) {
	p := Policy{Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond}}
	var r Restarts
	now := time.Unix(1000, 0)
	for n, top := range []time.Duration{10, 20, 40} {
		d := p.Decide(&r, true, now)
		top *= time.Millisecond
		if !d.Restart || d.Delay > top || d.Delay < top-top/5 {
			t.Fatalf("restart %d: %+v, want a restart after %v less at most a fifth", n+1, d, top)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		p    Policy
		want error
	}{
		{Policy{}, nil},
		{Policy{Restart: Temporary, Intensity: NoRestarts}, nil},
		{Policy{Restart: 7}, ErrRestart},
		{Policy{Restart: -1}, ErrRestart},
		{Policy{Intensity: -2}, ErrLimits},
		{Policy{Period: -time.Second}, ErrLimits},
		{Policy{Backoff: Backoff{Max: time.Second}}, ErrLimits},
	}
	for _, tt := range tests {
		if got := tt.p.Validate(); !errors.Is(got, tt.want) {
			t.Errorf("%+v.Validate() = %v, want %v", tt.p, got, tt.want)
		}
	}
}
