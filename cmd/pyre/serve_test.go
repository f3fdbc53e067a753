package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestListeningLineNamesTheURLToOpen(t *testing.T) {
	for _, tc := range []struct{ cmd, path, want string }{
		{"chat", "", `id="login-form"`},
		{"donations", "", `id="campaigns"`},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			c := startCommand(t, tc.cmd, "-log-level", "info")
			if !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/$`).MatchString(c.URL) {
				t.Fatalf("url %q, want http://127.0.0.1:PORT/", c.URL)
			}
			res, err := http.Get(c.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), tc.want) {
				t.Errorf("GET %s%s: %d %.200s; want 200 with %s", c.URL, tc.path, res.StatusCode, body, tc.want)
			}
		})
	}
}

func TestListenURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:4000": "http://127.0.0.1:4000/",
		"0.0.0.0:4000":   "http://localhost:4000/",
		"[::]:4000":      "http://localhost:4000/",
		"[::1]:4001":     "http://[::1]:4001/",
		"10.1.2.3:80":    "http://10.1.2.3:80/",
	} {
		if got := listenURL(addr); got != want {
			t.Errorf("listenURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// Without -node, each process names itself after the host with a random
// suffix, as -h says, for chat and donations alike.
func TestDefaultNodeNameHasARandomSuffix(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "pyre" // what a node is named after when the host has no name
	}
	want := regexp.MustCompile(`^` + regexp.QuoteMeta(host) + `-[0-9a-f]{6}$`)
	for _, cmd := range []string{"chat", "donations"} {
		t.Run(cmd, func(t *testing.T) {
			names := map[string]bool{}
			for range 2 {
				c := startCommand(t, cmd)
				line := c.Log.await(t, `"pyre listening"`, c.done, func(s string) bool {
					return strings.Contains(s, `"message":"pyre listening"`)
				})
				var entry struct {
					Node string `json:"node"`
				}
				_ = json.Unmarshal([]byte(line), &entry)
				if !want.MatchString(entry.Node) {
					t.Errorf("node %q, want %s-XXXXXX: %s", entry.Node, host, line)
				}
				names[entry.Node] = true
			}
			if len(names) != 2 {
				t.Errorf("two processes took the same name: %v", names)
			}
		})
	}
}

// Both serving commands cap long-poll sessions, per user by default and
// as -longpoll-sessions-per-user says.
func TestLongPollSessionCaps(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		args []string
		max  int
	}{
		{"chat", nil, defaultMaxSocketsPerUser},
		{"donations", nil, defaultMaxSocketsPerUser},
		{"chat", []string{"-longpoll-sessions-per-user", "2"}, 2},
		{"donations", []string{"-longpoll-sessions", "3"}, 3},
	} {
		t.Run(tc.cmd+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			c := startCommand(t, tc.cmd, tc.args...)
			open := c.URL + "socket/longpoll?vsn=2.0.0&token=" + url.QueryEscape(c.login(t, "alice"))
			for i := range tc.max + 1 {
				res, err := http.Get(open)
				if err != nil {
					t.Fatal(err)
				}
				var body struct {
					Status int `json:"status"`
				}
				err = json.NewDecoder(res.Body).Decode(&body)
				res.Body.Close()
				want := http.StatusGone // a new session
				if i == tc.max {
					want = http.StatusInternalServerError
				}
				if err != nil || body.Status != want {
					t.Fatalf("session %d: status %d (%v), want %d", i+1, body.Status, err, want)
				}
			}
		})
	}
}
