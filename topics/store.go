package topics

import "errors"

// HistoryStore keeps the histories of a PubSub's recoverable topics (those
// chosen with Retain). Two ship with pyre: the memory store
// (NewMemoryHistory), which a PubSub makes with its defaults the first time
// it needs one, and JetStream (NewJetStream), shared by the nodes of a
// cluster. A PubSub takes its store with UseHistory; from then on it asks
// the store, and only the store, to record, deliver and read a history.
//
// Positions, epochs and outcomes mean the same in every store: a broadcast
// recorded on a topic gets a position after every earlier one of the same
// topic; the subscribers of this node receive the topic's recorded
// broadcasts in the order of their positions; Recover hands back either
// everything after a position or an outcome that says it cannot (never a
// part of it).
type HistoryStore interface {
	// Bind connects the store to the PubSub it serves, before any other
	// call. It is called once, by PubSub.UseHistory.
	Bind(d Delivery) error
	// Shared reports whether the store carries every recorded broadcast to
	// every node itself (positions are then valid on any node, and the
	// PubSub does not hand recorded broadcasts to its Remote).
	Shared() bool
	// Append records b, a broadcast on a topic that keeps a history with
	// Retention r and whose event r records, and sees that it reaches this
	// node's subscribers with its position through Delivery.Deliver (at
	// once, or when the store reads it back). origin says whether b was
	// made on this node or received from another node's Remote; from is the
	// sending subscription (nil for none), whom the delivery skips. A
	// payload that is not a JSON object is refused with an error wrapping
	// protocol.ErrNotObject and reaches nobody.
	Append(from *Subscription, b Broadcast, r Retention, origin Origin) error
	// Recover reads topic's history after since (nil for a fresh join) as
	// PubSub.Recover describes.
	Recover(topic string, r Retention, since *Position) Recovery
	// Last returns the newest n broadcasts kept for topic, oldest first.
	Last(topic string, r Retention, n int) []Broadcast
	// Watch reports that topic, which keeps a history, gained its first
	// local subscriber (on) or lost its last. It is called while the PubSub
	// holds a lock: it must not block and must not call back into the
	// PubSub.
	Watch(topic string, r Retention, on bool)
	// Close stops what the store runs. The PubSub must not use it after.
	Close() error
}

// Delivery is the part of a PubSub its HistoryStore uses. Its methods are
// safe from any goroutine but must not be called while the store holds a
// lock that its Watch takes.
type Delivery interface {
	// Deliver hands b, a recorded broadcast with its position in b.Seq and
	// in the payload, to this node's subscribers of b.Topic, skipping from
	// (nil for none) and the subscription numbered fromID (0 for none),
	// and counts it under origin. The store calls it for one topic at a
	// time, in the order of positions.
	Deliver(from *Subscription, fromID uint64, b Broadcast, origin Origin) error
	// Keep tells the PubSub that the store holds topic's history on this
	// node and needs the topic's broadcasts from other nodes even when it
	// has no local subscriber; Forget undoes one Keep.
	Keep(topic string)
	Forget(topic string)
	// Subscribed reports whether topic has local subscribers.
	Subscribed(topic string) bool
}

// ErrHistoryAttached is returned by UseHistory when the PubSub already
// has a store.
var ErrHistoryAttached = errors.New("topics: the PubSub already has a history store")

// UseHistory makes h the store of ps's histories. Call it before the
// first broadcast on, or subscription to, a topic that keeps a history:
// a PubSub that needed a store before makes a memory store with its
// defaults, and then UseHistory returns ErrHistoryAttached. Topics that
// keep a history and already have subscribers are reported to h.Watch.
func (ps *PubSub) UseHistory(h HistoryStore) error {
	defer ps.lockAll()()
	if ps.store.Load() != nil {
		return ErrHistoryAttached
	}
	if err := h.Bind(delivery{ps}); err != nil {
		return err
	}
	ps.store.Store(&storeBox{h})
	for i := range ps.shards {
		for topic := range ps.shards[i].topics {
			if r, ok := ps.retention(topic); ok {
				h.Watch(topic, r, true)
			}
		}
	}
	return nil
}

// HistoryStore returns ps's history store, nil before one is needed or
// given (a metrics collector reads its counters through it).
func (ps *PubSub) HistoryStore() HistoryStore {
	if sb := ps.store.Load(); sb != nil {
		return sb.h
	}
	return nil
}

// history returns ps's store, making a memory store with its defaults the
// first time one is needed.
func (ps *PubSub) history() HistoryStore {
	if sb := ps.store.Load(); sb != nil {
		return sb.h
	}
	m, _ := NewMemoryHistory() // the defaults are valid
	_ = m.Bind(delivery{ps})
	if ps.store.CompareAndSwap(nil, &storeBox{m}) {
		return m
	}
	return ps.store.Load().h
}

// delivery is the Delivery a PubSub offers its store.
type delivery struct{ ps *PubSub }

func (d delivery) Deliver(from *Subscription, fromID uint64, b Broadcast, origin Origin) error {
	return d.ps.fanout(from, fromID, b, origin)
}

func (d delivery) Keep(topic string) {
	sh := d.ps.shard(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.kept[topic] + 1
	if n == 0 {
		delete(sh.kept, topic) // a Forget came first
	} else {
		sh.kept[topic] = n
	}
	if n == 1 && sh.count(topic) == 0 {
		if rb := d.ps.remote.Load(); rb != nil {
			rb.r.Watch(topic, true)
		}
	}
}

func (d delivery) Forget(topic string) {
	sh := d.ps.shard(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.kept[topic] - 1
	if n == 0 {
		delete(sh.kept, topic)
	} else {
		sh.kept[topic] = n
	}
	if n == 0 && sh.count(topic) == 0 {
		if rb := d.ps.remote.Load(); rb != nil {
			rb.r.Watch(topic, false)
		}
	}
}

func (d delivery) Subscribed(topic string) bool { return d.ps.Count(topic) > 0 }
