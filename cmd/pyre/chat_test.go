package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/client"
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

// pyre chat's default rate limit is a person's pace: a burst of a hundred
// pushes is cut short. A benchmark asks for more with -rate-limit.
func TestChatRateLimit(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		refused bool
	}{
		{nil, true},
		{[]string{"-rate-limit", "100000"}, false},
	} {
		t.Run(strings.Join(append([]string{"chat"}, tc.args...), " "), func(t *testing.T) {
			c := startCommand(t, "chat", tc.args...)
			room := c.dialGo(t, "alice", 0).Channel("bench:rate", nil)
			if _, err := room.Join(t.Context()); err != nil {
				t.Fatal(err)
			}
			const n = 100
			ok, limited := 0, 0
			for range n {
				_, err := room.Push(t.Context(), "ping", map[string]any{})
				var refused *client.ReplyError
				switch {
				case err == nil:
					ok++
				case errors.As(err, &refused) && refused.Reason() == "rate limit exceeded":
					limited++
				default:
					t.Fatalf("push: %v", err)
				}
			}
			if tc.refused && (limited == 0 || ok > 40) || !tc.refused && limited != 0 {
				t.Errorf("%d of %d pushes answered, %d refused for the rate limit", ok, n, limited)
			}
		})
	}
}

// A page's client is built into every binary (the committed copy in
// examples/internal/phoenixjs), or comes from -assets. Both commands with
// a page behave alike.
func TestPageClientAsset(t *testing.T) {
	for _, cmd := range []string{"chat", "donations"} {
		t.Run(cmd, func(t *testing.T) { testClientAsset(t, cmd) })
	}
}

func testClientAsset(t *testing.T, cmd string) {
	c := startCommand(t, cmd)
	res, err := http.Get(c.URL + "assets/phoenix.mjs")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(js), "Presence") {
		t.Errorf("built-in client: GET /assets/phoenix.mjs %d %.80q; want 200 and phoenix.js", res.StatusCode, js)
	}

	// -assets serves another directory's client, and must have one.
	dir := t.TempDir()
	if err := runCommand(t, cmd, "-addr", "127.0.0.1:0", "-assets", dir).wait(t); err == nil || !strings.Contains(err.Error(), "no phoenix.mjs") {
		t.Errorf("-assets of an empty directory: %v, want a refusal", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "phoenix.mjs"), []byte("export const marker = 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := startCommand(t, cmd, "-assets", dir)
	res, err = http.Get(other.URL + "assets/phoenix.mjs")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "marker") {
		t.Errorf("-assets: GET /assets/phoenix.mjs gave %q", body)
	}
}
