package actors

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// RestartType says whether a crashed channel is restarted in place.
type RestartType int

const (
	// Temporary channels are never restarted: a crash ends the channel, its
	// client gets phx_error and rejoins by itself. Phoenix's behaviour and
	// the default.
	Temporary RestartType = iota
	// Transient channels are restarted after a crash (a panic in a
	// callback), not after a stop they asked for.
	Transient
	// Permanent channels are restarted after a crash and after a stop with
	// an error reason. A clean stop, a leave or a closed connection still
	// ends them.
	Permanent
)

func (r RestartType) String() string {
	switch r {
	case Temporary:
		return "temporary"
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("RestartType(%d)", int(r))
}

// Policy is a channel route's restart policy. A restarted channel keeps its
// actor, its mailbox and its client's subscription: a fresh behaviour from
// the route's factory runs Join again with the original topic, payload and
// join ref (no second join reply is sent), and messages that arrived in the
// meantime wait in the mailbox and are handled by the new behaviour.
//
// More than Intensity restarts within Period stop the channel for good:
// Terminate runs with the crash and the client gets phx_error.
type Policy struct {
	Restart    RestartType
	Intensity  int           // restarts allowed within Period; default 3
	Period     time.Duration // default 5s
	Backoff    time.Duration // delay before the first restart; default 50ms
	MaxBackoff time.Duration // the delay doubles per recent restart up to this; default 2s
}

// withDefaults fills unset fields.
func (p Policy) withDefaults() Policy {
	if p.Intensity <= 0 {
		p.Intensity = 3
	}
	if p.Period <= 0 {
		p.Period = 5 * time.Second
	}
	if p.Backoff <= 0 {
		p.Backoff = 50 * time.Millisecond
	}
	if p.MaxBackoff < p.Backoff {
		p.MaxBackoff = max(2*time.Second, p.Backoff)
	}
	return p
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
	if p.Restart < Temporary || p.Restart > Permanent {
		return fmt.Errorf("actors: unknown restart type %d", p.Restart)
	}
	if p.Intensity < 0 || p.Period < 0 || p.Backoff < 0 || p.MaxBackoff < 0 {
		return fmt.Errorf("actors: negative restart limit in %+v", p)
	}
	return nil
}

// delay is the wait before restart number n (1-based): Backoff doubled per
// earlier restart, capped at MaxBackoff, with up to 20% random jitter so
// that channels crashing together do not restart together.
func (p Policy) delay(n int) time.Duration {
	d := p.Backoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
