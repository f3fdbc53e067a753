package cluster_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/topics"
)

// counter is a subscriber that remembers the highest sequence number seen.
type counter struct{ n, max atomic.Int64 }

func (c *counter) deliver(b topics.Broadcast) {
	var m struct{ Seq int64 }
	_ = b.Payload.Decode(&m)
	c.n.Add(1)
	for {
		cur := c.max.Load()
		if m.Seq <= cur || c.max.CompareAndSwap(cur, m.Seq) {
			return
		}
	}
}

// natsWait bounds the waits for NATS to be noticed gone or back, which
// take a reconnect or two.
const natsWait = 15 * time.Second

// TestNATSRestartMidStream restarts the NATS server under a steady stream:
// local delivery never stops, both nodes reconnect and resubscribe, and
// cross-node traffic resumes.
func TestNATSRestartMidStream(t *testing.T) {
	srv := testutil.StartNATS(t)
	port := srv.Addr().(*net.TCPAddr).Port
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	a := startNode(t, cluster.Config{NATS: natsURL, Node: "a"})
	b := startNode(t, cluster.Config{NATS: natsURL, Node: "b"})
	var local, remote counter
	a.n.PubSub().Subscribe("stream", topics.Subscriber{Deliver: local.deliver})
	b.n.PubSub().Subscribe("stream", topics.Subscriber{Deliver: remote.deliver})
	waitInterest(t, []*node{a, b}, "stream")

	// The publisher: one broadcast a millisecond, for at most 30 s.
	var seq atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for end := time.After(30 * time.Second); ; {
			select {
			case <-stop:
				return
			case <-end:
				return
			case <-tick.C:
				_ = a.n.PubSub().Broadcast("stream", "tick", map[string]int64{"seq": seq.Add(1)})
			}
		}
	}()
	defer func() { close(stop); <-done }()

	testutil.Eventually(t, natsWait, func() bool { return remote.n.Load() > 50 }, "cross-node traffic before the restart")
	srv.Shutdown()
	srv.WaitForShutdown()
	testutil.Eventually(t, natsWait, func() bool { return !a.n.Health().OK && !b.n.Health().OK }, "both nodes to notice the outage")

	// Local subscribers are served while NATS is away.
	before := local.n.Load()
	testutil.Eventually(t, natsWait, func() bool { return local.n.Load() > before+50 }, "local delivery during the outage")
	if a.n.Health().OK {
		t.Fatal("node a reports healthy NATS during the outage")
	}

	testutil.StartNATS(t, testutil.NATSPort(port)) // shut down by its cleanup
	testutil.Eventually(t, natsWait, func() bool { return a.n.Health().OK && b.n.Health().OK }, "both nodes to reconnect")
	waitInterest(t, []*node{a, b}, "stream")
	after := seq.Load()
	testutil.Eventually(t, natsWait, func() bool { return remote.max.Load() > after }, "cross-node traffic after the restart")
	if st := b.n.Health().NATS; st.Topics != 1 || st.Status != "CONNECTED" {
		t.Fatalf("node b after the restart: %+v", st)
	}
}

// TestNodeLossLeavesOthersServing stops one node abruptly; the other two
// keep exchanging broadcasts.
func TestNodeLossLeavesOthersServing(t *testing.T) {
	nodes := startCluster(t, 3)
	var atB counter
	nodes[1].n.PubSub().Subscribe("t", topics.Subscriber{Deliver: atB.deliver})
	nodes[2].n.PubSub().Subscribe("t", topics.Subscriber{Deliver: func(topics.Broadcast) {}})
	waitInterest(t, nodes, "t")
	nodes[2].n.Close()
	for i := range 100 {
		if err := nodes[0].n.PubSub().Broadcast("t", "e", map[string]int{"seq": i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, natsWait, func() bool { return atB.n.Load() == 100 }, "every broadcast at the surviving node")
	if !nodes[0].n.Health().OK || !nodes[1].n.Health().OK {
		t.Fatal("a surviving node reports itself unhealthy")
	}
}
