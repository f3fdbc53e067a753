package lazylog

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestBuiltOnFirstEnabledEvent(t *testing.T) {
	var buf bytes.Buffer
	base := zerolog.New(&buf).Level(zerolog.InfoLevel)
	l := New(&base, func(c zerolog.Context) zerolog.Context { return c.Str("socket_id", "s1") })
	l.Debug().Msg("hidden")
	if l.built.p.Load() != nil {
		t.Fatal("a disabled level built the logger")
	}
	if buf.Len() != 0 {
		t.Fatalf("disabled event written: %s", buf.String())
	}
	l.Warn().Str("k", "v").Msg("shown")
	if got := buf.String(); !strings.Contains(got, `"socket_id":"s1"`) || !strings.Contains(got, `"message":"shown"`) || !strings.Contains(got, `"level":"warn"`) {
		t.Fatalf("event = %s", got)
	}
	if first := l.Get(); l.Get() != first {
		t.Fatal("Get built the logger twice")
	}
}

// A Built logger is built once, with the fields given, and not at all for
// a level that is off.
func TestBuiltOnce(t *testing.T) {
	var buf bytes.Buffer
	base := zerolog.New(&buf).Level(zerolog.InfoLevel)
	calls := 0
	fields := func(c zerolog.Context) zerolog.Context { calls++; return c.Str("peer", "p1") }
	var b Built
	b.At(&base, fields, zerolog.DebugLevel).Msg("hidden")
	if b.p.Load() != nil || calls != 0 || buf.Len() != 0 {
		t.Fatalf("a disabled level built the logger (%d calls) or wrote %q", calls, buf.String())
	}
	b.At(&base, fields, zerolog.ErrorLevel).Msg("one")
	b.At(&base, fields, zerolog.WarnLevel).Msg("two")
	if calls != 1 {
		t.Fatalf("fields applied %d times, want once", calls)
	}
	if got := buf.String(); strings.Count(got, `"peer":"p1"`) != 2 || !strings.Contains(got, `"level":"error"`) || !strings.Contains(got, `"message":"two"`) {
		t.Fatalf("events = %s", got)
	}
}
