package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The serving commands run in process here: run is what main calls, with a
// context the test cancels instead of a signal, and a log the test reads.

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

// logLines collects a command's log output line by line; every complete
// line wakes the waiters.
type logLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string      // guarded by mu
	wake    chan struct{} // closed and replaced on every line; guarded by mu
}

func newLogLines() *logLines { return &logLines{wake: make(chan struct{})} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		added = true
	}
	if added {
		close(l.wake)
		l.wake = make(chan struct{})
	}
	return len(p), nil
}

// All returns the lines written so far.
func (l *logLines) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// await returns the first line that match accepts, waiting for it until
// waitFor has passed or done is closed.
func (l *logLines) await(tb testing.TB, what string, done <-chan struct{}, match func(string) bool) string {
	tb.Helper()
	timeout := time.NewTimer(waitFor)
	defer timeout.Stop()
	seen := 0
	for {
		l.mu.Lock()
		lines, wake := l.lines[seen:], l.wake
		seen = len(l.lines)
		l.mu.Unlock()
		for _, line := range lines {
			if match(line) {
				return line
			}
		}
		select {
		case <-wake:
		case <-done:
			tb.Fatalf("the command ended before logging %s:\n%s", what, strings.Join(l.All(), "\n"))
		case <-timeout.C:
			tb.Fatalf("no log line %s within %v:\n%s", what, waitFor, strings.Join(l.All(), "\n"))
		}
	}
}

// command is a serving command running in process.
type command struct {
	Log  *logLines
	URL  string // the http:// URL it listens on
	stop context.CancelFunc
	done chan struct{}
	err  error // set before done is closed
}

// startCommand runs `pyre name args...` with -addr 127.0.0.1:0 added and
// waits for its listening line. The command is stopped, as by SIGTERM,
// when the test ends; it must then end without an error.
func startCommand(tb testing.TB, name string, args ...string) *command {
	tb.Helper()
	c := runCommand(tb, name, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	line := c.Log.await(tb, `"pyre listening"`, c.done, func(s string) bool {
		return strings.Contains(s, `"message":"pyre listening"`)
	})
	var entry struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.URL == "" {
		tb.Fatalf("the listening line has no url: %s", line)
	}
	c.URL = entry.URL
	tb.Cleanup(func() {
		c.stop()
		if err := c.wait(tb); err != nil {
			tb.Errorf("pyre %s ended with %v", name, err)
		}
	})
	return c
}

// runCommand starts `pyre name args...` without waiting for anything.
func runCommand(tb testing.TB, name string, args ...string) *command {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{Log: newLogLines(), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = run(ctx, name, args, io.Discard, c.Log)
	}()
	tb.Cleanup(cancel)
	return c
}

// wait waits for the command to end and returns its error.
func (c *command) wait(tb testing.TB) error {
	tb.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(waitFor + 10*time.Second):
		tb.Fatalf("the command did not end:\n%s", strings.Join(c.Log.All(), "\n"))
		return nil
	}
}

// post sends a JSON body to the command and decodes the JSON answer.
func (c *command) post(tb testing.TB, path, body string, header ...string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, c.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := (&http.Client{Timeout: waitFor}).Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// login returns a user token from POST /api/login.
func (c *command) login(tb testing.TB, user string) string {
	tb.Helper()
	status, out := c.post(tb, "/api/login", fmt.Sprintf(`{"user":%q}`, user))
	tok, _ := out["token"].(string)
	if status != http.StatusOK || tok == "" {
		tb.Fatalf("login %s: %d %v", user, status, out)
	}
	return tok
}

// uniqueKeys reports the first key that appears twice in one object of
// the JSON text line (at any depth), or an error if line is not JSON.
func uniqueKeys(line string) (dup string, err error) {
	dec := json.NewDecoder(strings.NewReader(line))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if seen[key] && dup == "" {
					dup = key
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token() // '}'
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token() // ']'
			return err
		}
		return nil
	}
	if err := walk(); err != nil {
		return "", err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("more than one JSON value in %q", line)
	}
	return dup, nil
}

func TestUniqueKeys(t *testing.T) {
	for _, tc := range []struct{ line, dup string }{
		{`{"a":1,"b":{"a":2}}`, ""},
		{`{"node":"x","node":"x"}`, "node"},
		{`{"a":[{"b":1,"b":2}]}`, "b"},
	} {
		got, err := uniqueKeys(tc.line)
		if err != nil || got != tc.dup {
			t.Errorf("uniqueKeys(%s) = %q, %v; want %q", tc.line, got, err, tc.dup)
		}
	}
	if _, err := uniqueKeys(`{"a":`); err == nil {
		t.Error("uniqueKeys accepted a truncated line")
	}
}
