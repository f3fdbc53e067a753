package topics

import "sync/atomic"

// Origin says where a broadcast dispatched on this node was made.
type Origin int

// Origins of broadcasts.
const (
	// FromLocal is a broadcast made on this node (Publish, Broadcast,
	// LocalBroadcast, Dispatch called by the app).
	FromLocal Origin = iota
	// FromRemote is a broadcast another node made, received from the
	// Remote or, for JetStream histories, from the stream.
	FromRemote
	numOrigins
)

// String returns "local" or "remote".
func (o Origin) String() string {
	if o == FromRemote {
		return "remote"
	}
	return "local"
}

// Stats counts a PubSub's traffic since it was made, by origin (indexed by
// Origin): Broadcasts are the broadcasts fanned out to this node's
// subscribers, Deliveries what they handed over (one per subscriber that
// got a frame or a Deliver call). Dispatch adds to each once per
// broadcast, never once per subscriber.
type Stats struct {
	Broadcasts [numOrigins]uint64
	Deliveries [numOrigins]uint64
}

// counters are one shard's part of Stats, as its fan-outs update them.
type counters struct {
	broadcasts, deliveries [numOrigins]atomic.Uint64
}

func (c *counters) add(o Origin, delivered int) {
	c.broadcasts[o].Add(1)
	c.deliveries[o].Add(uint64(delivered))
}

// Stats returns the traffic counters, summed over the shards. It is safe
// from any goroutine and takes no lock.
func (ps *PubSub) Stats() Stats {
	var s Stats
	for i := range ps.shards {
		c := &ps.shards[i].stats
		for o := range numOrigins {
			s.Broadcasts[o] += c.broadcasts[o].Load()
			s.Deliveries[o] += c.deliveries[o].Load()
		}
	}
	return s
}

// Remote returns the Remote attached with Attach, nil if none. A metrics
// collector finds the NATS adapter's Stats through it.
func (ps *PubSub) Remote() Remote {
	if rb := ps.remote.Load(); rb != nil {
		return rb.r
	}
	return nil
}
