package presence

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
)

func (t *Tracker) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, ts := range t.topics {
		for _, entries := range ts.all() {
			n += len(entries)
		}
	}
	return n
}

// BenchmarkJoinStorm tracks 10 000 presences spread over three nodes linked
// by a NATS server, as 1 000 topics × 10 and as 1 topic × 10 000, with the
// default replication periods. It reports the time until every node lists
// all of them, the bytes published over NATS per presence change, and the
// heap held per presence on one node (each node holds every presence).
//
//	go test -run='^$' -bench=JoinStorm -benchtime=1x ./presence
func BenchmarkJoinStorm(b *testing.B) {
	for _, shape := range []struct {
		name          string
		topics, users int
	}{{"1000x10", 1000, 10}, {"1x10000", 1, 10000}} {
		b.Run(shape.name, func(b *testing.B) {
			for b.Loop() {
				runStorm(b, shape.topics, shape.users)
			}
		})
	}
}

func runStorm(b *testing.B, topicCount, users int) {
	srv := testutil.StartNATS(b)
	var nodes []*natsNode
	for i := range 3 {
		n := startNATSNode(b, srv, fmt.Sprint("n", i), WithPeriods(50*time.Millisecond, time.Second, 5*time.Second, 5*time.Minute))
		n.rec.discard = true
		nodes = append(nodes, n)
	}
	total := topicCount * users
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var sentBefore uint64
	for _, n := range nodes {
		s, _ := n.t.SentBytes()
		sentBefore += s
	}
	start := time.Now()
	for i := range total {
		n := nodes[i%3]
		topic := fmt.Sprint("room:", i%topicCount)
		if _, err := n.t.Track(fmt.Sprint("chan-", i), topic, fmt.Sprint("user-", i), Meta{"online_at": "1700000000", "typing": false}); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range nodes {
		testutil.Eventually(b, time.Minute, func() bool { return n.t.total() == total }, "convergence")
	}
	converge := time.Since(start)
	var sent uint64
	for _, n := range nodes {
		s, _ := n.t.SentBytes()
		sent += s
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(converge.Milliseconds()), "ms-to-converge")
	b.ReportMetric(float64(sent-sentBefore)/float64(total), "NATS-bytes/change")
	// Three trackers in this process each hold every presence.
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(3*total), "heap-B/presence/node")
}
