package main

import (
	"strings"
	"testing"

	"github.com/pyrehq/pyre/internal/testutil"
)

// Every log line of a crash in a channel is one JSON object whose keys
// each appear once (a second "node" made it invalid for strict parsers).
func TestCrashLogLinesHaveUniqueKeys(t *testing.T) {
	for _, tc := range []struct{ cmd, topic string }{
		{"chat", "room:lobby"},
		{"donations", "campaign:clean-water"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			c := startCommand(t, tc.cmd, "-log-level", "debug", "-node", "n1")
			ws := testutil.Dial(t, c.URL+"socket/websocket?token="+c.login(t, "alice"), "2.0.0")
			ws.Join(tc.topic, nil)
			ws.Push(tc.topic, "crash", map[string]any{})
			crash := c.Log.await(t, `"channel crashed"`, c.done, func(s string) bool {
				return strings.Contains(s, `"message":"channel crashed"`)
			})
			if !strings.Contains(crash, `"node":"n1"`) {
				t.Errorf("the crash line does not name the node: %s", crash)
			}
			for _, line := range c.Log.All() {
				dup, err := uniqueKeys(line)
				if err != nil {
					t.Errorf("not one JSON object (%v): %s", err, line)
				} else if dup != "" {
					t.Errorf("key %q twice: %s", dup, line)
				}
			}
		})
	}
}
