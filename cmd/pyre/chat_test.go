package main

import (
	"strings"
	"testing"
)

// In a cluster every node must verify the others' tokens, which a secret
// drawn per process cannot do: -nats without -secret (or PYRE_SECRET)
// refuses to start, and says why.
func TestClusterNeedsASharedSecret(t *testing.T) {
	t.Setenv("PYRE_SECRET", "")
	for _, nats := range []string{"embedded", "nats://127.0.0.1:1"} {
		c := runCommand(t, "chat", "-addr", "127.0.0.1:0", "-nats", nats, "-nats-listen", "127.0.0.1:0")
		err := c.wait(t)
		if err == nil || !strings.Contains(err.Error(), "-secret") || !strings.Contains(err.Error(), "PYRE_SECRET") {
			t.Errorf("-nats %s without a secret: %v, want a refusal naming -secret and PYRE_SECRET", nats, err)
		}
	}

	// With the secret from the environment the node starts.
	t.Setenv("PYRE_SECRET", "a shared secret of enough length")
	c := startCommand(t, "chat", "-nats", "embedded", "-nats-listen", "127.0.0.1:0")
	c.login(t, "alice")
}
