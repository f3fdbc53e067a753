package topics

import (
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pyrehq/pyre/protocol"
)

// Sink is a connection's outbound queue. Send must not block; it reports
// false when the frame was not queued (the connection is closed or its queue
// overflowed, in which case the Sink closes the connection itself).
type Sink interface {
	Serializer() protocol.Serializer
	Send(f protocol.Frame) bool
}

// Broadcast is a message published on a topic.
type Broadcast struct {
	Topic   string
	Event   string
	Payload protocol.Payload
	// Seq is the broadcast's position in its topic's stream, 0 on a topic
	// that keeps no history (see PubSub.Retain).
	Seq uint64
}

// SeqSink is a Sink that wants to know the position of each broadcast of
// a topic that keeps a history: Dispatch calls SendSeq instead of Send for
// those (seq > 0), which lets a join drop what recovery already sent.
type SeqSink interface {
	Sink
	SendSeq(f protocol.Frame, seq uint64) bool
}

// Subscriber says where a topic's broadcasts go. With a Sink, broadcasts are
// written to it already encoded, except the events listed in Intercept, which
// go to Deliver. Without a Sink every broadcast goes to Deliver.
type Subscriber struct {
	Sink      Sink
	Intercept []string
	// Deliver must not block: post to a mailbox and return.
	Deliver func(Broadcast)
}

// Subscription is one registration of a Subscriber on a topic. Every
// joined channel holds at least two (its topic, its socket's id), so the
// struct is kept within 96 bytes: a SeqSink is asked for when a broadcast
// has a position, not kept as a second interface.
type Subscription struct {
	ps    *PubSub
	topic string
	sub   Subscriber
	id    uint64 // unique on this node; the sender in cluster envelopes
	// peers lists all the topic's subscriptions, shared by them, while it
	// has more than one; nil while this is its only one (most topics: a
	// room of one, a socket's id). idx is the position in it. Guarded by
	// the shard's mu.
	peers *peers
	idx   int32
	// gone is set once Unsubscribe ran; guarded by the shard's mu.
	gone bool
	// seqSink: sub.Sink is a SeqSink, found once at Subscribe (the
	// interface itself is asserted only for a broadcast with a position).
	seqSink bool
}

// peers is the list of a topic's subscriptions, once it has two.
type peers struct{ list []*Subscription }

// subscriptionIDs numbers subscriptions for cluster envelopes.
var subscriptionIDs atomic.Uint64

// Topic returns the subscribed topic.
func (s *Subscription) Topic() string { return s.topic }

// Unsubscribe removes the subscription. It is idempotent.
func (s *Subscription) Unsubscribe() {
	if s == nil {
		return
	}
	s.ps.remove(s)
}

// ID returns the subscription's number, unique on this node.
func (s *Subscription) ID() uint64 { return s.id }

const shardCount = 64

type shard struct {
	mu sync.RWMutex
	// topics holds, for each topic with local subscribers, one of them:
	// the only one, or any of several, whose peers lists them all. A
	// pointer rather than a slice keeps the map's slots small: most
	// topics have one subscriber. Guarded by mu.
	topics map[string]*Subscription
	// kept counts, per topic, the Keeps of the history store less its
	// Forgets: a topic kept is watched on the Remote with or without local
	// subscribers. Guarded by mu.
	kept map[string]int
	// stats counts the fan-outs of the shard's topics (see Stats): kept
	// here, next to the lock every fan-out takes anyway, broadcasters on
	// different shards share no counter.
	stats counters
}

// PubSub is the topic registry and fan-out of one node. With a Remote
// attached it also carries broadcasts to and from the other nodes.
type PubSub struct {
	seed   maphash.Seed
	shards [shardCount]shard
	remote atomic.Pointer[remoteBox] // set once by Attach

	keep   atomic.Pointer[[]RetentionFunc] // replaced whole under histMu
	histMu sync.Mutex

	store atomic.Pointer[storeBox] // set once: by UseHistory, or with a default memory store on first use
}

type storeBox struct{ h HistoryStore }

type remoteBox struct{ r Remote }

// New returns an empty PubSub.
func New() *PubSub {
	ps := &PubSub{seed: maphash.MakeSeed()}
	for i := range ps.shards {
		ps.shards[i].topics = make(map[string]*Subscription)
		ps.shards[i].kept = make(map[string]int)
	}
	return ps
}

