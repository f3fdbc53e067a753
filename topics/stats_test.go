package topics_test

import (
	"testing"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// Stats counts each broadcast once and the subscribers it reached, by
// where it was made; a subscriber skipped (the sender) is not counted.
func TestStatsCountBroadcastsAndDeliveries(t *testing.T) {
	ps := topics.New()
	var sinks [3]nopSink
	var first *topics.Subscription
	for i := range sinks {
		s := ps.Subscribe("room:a", topics.Subscriber{Sink: &sinks[i]})
		if i == 0 {
			first = s
		}
	}
	delivered := 0
	ps.Subscribe("room:a", topics.Subscriber{Deliver: func(topics.Broadcast) { delivered++ }})
	ps.Subscribe("room:b", topics.Subscriber{Sink: &nopSink{}})

	if err := ps.Broadcast("room:a", "e", nil); err != nil {
		t.Fatal(err)
	}
	if err := ps.BroadcastFrom(first, "room:a", "e", nil); err != nil {
		t.Fatal(err)
	}
	if err := ps.Broadcast("room:none", "e", nil); err != nil {
		t.Fatal(err)
	}
	if err := ps.DispatchRemote(topics.Broadcast{Topic: "room:b", Event: "e", Payload: protocol.EmptyObject()}); err != nil {
		t.Fatal(err)
	}
	got := ps.Stats()
	want := topics.Stats{}
	want.Broadcasts[topics.FromLocal], want.Deliveries[topics.FromLocal] = 3, 4+3+0
	want.Broadcasts[topics.FromRemote], want.Deliveries[topics.FromRemote] = 1, 1
	if got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if delivered != 2 || sinks[0].n != 1 || sinks[1].n != 2 {
		t.Errorf("delivered %d, sinks %d %d", delivered, sinks[0].n, sinks[1].n)
	}
}
