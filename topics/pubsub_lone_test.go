package topics

import (
	"sync"
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

type countingSink struct {
	mu sync.Mutex
	n  int
}

func (s *countingSink) Serializer() protocol.Serializer { return protocol.V2() }
func (s *countingSink) Send(protocol.Frame) bool {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return true
}
func (s *countingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// A topic's only subscription stands alone in its shard's map; a second
// one gives the two a list, which shrinks back to a lone subscription
// whichever of them leaves, the one the map points at included, and a
// topic with several keeps delivering to exactly the ones left.
func TestLoneSubscriberAndItsPeers(t *testing.T) {
	ps := New()
	sh := ps.shard("t")
	state := func() (first *Subscription, n int) {
		sh.mu.RLock()
		defer sh.mu.RUnlock()
		return sh.topics["t"], sh.count("t")
	}
	lone := func(s *Subscription) bool {
		first, n := state()
		return first == s && n == 1 && s.peers == nil
	}
	sinks := make([]*countingSink, 4)
	for i := range sinks {
		sinks[i] = &countingSink{}
	}
	counts := func() [4]int {
		var c [4]int
		for i, s := range sinks {
			c[i] = s.count()
		}
		return c
	}
	broadcast := func() { _ = ps.Broadcast("t", "e", nil) }

	a := ps.Subscribe("t", Subscriber{Sink: sinks[0]})
	if !lone(a) {
		t.Fatal("a topic's only subscription does not stand alone")
	}
	b := ps.Subscribe("t", Subscriber{Sink: sinks[1]})
	if first, n := state(); first != a || n != 2 || a.peers == nil || a.peers != b.peers {
		t.Fatalf("after a second subscription: map holds %p (a %p), count %d, shared list %v", first, a, n, a.peers != nil && a.peers == b.peers)
	}
	broadcast()
	a.Unsubscribe() // the one the map points at
	if !lone(b) {
		t.Fatal("the subscription left after the first went does not stand alone")
	}
	broadcast()
	a.Unsubscribe() // idempotent
	if got := counts(); got != [4]int{1, 2, 0, 0} {
		t.Fatalf("deliveries %v; want [1 2 0 0]", got)
	}

	c := ps.Subscribe("t", Subscriber{Sink: sinks[2]})
	d := ps.Subscribe("t", Subscriber{Sink: sinks[3]})
	if _, n := state(); n != 3 || ps.Count("t") != 3 {
		t.Fatalf("count %d with three subscriptions", n)
	}
	c.Unsubscribe() // the middle one
	broadcast()
	if got := counts(); got != [4]int{1, 3, 0, 1} {
		t.Fatalf("deliveries %v; want [1 3 0 1]", got)
	}
	d.Unsubscribe()
	if !lone(b) {
		t.Fatal("the last of three does not stand alone")
	}
	b.Unsubscribe()
	if first, n := state(); first != nil || n != 0 {
		t.Fatalf("a topic with no subscriber is still in its shard (%d)", n)
	}
	if tc := ps.TopicCounts(); len(tc) != 0 {
		t.Fatalf("topic counts %v after everyone left", tc)
	}
	broadcast()
	if got := counts(); got != [4]int{1, 3, 0, 1} {
		t.Fatalf("deliveries %v after everyone left; want [1 3 0 1]", got)
	}
}
