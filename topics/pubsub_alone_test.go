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

// A topic's only subscriber backs the topic's slice itself; a second one
// moves the slice out, and the topic keeps working whichever of them
// leaves first, down to none and up again.
func TestLoneSubscriberBacksItsTopic(t *testing.T) {
	ps := New()
	sh := ps.shard("t")
	backed := func(s *Subscription) bool {
		sh.mu.RLock()
		defer sh.mu.RUnlock()
		list := sh.topics["t"]
		return len(list) == 1 && &list[0] == &s.alone[0]
	}
	a, b, c := &countingSink{}, &countingSink{}, &countingSink{}
	sa := ps.Subscribe("t", Subscriber{Sink: a})
	if !backed(sa) {
		t.Fatal("a lone subscriber's topic has a slice of its own")
	}
	sb := ps.Subscribe("t", Subscriber{Sink: b})
	if backed(sa) || ps.Count("t") != 2 {
		t.Fatalf("after a second subscriber: still backed by the first, or count %d", ps.Count("t"))
	}
	_ = ps.Broadcast("t", "e", nil)
	sa.Unsubscribe() // the one whose array backed the topic at first
	_ = ps.Broadcast("t", "e", nil)
	if a.count() != 1 || b.count() != 2 || ps.Count("t") != 1 {
		t.Fatalf("deliveries a=%d b=%d, count %d; want 1, 2, 1", a.count(), b.count(), ps.Count("t"))
	}
	sb.Unsubscribe()
	sa.Unsubscribe() // idempotent, even after its array left the topic
	if ps.Count("t") != 0 {
		t.Fatalf("count %d after everyone left", ps.Count("t"))
	}
	sc := ps.Subscribe("t", Subscriber{Sink: c})
	if !backed(sc) {
		t.Fatal("a new lone subscriber's topic has a slice of its own")
	}
	_ = ps.Broadcast("t", "e", nil)
	sc.Unsubscribe()
	_ = ps.Broadcast("t", "e", nil)
	if a.count() != 1 || b.count() != 2 || c.count() != 1 {
		t.Fatalf("deliveries a=%d b=%d c=%d; want 1, 2, 1", a.count(), b.count(), c.count())
	}
	sh.mu.RLock()
	_, left := sh.topics["t"]
	sh.mu.RUnlock()
	if left {
		t.Fatal("a topic with no subscriber is still in its shard")
	}
}
