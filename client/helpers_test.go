package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/client"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/topics"
)

// wait bounds every wait of these tests for something the server or the
// client does.
const wait = 10 * time.Second

// afterJoin is what a room sends itself to finish joining after its reply.
type afterJoin struct{ params map[string]any }

// room is the test channel, on recoverable topics: it tracks its user,
// pushes the presence state and a "joined" message with the join params
// after every join, and serves a few events.
type room struct{}

func (room) Join(c *actors.Context, _ string, p actors.Payload) (any, error) {
	var params map[string]any
	_ = p.Decode(&params)
	if params["refuse"] == true {
		return nil, actors.Refuse(map[string]string{"reason": "refused"})
	}
	c.Send(afterJoin{params})
	return map[string]string{"welcome": c.Topic()}, nil
}

func (room) HandleInfo(c *actors.Context, msg any) actors.Result {
	aj, ok := msg.(afterJoin)
	if !ok {
		return actors.NoReply()
	}
	if user, _ := c.Get("user").(string); user != "" {
		if _, err := c.Track(user, presence.Meta{"name": user}); err != nil {
			return actors.Stop(err)
		}
		state, err := c.PresenceList()
		if err != nil {
			return actors.Stop(err)
		}
		_ = c.Push("presence_state", state)
	}
	_ = c.Push("joined", aj.params)
	return actors.NoReply()
}

func (room) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	switch event {
	case "echo":
		return actors.Ok(p)
	case "shout":
		if err := c.Broadcast("shout", p); err != nil {
			return actors.Error(map[string]string{"reason": err.Error()})
		}
		return actors.Ok(nil)
	case "silent":
		return actors.NoReply()
	case "size":
		return actors.Ok(map[string]any{"binary": p.IsBinary(), "len": len(p.Bytes())})
	case "binary":
		_ = c.Push("bytes", protocol.Binary([]byte{0, 1, 2, 255}))
		return actors.Ok(protocol.Binary([]byte("raw")))
	case "crash":
		panic("asked to crash")
	}
	return actors.Error(map[string]string{"reason": "unmatched event"})
}

// server is an in-process pyre endpoint at /socket/ serving room:* with a
// history and presence. A socket needs the token "good" (in the params or
// as the auth token) and is named user:NAME by its user=NAME param.
type server struct {
	h   *socket.Handler
	srv *httptest.Server
	URL string // the endpoint URL a client dials
}

func newServer(t testing.TB, ps *topics.PubSub, retention topics.Retention, opts ...socket.Option) *server {
	t.Helper()
	own := ps == nil
	if own {
		ps = topics.New()
	}
	tracker, err := presence.New(ps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tracker.Close() })
	r := actors.NewRouter()
	r.MustHandle("room:*", func() actors.Channel { return room{} }, actors.WithHistory(retention))
	opts = append([]socket.Option{
		socket.WithPubSub(ps),
		socket.WithPresence(tracker),
		socket.WithConnect(func(_ context.Context, p url.Values, info socket.ConnInfo) (actors.Assigns, error) {
			if p.Get("token") != "good" && info.Token != "good" {
				return nil, errors.New("bad token")
			}
			return actors.Assigns{"user": p.Get("user")}, nil
		}),
		socket.WithID(func(a actors.Assigns) string { return "user:" + a["user"].(string) }),
	}, opts...)
	h, err := socket.New(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.ServeSocket(t, h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	if own {
		// Such a server starts nothing that outlives its clients, so every
		// goroutine started from here on must have ended once the test's
		// clients and proxies are closed: theirs, and the server's for
		// their connections. (A given PubSub may keep goroutines of its
		// own, such as JetStream's consumers.)
		testutil.CheckGoroutines(t)
	}
	return &server{h: h, srv: srv, URL: srv.URL + "/socket"}
}

// defaultRetention keeps plenty of every event.
var defaultRetention = topics.Retention{Count: 100000}

// params returns connect params for user with the good token.
func params(user string) client.Option {
	return client.WithParams(func() url.Values { return url.Values{"token": {"good"}, "user": {user}} })
}

// fast makes the client reconnect and rejoin at once, so tests wait for
// the server, not for a backoff.
var fast = []client.Option{
	client.WithReconnectBackoff(func(int) time.Duration { return time.Millisecond }),
	client.WithRejoinBackoff(func(int) time.Duration { return time.Millisecond }),
}

// dial connects a client that is closed when the test ends.
func dial(t testing.TB, endpoint string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, endpoint, append(append([]client.Option{}, fast...), opts...)...)
	if err != nil {
		t.Fatalf("dial %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// join joins ch, failing the test on an error.
func join(t testing.TB, ch *client.Channel) client.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := ch.Join(ctx)
	if err != nil {
		t.Fatalf("join %s: %v", ch.Topic(), err)
	}
	return r
}

// collect sends every message of event on ch to the returned channel.
func collect(ch *client.Channel, event string) <-chan client.Message {
	out := make(chan client.Message, 100000)
	ch.On(event, func(m client.Message) { out <- m })
	return out
}

// proxy forwards TCP connections to a backend that can change, and can
// cut every connection it carries, as a network failure does.
type proxy struct {
	ln net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	backend string            // host:port; "" refuses connections
	conns   map[net.Conn]bool // both halves of every open pair
	closed  bool
}

func newProxy(t testing.TB, backend string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is the endpoint URL through the proxy of a server's endpoint.
func (p *proxy) URL(s *server) string {
	u, _ := url.Parse(s.URL)
	u.Host = p.ln.Addr().String()
	return u.String()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		backend := p.backend
		p.mu.Unlock()
		var out net.Conn
		if backend != "" {
			out, err = net.Dial("tcp", backend)
		}
		if backend == "" || err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns[in], p.conns[out] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut drops every connection, with no WebSocket close, and sends new ones
// to backend ("" refuses them).
func (p *proxy) cut(backend string) {
	p.mu.Lock()
	p.backend = backend
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// route sends new connections to backend without cutting the open ones.
func (p *proxy) route(backend string) {
	p.mu.Lock()
	p.backend = backend
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.cut("")
	p.wg.Wait()
}

// hostOf is a server's host:port.
func hostOf(s *server) string {
	u, _ := url.Parse(s.URL)
	return u.Host
}
