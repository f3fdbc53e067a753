package longpoll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/internal/longpoll"
	"github.com/pyrehq/pyre/internal/transport"
	"github.com/pyrehq/pyre/protocol"
)

// fakeEndpoint opens sockets that record what they are handed, so that the
// transport can be tested without the socket package.
type fakeEndpoint struct {
	draining atomic.Bool
	opened   chan *fakeConn
}

func (e *fakeEndpoint) Open(ctx context.Context, sink transport.Sink, params url.Values, _ transport.ConnInfo) (transport.Conn, error) {
	if params.Get("token") != "good" {
		return nil, fmt.Errorf("%w: bad token", transport.ErrRefused)
	}
	c := &fakeConn{sink: sink, ctx: ctx, handled: make(chan protocol.Message, 16), done: make(chan struct{})}
	e.opened <- c
	return c, nil
}

func (e *fakeEndpoint) Admit() (bool, time.Duration)   { return true, 0 }
func (e *fakeEndpoint) Draining() bool                 { return e.draining.Load() }
func (e *fakeEndpoint) CheckOrigin(*http.Request) bool { return true }
func (e *fakeEndpoint) ConnInfo(r *http.Request) transport.ConnInfo {
	return transport.ConnInfo{URI: r.URL}
}
func (e *fakeEndpoint) Settings() transport.Settings {
	return transport.Settings{Node: "n1", Logger: zerolog.Nop(), MaxFrame: 1 << 16, MaxQueue: 1 << 16}
}

type fakeConn struct {
	sink    transport.Sink
	ctx     context.Context // Open's
	handled chan protocol.Message
	once    sync.Once
	done    chan struct{}
}

func (c *fakeConn) Handle(m protocol.Message) bool { c.handled <- m; return true }
func (c *fakeConn) Closed(error)                   { c.once.Do(func() { close(c.done) }) }
func (c *fakeConn) CloseWith(err error, _ int, _ string) {
	c.Closed(err)
}
func (c *fakeConn) Done() <-chan struct{} { return c.done }
func (c *fakeConn) ID() string            { return "" }

type reply struct {
	Status   int      `json:"status"`
	Token    string   `json:"token"`
	Messages []string `json:"messages"`
}

func do(t *testing.T, method, u, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var r reply
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, u, data, err)
	}
	return r
}

// TestTransportOverEndpoint: the transport opens sessions through its
// endpoint only, and carries messages both ways.
func TestTransportOverEndpoint(t *testing.T) {
	ep := &fakeEndpoint{opened: make(chan *fakeConn, 1)}
	srv := httptest.NewServer(longpoll.New(ep, longpoll.Defaults()))
	defer srv.Close()
	base := srv.URL + "/socket/longpoll?vsn=2.0.0"

	if r := do(t, http.MethodGet, base+"&token=bad", ""); r.Status != http.StatusForbidden {
		t.Fatalf("refused open: %+v, want 403", r)
	}
	r := do(t, http.MethodGet, base+"&token=good", "")
	if r.Status != http.StatusGone || r.Token == "" {
		t.Fatalf("open: %+v, want 410 with a token", r)
	}
	conn := <-ep.opened
	select {
	case <-conn.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Open's context outlived the opening request")
	}
	tok := url.QueryEscape(r.Token)

	if r := do(t, http.MethodPost, base+"&token="+tok, `["1","1","room:1","phx_join",{}]`); r.Status != http.StatusOK {
		t.Fatalf("post: %+v", r)
	}
	if m := <-conn.handled; m.Topic != "room:1" || m.Event != "phx_join" {
		t.Fatalf("handled %+v", m)
	}
	f, err := conn.sink.Serializer().Reply(protocol.StringRef("1"), protocol.StringRef("1"), "room:1", "ok", protocol.EmptyObject())
	if err != nil {
		t.Fatal(err)
	}
	conn.sink.Send(f)
	if r := do(t, http.MethodGet, base+"&token="+tok, ""); r.Status != http.StatusOK || len(r.Messages) != 1 || r.Messages[0] != string(f.Data) {
		t.Fatalf("poll: %+v, want the reply %s", r, f.Data)
	}

	conn.sink.Close(1000, "bye")
	if r := do(t, http.MethodGet, base+"&token="+tok, ""); r.Status != http.StatusGone {
		t.Fatalf("poll after Close: %+v, want 410", r)
	}
	ep.draining.Store(true)
	if r := do(t, http.MethodGet, base+"&token=good", ""); r.Status != http.StatusInternalServerError {
		t.Fatalf("open while draining: %+v, want 500", r)
	}
}

// The defaults limit the sessions of a transport and of one socket id.
func TestDefaultsLimitSessions(t *testing.T) {
	d := longpoll.Defaults()
	if d.MaxSessions <= 0 || d.MaxSessionsPerID <= 0 || d.MaxSessionsPerID > d.MaxSessions {
		t.Fatalf("default limits: %d sessions, %d per socket id; want both set, the second the smaller", d.MaxSessions, d.MaxSessionsPerID)
	}
}
