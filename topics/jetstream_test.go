package topics_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// historyNode is one node of a cluster whose histories are in JetStream.
type historyNode struct {
	ps *topics.PubSub
	nc *nats.Conn
	j  *topics.JetStream
}

func startHistoryNode(t *testing.T, srv *server.Server, name string, r topics.Retention) *historyNode {
	t.Helper()
	return startHistoryNodeTB(t, srv, name, r)
}

// startHistoryNodeTB starts a node whose "room:" topics keep a history
// with r in JetStream (memory storage, and opts); the test's end closes
// it, unless the test did.
func startHistoryNodeTB(t testing.TB, srv *server.Server, name string, r topics.Retention, opts ...topics.JetStreamOption) *historyNode {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.Name(name), nats.NoEcho())
	if err != nil {
		t.Fatal(err)
	}
	ps := topics.New()
	ps.Retain(keep(r))
	n, err := topics.NewNATS(ps, nc, topics.WithNode(name))
	if err != nil {
		t.Fatal(err)
	}
	j, err := topics.NewJetStream(ps, nc, append([]topics.JetStreamOption{topics.WithHistoryNode(name), topics.WithMemoryStorage()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := j.Close(); err != nil && !nc.IsClosed() {
			t.Error(err)
		}
		n.Close()
		nc.Close()
	})
	return &historyNode{ps: ps, nc: nc, j: j}
}

// stop closes the node as its process ending would.
func (n *historyNode) stop() {
	_ = n.j.Close()
	n.nc.Close()
}

// seqs collects the positions a subscriber receives, in order.
type seqs struct {
	mu  sync.Mutex
	got []uint64
}

func (s *seqs) add(b topics.Broadcast) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, b.Seq)
}

func (s *seqs) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
	}
}

