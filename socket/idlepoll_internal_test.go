//go:build linux

package socket

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
)

// parkedReaders counts the readers parked with the idle poller, and
// those registered with it.
func parkedReaders() (parked, registered int) {
	idle.mu.Lock()
	defer idle.mu.Unlock()
	for _, r := range idle.slots {
		if r != nil && r.parked.Load() {
			parked++
		}
	}
	return parked, idle.n
}

// readerGoroutines counts the goroutines running a WebSocket reader.
func readerGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "socket.(*wsReader).")
}

type idleServer struct {
	h   *Handler
	srv *httptest.Server
	url string
}

func startIdleServer(t *testing.T, opts ...Option) idleServer {
	t.Helper()
	r := actors.NewRouter()
	r.MustHandle("burst:*", func() actors.Channel { return burster{} })
	opts = append([]Option{WithoutOriginCheck(),
		WithConnect(func(context.Context, url.Values, ConnInfo) (actors.Assigns, error) { return actors.Assigns{}, nil })}, opts...)
	h, err := New(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return idleServer{h: h, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/websocket?vsn=2.0.0"}
}

func (s idleServer) dialJoined(t *testing.T, topic string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`["1","1","`+topic+`","phx_join",{}]`)); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, ws); !strings.Contains(got, `"phx_reply"`) || !strings.Contains(got, `"ok"`) {
		t.Fatalf("join answered %s", got)
	}
	return ws
}

func readText(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Idle connections hold no reader goroutine: each is parked with the idle
// poller, and comes back for a push, for a ping, and for its close, from
// either side. Once the handler is shut down every reader has ended and
// the poller's goroutine with them.
func TestIdleReadersHoldNoGoroutine(t *testing.T) {
	leaks := testutil.Goroutines()
	s := startIdleServer(t)
	const n = 8
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = s.dialJoined(t, "burst:"+string(rune('a'+i)))
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		parked, _ := parkedReaders()
		return parked == n && readerGoroutines() == 0
	}, "%d connections parked and no reader goroutine (parked and registered: %v; reader goroutines: %v)", n,
		testutil.Lazy(func() string { p, r := parkedReaders(); return fmt.Sprint(p, r) }),
		testutil.Lazy(func() string { return fmt.Sprint(readerGoroutines()) }))

	// A push wakes its reader, which answers and parks again.
	for round := range 2 {
		if err := conns[0].WriteMessage(websocket.TextMessage, []byte(`["1","2","burst:a","burst",{"count":1,"size":1}]`)); err != nil {
			t.Fatal(err)
		}
		if got := readText(t, conns[0]); !strings.Contains(got, `"frame"`) {
			t.Fatalf("round %d: pushed, got %s", round, got)
		}
		if got := readText(t, conns[0]); !strings.Contains(got, `"pushed":1`) {
			t.Fatalf("round %d: pushed, got %s", round, got)
		}
	}

	// A ping, a control frame, is answered from a parked reader too.
	pong := make(chan string, 1)
	conns[1].SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := conns[1].WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = conns[1].ReadMessage() }() // runs the pong handler
	if got := testutil.Receive(t, pong, 10*time.Second, "pong"); got != "are you there" {
		t.Fatalf("pong %q", got)
	}

	// The client goes away without a close frame: its reader sees the end
	// of the stream and ends.
	_, before := parkedReaders()
	conns[2].NetConn().Close()
	testutil.Eventually(t, 10*time.Second, func() bool { _, r := parkedReaders(); return r == before-1 },
		"the reader of a connection its client dropped ends")

	// The server closes the rest: every parked reader is resumed by the
	// close of its connection, and the poller stops with the last.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, r := parkedReaders(); r != 0 {
		t.Fatalf("%d readers still registered after shutdown", r)
	}
	for _, c := range conns {
		c.Close()
	}
	s.srv.Close()
	leaks.Wait(t)
}

// A parked connection with no traffic is closed at its idle timeout, by
// the poller's sweep of read deadlines.
func TestParkedReaderTimesOut(t *testing.T) {
	s := startIdleServer(t, WithIdleTimeout(600*time.Millisecond))
	t.Cleanup(func() { _ = s.h.Shutdown(context.Background()) })
	ws := s.dialJoined(t, "burst:t")
	testutil.Eventually(t, 10*time.Second, func() bool { p, _ := parkedReaders(); return p == 1 }, "the reader parks")
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseGoingAway {
		t.Fatalf("read %v, want a close 1001", err)
	}
}
