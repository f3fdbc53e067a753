package actors

import (
	"fmt"
	"strings"
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
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{} }

// Handle declares a route. It fails when the pattern is empty, has a "*"
// anywhere but at its end, or when factory is nil. Routes are declared
// before the router is handed to a socket handler and not changed after.
func (r *Router) Handle(pattern string, factory Factory) error {
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
	r.routes = append(r.routes, rt)
	return nil
}

// MustHandle is Handle that panics on an invalid pattern, for declarations
// at start-up.
func (r *Router) MustHandle(pattern string, factory Factory) {
	if err := r.Handle(pattern, factory); err != nil {
		panic(err)
	}
}

// Match returns the factory for topic and the pattern that matched.
func (r *Router) Match(topic string) (Factory, string, bool) {
	for _, rt := range r.routes {
		if rt.exact && topic == rt.pattern || !rt.exact && strings.HasPrefix(topic, rt.prefix) {
			return rt.factory, rt.pattern, true
		}
	}
	return nil, "", false
}
