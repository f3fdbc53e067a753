// Package chatserver runs the chat example (examples/chat) on an httptest
// server for the tests of the load generator and of the pyre command.
//
// It is a package of its own, not part of testutil, because it imports the
// chat example and through it socket, presence, cluster and topics: the
// internal tests of those packages import testutil, and would form an
// import cycle if testutil imported them back. Like testutil it is for
// _test.go files only.
package chatserver

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/examples/chat"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// AdminKey is the admin key the server is started with.
const AdminKey = "k"

// Server is the chat example served on 127.0.0.1. It notes the source
// address of every request to /socket/.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL string
	// App is the running chat app.
	App *chat.App

	mu      sync.Mutex // guards sources
	sources map[string]int
}

// Start builds the chat app with AdminKey and opts added to its socket
// options, and serves it until the test ends. At the end it waits for the
// server to see every socket closed, failing the test if one is still open
// after testutil.LeakTimeout (every client the test opened must be closed
// by then), then shuts the app down, failing the test if that does not
// finish within ten seconds.
func Start(tb testing.TB, opts ...socket.Option) *Server {
	tb.Helper()
	return start(tb, chat.Config{AdminKey: AdminKey, SocketOptions: opts})
}

// StartNode is Start for one node of a cluster: the app runs on a cluster
// node named name, joined to the NATS server at natsURL, and signs its
// tokens with secret, so that nodes given the same secret take each
// other's tokens. The cluster node closes after the app has shut down.
func StartNode(tb testing.TB, natsURL, name string, secret []byte, opts ...socket.Option) *Server {
	tb.Helper()
	n, err := cluster.Start(cluster.Config{NATS: natsURL, Node: name})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Close() }) // after start's clean-ups
	return start(tb, chat.Config{AdminKey: AdminKey, Secret: secret, Cluster: n, SocketOptions: opts})
}

func start(tb testing.TB, cfg chat.Config) *Server {
	tb.Helper()
	app, err := chat.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{App: app, sources: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/socket/") {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			s.mu.Lock()
			s.sources[host]++
			s.mu.Unlock()
		}
		app.ServeHTTP(w, r)
	}))
	s.URL = srv.URL
	// Clean-ups run last first: the check of open sockets, then the
	// shutdown, which runs even when the check has failed the test.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			tb.Errorf("chat shutdown: %v", err)
		}
		srv.Close()
	})
	tb.Cleanup(func() {
		// Every client has closed its connection, so Shutdown has nothing
		// left to drain.
		testutil.CountBackTo(tb, "sockets the chat server still has open", 0, app.Socket().Len)
	})
	return s
}

// Sources returns how many requests to /socket/ came from each source IP.
func (s *Server) Sources() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.sources)
}
