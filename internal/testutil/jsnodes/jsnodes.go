// Package jsnodes makes the nodes of a test cluster whose histories are in
// JetStream, for tests of several packages; it is a test helper only.
package jsnodes

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/topics"
)

// PubSubs returns n PubSubs, nodes "a", "b", … of one cluster on
// a fresh embedded NATS server with JetStream: each attached to the server
// over a connection of its own (topics.NewNATS) and keeping the histories
// of its recoverable topics in JetStream (memory storage). Everything is
// closed when the test ends.
func PubSubs(tb testing.TB, n int) []*topics.PubSub {
	tb.Helper()
	srv := testutil.StartNATS(tb, testutil.NATSJetStream())
	var out []*topics.PubSub
	for i := range n {
		name := string(rune('a' + i))
		nc, err := nats.Connect(srv.ClientURL(), nats.Name(name), nats.NoEcho())
		if err != nil {
			tb.Fatal(err)
		}
		ps := topics.New()
		remote, err := topics.NewNATS(ps, nc, topics.WithNode(name))
		if err != nil {
			tb.Fatal(err)
		}
		history, err := topics.NewJetStream(ps, nc, topics.WithHistoryNode(name), topics.WithMemoryStorage())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			_ = history.Close()
			remote.Close()
			nc.Close()
		})
		out = append(out, ps)
	}
	return out
}