// lockAll locks every shard, in order, and returns the function that
// unlocks them: while they are held no topic gains or loses a subscriber.
func (ps *PubSub) lockAll() (unlock func()) {
	for i := range ps.shards {
		ps.shards[i].mu.Lock()
	}
	return func() {
		for i := range ps.shards {
			ps.shards[i].mu.Unlock()
		}
	}
}

func (ps *PubSub) shard(topic string) *shard {
	return &ps.shards[maphash.String(ps.seed, topic)%shardCount]
}

// count is how many local subscriptions topic has; under the shard's mu.
func (sh *shard) count(topic string) int {
	return sh.topics[topic].count()
}

// count is how many subscriptions s's topic has, s one of them (0 for a
// nil s); under the shard's mu.
func (s *Subscription) count() int {
	switch {
	case s == nil:
		return 0
	case s.peers == nil:
		return 1
	}
	return len(s.peers.list)
}

// Subscribe registers s on topic and returns its handle.
func (ps *PubSub) Subscribe(topic string, s Subscriber) *Subscription {
	sub := &Subscription{ps: ps, topic: topic, sub: s, id: subscriptionIDs.Add(1)}
	_, sub.seqSink = s.Sink.(SeqSink)
	sh := ps.shard(topic)
	sh.mu.Lock()
	switch first := sh.topics[topic]; {
	case first == nil:
		sh.topics[topic] = sub
		ps.watch(sh, topic, true)
	case first.peers == nil:
		// The second subscriber: the two get a list.
		p := &peers{list: []*Subscription{first, sub}}
		first.peers, first.idx = p, 0
		sub.peers, sub.idx = p, 1
	default:
		p := first.peers
		sub.peers, sub.idx = p, int32(len(p.list))
		p.list = append(p.list, sub)
	}
	sh.mu.Unlock()
	return sub
}

// watch tells the remote, if any, that topic gained its first local
// subscriber or lost its last (unless the history store keeps the topic,
// which keeps it watched), and the history store, if the topic keeps a
// history. It is called with the topic's shard locked, so the calls for
// one topic are made in order.
func (ps *PubSub) watch(sh *shard, topic string, on bool) {
	if rb := ps.remote.Load(); rb != nil && sh.kept[topic] <= 0 {
		rb.r.Watch(topic, on)
	}
	if r, ok := ps.retention(topic); ok {
		if sb := ps.store.Load(); sb != nil {
			sb.h.Watch(topic, r, on)
		}
	}
}

