package supervisor

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Restart says when a child is restarted after it ends. It is the one
// restart type of pyre: supervision trees use it per child, channel routes
// in their Policy.
type Restart int

const (
	// Permanent children are always restarted, whether they failed or
	// stopped by themselves. The zero value, as in OTP.
	Permanent Restart = iota
	// Transient children are restarted after a failure (a panic) only; a
	// child that stops by itself is removed from its supervisor.
	Transient
	// Temporary children are never restarted: when they end, for whatever
	// reason, or when a sibling's restart stops them, they are removed.
	Temporary
)

func (r Restart) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return fmt.Sprintf("Restart(%d)", int(r))
}

// NoRestarts is an Intensity that allows no restart at all: the first exit
// that calls for a restart exceeds the limit.
const NoRestarts = -1

// Defaults applied to a Policy's (and a Spec's) zero fields.
const (
	DefaultIntensity  = 3
	DefaultPeriod     = 5 * time.Second
	DefaultMaxBackoff = 2 * time.Second
)

// Backoff spaces out restarts. The n-th restart within a Period waits
// Initial doubled n-1 times, capped at Max, less up to 20% random jitter so
// that things failing together do not restart in step. A zero Backoff
// restarts at once.
type Backoff struct {
	Initial time.Duration // delay before the first restart in a Period; zero: none
	Max     time.Duration // the largest delay; zero: the larger of Initial and DefaultMaxBackoff
}

// Policy is a restart policy: whether something that ended comes back
// (Restart), how often within a window before the supervisor gives up
// (Intensity restarts within Period), and how long each restart waits
// (Backoff). A supervision tree applies one to every child, with the
// child's own Restart type; a channel route (actors.WithRestart) applies
// one to each of its channels.
type Policy struct {
	Restart Restart
	// Intensity is the number of restarts allowed within Period; one more
	// exceeds the limit. Zero means DefaultIntensity; NoRestarts allows none.
	Intensity int
	// Period is the window in which restarts are counted; zero means
	// DefaultPeriod.
	Period  time.Duration
	Backoff Backoff
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
	if p.Restart < Permanent || p.Restart > Temporary {
		return fmt.Errorf("%w: %d", ErrRestart, int(p.Restart))
	}
	if p.Intensity < NoRestarts || p.Period < 0 {
		return fmt.Errorf("%w: intensity %d, period %v", ErrLimits, p.Intensity, p.Period)
	}
	b := p.Backoff
	if b.Initial < 0 || b.Max < 0 || (b.Max > 0 && (b.Initial == 0 || b.Max < b.Initial)) {
		return fmt.Errorf("%w: backoff %v up to %v", ErrLimits, b.Initial, b.Max)
	}
	return nil
}

// WithDefaults returns p with its zero fields filled in.
func (p Policy) WithDefaults() Policy {
	if p.Intensity == 0 {
		p.Intensity = DefaultIntensity
	}
	if p.Period == 0 {
		p.Period = DefaultPeriod
	}
	if p.Backoff.Initial > 0 && p.Backoff.Max == 0 {
		p.Backoff.Max = max(p.Backoff.Initial, DefaultMaxBackoff)
	}
	return p
}

// Restarts is the restart history one supervisor keeps under a policy:
// the times of the restarts still within the policy's Period. The zero
// value is an empty history. It belongs to its supervisor; it is not safe
// for concurrent use.
type Restarts struct {
	times []time.Time
}

// Decision is what a policy decides about one exit.
type Decision struct {
	// Restart is true when the exit is to be restarted after Delay.
	Restart bool
	// Exceeded is true when a restart was called for but would be one more
	// than the policy's Intensity within its Period: the supervisor gives
	// up (a tree escalates, a channel stops for good).
	Exceeded bool
	// Count is the number of restarts within the Period, this one included
	// (zero when the restart type asked for none).
	Count int
	// Delay is the backoff before the restart.
	Delay time.Duration
}

// Decide applies p (with its defaults) to an exit at now: failed says
// whether it was a failure (a panic) rather than a stop on its own. A
// restart that is called for is recorded in r, whether or not it exceeds
// the limit.
func (p Policy) Decide(r *Restarts, failed bool, now time.Time) Decision {
	p = p.WithDefaults()
	if p.Restart == Temporary || (p.Restart == Transient && !failed) {
		return Decision{}
	}
	kept := r.times[:0]
	for _, t := range r.times {
		if now.Sub(t) < p.Period {
			kept = append(kept, t)
		}
	}
	r.times = append(kept, now)
	n := len(r.times)
	if p.Intensity == NoRestarts || n > p.Intensity {
		return Decision{Exceeded: true, Count: n}
	}
	return Decision{Restart: true, Count: n, Delay: p.Backoff.nextDelay(n)}
}

// Len returns the number of restarts recorded within the last Period.
func (r *Restarts) Len() int { return len(r.times) }

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
