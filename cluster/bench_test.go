package cluster_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// countSink is a connection that counts the frames written to it.
type countSink struct {
	s protocol.Serializer
	n *atomic.Int64
}

func (c countSink) Serializer() protocol.Serializer { return c.s }
func (c countSink) Send(protocol.Frame) bool        { c.n.Add(1); return true }

// BenchmarkFanOut measures broadcasts delivered to 1 000 subscribers, all on
// one node or split 500/500 over two nodes linked by an embedded NATS
// server, published from the first node. It reports deliveries per second.
// Publishing runs at most a window of broadcasts ahead of delivery so that
// the figure is a sustained rate, not a burst into buffers.
//
//	go test -run='^$' -bench=FanOut -benchtime=20000x ./cluster
func BenchmarkFanOut(b *testing.B) {
	v2, _ := protocol.Negotiate("2.0.0")
	for _, tc := range []struct {
		name  string
		nodes int
	}{{"one-node", 1}, {"two-nodes", 2}} {
		b.Run(tc.name, func(b *testing.B) {
			var nodes []*cluster.Node
			first, err := cluster.Start(cluster.Config{NATS: cluster.Embedded, Listen: "127.0.0.1:0", Node: "b0"})
			if err != nil {
				b.Fatal(err)
			}
			defer first.Close()
			nodes = append(nodes, first)
			if tc.nodes == 2 {
				second, err := cluster.Start(cluster.Config{NATS: first.ServerURL(), Node: "b1"})
				if err != nil {
					b.Fatal(err)
				}
				defer second.Close()
				nodes = append(nodes, second)
			}
			var delivered atomic.Int64
			const subscribers = 1000
			for i := range subscribers {
				n := nodes[i%len(nodes)]
				n.PubSub().Subscribe("fan", topics.Subscriber{Sink: countSink{v2, &delivered}})
			}
			for _, n := range nodes {
				if err := n.Conn().Flush(); err != nil {
					b.Fatal(err)
				}
			}
			payload := map[string]any{"body": "hello, everyone in the room", "user": "bench"}
			const window = 2000
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if err := first.PubSub().Broadcast("fan", "new_msg", payload); err != nil {
					b.Fatal(err)
				}
				if i%window == window-1 {
					waitDelivered(b, &delivered, int64(i+1-window)*subscribers)
				}
			}
			waitDelivered(b, &delivered, int64(b.N)*subscribers)
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)*subscribers/elapsed.Seconds(), "deliveries/s")
		})
	}
}

func waitDelivered(b *testing.B, n *atomic.Int64, want int64) {
	deadline := time.Now().Add(60 * time.Second)
	for n.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d (lost across nodes?)", n.Load(), want)
		}
		time.Sleep(50 * time.Microsecond)
	}
}