func (ps *PubSub) remove(s *Subscription) {
	sh := ps.shard(s.topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.gone {
		return
	}
	s.gone = true
	p := s.peers
	if p == nil {
		delete(sh.topics, s.topic)
		ps.watch(sh, s.topic, false)
		return
	}
	s.peers = nil
	list := p.list
	last := len(list) - 1
	list[s.idx] = list[last]
	list[s.idx].idx = s.idx
	list[last] = nil
	p.list = list[:last]
	if last == 1 {
		// One left: it is the topic's only subscriber again.
		list[0].peers, list[0].idx = nil, 0
	}
	if sh.topics[s.topic] == s {
		sh.topics[s.topic] = list[0]
	}
}

// Count returns the number of local subscriptions on topic.
func (ps *PubSub) Count(topic string) int {
	sh := ps.shard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.count(topic)
}

// TopicCount is a topic and its number of local subscriptions.
type TopicCount struct {
	Topic       string
	Subscribers int
}

// TopicCounts returns the topics with local subscriptions, sorted by
// name, each with its count; it takes each shard's read lock in turn, so the
// answer is a snapshot per shard, not of the whole registry at one
// instant.
func (ps *PubSub) TopicCounts() []TopicCount {
	var out []TopicCount
	for i := range ps.shards {
		sh := &ps.shards[i]
		sh.mu.RLock()
		for t, s := range sh.topics {
			out = append(out, TopicCount{Topic: t, Subscribers: s.count()})
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b TopicCount) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// Broadcast sends event with payload to every subscriber of topic.
// payload is anything protocol.Marshal accepts.
func (ps *PubSub) Broadcast(topic, event string, payload any) error {
	return ps.BroadcastFrom(nil, topic, event, payload)
}

// BroadcastFrom is Broadcast that skips the from subscription.
func (ps *PubSub) BroadcastFrom(from *Subscription, topic, event string, payload any) error {
	p, err := protocol.Marshal(payload)
	if err != nil {
		return err
	}
	return ps.Publish(from, Broadcast{Topic: topic, Event: event, Payload: p})
}

// Publish delivers b to the local subscribers of its topic, skipping from,
// and hands it to the other nodes when a Remote is attached. A failure to
// reach the other nodes is the Remote's to report (PubSub is at-most-once
// across nodes); the error returned is the local encoding error, if any.
// On a topic that keeps a history the broadcast goes through the history
// store (see UseHistory), which may carry it to the other nodes itself.
func (ps *PubSub) Publish(from *Subscription, b Broadcast) error {
	var err error
	if r, ok := ps.retention(b.Topic); ok && r.records(b.Event) {
		h := ps.history()
		err = h.Append(from, b, r, FromLocal)
		if h.Shared() || errors.Is(err, protocol.ErrNotObject) {
			return err // every node delivers it from the store, or nobody
		}
	} else {
		err = ps.fanout(from, 0, b, FromLocal)
	}
	if rb := ps.remote.Load(); rb != nil {
		rb.r.Publish(from, b)
	}
	return err
}

// LocalBroadcast delivers to this node's subscribers only, never to other
// nodes.
func (ps *PubSub) LocalBroadcast(topic, event string, payload any) error {
	p, err := protocol.Marshal(payload)
	if err != nil {
		return err
	}
	return ps.Dispatch(nil, Broadcast{Topic: topic, Event: event, Payload: p})
}

// encoded caches a broadcast's frame per serializer during one dispatch.
type encoded struct {
	s     protocol.Serializer
	frame protocol.Frame
	err   error
}

// Dispatch delivers b to the local subscribers of its topic, skipping from.
// It returns the first encoding error met (the other subscribers still get
// the broadcast). On a topic that keeps a history in this node's store (not
// a shared one), b is first given its position and recorded (unless its
// Retention leaves the event out); a payload that is not a JSON object is
// refused there (an error wrapping protocol.ErrNotObject) and delivered to
// nobody.
func (ps *PubSub) Dispatch(from *Subscription, b Broadcast) error {
	return ps.dispatch(from, b, FromLocal)
}

// DispatchRemote is Dispatch for a broadcast another node made; it is
// counted as such in Stats.
func (ps *PubSub) DispatchRemote(b Broadcast) error {
	return ps.dispatch(nil, b, FromRemote)
}

func (ps *PubSub) dispatch(from *Subscription, b Broadcast, origin Origin) error {
	if r, ok := ps.retention(b.Topic); ok && r.records(b.Event) {
		if h := ps.history(); !h.Shared() {
			return h.Append(from, b, r, origin)
		}
	}
	return ps.fanout(from, 0, b, origin)
}

// fanout delivers b to the local subscribers of its topic, skipping from
// and the subscription numbered fromID (0 for none), and counts it once
// under origin.
func (ps *PubSub) fanout(from *Subscription, fromID uint64, b Broadcast, origin Origin) error {
	var cache [2]encoded
	var firstErr error
	sh := ps.shard(b.Topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	var subs []*Subscription
	switch first := sh.topics[b.Topic]; {
	case first == nil:
	case first.peers == nil:
		one := [1]*Subscription{first}
		subs = one[:]
	default:
		subs = first.peers.list
	}
	// The deliveries are counted once, as the subscribers less those
	// skipped, so that the loop adds nothing for a subscriber served.
	skipped := 0
	for _, sub := range subs {
		if sub == from || fromID != 0 && sub.id == fromID {
			skipped++
			continue
		}
		s := &sub.sub
		if s.Sink == nil || slices.Contains(s.Intercept, b.Event) {
			if s.Deliver != nil {
				s.Deliver(b)
			} else {
				skipped++
			}
			continue
		}
		f, err := frameFor(&cache, s.Sink.Serializer(), b)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			skipped++
			continue
		}
		if b.Seq != 0 && sub.seqSink {
			s.Sink.(SeqSink).SendSeq(f, b.Seq)
			continue
		}
		s.Sink.Send(f)
	}
	sh.stats.add(origin, len(subs)-skipped)
	return firstErr
}

func frameFor(cache *[2]encoded, s protocol.Serializer, b Broadcast) (protocol.Frame, error) {
	for i := range cache {
		c := &cache[i]
		if c.s == s {
			return c.frame, c.err
		}
		if c.s == nil {
			c.s = s
			c.frame, c.err = s.Broadcast(b.Topic, b.Event, b.Payload)
			return c.frame, c.err
		}
	}
	return s.Broadcast(b.Topic, b.Event, b.Payload)
}
