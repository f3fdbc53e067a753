package actors

import (
	"fmt"
	"strings"

	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

// Router maps topic patterns to channel factories. A pattern ending in "*"
// matches every topic with that prefix ("room:*" matches "room:lobby"); any
// other pattern matches exactly. The first declared match wins.
type Router struct {
	routes []route
}

type route struct {
	pattern string
	prefix  string
	exact   bool
	factory Factory
	policy  *supervisor.Policy
	history *topics.Retention
}

// Route is the result of matching a topic.
type Route struct {
	Pattern string
	Factory Factory
	// Policy is the route's restart policy, nil when the route uses the
	// socket handler's default.
	Policy *supervisor.Policy
	// History is the route's retention when its topics keep a history
	// (WithHistory), else nil.
	History *topics.Retention
}

// RouteOption configures one route.
type RouteOption func(*route) error

// WithRestart gives the route its own restart policy (see
// supervisor.Policy: the same type supervision trees use). A restarted
// channel keeps its actor, its mailbox and its client's subscription: a
// fresh behaviour from the route's factory runs Join again with the
// original topic, payload and join ref (no second join reply is sent), and
// messages that arrived meanwhile wait in the mailbox for it. Temporary
// channels end at their first crash, as in Phoenix; Transient ones are
// restarted after a crash (a panic in a callback); Permanent ones also
// after a stop with an error reason. A clean stop, a leave or a closed
// connection ends every channel. More than Intensity restarts within
// Period stop the channel for good: Terminate runs with the crash and the
// client gets phx_error.
func WithRestart(p supervisor.Policy) RouteOption {
	return func(r *route) error {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("actors: restart policy: %w", err)
		}
		p = p.WithDefaults()
		r.policy = &p
		return nil
	}
}

// WithHistory makes the route's topics recoverable: every broadcast on
// them, from a channel, the socket handler, a worker using the PubSub or
// another node, is given a position in its topic's stream and kept as r
// says, and a client that rejoins with the last position it saw gets what
// it missed before anything live (see Context.Recovery for the outcome).
//
// On the wire the position is the string member "_pos" that pyre adds to
// every recorded broadcast's payload; recorded broadcasts must therefore
// be JSON objects (others are refused with an error wrapping
// protocol.ErrNotObject). r.Events can limit the recorded events; presence
// events are never recorded. The client sends the last position back as
// "_since" in its join params (null on a first join). When the params have
// "_since", the ok reply, which must then be a JSON object (or nil), gains
// "_pos", the stream's last position at the join, and "_recovered", true
// when nothing after "_since" was lost; without it the reply is left as
// Join made it. Positions look like "EPOCH.SEQ" and are meant to be
// opaque. The socket handler applies the retention to the PubSub it is
// given (topics.PubSub.Retain).
func WithHistory(r topics.Retention) RouteOption {
	return func(rt *route) error {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("actors: history: %w", err)
		}
		rt.history = &r
		return nil
	}
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{} }

// Handle declares a route. It fails when the pattern is empty, has a "*"
// anywhere but at its end, or when factory is nil. Routes are declared
// before the router is handed to a socket handler and not changed after.
func (r *Router) Handle(pattern string, factory Factory, opts ...RouteOption) error {
	if factory == nil {
		return fmt.Errorf("%w: %q has no factory", ErrBadPattern, pattern)
	}
	if pattern == "" {
		return fmt.Errorf("%w: empty pattern", ErrBadPattern)
	}
	star := strings.IndexByte(pattern, '*')
	rt := route{pattern: pattern, factory: factory}
	switch {
	case star < 0:
		rt.exact = true
	case star == len(pattern)-1:
		rt.prefix = pattern[:star]
	default:
		return fmt.Errorf("%w: %q: '*' may only end a pattern", ErrBadPattern, pattern)
	}
	for _, opt := range opts {
		if err := opt(&rt); err != nil {
			return err
		}
	}
	r.routes = append(r.routes, rt)
	return nil
}

// MustHandle is Handle that panics on an invalid pattern, for declarations
// at start-up.
func (r *Router) MustHandle(pattern string, factory Factory, opts ...RouteOption) {
	if err := r.Handle(pattern, factory, opts...); err != nil {
		panic(err)
	}
}

// Match returns the first route whose pattern matches topic.
func (r *Router) Match(topic string) (Route, bool) {
	for _, rt := range r.routes {
		if rt.exact && topic == rt.pattern || !rt.exact && strings.HasPrefix(topic, rt.prefix) {
			return Route{Pattern: rt.pattern, Factory: rt.factory, Policy: rt.policy, History: rt.history}, true
		}
	}
	return Route{}, false
}

// Patterns returns the declared patterns in order: a finite set, which
// metrics use as a label instead of topics.
func (r *Router) Patterns() []string {
	out := make([]string, len(r.routes))
	for i, rt := range r.routes {
		out[i] = rt.pattern
	}
	return out
}

// Recoverable reports whether some route keeps a history.
func (r *Router) Recoverable() bool {
	for _, rt := range r.routes {
		if rt.history != nil {
			return true
		}
	}
	return false
}

// History returns the retention of the route topic matches first, if that
// route keeps a history. It is a topics.RetentionFunc.
func (r *Router) History(topic string) (topics.Retention, bool) {
	rt, ok := r.Match(topic)
	if !ok || rt.History == nil {
		return topics.Retention{}, false
	}
	return *rt.History, true
}

// PolicyOr returns the route's restart policy, or def (with its defaults
// filled in) when the route has none.
func (r Route) PolicyOr(def supervisor.Policy) supervisor.Policy {
	if r.Policy != nil {
		return *r.Policy
	}
	return def.WithDefaults()
}
