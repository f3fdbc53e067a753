package topics

import "errors"

// Remote carries broadcasts between this node's PubSub and other nodes.
// The NATS adapter (NewNATS) is the one pyre ships.
type Remote interface {
	// Publish hands a broadcast made on this node to the other nodes. It is
	// called on the broadcaster's goroutine after local delivery and must
	// not block for long; failures are the Remote's to log and count.
	// from is the sending subscription for BroadcastFrom, else nil.
	Publish(from *Subscription, b Broadcast)
	// Watch reports that topic gained its first local subscriber (on) or
	// lost its last (!on). A topic that keeps a history (Retain) is
	// watched from its stream's start and stays watched; it may be
	// reported on more than once. Calls for one topic arrive in order, made while
	// the PubSub holds a lock: Watch must not call back into the PubSub.
	Watch(topic string, on bool)
}

// ErrAttached is returned by Attach when the PubSub already has a Remote.
var ErrAttached = errors.New("topics: a remote is already attached")

// Attach connects r to ps: from now on every Broadcast and BroadcastFrom is
// also handed to r, and r is told of every topic's first and last local
// subscriber. Topics that already have subscribers are reported through
// Watch before Attach returns. A PubSub takes one Remote for its lifetime.
// Messages that r receives from other nodes go to ps.Dispatch.
func (ps *PubSub) Attach(r Remote) error {
	// No topic gains or loses interest while the existing ones are
	// reported.
	defer ps.lockAll()()
	if !ps.remote.CompareAndSwap(nil, &remoteBox{r}) {
		return ErrAttached
	}
	for i := range ps.shards {
		for topic := range ps.shards[i].topics {
			r.Watch(topic, true)
		}
		for topic, n := range ps.shards[i].kept {
			if n > 0 && ps.shards[i].count(topic) == 0 {
				r.Watch(topic, true)
			}
		}
	}
	return nil
}

// Topics returns the topics that have local subscribers.
func (ps *PubSub) Topics() []string {
	var out []string
	for i := range ps.shards {
		sh := &ps.shards[i]
		sh.mu.RLock()
		for topic := range sh.topics {
			out = append(out, topic)
		}
		sh.mu.RUnlock()
	}
	return out
}
