package presence

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Option configures a Tracker.
type Option func(*options) error

type options struct {
	node     string
	logger   zerolog.Logger
	fetch    FetchFunc
	coalesce time.Duration
	// A big topic's window: keys × coalescePerKey, between coalesce and
	// coalesceMax (WithCoalesceGrowth).
	coalescePerKey, coalesceMax time.Duration

	nc          *nats.Conn
	prefix      string
	transport   transport // tests replace NATS with their own
	manual      bool      // tests drive ticks themselves: no run goroutine
	deltaEvery  time.Duration
	beatEvery   time.Duration
	downAfter   time.Duration
	forgetAfter time.Duration
}

func defaultOptions() options {
	return options{
		logger:      zerolog.Nop(),
		prefix:      "pyre",
		deltaEvery:  50 * time.Millisecond,
		beatEvery:   time.Second,
		downAfter:   5 * time.Second,
		forgetAfter: 5 * time.Minute,
	}
}

// WithNATS replicates presences with the trackers of the other nodes
// connected to the same NATS cluster, on subjects under prefix (default
// "pyre" when empty). Every node needs a unique WithNode name. The tracker
// does not own nc.
func WithNATS(nc *nats.Conn, prefix string) Option {
	return func(o *options) error {
		if nc == nil {
			return errors.New("presence: nil NATS connection")
		}
		o.nc = nc
		if prefix != "" {
			o.prefix = prefix
		}
		return nil
	}
}

// WithPeriods sets the replication timing: changes are sent to peers every
// delta, a heartbeat every beat; a peer silent for down has its presences
// removed from this node's view (they return if it is heard from again), and
// one silent for forget is dropped altogether. Defaults: 50 ms, 1 s, 5 s,
// 5 min. down must be at least two beats and forget longer than down.
func WithPeriods(delta, beat, down, forget time.Duration) Option {
	return func(o *options) error {
		if delta <= 0 || beat < delta || down < 2*beat || forget <= down {
			return errors.New("presence: need 0 < delta <= beat, down >= 2*beat, forget > down")
		}
		o.deltaEvery, o.beatEvery, o.downAfter, o.forgetAfter = delta, beat, down, forget
		return nil
	}
}

// WithNode names this node; the name feeds the phx_ref generator and logs.
func WithNode(name string) Option {
	return func(o *options) error {
		if name == "" {
			return errors.New("presence: empty node name")
		}
		o.node = name
		return nil
	}
}

// WithLogger sets the logger (default: none).
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithFetch installs an enrichment function for lists and diffs.
func WithFetch(f FetchFunc) Option {
	return func(o *options) error { o.fetch = f; return nil }
}

// WithCoalesce gathers each topic's changes for up to d and broadcasts them
// as one diff. Zero (the default) broadcasts every change at once.
func WithCoalesce(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("presence: negative coalesce period")
		}
		o.coalesce = d
		return nil
	}
}

// MaxCoalesce is the longest window WithCoalesceGrowth accepts: a window
// is also how long a change can wait before the room sees it.
const MaxCoalesce = time.Second

// WithCoalesceGrowth widens the coalescing window of big topics: a topic
// whose window opens with k keys gathers its changes for k×perKey when
// that is longer than WithCoalesce's period, and never for longer than
// max. In a join storm every window's diff costs one write per
// subscriber, so a window that grows with the room keeps the writes a
// second about the same however big the room gets: with perKey 50µs a room
// of 2 000 keys keeps 100 ms, one of 8 000 gathers for 400 ms. A quiet
// topic's first change still leaves at once, whatever its size: a window
// only opens after a change has gone out. It needs WithCoalesce; max must
// be at least that period and at most MaxCoalesce.
func WithCoalesceGrowth(perKey, max time.Duration) Option {
	return func(o *options) error {
		if perKey < 0 || max < 0 || max > MaxCoalesce {
			return errors.New("presence: coalesce growth out of range")
		}
		o.coalescePerKey, o.coalesceMax = perKey, max
		return nil
	}
}
