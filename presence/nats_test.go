package presence

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/internal/testutil"
)

type natsNode struct {
	t   *Tracker
	nc  *nats.Conn
	rec *recorder
}

func startNATSNode(tb testing.TB, srv *server.Server, name string, opts ...Option) *natsNode {
	tb.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.NoEcho())
	if err != nil {
		tb.Fatal(err)
	}
	rec := newRecorder()
	opts = append([]Option{WithNode(name), WithNATS(nc, "test"), WithPeriods(10*time.Millisecond, 50*time.Millisecond, 300*time.Millisecond, time.Minute)}, opts...)
	t, err := New(rec, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { t.Close(); nc.Close() })
	return &natsNode{t, nc, rec}
}

func keysOn(t *Tracker, topic string) map[string]int {
	out := map[string]int{}
	for k, p := range t.List(topic) {
		out[k] = len(p.Metas)
	}
	return out
}

func TestThreeNodesOverNATS(t *testing.T) {
	srv := testutil.StartNATS(t)
	nodes := []*natsNode{startNATSNode(t, srv, "a"), startNATSNode(t, srv, "b"), startNATSNode(t, srv, "c")}
	for i, n := range nodes {
		if _, err := n.t.Track("owner", "room:1", fmt.Sprint("user", i), Meta{"typing": false}); err != nil {
			t.Fatal(err)
		}
	}
	// One user on two nodes: one key, two metas.
	nodes[0].t.Track("tab1", "room:1", "alice", nil)
	nodes[2].t.Track("tab2", "room:1", "alice", nil)
	want := map[string]int{"user0": 1, "user1": 1, "user2": 1, "alice": 2}
	for _, n := range nodes {
		testutil.Eventually(t, 5*time.Second, func() bool { return maps.Equal(keysOn(n.t, "room:1"), want) }, "every presence on %s", n.t.opts.node)
	}

	// An update propagates as a change of meta.
	ref, _ := nodes[1].t.Update("owner", "room:1", "user1", Meta{"typing": true})
	for _, n := range nodes {
		testutil.Eventually(t, 5*time.Second, func() bool {
			p, ok := n.t.Get("room:1", "user1")
			return ok && len(p.Metas) == 1 && p.Metas[0].Ref() == ref && p.Metas[0]["typing"] == true
		}, "the update on %s", n.t.opts.node)
	}

	// Leaving one tab removes only its meta everywhere.
	nodes[2].t.UntrackAll("tab2")
	want["alice"] = 1
	for _, n := range nodes {
		testutil.Eventually(t, 5*time.Second, func() bool { return maps.Equal(keysOn(n.t, "room:1"), want) }, "alice's second tab to leave on %s", n.t.opts.node)
	}

	// Every node's diffs replay to what it lists.
	for _, n := range nodes {
		got := replay(n.rec)
		lst := map[string]int{}
		for k, refs := range got {
			lst[k[len("room:1|"):]] = len(refs)
		}
		if !maps.Equal(lst, want) {
			t.Errorf("node %s: diffs replay to %v, want %v", n.t.opts.node, lst, want)
		}
	}
	if b, m := nodes[0].t.SentBytes(); b == 0 || m == 0 {
		t.Errorf("SentBytes = %d, %d; want traffic counted", b, m)
	}
}

// TestNodeDeathAndReturn cuts one node's NATS connection without a goodbye:
// its presences leave the others within the down period plus a heartbeat.
// A new tracker under the same name then appears once, without the old
// presences.
func TestNodeDeathAndReturn(t *testing.T) {
	srv := testutil.StartNATS(t)
	a, b := startNATSNode(t, srv, "a"), startNATSNode(t, srv, "b")
	dying := startNATSNode(t, srv, "c")
	dying.t.Track("o", "room", "carol", nil)
	for _, n := range []*natsNode{a, b} {
		testutil.Eventually(t, 5*time.Second, func() bool { return len(n.t.List("room")) == 1 }, "carol everywhere")
	}
	dying.nc.Close()                                                    // the process "dies": no goodbye
	limit := 300*time.Millisecond + 2*50*time.Millisecond + time.Second // down + beat, plus scheduling slack
	for _, n := range []*natsNode{a, b} {
		start := time.Now()
		testutil.Eventually(t, limit, func() bool { return len(n.t.List("room")) == 0 }, "carol to leave")
		t.Logf("node %s dropped the dead node's presence after %v", n.t.opts.node, time.Since(start))
		if got := replay(n.rec); len(got) != 0 {
			t.Fatalf("clients of %s still see %v", n.t.opts.node, got)
		}
	}
	back := startNATSNode(t, srv, "c")
	back.t.Track("o", "room", "dave", nil)
	for _, n := range []*natsNode{a, b} {
		testutil.Eventually(t, 5*time.Second, func() bool {
			return maps.Equal(keysOn(n.t, "room"), map[string]int{"dave": 1})
		}, "the returned node's presence")
	}
}
