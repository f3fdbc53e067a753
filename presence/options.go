package presence

import (
	"errors"
	"time"

	"github.com/rs/zerolog"
)

// Option configures a Tracker.
type Option func(*options) error

type options struct {
	node     string
	logger   zerolog.Logger
	fetch    FetchFunc
	coalesce time.Duration
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