func TestJetStreamHistoryAcrossNodes(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	a := startHistoryNode(t, srv, "a", topics.Retention{Count: 1000})
	b := startHistoryNode(t, srv, "b", topics.Retention{Count: 1000})
	var atA, atB seqs
	defer a.ps.Subscribe("room:1", topics.Subscriber{Deliver: atA.add}).Unsubscribe()
	defer b.ps.Subscribe("room:1", topics.Subscriber{Deliver: atB.add}).Unsubscribe()
	// The feeds start as the topic gains its subscribers; a recovery
	// waits for them.
	for _, n := range []*historyNode{a, b} {
		if rec, _ := n.ps.Recover("room:1", nil); rec.Head.Epoch == "" {
			t.Fatalf("no head: %+v", rec)
		}
	}

	var wg sync.WaitGroup
	for _, n := range []*historyNode{a, b} {
		wg.Go(func() {
			for i := range 200 {
				if err := n.ps.Broadcast("room:1", "msg", map[string]int{"n": i}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "400 deliveries on each node", func() bool { return atA.len() == 400 && atB.len() == 400 })
	for name, s := range map[string]*seqs{"a": &atA, "b": &atB} {
		for i, seq := range s.got {
			if seq != uint64(i+1) {
				t.Fatalf("node %s: delivery %d has position %d", name, i, seq)
			}
		}
	}

	ra, _ := a.ps.Recover("room:1", nil)
	since := topics.Position{Epoch: ra.Head.Epoch, Seq: 100}
	for name, n := range map[string]*historyNode{"a": a, "b": b} {
		rec, _ := n.ps.Recover("room:1", &since)
		if !rec.Recovered() || len(rec.Missed) != 300 || rec.Missed[0].Seq != 101 || rec.Head.Seq != 400 {
			t.Fatalf("node %s: Recover = %v, %d missed, head %v", name, rec.Outcome, len(rec.Missed), rec.Head)
		}
	}
	if got := b.ps.History("room:1", 5); len(got) != 5 || got[4].Seq != 400 {
		t.Fatalf("History(5) = %+v", got)
	}
	if rec, _ := b.ps.Recover("room:1", &topics.Position{Epoch: ra.Head.Epoch, Seq: 401}); rec.Outcome != topics.Ahead {
		t.Fatalf("a position from the future: %v", rec.Outcome)
	}
	if err := a.ps.Broadcast("room:1", "msg", []int{1}); !errors.Is(err, protocol.ErrNotObject) {
		t.Fatalf("a non-object broadcast: %v", err)
	}
}

func TestJetStreamRecreatedStreamIsAnotherEpoch(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	a := startHistoryNode(t, srv, "a", topics.Retention{Count: 3})
	broadcastN(t, a.ps, "room:1", 1, 5)
	js, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	var old topics.Recovery
	waitFor(t, "five recorded", func() bool { old, _ = a.ps.Recover("room:1", nil); return old.Head.Seq == 5 })
	if rec, _ := a.ps.Recover("room:1", &topics.Position{Epoch: old.Head.Epoch, Seq: 1}); rec.Outcome != topics.TooOld {
		t.Fatalf("past the retention: %v", rec.Outcome)
	}
	ctx := context.Background()
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh node makes the stream again, with a new creation time.
	b := startHistoryNode(t, srv, "b", topics.Retention{Count: 3})
	rec, _ := b.ps.Recover("room:1", &topics.Position{Epoch: old.Head.Epoch, Seq: 5})
	if rec.Outcome != topics.OtherEpoch || rec.Head.Epoch == old.Head.Epoch {
		t.Fatalf("after the stream was made again: %v, head %v (old %v)", rec.Outcome, rec.Head, old.Head)
	}
}

func TestJetStreamOff(t *testing.T) {
	srv := testutil.StartNATS(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = topics.NewJetStream(topics.New(), nc, topics.WithHistoryNode("a"), topics.WithHistoryTimeout(time.Second))
	if !errors.Is(err, topics.ErrNoJetStream) {
		t.Fatalf("NewJetStream without JetStream: %v", err)
	}
}

// countSink counts the recorded broadcasts it is handed.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Serializer() protocol.Serializer     { return protocol.V2() }
func (s *countSink) Send(protocol.Frame) bool            { return true }
func (s *countSink) SendSeq(protocol.Frame, uint64) bool { s.n.Add(1); return true }

// BenchmarkJetStreamFanout publishes 10 000 messages from one node of two
// (memory storage, one embedded NATS server) on a topic with 500
// subscribers on each node, and reports messages/s until every delivery
// is made; then the time to recover all 10 000 on one rejoin.
func BenchmarkJetStreamFanout(b *testing.B) {
	const msgs, subsPerNode = 10000, 500
	srv := testutil.StartNATS(b, testutil.NATSJetStream())
	var nodes []*historyNode
	for _, name := range []string{"a", "b"} {
		nodes = append(nodes, startHistoryNodeTB(b, srv, name, topics.Retention{Count: 1 << 20}))
	}
	sink := &countSink{}
	for _, n := range nodes {
		for range subsPerNode {
			n.ps.Subscribe("room:bench", topics.Subscriber{Sink: sink})
		}
		n.ps.Recover("room:bench", nil) // the feeds run
	}
	payload := protocol.RawJSON([]byte(`{"body":"a message of a typical size for a chat room"}`))
	var recoverNs int64
	for b.Loop() {
		head, _ := nodes[0].ps.Recover("room:bench", nil)
		start := time.Now()
		before := sink.n.Load()
		for range msgs {
			if err := nodes[0].ps.Broadcast("room:bench", "bench", payload); err != nil {
				b.Fatal(err)
			}
		}
		want := before + msgs*2*subsPerNode
		for sink.n.Load() < want {
			time.Sleep(time.Millisecond) // polling the count
		}
		b.ReportMetric(float64(msgs)/time.Since(start).Seconds(), "msgs/s")
		t0 := time.Now()
		rec, _ := nodes[1].ps.Recover("room:bench", &head.Head)
		recoverNs = time.Since(t0).Nanoseconds()
		if !rec.Recovered() || len(rec.Missed) != msgs {
			b.Fatalf("recovery: %v, %d missed", rec.Outcome, len(rec.Missed))
		}
	}
	b.ReportMetric(float64(recoverNs)/1e6, "ms/recover-10k")
}

func TestJetStreamUnavailable(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 10}))
	j, err := topics.NewJetStream(ps, nc, topics.WithHistoryNode("a"), topics.WithMemoryStorage(),
		topics.WithHistoryTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	head, _ := ps.Recover("room:1", nil)
	srv.Shutdown()
	srv.WaitForShutdown()
	rec, _ := ps.Recover("room:1", &head.Head)
	if rec.Outcome != topics.Unavailable || rec.Recovered() || rec.Head.Epoch != "" {
		t.Fatalf("Recover with NATS down = %v, head %v", rec.Outcome, rec.Head)
	}
}
