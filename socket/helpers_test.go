package socket_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

type echo struct{}

func (echo) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (echo) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	switch event {
	case "echo":
		return actors.Ok(p)
	case "push":
		_ = c.Push("pushed", p)
		return actors.NoReply()
	case "stop":
		return actors.Stop(actors.ErrNormal)
	case "flood":
		// Far more than kernel socket buffers hold (about 50 MiB), so the
		// queue overflows however fast the writer drains; the loop ends at
		// the first refused push.
		for range 100000 {
			if err := c.Push("flood", map[string]string{"pad": strings.Repeat("x", 512)}); err != nil {
				break
			}
		}
		return actors.NoReply()
	}
	return actors.Error(map[string]string{"reason": "unmatched event"})
}

// startServer serves, at /socket/, a handler for the "echo:*" channels
// that newChannel makes, with the Connect and ID the socket tests share:
// a socket needs token=good, and user=NAME makes its ID user:NAME. opts
// come after those two. When the test ends the handler is shut down, with
// up to shutdownWait for its sockets and channels to stop, and the server
// is closed. A shutdownWait of 0 shuts down with the test's context,
// cancelled by then: every socket is told to close and nothing waits.
func startServer(t testing.TB, newChannel func() actors.Channel, shutdownWait time.Duration, opts ...socket.Option) (*socket.Handler, *httptest.Server) {
	t.Helper()
	r := actors.NewRouter()
	r.MustHandle("echo:*", newChannel)
	opts = append([]socket.Option{
		socket.WithConnect(func(_ context.Context, p url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
			if p.Get("token") != "good" {
				return nil, errors.New("bad token")
			}
			return actors.Assigns{"user": p.Get("user")}, nil
		}),
		socket.WithID(func(a actors.Assigns) string {
			if u, _ := a["user"].(string); u != "" {
				return "user:" + u
			}
			return ""
		}),
	}, opts...)
	h, err := socket.New(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.ServeSocket(t, h)
	t.Cleanup(func() {
		ctx := t.Context()
		if shutdownWait > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), shutdownWait)
			defer cancel()
		}
		_ = h.Shutdown(ctx)
	})
	return h, srv
}

// server is the echo channels served over WebSocket.
type server struct {
	h   *socket.Handler
	srv *httptest.Server
	url string
}

func newServer(t *testing.T, opts ...socket.Option) *server {
	t.Helper()
	h, srv := startServer(t, func() actors.Channel { return echo{} }, 0, opts...)
	return &server{h: h, srv: srv, url: testutil.WSURL(srv.URL, "/socket/websocket")}
}

func (s *server) dial(t *testing.T, query string, header http.Header) (*testutil.WSConn, *http.Response, error) {
	t.Helper()
	return testutil.TryDial(t, s.url+"?"+query, "", header)
}

func (s *server) mustDial(t *testing.T, query string) *testutil.WSConn {
	t.Helper()
	return testutil.Dial(t, s.url+"?"+query, "")
}
