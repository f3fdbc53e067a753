package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/internal/testutil"
)

// -max-sockets-per-user and -max-conns-per-addr: their defaults, their
// variables, the command line over the variable, and the checks.
func TestSocketCapFlags(t *testing.T) {
	for _, cmd := range []string{"chat", "donations"} {
		t.Run(cmd, func(t *testing.T) {
			parse := func(args ...string) (serverConfig, error) {
				if cmd == "chat" {
					c, err := parseChat(args, io.Discard)
					return c.serverConfig, err
				}
				c, err := parseDonations(args, io.Discard)
				return c.serverConfig, err
			}
			for _, tc := range []struct {
				name            string
				env             map[string]string
				args            []string
				perUser, perIP  int
				wantErrContains string
			}{
				{name: "defaults", perUser: 16, perIP: 0},
				{name: "flags", args: []string{"-max-sockets-per-user", "3", "-max-conns-per-addr", "40"}, perUser: 3, perIP: 40},
				{name: "env", env: map[string]string{"PYRE_MAX_SOCKETS_PER_USER": "5", "PYRE_MAX_CONNS_PER_ADDR": "7"}, perUser: 5, perIP: 7},
				{name: "flag over env", env: map[string]string{"PYRE_MAX_SOCKETS_PER_USER": "5"}, args: []string{"-max-sockets-per-user", "2"}, perUser: 2},
				{name: "off", args: []string{"-max-sockets-per-user", "0"}, perUser: 0},
				{name: "negative per user", args: []string{"-max-sockets-per-user", "-1"}, wantErrContains: "-max-sockets-per-user"},
				{name: "negative per address", env: map[string]string{"PYRE_MAX_CONNS_PER_ADDR": "-2"}, wantErrContains: "-max-conns-per-addr"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Setenv("PYRE_MAX_SOCKETS_PER_USER", "")
					t.Setenv("PYRE_MAX_CONNS_PER_ADDR", "")
					for k, v := range tc.env {
						t.Setenv(k, v)
					}
					cfg, err := parse(tc.args...)
					if tc.wantErrContains != "" {
						if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
							t.Fatalf("error %v, want one naming %s", err, tc.wantErrContains)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if cfg.MaxSocketsPerUser != tc.perUser || cfg.MaxConnsPerAddr != tc.perIP {
						t.Errorf("per user %d, per address %d; want %d and %d", cfg.MaxSocketsPerUser, cfg.MaxConnsPerAddr, tc.perUser, tc.perIP)
					}
				})
			}
		})
	}
}

// -max-sockets-per-user reaches the socket: one user's sockets past it are
// refused with 429 over WebSocket and long-poll, logged and counted, while
// another user gets in.
func TestMaxSocketsPerUserFlag(t *testing.T) {
	for _, cmd := range []string{"chat", "donations"} {
		t.Run(cmd, func(t *testing.T) {
			c := startCommand(t, cmd, "-max-sockets-per-user", "2")
			alice := "vsn=2.0.0&token=" + c.login(t, "alice")
			ws := c.URL + "socket/websocket?"
			testutil.Dial(t, ws+alice, "")
			testutil.Dial(t, ws+alice, "")
			_, resp, err := testutil.TryDial(t, ws+alice, "", nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("alice's third WebSocket: %v %v, want HTTP 429", err, resp)
			}
			res, err := http.Get(c.URL + "socket/longpoll?" + alice)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusTooManyRequests || strings.TrimSpace(string(body)) != `{"status":500}` {
				t.Fatalf("alice's long-poll session: HTTP %d %s, want 429 with the body status 500", res.StatusCode, body)
			}
			testutil.Dial(t, ws+"vsn=2.0.0&token="+c.login(t, "bob"), "")

			refusals := 0
			for _, l := range c.Log.All() {
				var e map[string]any
				if json.Unmarshal([]byte(l), &e) == nil && e["cap"] == "max_sockets_per_id" {
					refusals++
					if e["level"] != "warn" || e["limit"] != 2.0 || e["socket_id"] != "users_socket:alice" {
						t.Errorf("refusal logged as %s", l)
					}
				}
			}
			if refusals != 2 {
				t.Errorf("%d refusals logged, want 2", refusals)
			}
			res, err = http.Get(c.URL + "metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if want := "\npyre_connects_refused_total{cause=\"per_id\"} 2\n"; !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
			}
		})
	}
}
