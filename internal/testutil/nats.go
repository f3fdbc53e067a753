package testutil

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSOption configures StartNATS.
type NATSOption func(tb testing.TB, o *server.Options)

// NATSPort has the server listen on port instead of a random free one, for
// a test that restarts a server where its clients expect it.
func NATSPort(port int) NATSOption {
	return func(_ testing.TB, o *server.Options) { o.Port = port }
}

// NATSJetStream enables JetStream, storing in a directory of the test's
// that is removed when it ends.
func NATSJetStream() NATSOption {
	return func(tb testing.TB, o *server.Options) {
		o.JetStream = true
		o.StoreDir = tb.TempDir()
	}
}

// StartNATS runs a NATS server in the process on 127.0.0.1 and a random
// free port, without logging or signal handlers, and shuts it down when
// the test ends (a server the test shut down itself is left as it is).
// Its client URL is srv.ClientURL().
func StartNATS(tb testing.TB, opts ...NATSOption) *server.Server {
	tb.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true}
	for _, opt := range opts {
		opt(tb, o)
	}
	srv, err := server.NewServer(o)
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		tb.Fatal("nats server did not start within 10s")
	}
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}
