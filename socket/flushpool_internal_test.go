package socket

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/actors"
)

// burster pushes "count" numbered frames of "size" bytes on "burst".
type burster struct{}

func (burster) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (burster) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	var req struct{ Count, Size int }
	if err := p.Decode(&req); err != nil {
		return actors.Error(err.Error())
	}
	pad := strings.Repeat("x", req.Size)
	for i := range req.Count {
		if err := c.Push("frame", map[string]any{"n": i, "pad": pad}); err != nil {
			return actors.Error(err.Error())
		}
	}
	return actors.Ok(map[string]int{"pushed": req.Count})
}

// poolServer serves one route of factory at pattern, with every socket
// accepted, on a test server; both are shut when the test ends.
func poolServer(t *testing.T, pattern string, factory actors.Factory, opts ...Option) *httptest.Server {
	t.Helper()
	r := actors.NewRouter()
	r.MustHandle(pattern, factory)
	h, err := New(r, append([]Option{WithoutOriginCheck(),
		WithConnect(func(context.Context, url.Values, ConnInfo) (actors.Assigns, error) { return actors.Assigns{}, nil })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		srv.Close()
	})
	return srv
}

// TestPoolShortWriteKeepsFramesWhole: when a connection's socket cannot
// take a pool worker's whole write, the rest of the frame goes first
// through the connection's own flusher and every frame reaches the client
// whole and in order; once the client reads again the connection goes on
// as before, through the pool.
func TestPoolShortWriteKeepsFramesWhole(t *testing.T) {
	short := make(chan struct{})
	var once sync.Once
	poolWriteShort = func() { once.Do(func() { close(short) }) }
	t.Cleanup(func() { poolWriteShort = nil })

	srv := poolServer(t, "burst:*", func() actors.Channel { return burster{} }, WithMaxQueueBytes(64<<20))

	// A small receive buffer on the client, so that the server's socket
	// fills after a few frames while the client does not read.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/websocket?vsn=2.0.0"
	ws, _, err := d.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	send := func(frame string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []any {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var msg []any
		if err := json.Unmarshal(data, &msg); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		return msg
	}
	send(`["1","1","burst:a","phx_join",{}]`)
	if got := read(); got[3] != "phx_reply" {
		t.Fatalf("join answered %v", got)
	}

	const count, size = 1500, 6000
	for round := range 2 {
		send(fmt.Sprintf(`["1","r%d","burst:a","burst",{"count":%d,"size":%d}]`, round, count, size))
		if round == 0 {
			select {
			case <-short:
			case <-time.After(10 * time.Second):
				t.Fatal("no pool write came up short against a client that does not read")
			}
		}
		for i := range count {
			msg := read()
			p, _ := msg[4].(map[string]any)
			if msg[3] != "frame" || p["n"] != float64(i) || len(p["pad"].(string)) != size {
				t.Fatalf("round %d: frame %d is %v %v (pad %d bytes)", round, i, msg[3], p["n"], len(p["pad"].(string)))
			}
		}
		if got := read(); got[3] != "phx_reply" || got[1] != fmt.Sprintf("r%d", round) {
			t.Fatalf("round %d: after the frames came %v, want the reply", round, got[:4])
		}
	}
}

// TestWriteDelayGathersFrames: with a write delay, frames that find their
// connection idle wait for it, and those that come meanwhile leave with
// them.
func TestWriteDelayGathersFrames(t *testing.T) {
	const delay = 400 * time.Millisecond
	srv := poolServer(t, "burst:*", func() actors.Channel { return burster{} }, WithWriteDelay(delay))
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/websocket?vsn=2.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	send := func(frame string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() time.Time {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	send(`["1","1","burst:d","phx_join",{}]`)
	read() // the join reply, itself delayed

	// Three pushes, 40 ms apart, each answered by a frame and its reply:
	// all six wait for the first one's delay and leave together.
	start := time.Now()
	for i := range 3 {
		send(fmt.Sprintf(`["1","p%d","burst:d","burst",{"count":1,"size":10}]`, i))
		if i < 2 {
			time.Sleep(40 * time.Millisecond)
		}
	}
	first := read()
	last := first
	for range 5 {
		last = read()
	}
	if waited := first.Sub(start); waited < delay*3/4 {
		t.Errorf("the first frame came %v after the push; the delay is %v", waited, delay)
	}
	if spread := last.Sub(first); spread > 60*time.Millisecond {
		t.Errorf("the frames came over %v: not in one write", spread)
	}
}

func TestWriteDelayValidates(t *testing.T) {
	for _, d := range []time.Duration{-time.Millisecond, 2 * time.Second} {
		if _, err := New(actors.NewRouter(), WithWriteDelay(d)); err == nil {
			t.Errorf("WithWriteDelay(%v) accepted", d)
		}
	}
}

// The pool writes connections with a prompt frame (a reply, a push to one
// client) before those that only wait for broadcasts, each list in its
// own order; after maxPromptRun prompt writers in a row one fan-out writer
// goes. The worker is not started (one counts as running), so the test
// reads the order the workers would follow.
func TestPoolServesPromptWritersFirst(t *testing.T) {
	p := &flushPool{wg: new(sync.WaitGroup), max: 1, workers: 1}
	names := map[*writer]string{}
	add := func(name string, prompt bool) {
		w := &writer{prompt: prompt}
		names[w] = name
		p.add(w)
	}
	order := func() []string {
		var got []string
		for {
			w, wait, ok := p.next()
			if !ok {
				return got
			}
			if w == nil {
				t.Fatalf("asked to wait %v without a delay", wait)
			}
			got = append(got, names[w])
		}
	}
	for i := range 3 {
		add(fmt.Sprintf("b%d", i), false)
	}
	add("p0", true)
	add("b3", false)
	add("p1", true)
	if got, want := strings.Join(order(), " "), "p0 p1 b0 b1 b2 b3"; got != want {
		t.Errorf("written in the order %s, want %s", got, want)
	}

	p.workers = 1 // the last next ended the pretended worker
	add("b0", false)
	add("b1", false)
	for i := range maxPromptRun + 2 {
		add(fmt.Sprintf("p%d", i), true)
	}
	got := order()
	want := []string{}
	for i := range maxPromptRun {
		want = append(want, fmt.Sprintf("p%d", i))
	}
	want = append(want, "b0", fmt.Sprintf("p%d", maxPromptRun), fmt.Sprintf("p%d", maxPromptRun+1), "b1")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("written in the order\n%v, want\n%v", got, want)
	}
}

// fanner broadcasts and pushes in turn on "mix", so that one connection's
// queue holds broadcasts and prompt frames interleaved while the pool has
// every subscriber's writer waiting for the broadcasts.
type fanner struct{}

func (fanner) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (fanner) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	var req struct{ Count int }
	if err := p.Decode(&req); err != nil {
		return actors.Error(err.Error())
	}
	for i := range req.Count {
		if err := c.Broadcast("b", map[string]int{"n": i}); err != nil {
			return actors.Error(err.Error())
		}
		if err := c.Push("p", map[string]int{"n": i}); err != nil {
			return actors.Error(err.Error())
		}
	}
	return actors.Ok(nil)
}

// TestPromptFramesKeepTheConnectionsOrder: the pool's preference for
// prompt frames reorders connections, never frames of one connection. A
// channel that broadcasts to a room of many connections and pushes to its
// own client in turn gets, on its own connection, the join reply first,
// then each broadcast before the push that followed it, then its reply;
// every other connection gets every broadcast, in order.
func TestPromptFramesKeepTheConnectionsOrder(t *testing.T) {
	srv := poolServer(t, "mix:*", func() actors.Channel { return fanner{} })
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/websocket?vsn=2.0.0"
	type client struct {
		ws   *websocket.Conn
		read func() []any
	}
	dial := func() client {
		t.Helper()
		ws, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		read := func() []any {
			t.Helper()
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var msg []any
			if err := json.Unmarshal(data, &msg); err != nil || len(msg) != 5 {
				t.Fatalf("frame %q: %v", data, err)
			}
			return msg
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`["1","1","mix:a","phx_join",{}]`)); err != nil {
			t.Fatal(err)
		}
		if got := read(); got[3] != "phx_reply" || got[1] != "1" {
			t.Fatalf("the first frame is %v, not the join reply", got[:4])
		}
		return client{ws, read}
	}
	const others, count = 50, 200
	room := make([]client, others)
	for i := range room {
		room[i] = dial()
	}
	me := dial()
	if err := me.ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`["1","m","mix:a","mix",{"count":%d}]`, count))); err != nil {
		t.Fatal(err)
	}
	n := func(msg []any) float64 {
		p, _ := msg[4].(map[string]any)
		v, _ := p["n"].(float64)
		return v
	}
	for i := range count {
		for _, event := range []string{"b", "p"} {
			if got := me.read(); got[3] != event || n(got) != float64(i) {
				t.Fatalf("frame %d on the pushing connection: %v %v, want %s %d", 2*i, got[3], got[4], event, i)
			}
		}
	}
	if got := me.read(); got[3] != "phx_reply" || got[1] != "m" {
		t.Fatalf("after the frames came %v, want the reply", got[:4])
	}
	for j, c := range room {
		for i := range count {
			if got := c.read(); got[3] != "b" || n(got) != float64(i) {
				t.Fatalf("connection %d, broadcast %d: %v %v", j, i, got[3], got[4])
			}
		}
	}
}
