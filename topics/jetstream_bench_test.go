package topics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// benchStore starts an embedded NATS server with JetStream and one node
// whose "room:" topics keep r, its streams on disk unless memory.
func benchStore(b *testing.B, r topics.Retention, memory bool, opts ...topics.JetStreamOption) (*topics.PubSub, *topics.JetStream) {
	b.Helper()
	srv := testutil.StartNATS(b, testutil.NATSJetStream())
	nc, err := nats.Connect(srv.ClientURL(), nats.NoEcho())
	if err != nil {
		b.Fatal(err)
	}
	ps := topics.New()
	ps.Retain(keep(r))
	opts = append([]topics.JetStreamOption{topics.WithHistoryNode("a")}, opts...)
	if memory {
		opts = append(opts, topics.WithMemoryStorage())
	}
	j, err := topics.NewJetStream(ps, nc, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = j.Close()
		nc.Close()
	})
	return ps, j
}

// BenchmarkJetStreamPublish records broadcasts on 1 or 10 000 topics
// (subjects) under a per-subject limit of 10, on disk and in memory, with
// one partition or four, and reports recorded broadcasts per second until
// the last is acknowledged.
func BenchmarkJetStreamPublish(b *testing.B) {
	payload := protocol.RawJSON([]byte(`{"body":"a message of a typical size for a chat room"}`))
	for _, storage := range []string{"file", "memory"} {
		for _, parts := range []int{1, 2, 4} {
			for _, subjects := range []int{1, 10000} {
				b.Run(fmt.Sprintf("%s/partitions=%d/subjects=%d", storage, parts, subjects), func(b *testing.B) {
					ps, j := benchStore(b, topics.Retention{Count: 10}, storage == "memory", topics.WithHistoryPartitions(parts))
					names := make([]string, subjects)
					for i := range names {
						names[i] = fmt.Sprintf("room:%d", i)
					}
					// Every subject holds its 10 before the clock starts, so
					// that each publish also removes a message.
					for i := range 10 * subjects {
						if err := ps.Publish(nil, topics.Broadcast{Topic: names[i%subjects], Event: "msg", Payload: payload}); err != nil {
							b.Fatal(err)
						}
					}
					settle(b, j)
					b.ReportAllocs()
					start := time.Now()
					i := 0
					for b.Loop() {
						if err := ps.Publish(nil, topics.Broadcast{Topic: names[i%subjects], Event: "msg", Payload: payload}); err != nil {
							b.Fatal(err)
						}
						i++
					}
					settle(b, j)
					b.ReportMetric(float64(i)/time.Since(start).Seconds(), "msgs/s")
				})
			}
		}
	}
}

// settle waits until every publish so far is acknowledged.
func settle(b *testing.B, j *topics.JetStream) {
	b.Helper()
	for s := j.Stats(); ; s = j.Stats() {
		if s.Failed > 0 {
			b.Fatalf("publishes failed: %+v", s)
		}
		if s.Pending == 0 {
			return
		}
		time.Sleep(time.Millisecond) // polling the count of pending acknowledgements
	}
}

// BenchmarkJetStreamJoin is a join among 10 000 topics that each hold a
// few broadcasts: subscribe (the live subscription starts), read the
// history, unsubscribe. "rejoin" recovers after a position two broadcasts
// back, "fresh" asks only for the head.
func BenchmarkJetStreamJoin(b *testing.B) {
	const rooms = 10000
	ps, j := benchStore(b, topics.Retention{Count: 100}, false)
	since := make([]topics.Position, rooms)
	for i := range rooms {
		topic := fmt.Sprintf("room:%d", i)
		for n := range 3 {
			if err := ps.Broadcast(topic, "msg", map[string]int{"n": n}); err != nil {
				b.Fatal(err)
			}
		}
	}
	settle(b, j)
	for i := range rooms {
		h := ps.History(fmt.Sprintf("room:%d", i), 3)
		if len(h) != 3 {
			b.Fatalf("room:%d holds %d", i, len(h))
		}
		since[i] = topics.Position{Epoch: positionEpoch(b, h[0]), Seq: h[0].Seq}
	}
	for _, fresh := range []bool{false, true} {
		name := "rejoin"
		if fresh {
			name = "fresh"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				topic := fmt.Sprintf("room:%d", i%rooms)
				sub := ps.Subscribe(topic, topics.Subscriber{Deliver: func(topics.Broadcast) {}})
				if fresh {
					if rec, _ := ps.Recover(topic, nil); rec.Head.Seq == 0 {
						b.Fatalf("%s: %+v", topic, rec)
					}
				} else if rec, _ := ps.Recover(topic, &since[i%rooms]); !rec.Recovered() || len(rec.Missed) != 2 {
					b.Fatalf("%s: %v, %d missed", topic, rec.Outcome, len(rec.Missed))
				}
				sub.Unsubscribe()
				i++
			}
		})
	}
}

func positionEpoch(b *testing.B, x topics.Broadcast) string {
	b.Helper()
	var v struct {
		Pos string `json:"_pos"`
	}
	if err := x.Payload.Decode(&v); err != nil {
		b.Fatal(err)
	}
	p, err := topics.ParsePosition(v.Pos)
	if err != nil {
		b.Fatal(err)
	}
	return p.Epoch
}
