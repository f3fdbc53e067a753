package socket_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// syncBuffer is a log destination safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The handler adds the node to the logger it is given, once: the crash
// report, written by the engine's Supervisor, does not add it again.
func TestCrashReportNamesTheNodeOnce(t *testing.T) {
	var logs syncBuffer
	_, srv := startServer(t, func() actors.Channel { return stormy{} }, 0,
		socket.WithNode("n1"), socket.WithLogger(zerolog.New(&logs)))
	c := testutil.Dial(t, testutil.WSURL(srv.URL, "/socket/websocket?token=good"), "2.0.0")
	c.Join("echo:a", nil)
	c.Push("echo:a", "crash", map[string]any{})

	var line string
	testutil.Eventually(t, 5*time.Second, func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"channel crashed"`) {
				line = l
				return true
			}
		}
		return false
	}, "no crash report in the log:\n%s", testutil.Lazy(logs.String))
	if n := strings.Count(line, `"node":`); n != 1 {
		t.Errorf("the crash report has %d node fields, want 1: %s", n, line)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["node"] != "n1" || entry["topic"] != "echo:a" {
		t.Errorf("crash report %s (%v): want node n1 and topic echo:a", line, err)
	}
}

// A connection's log lines carry its socket id and its peer's whole
// address, port included.
func TestConnectionLogNamesSocketAndPeer(t *testing.T) {
	var logs syncBuffer
	_, srv := startServer(t, func() actors.Channel { return stormy{} }, 0, socket.WithLogger(zerolog.New(&logs)))
	c := testutil.Dial(t, testutil.WSURL(srv.URL, "/socket/websocket?token=good&user=ann"), "2.0.0")
	c.Send("not a frame")

	var entry map[string]any
	testutil.Eventually(t, 5*time.Second, func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"malformed frame dropped"`) {
				return json.Unmarshal([]byte(l), &entry) == nil
			}
		}
		return false
	}, "no malformed frame in the log:\n%s", testutil.Lazy(logs.String))
	peer, _ := entry["peer"].(string)
	if entry["socket_id"] != "user:ann" || !strings.HasPrefix(peer, "127.0.0.1:") || len(peer) <= len("127.0.0.1:") {
		t.Errorf("log line %v: want socket_id user:ann and peer 127.0.0.1:PORT", entry)
	}
}

// The writer logs a slow consumer's overflow with its socket's fields.
func TestOverflowLogNamesTheSocket(t *testing.T) {
	var logs syncBuffer
	_, srv := startServer(t, func() actors.Channel { return echo{} }, 0,
		socket.WithLogger(zerolog.New(&logs)), socket.WithMaxQueueBytes(64<<10))
	c := testutil.Dial(t, testutil.WSURL(srv.URL, "/socket/websocket?token=good&user=bo"), "2.0.0")
	c.Send(`["1","1","echo:f","phx_join",{}]`)
	c.Read()
	c.Send(`["1","2","echo:f","flood",{}]`)
	if code := c.ReadClose(); code != socket.CloseSlowConsumer {
		t.Fatalf("close code = %d, want %d", code, socket.CloseSlowConsumer)
	}
	var entry map[string]any
	testutil.Eventually(t, 5*time.Second, func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"write queue overflow; closing slow connection"`) {
				return json.Unmarshal([]byte(l), &entry) == nil
			}
		}
		return false
	}, "no overflow in the log:\n%s", testutil.Lazy(logs.String))
	if entry["socket_id"] != "user:bo" || entry["level"] != "warn" {
		t.Errorf("overflow logged as %v; want warn with socket_id user:bo", entry)
	}
}
