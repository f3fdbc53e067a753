// Package topics is pyre's PubSub: a registry of topic subscribers and the
// fan-out that delivers broadcasts to them.
//
// A subscriber is usually a joined channel. It registers the connection's
// Sink (its writer) and the events its channel intercepts. A broadcast is
// marshalled once, encoded once per serializer in use among the subscribers,
// and the same bytes are handed to every Sink: no actor hop and no
// per-subscriber encoding. Only a subscriber whose channel intercepts the
// event gets the raw Broadcast through its Deliver function, which normally
// posts it to the channel actor's mailbox.
//
//	ps := topics.New()
//	sub := ps.Subscribe("room:lobby", topics.Subscriber{Deliver: func(b topics.Broadcast) {
//		fmt.Println(b.Event)
//	}})
//	defer sub.Unsubscribe()
//	ps.Broadcast("room:lobby", "new_msg", map[string]string{"body": "hi"})
//
// Topics chosen with Retain keep a history, whose broadcasts carry their
// position in the topic's history ("_pos" in the payload, Broadcast.Seq).
// Recover reads it after a position, History reads the last N. Where a
// history is kept is the PubSub's HistoryStore (UseHistory), and only the
// store's business:
//
//   - MemoryHistory, the default: a ring per topic bounded by its
//     Retention, all rings within a node-wide byte budget (least recently
//     used topics evicted first), a topic with no subscriber idle past a
//     TTL dropped whole, the age bound applied by a sweep. A ring has a
//     random epoch, new whenever it is made (a restart, or a topic
//     dropped and made again), so a position from a lost ring is never
//     taken for a valid one. Rings are per node: a broadcast from another
//     node is recorded when it arrives, so a topic whose history is kept
//     stays watched on the Remote, and positions are only valid on the
//     node that gave them. What NATS loses between nodes is not seen by
//     the ring.
//   - JetStream (NewJetStream), for a cluster that needs positions valid
//     on every node: a fixed set of streams (one per retention class and
//     partition, at most MaxHistoryStreams) holds every topic, one subject
//     each; positions are stream sequences, the epoch is the stream's
//     creation time, and every node delivers a recorded broadcast as the
//     stream republishes it, in stream order, on one of the store's lanes,
//     reading back from the stream any it missed. A node holds one NATS
//     subscription per stream, not per topic: it receives every recorded
//     broadcast of its streams and drops, on arrival, those of topics it
//     has no subscriber for. Recoveries read the stream with direct gets,
//     no consumer.
//
// Whatever the store, what it evicted is gone honestly: Recover answers
// TooOld or OtherEpoch, never a part of what was missed.
//
// Stats counts the broadcasts fanned out and the subscribers they reached,
// by origin (this node or another), with two atomic adds per broadcast
// whatever its subscriber count; NATS.Stats counts the adapter's traffic.
// Neither imports a metrics library: socket.Handler.Collector reads them.
//
// # Concurrency
//
// Every PubSub method and Subscription.Unsubscribe is safe from any
// goroutine. Sink.Send and Deliver are called while a shard's read lock is
// held, from the goroutine that broadcast: they must not block and must not
// call back into the PubSub. On a topic that keeps a history they run while
// the topic's stream lock is also held, so that one topic's broadcasts are
// delivered one at a time in the order of their positions. With the
// histories in JetStream a recorded broadcast is delivered from the
// store's lane for its topic instead of the broadcasting goroutine, one
// topic's broadcasts one at a time in the order of their positions.
package topics
