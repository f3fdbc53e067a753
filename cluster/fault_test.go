package cluster_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/topics"
)

func runNATS(t testing.TB, port int) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	return srv
}

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

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNATSRestartMidStream restarts the NATS server under a steady stream:
// local delivery never stops, both nodes reconnect and resubscribe, and
// cross-node traffic resumes.
func TestNATSRestartMidStream(t *testing.T) {
	srv := runNATS(t, server.RANDOM_PORT)
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

	eventually(t, "cross-node traffic before the restart", func() bool { return remote.n.Load() > 50 })
	srv.Shutdown()
	srv.WaitForShutdown()
	eventually(t, "both nodes to notice the outage", func() bool { return !a.n.Health().OK && !b.n.Health().OK })

	// Local subscribers are served while NATS is away.
	before := local.n.Load()
	eventually(t, "local delivery during the outage", func() bool { return local.n.Load() > before+50 })
	if a.n.Health().OK {
		t.Fatal("node a reports healthy NATS during the outage")
	}

	srv = runNATS(t, port)
	t.Cleanup(srv.Shutdown)
	eventually(t, "both nodes to reconnect", func() bool { return a.n.Health().OK && b.n.Health().OK })
	waitInterest(t, []*node{a, b}, "stream")
	after := seq.Load()
	eventually(t, "cross-node traffic after the restart", func() bool { return remote.max.Load() > after })
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
	eventually(t, "every broadcast at the surviving node", func() bool { return atB.n.Load() == 100 })
	if !nodes[0].n.Health().OK || !nodes[1].n.Health().OK {
		t.Fatal("a surviving node reports itself unhealthy")
	}
}
