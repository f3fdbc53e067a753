package socket_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

func TestConnectStatus(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name   string
		query  string
		header http.Header
		want   int
	}{
		{"refused by connect", "vsn=2.0.0&token=bad", nil, http.StatusForbidden},
		{"missing token", "vsn=2.0.0", nil, http.StatusForbidden},
		{"unsupported vsn", "vsn=3.0.0&token=good", nil, http.StatusForbidden},
		{"foreign origin", "vsn=2.0.0&token=good", http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"accepted", "vsn=2.0.0&token=good", nil, http.StatusSwitchingProtocols},
		{"same-host origin", "vsn=2.0.0&token=good", http.Header{"Origin": {"http://127.0.0.1"}}, http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, _ := s.dial(t, tt.query, tt.header)
			if resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("status = %v, want %d", resp, tt.want)
			}
		})
	}
}

func TestNonUpgradeRequest(t *testing.T) {
	s := newServer(t)
	resp, err := http.Get(s.srv.URL + "/socket/websocket?vsn=2.0.0&token=good")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain GET = %d, want 400", resp.StatusCode)
	}
}

func TestOriginPolicies(t *testing.T) {
	tests := []struct {
		name   string
		opt    socket.Option
		origin string
		ok     bool
	}{
		{"list exact", socket.WithOrigins("https://app.example.com"), "https://app.example.com", true},
		{"list wrong scheme", socket.WithOrigins("https://app.example.com"), "http://app.example.com", false},
		{"list wrong port", socket.WithOrigins("https://app.example.com"), "https://app.example.com:8443", false},
		{"list any scheme", socket.WithOrigins("//app.example.com"), "http://app.example.com:8080", true},
		{"wildcard sub", socket.WithOrigins("//*.example.com"), "https://a.b.example.com", true},
		{"wildcard apex", socket.WithOrigins("//*.example.com"), "https://example.com", true},
		{"wildcard lookalike", socket.WithOrigins("//*.example.com"), "https://evilexample.com", false},
		{"null origin", socket.WithOrigins("//example.com"), "null", false},
		{"off", socket.WithoutOriginCheck(), "http://anything.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.opt)
			_, resp, err := s.dial(t, "vsn=2.0.0&token=good", http.Header{"Origin": {tt.origin}})
			if ok := err == nil; ok != tt.ok {
				t.Fatalf("origin %q accepted = %v (resp %v), want %v", tt.origin, ok, resp, tt.ok)
			}
		})
	}
}

func TestHeartbeatBothSerializers(t *testing.T) {
	s := newServer(t)
	v2 := s.mustDial(t, "vsn=2.0.0&token=good")
	v2.Send(`[null,"7","phoenix","heartbeat",{}]`)
	if got, want := v2.Read(), `[null,"7","phoenix","phx_reply",{"status":"ok","response":{}}]`; got != want {
		t.Fatalf("V2 heartbeat reply = %s, want %s", got, want)
	}
	v1 := s.mustDial(t, "vsn=1.0.0&token=good")
	v1.Send(`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}`)
	if got, want := v1.Read(), `{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"3"}`; got != want {
		t.Fatalf("V1 heartbeat reply = %s, want %s", got, want)
	}
}

func TestJoinAndEchoV1(t *testing.T) {
	s := newServer(t)
	c := s.mustDial(t, "vsn=1.0.0&token=good")
	c.Send(`{"topic":"echo:1","event":"phx_join","payload":{},"ref":"1"}`)
	if got, want := c.Read(), `{"topic":"echo:1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}`; got != want {
		t.Fatalf("join reply = %s, want %s", got, want)
	}
	c.Send(`{"topic":"echo:1","event":"echo","payload":{"a":1},"ref":"2"}`)
	if got, want := c.Read(), `{"topic":"echo:1","event":"phx_reply","payload":{"status":"ok","response":{"a":1}},"ref":"2"}`; got != want {
		t.Fatalf("echo reply = %s, want %s", got, want)
	}
}

func TestMalformedFramesAreDropped(t *testing.T) {
	s := newServer(t)
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	for _, bad := range []string{`not json`, `[1,2,3]`, `{"topic":"x"}`, `[null,"1",5,"phx_join",{}]`, `[null,"1","t",null,{}]`} {
		c.Send(bad)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, []byte{9, 9, 9}); err != nil {
		t.Fatal(err)
	}
	c.Send(`["1","1","echo:1","phx_join",{}]`)
	if got, want := c.Read(), `["1","1","echo:1","phx_reply",{"status":"ok","response":{}}]`; got != want {
		t.Fatalf("after malformed frames: %s, want %s", got, want)
	}
}

func TestFrameTooBig(t *testing.T) {
	s := newServer(t, socket.WithMaxFrameSize(1024))
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	other := s.mustDial(t, "vsn=2.0.0&token=good")
	c.Send(`["1","1","echo:1","phx_join",{"pad":"` + strings.Repeat("x", 2000) + `"}]`)
	if code := c.ReadClose(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code = %d, want 1009", code)
	}
	other.Send(`[null,"1","phoenix","heartbeat",{}]`)
	other.Read()
}

