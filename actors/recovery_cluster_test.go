package actors_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/jsnodes"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/topics"
)

// jetStreamCluster starts n nodes over one NATS server with JetStream,
// each serving recoverable room:* channels.
func jetStreamCluster(t *testing.T, n int, r topics.Retention) []*channeltest.Server {
	t.Helper()
	var out []*channeltest.Server
	for i, ps := range jsnodes.PubSubs(t, n) {
		router := actors.NewRouter()
		router.MustHandle("room:*", func() actors.Channel { return room{} }, actors.WithHistory(r))
		out = append(out, channeltest.NewServer(t, router, socket.WithPubSub(ps), socket.WithNode(string(rune('a'+i)))))
	}
	return out
}

// TestRecoveryAcrossNodes: a client cut off on one node, while both nodes
// broadcast, rejoins on the other and gets everything it missed exactly
// once in order, then live messages, while a broadcaster never pauses.
func TestRecoveryAcrossNodes(t *testing.T) {
	nodes := jetStreamCluster(t, 2, topics.Retention{Count: 100000})
	for _, n := range nodes {
		stop := testutil.Loop(t, func(i int) error {
			time.Sleep(200 * time.Microsecond)
			return n.Broadcast("room:1", "msg", map[string]int{"n": i})
		})
		defer stop()
	}

	var last string
	var next uint64
	for round := range 10 {
		srv := nodes[round%2]
		c, err := srv.Connect(url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		params := map[string]any{"_since": nil}
		if last != "" {
			params["_since"] = last
		}
		status, j := join(t, c, "room:1", params)
		if status != "ok" || last != "" && !*j.Recovered {
			t.Fatalf("round %d: join after %q: %s %+v", round, last, status, j)
		}
		if last == "" {
			last, next = j.Pos, seqOf(t, j.Pos)+1
		}
		for range 50 {
			m := await(t, c, "room:1", "msg")
			if got := seqOf(t, m.Pos); got != next {
				t.Fatalf("round %d on node %d: position %d, want %d", round, round%2, got, next)
			}
			next++
			last = m.Pos
		}
		c.Close()
	}
}
