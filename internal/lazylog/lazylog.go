// Package lazylog holds per-connection and per-channel loggers that are
// built the first time something is logged. zerolog gives every child
// logger its own 500-byte field buffer; held by each of many thousand idle
// connections and channels that would be most of their memory, for lines
// that are rarely written.
package lazylog

import (
	"sync/atomic"

	"github.com/rs/zerolog"
)

// Logger is a zerolog.Logger plus fields, built on first use. It is safe
// for concurrent use.
type Logger struct {
	base   *zerolog.Logger // shared; must not change once loggers use it
	fields func(zerolog.Context) zerolog.Context
	built  Built
}

// New returns a Logger that adds fields to base when it is first needed.
// base is shared, not copied: many loggers hang off one.
func New(base *zerolog.Logger, fields func(zerolog.Context) zerolog.Context) *Logger {
	return &Logger{base: base, fields: fields}
}

// Init sets up l, a Logger held by value inside a larger struct, as New
// would; call it before l is used, and once.
func (l *Logger) Init(base *zerolog.Logger, fields func(zerolog.Context) zerolog.Context) {
	l.base, l.fields = base, fields
}

// Get returns the logger with its fields, building it once.
func (l *Logger) Get() *zerolog.Logger { return l.built.Get(l.base, l.fields) }

// At starts an event at level, or returns nil (on which every zerolog
// Event method is a no-op) without building anything when the level is
// off.
func (l *Logger) At(level zerolog.Level) *zerolog.Event { return l.built.At(l.base, l.fields, level) }

// Built is the one word of a Logger that is its own: the logger once
// built. A struct held by many thousands that can name its base and
// fields at each use (a method value that does not escape costs nothing)
// keeps only this, a pointer instead of a Logger's three words and the
// closure its fields would be. The zero value is ready; safe for
// concurrent use, with the same base and fields at every call.
type Built struct {
	p atomic.Pointer[zerolog.Logger]
}

// Get returns the logger base with fields, building it once.
func (b *Built) Get(base *zerolog.Logger, fields func(zerolog.Context) zerolog.Context) *zerolog.Logger {
	if p := b.p.Load(); p != nil {
		return p
	}
	lg := fields(base.With()).Logger()
	if b.p.CompareAndSwap(nil, &lg) {
		return &lg
	}
	return b.p.Load()
}

// At is Logger.At for the logger base with fields.
func (b *Built) At(base *zerolog.Logger, fields func(zerolog.Context) zerolog.Context, level zerolog.Level) *zerolog.Event {
	if level < base.GetLevel() || level < zerolog.GlobalLevel() {
		return nil
	}
	return b.Get(base, fields).WithLevel(level)
}

// Debug, Info, Warn and Error start an event at their level.
func (l *Logger) Debug() *zerolog.Event { return l.At(zerolog.DebugLevel) }
func (l *Logger) Info() *zerolog.Event  { return l.At(zerolog.InfoLevel) }
func (l *Logger) Warn() *zerolog.Event  { return l.At(zerolog.WarnLevel) }
func (l *Logger) Error() *zerolog.Event { return l.At(zerolog.ErrorLevel) }