func TestBinaryPushAndReply(t *testing.T) {
	s := newServer(t)
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	c.Send(`["1","1","echo:b","phx_join",{}]`)
	c.Read()
	// client push, kind 0: join_ref "1", ref "2", topic "echo:b", event "echo", payload 01 02 03
	frame := append([]byte{0, 1, 1, 6, 4}, "12echo:becho"...)
	frame = append(frame, 1, 2, 3)
	if err := c.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{1, 1, 1, 6, 2}, "12echo:bok"...)
	want = append(want, 1, 2, 3)
	if mt != websocket.BinaryMessage || string(data) != string(want) {
		t.Fatalf("binary reply = %d % x, want % x", mt, data, want)
	}
}

func TestIdleTimeout(t *testing.T) {
	s := newServer(t, socket.WithIdleTimeout(150*time.Millisecond))
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	if code := c.ReadClose(); code != websocket.CloseGoingAway {
		t.Fatalf("close code = %d, want 1001", code)
	}
}

// TestIdleAfterTraffic: a reader that has read messages parks between
// them on a fresh goroutine; it still reads what comes next, in order, and
// still times out when nothing does.
func TestIdleAfterTraffic(t *testing.T) {
	s := newServer(t, socket.WithIdleTimeout(400*time.Millisecond))
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	c.Send(`["1","1","echo:idle","phx_join",{}]`)
	c.Read()
	for i := range 3 {
		// The pause is the idleness under test (the reader parks), not a
		// wait for something; the frames of each burst arrive together.
		time.Sleep(50 * time.Millisecond)
		for j := range 3 {
			c.Send(fmt.Sprintf(`["1","%d%d","echo:idle","echo",{"n":%d}]`, i, j, j))
		}
		for j := range 3 {
			if got, want := c.Read(), fmt.Sprintf(`["1","%d%d","echo:idle","phx_reply",{"status":"ok","response":{"n":%d}}]`, i, j, j); got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		}
	}
	if code := c.ReadClose(); code != websocket.CloseGoingAway {
		t.Fatalf("close code = %d, want 1001", code)
	}
}

func TestDisconnectCloses1001(t *testing.T) {
	s := newServer(t)
	alice := s.mustDial(t, "vsn=2.0.0&token=good&user=alice")
	bob := s.mustDial(t, "vsn=2.0.0&token=good&user=bob")
	// Make sure both sockets are registered before broadcasting.
	for _, c := range []*testutil.WSConn{alice, bob} {
		c.Send(`[null,"1","phoenix","heartbeat",{}]`)
		c.Read()
	}
	if err := s.h.Broadcast("user:alice", "disconnect", nil); err != nil {
		t.Fatal(err)
	}
	if code := alice.ReadClose(); code != websocket.CloseGoingAway {
		t.Fatalf("close code = %d, want 1001", code)
	}
	bob.Send(`[null,"2","phoenix","heartbeat",{}]`)
	bob.Read()
}

func TestSlowConsumerIsClosed(t *testing.T) {
	s := newServer(t, socket.WithMaxQueueBytes(64<<10))
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	c.Send(`["1","1","echo:f","phx_join",{}]`)
	c.Read()
	// Ask for far more than the queue holds and do not read while it is
	// produced: the server must cut the connection, not buffer it all.
	c.Send(`["1","2","echo:f","flood",{}]`)
	if code := c.ReadClose(); code != socket.CloseSlowConsumer {
		t.Fatalf("close code = %d, want %d", code, socket.CloseSlowConsumer)
	}
}

func TestShutdownClosesWith1012AndLeaksNothing(t *testing.T) {
	before := testutil.Goroutines()
	s := newServer(t)
	conns := make([]*testutil.WSConn, 20)
	for i := range conns {
		conns[i] = s.mustDial(t, "vsn=2.0.0&token=good")
		conns[i].Send(`["1","1","echo:s","phx_join",{}]`)
		conns[i].Read()
	}
	if err := s.h.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if code := c.ReadClose(); code != websocket.CloseServiceRestart {
			t.Fatalf("close code = %d, want 1012", code)
		}
		c.Close()
	}
	if s.h.Len() != 0 {
		t.Fatalf("%d sockets alive after shutdown", s.h.Len())
	}
	_, resp, err := s.dial(t, "vsn=2.0.0&token=good", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown = %v, %v; want 503", resp, err)
	}
	s.srv.CloseClientConnections()
	s.srv.Close()
	before.Wait(t)
}

// TestFrameLengths checks the writer's framing at every length encoding
// (7-bit, 16-bit, 64-bit) as gorilla's client reads it.
func TestFrameLengths(t *testing.T) {
	s := newServer(t)
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	c.Send(`["1","1","echo:len","phx_join",{}]`)
	c.Read()
	for i, n := range []int{0, 80, 100, 125 - 60, 126, 1000, 65535 - 70, 65536, 200000} {
		body := strings.Repeat("x", n)
		c.Send(fmt.Sprintf(`["1","%d","echo:len","echo",{"b":"%s"}]`, i+2, body))
		want := fmt.Sprintf(`["1","%d","echo:len","phx_reply",{"status":"ok","response":{"b":"%s"}}]`, i+2, body)
		if got := c.Read(); got != want {
			t.Fatalf("payload of %d bytes: reply of %d bytes differs", n, len(got))
		}
	}
}
