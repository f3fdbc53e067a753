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
	if l.built.Load() != nil {
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
