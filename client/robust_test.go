package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/client"
	"github.com/pyrehq/pyre/internal/testutil"
)

// A server that stops answering heartbeats, with the connection still
// open, is left for a new connection, on which the channel is joined
// again. (The server is a script: pyre always answers.)
func TestUnansweredHeartbeatReconnects(t *testing.T) {
	upgrader := websocket.Upgrader{}
	conns := make(chan int, 100)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		conns <- int(n.Add(1))
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f []any
			if json.Unmarshal(data, &f) != nil || len(f) != 5 || f[3] != "phx_join" {
				continue // heartbeats go unanswered
			}
			reply, _ := json.Marshal([]any{f[0], f[1], f[2], "phx_reply", map[string]any{"status": "ok", "response": map[string]any{}}})
			_ = ws.WriteMessage(websocket.TextMessage, reply)
		}
	}))
	t.Cleanup(srv.Close)
	testutil.CheckGoroutines(t)
	c := dial(t, srv.URL+"/socket", client.WithHeartbeat(5*time.Millisecond))
	join(t, c.Channel("room:1", nil))
	testutil.Receive(t, conns, wait, "no first connection")
	if got := testutil.Receive(t, conns, wait, "no new connection after unanswered heartbeats"); got != 2 {
		t.Fatalf("connection %d, want the second", got)
	}
}

// lockedBuffer is a log destination safe from any goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A server that sends garbage costs the client log lines, not a panic
// and not the connection: the join still succeeds and the next message
// still arrives. (The server here is a script, since pyre sends no such
// frames.)
func TestMalformedFramesAreDropped(t *testing.T) {
	garbage := []struct {
		binary bool
		data   string
	}{
		{false, `not json`},
		{false, `[1,2]`},
		{false, `{"a":1}`},
		{false, `[null,null,7,"msg",{}]`},
		{false, `[null,"1","room:1","phx_reply",{"no":"status"}]`},
		{false, `[null,"999","room:1","phx_reply",{"status":"ok","response":{}}]`}, // unknown ref
		{false, `[null,null,"room:elsewhere","msg",{}]`},                           // topic not joined
		{false, `["stale",null,"room:1","msg",{"stale":true}]`},                    // another join's
		{true, "\x09"},
		{true, "\x00\x05\x01\x01ab"},
		{true, ""},
	}
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_, data, err := ws.ReadMessage() // the join
		if err != nil {
			return
		}
		var join []any
		if json.Unmarshal(data, &join) != nil || len(join) != 5 {
			return
		}
		for _, g := range garbage {
			mt := websocket.TextMessage
			if g.binary {
				mt = websocket.BinaryMessage
			}
			if ws.WriteMessage(mt, []byte(g.data)) != nil {
				return
			}
		}
		reply, _ := json.Marshal([]any{join[0], join[1], "room:1", "phx_reply", map[string]any{"status": "ok", "response": map[string]any{}}})
		_ = ws.WriteMessage(websocket.TextMessage, reply)
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`[null,null,"room:1","msg",{"n":1}]`))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	testutil.CheckGoroutines(t)
	var logs lockedBuffer
	c := dial(t, srv.URL+"/socket", client.WithLogger(zerolog.New(&logs).Level(zerolog.DebugLevel)))
	ch := c.Channel("room:1", nil)
	got := collect(ch, "msg")
	join(t, ch)
	m := testutil.Receive(t, got, wait, "no message after the garbage")
	if string(m.Payload) != `{"n":1}` {
		t.Errorf("message %s, want the good one only", m.Payload)
	}
	select {
	case m := <-got:
		t.Errorf("a second message: %s", m.Payload)
	default:
	}
	out := logs.String()
	for _, want := range []string{"malformed frame dropped", "reply to an unknown ref dropped", "frame for a topic not joined dropped", "stale frame dropped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log has no %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "malformed frame dropped"); n != 8 {
		t.Errorf("%d malformed frames logged, want 8:\n%s", n, out)
	}
}

// A join whose context ends before the reply is abandoned: Join returns
// the context's error and the server is told to leave that join.
func TestJoinTimesOut(t *testing.T) {
	upgrader := websocket.Upgrader{}
	frames := make(chan []any, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f []any
			if json.Unmarshal(data, &f) == nil && len(f) == 5 && f[2] != "phoenix" {
				frames <- f // never answered
			}
		}
	}))
	t.Cleanup(srv.Close)
	testutil.CheckGoroutines(t)
	c := dial(t, srv.URL+"/socket")
	ch := c.Channel("room:1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := ch.Join(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("join without reply: %v, want DeadlineExceeded", err)
	}
	j := testutil.Receive(t, frames, wait, "no join")
	l := testutil.Receive(t, frames, wait, "no leave after the abandoned join")
	if j[3] != "phx_join" || l[3] != "phx_leave" || l[0] != j[0] {
		t.Errorf("frames %v then %v, want the join, then a leave with its join_ref", j, l)
	}
	if _, err := ch.Push(ctxT(t), "echo", 1); !errors.Is(err, client.ErrChannelClosed) {
		t.Errorf("push on the abandoned channel: %v, want ErrChannelClosed", err)
	}
}
