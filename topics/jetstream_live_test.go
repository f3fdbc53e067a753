package topics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/topics"
)

// Tests of live delivery through one subscription per stream: what a
// node keeps per topic, and where a topic's delivery begins.

// TestJetStreamUnwatchedTopicCostsNothing: a node receives the messages
// of its streams' topics without local subscribers and drops them,
// keeping no watch; a topic that gains and loses a subscriber leaves
// none behind.
func TestJetStreamUnwatchedTopicCostsNothing(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 10}
	a := startHistoryNode(t, srv, "a", r)
	b := startHistoryNode(t, srv, "b", r)
	b.ps.Recover("room:0", nil) // b's streams and their subscriptions exist; no topic is watched
	for i := 1; i <= 3; i++ {
		broadcastN(t, a.ps, fmt.Sprintf("room:%d", i), 1, 1)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return b.j.Stats().Ignored == 3 }, "three messages dropped on arrival")
	if s := b.j.Stats(); s.Watched != 0 || s.Filled != 0 || s.Lost != 0 {
		t.Fatalf("node b with no subscriber: %+v", s)
	}

	var got received
	sub := b.ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
	if s := b.j.Stats(); s.Watched != 1 {
		t.Fatalf("a subscribed topic: %d watched", s.Watched)
	}
	b.ps.Recover("room:1", nil)
	broadcastN(t, a.ps, "room:1", 2, 2)
	broadcastN(t, a.ps, "room:2", 2, 2)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 1 && b.j.Stats().Ignored == 4 },
		"the subscribed topic's message delivered, the other dropped")
	sub.Unsubscribe()
	if s := b.j.Stats(); s.Watched != 0 {
		t.Fatalf("after the last subscriber left: %d watched", s.Watched)
	}
	broadcastN(t, a.ps, "room:1", 3, 3)
	testutil.Eventually(t, 10*time.Second, func() bool { return b.j.Stats().Ignored == 5 }, "the unwatched topic's message dropped")
	if n := len(got.all()); n != 1 {
		t.Fatalf("%d deliveries to a subscriber that left after one", n)
	}
}

// TestJetStreamWatchBeginsMidStream: a node that gains a subscriber on a
// topic with a history delivers exactly the broadcasts stored after the
// join's head, in order, none from before.
func TestJetStreamWatchBeginsMidStream(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 100}
	a := startHistoryNode(t, srv, "a", r)
	b := startHistoryNode(t, srv, "b", r)
	b.ps.Recover("room:0", nil)
	broadcastN(t, a.ps, "room:1", 1, 5)
	testutil.Eventually(t, 10*time.Second, func() bool { return b.j.Stats().Ignored == 5 }, "node b saw the first five go by")

	var got received
	b.ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
	rec, _ := b.ps.Recover("room:1", nil)
	broadcastN(t, a.ps, "room:1", 6, 8)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) >= 3 }, "three deliveries")
	bs := got.all()
	if fmt.Sprint(bodies(t, bs)) != "[6 7 8]" {
		t.Fatalf("delivered %v, want [6 7 8]", bodies(t, bs))
	}
	for i, b := range bs {
		if b.Seq <= rec.Head.Seq || i > 0 && b.Seq <= bs[i-1].Seq {
			t.Fatalf("positions %d… after a head of %d", b.Seq, rec.Head.Seq)
		}
	}
	if s := b.j.Stats(); s.Filled != 0 || s.Lost != 0 {
		t.Fatalf("stats %+v: nothing to fill", s)
	}
}

// TestJetStreamFillsGapFromBaseline: broadcasts stored unseen right after
// a topic's watch began (nothing delivered yet) are read back from the
// watch's baseline and delivered before the next one.
func TestJetStreamFillsGapFromBaseline(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 100}
	a := startHistoryNode(t, srv, "a", r)
	b := startHistoryNode(t, srv, "b", r)
	broadcastN(t, a.ps, "room:1", 1, 2) // before b watches: not delivered
	testutil.Eventually(t, 10*time.Second, func() bool { return len(a.ps.History("room:1", 10)) == 2 }, "two stored")
	var got received
	b.ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
	rec, _ := b.ps.Recover("room:1", nil)
	setRepublish(t, a.nc, false)
	broadcastN(t, a.ps, "room:1", 3, 4)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(a.ps.History("room:1", 10)) == 4 }, "two more stored unseen")
	setRepublish(t, a.nc, true)
	broadcastN(t, a.ps, "room:1", 5, 5)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) >= 3 }, "the gap filled and the fifth")
	bs := got.all()
	if fmt.Sprint(bodies(t, bs)) != "[3 4 5]" || bs[0].Seq <= rec.Head.Seq {
		t.Fatalf("delivered %v from %d, head %d", bodies(t, bs), bs[0].Seq, rec.Head.Seq)
	}
	if s := b.j.Stats(); s.Filled != 2 || s.Lost != 0 {
		t.Fatalf("stats %+v, want two filled and none lost", s)
	}
}
