package topics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// Tests of the JetStream store's layout: a fixed set of streams, live
// delivery by republish with gap filling, and the exactness of recoveries
// read by direct get.

// streamsAndConsumers counts what JetStream holds for the account.
func streamsAndConsumers(t *testing.T, nc *nats.Conn) (streams, consumers int) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.AccountInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.Streams, info.Consumers
}

// positionOf reads the "_pos" of a recorded broadcast.
func positionOf(t *testing.T, b topics.Broadcast) topics.Position {
	t.Helper()
	var v struct {
		Pos string `json:"_pos"`
	}
	if err := b.Payload.Decode(&v); err != nil {
		t.Fatal(err)
	}
	p, err := topics.ParsePosition(v.Pos)
	if err != nil {
		t.Fatalf("_pos %q: %v", v.Pos, err)
	}
	return p
}

// TestJetStreamThousandsOfTopics: 3 000 topics on two nodes live in at
// most MaxHistoryStreams streams with no consumer; each topic's broadcasts
// reach both nodes in order and a recovery on the other node is exact,
// though the topics' positions interleave in shared streams.
func TestJetStreamThousandsOfTopics(t *testing.T) {
	const rooms = 3000
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 10}
	a := startHistoryNodeTB(t, srv, "a", r, topics.WithHistoryPartitions(4))
	b := startHistoryNodeTB(t, srv, "b", r, topics.WithHistoryPartitions(4))
	topic := func(i int) string { return fmt.Sprintf("room:%d", i) }

	got := make([]received, rooms)
	var atA sync.Map // topic → *received, node a's subscribers
	heads := make([]topics.Position, rooms)
	for i := range rooms {
		var ra received
		atA.Store(topic(i), &ra)
		a.ps.Subscribe(topic(i), topics.Subscriber{Deliver: ra.add})
		b.ps.Subscribe(topic(i), topics.Subscriber{Deliver: got[i].add})
	}
	for i := range rooms {
		rec, _ := b.ps.Recover(topic(i), nil)
		if rec.Head.Epoch == "" {
			t.Fatalf("%s: no head: %+v", topic(i), rec)
		}
		heads[i] = rec.Head
	}
	for round := 1; round <= 2; round++ {
		for i := range rooms {
			if err := a.ps.Broadcast(topic(i), "msg", map[string]int{"n": round}); err != nil {
				t.Fatal(err)
			}
		}
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		for i := range rooms {
			if len(got[i].all()) < 2 {
				return false
			}
		}
		return true
	}, "two deliveries per topic on node b")
	for i := range rooms {
		v, _ := atA.Load(topic(i))
		for name, bs := range map[string][]topics.Broadcast{"a": v.(*received).all(), "b": got[i].all()} {
			if name == "a" {
				testutil.Eventually(t, 10*time.Second, func() bool { return len(v.(*received).all()) == 2 }, "node a's deliveries")
				bs = v.(*received).all()
			}
			if fmt.Sprint(bodies(t, bs)) != "[1 2]" || bs[0].Seq >= bs[1].Seq || bs[0].Seq <= heads[i].Seq {
				t.Fatalf("node %s, %s: %v at %d, %d after head %v", name, topic(i), bodies(t, bs), bs[0].Seq, bs[1].Seq, heads[i])
			}
		}
	}
	for i := 0; i < rooms; i += 10 {
		rec, _ := b.ps.Recover(topic(i), &heads[i])
		live := got[i].all()
		if !rec.Recovered() || len(rec.Missed) != 2 || rec.Missed[0].Seq != live[0].Seq || rec.Missed[1].Seq != live[1].Seq {
			t.Fatalf("%s: Recover = %v, %v; live %v", topic(i), rec.Outcome, rec.Missed, live)
		}
	}
	streams, consumers := streamsAndConsumers(t, a.nc)
	if streams > topics.MaxHistoryStreams || streams != 4 || consumers != 0 {
		t.Fatalf("%d streams and %d consumers for %d topics; want 4 (one class, four partitions) and none", streams, consumers, rooms)
	}
}

// setRepublish turns the republishing of every history stream off or on.
func setRepublish(t *testing.T, nc *nats.Conn, on bool) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for info := range js.ListStreams(ctx).Info() {
		cfg := info.Config
		if on {
			src := strings.TrimSuffix(cfg.Subjects[0], "*") + ">"
			cfg.RePublish = &jetstream.RePublish{Source: src, Destination: strings.Replace(src, ".h.", ".hr.", 1)}
		} else {
			cfg.RePublish = nil
		}
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJetStreamFillsGaps: broadcasts a node's live subscription never
// received (stored while the stream republished nothing) are read back
// and delivered, in order, before the next one that arrives.
func TestJetStreamFillsGaps(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 100}
	a := startHistoryNode(t, srv, "a", r)
	b := startHistoryNode(t, srv, "b", r)
	var got received
	a.ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
	a.ps.Recover("room:1", nil) // the live subscription runs
	broadcastN(t, b.ps, "room:1", 1, 1)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 1 }, "the first delivery")

	setRepublish(t, a.nc, false)
	broadcastN(t, b.ps, "room:1", 2, 3)
	broadcastN(t, b.ps, "room:2", 1, 1) // another topic of the stream, maybe
	testutil.Eventually(t, 10*time.Second, func() bool {
		h := b.ps.History("room:1", 10)
		return len(h) == 3
	}, "two broadcasts stored unseen")
	if n := len(got.all()); n != 1 {
		t.Fatalf("%d deliveries with republishing off", n)
	}
	setRepublish(t, a.nc, true)
	broadcastN(t, b.ps, "room:1", 4, 4)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 4 }, "the gap filled and the fourth")
	bs := got.all()
	if fmt.Sprint(bodies(t, bs)) != "[1 2 3 4]" {
		t.Fatalf("delivered %v", bodies(t, bs))
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].Seq <= bs[i-1].Seq || positionOf(t, bs[i]).Seq != bs[i].Seq {
			t.Fatalf("positions out of order: %d then %d", bs[i-1].Seq, bs[i].Seq)
		}
	}
	if s := a.j.Stats(); s.Filled != 2 || s.Lost != 0 {
		t.Fatalf("stats %+v, want two filled and none lost", s)
	}
}

// TestJetStreamNodeRestartedDuringRecovery: a client of node b, which
// stops while node a keeps broadcasting, recovers on a new node b from its
// last position: everything after it, once, in order, then live.
func TestJetStreamNodeRestartedDuringRecovery(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 100000}
	a := startHistoryNode(t, srv, "a", r)
	// Node a publishes once before the goroutine baseline: the streams
	// and a's publishing then exist, with their goroutines.
	broadcastN(t, a.ps, "room:0", 1, 1)
	testutil.Eventually(t, 10*time.Second, func() bool { return a.j.Stats().Pending == 0 }, "the first publish acknowledged")
	testutil.CheckGoroutines(t) // node b's goroutines end with it, and the new b's
	b := startHistoryNode(t, srv, "b", r)
	var before received
	b.ps.Subscribe("room:1", topics.Subscriber{Deliver: before.add})
	b.ps.Recover("room:1", nil)
	stop := testutil.Loop(t, func(i int) error {
		time.Sleep(200 * time.Microsecond) // a steady publisher, not a flood
		return a.ps.Broadcast("room:1", "msg", map[string]int{"n": i})
	})
	testutil.Eventually(t, 10*time.Second, func() bool { return len(before.all()) >= 20 }, "twenty deliveries on b")
	// A recovery in flight while b goes away answers all or nothing.
	inflight := make(chan topics.Recovery, 1)
	since := positionOf(t, before.all()[0])
	go func() { rec, _ := b.ps.Recover("room:1", &since); inflight <- rec }()
	b.stop()
	last := before.all()
	if rec := testutil.Receive(t, inflight, 10*time.Second, "the recovery in flight"); rec.Outcome != topics.Unavailable {
		first := bodies(t, before.all()[:1])[0]
		if !rec.Recovered() || len(rec.Missed) == 0 || bodies(t, rec.Missed)[0] != first+1 || !consecutive(t, rec.Missed) {
			t.Fatalf("recovery in flight at the stop: %v, %v", rec.Outcome, bodies(t, rec.Missed))
		}
	}

	b2 := startHistoryNode(t, srv, "b", r)
	var after received
	b2.ps.Subscribe("room:1", topics.Subscriber{Deliver: after.add})
	pos := positionOf(t, last[len(last)-1])
	rec, _ := b2.ps.Recover("room:1", &pos)
	if !rec.Recovered() {
		t.Fatalf("recovery on the new node: %v", rec.Outcome)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(after.all()) >= 20 }, "live deliveries on the new node")
	total := stop()
	testutil.Eventually(t, 10*time.Second, func() bool {
		bs := after.all()
		return len(bs) > 0 && bodies(t, bs[len(bs)-1:])[0] == total
	}, "the last broadcast on the new node")
	seen := append([]topics.Broadcast(nil), last...)
	seen = append(seen, rec.Missed...)
	for _, x := range after.all() {
		if x.Seq > rec.Head.Seq {
			seen = append(seen, x)
		}
	}
	if len(seen) != total || bodies(t, seen[:1])[0] != 1 || !consecutive(t, seen) {
		t.Fatalf("the client saw %d broadcasts of %d: %v", len(seen), total, bodies(t, seen))
	}
}

// consecutive reports whether bs's bodies count up by one.
func consecutive(t *testing.T, bs []topics.Broadcast) bool {
	t.Helper()
	ns := bodies(t, bs)
	for i := 1; i < len(ns); i++ {
		if ns[i] != ns[i-1]+1 {
			return false
		}
	}
	return true
}

// TestJetStreamOldLayout: streams of the one-stream-per-topic layout stop
// a node from starting, with what to do, unless it is told to remove them.
func TestJetStreamOldLayout(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := "PYRE_H_0123456789abcdef01234567"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: old, Subjects: []string{"pyre.h.room:1"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	_, err = topics.NewJetStream(topics.New(), nc, topics.WithHistoryNode("a"))
	if !errors.Is(err, topics.ErrOldHistoryLayout) || !strings.Contains(err.Error(), old) || !strings.Contains(err.Error(), "WithOldHistoryRemoved") {
		t.Fatalf("NewJetStream over the old layout: %v", err)
	}
	j, err := topics.NewJetStream(topics.New(), nc, topics.WithHistoryNode("a"), topics.WithOldHistoryRemoved())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := js.Stream(ctx, old); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the old stream after WithOldHistoryRemoved: %v", err)
	}
}

// TestJetStreamTooOldByAge: broadcasts that aged out of the stream make a
// recovery from before them TooOld, and one from after them exact, with no
// write needed for the age to apply.
func TestJetStreamTooOldByAge(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	a := startHistoryNode(t, srv, "a", topics.Retention{Count: 100, Age: 300 * time.Millisecond})
	var got received
	a.ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
	a.ps.Recover("room:1", nil)
	broadcastN(t, a.ps, "room:1", 1, 2)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 2 }, "two deliveries")
	testutil.Eventually(t, 10*time.Second, func() bool { return len(a.ps.History("room:1", 10)) == 0 }, "the two aged out")
	broadcastN(t, a.ps, "room:1", 3, 3)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 3 }, "the third")
	bs := got.all()
	if rec, _ := a.ps.Recover("room:1", new(positionOf(t, bs[0]))); rec.Outcome != topics.TooOld {
		t.Fatalf("from before the aged-out second: %v %v", rec.Outcome, bodies(t, rec.Missed))
	}
	if rec, _ := a.ps.Recover("room:1", new(positionOf(t, bs[1]))); !rec.Recovered() || fmt.Sprint(bodies(t, rec.Missed)) != "[3]" {
		t.Fatalf("from the last aged out: %v %v", rec.Outcome, bodies(t, rec.Missed))
	}
}

// TestJetStreamBytesBound: Retention.Bytes, which JetStream cannot keep
// per subject, bounds what a read hands back: a recovery that would pass
// it is TooOld, History stops at it.
func TestJetStreamBytesBound(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	a := startHistoryNode(t, srv, "a", topics.Retention{Count: 100, Bytes: 250})
	var got received
	a.ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
	fresh, _ := a.ps.Recover("room:1", nil)
	pad := strings.Repeat("x", 80)
	for i := 1; i <= 5; i++ {
		if err := a.ps.Broadcast("room:1", "msg", map[string]any{"n": i, "pad": pad}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 5 }, "five deliveries")
	bs := got.all()
	size := len(bs[4].Event) + len(bs[4].Payload.Bytes()) // about 120 bytes each
	if size*2 > 250 || size*3 <= 250 {
		t.Fatalf("a broadcast counts %d bytes; the test wants two to fit in 250 and three not", size)
	}
	if rec, _ := a.ps.Recover("room:1", &fresh.Head); rec.Outcome != topics.TooOld {
		t.Fatalf("five broadcasts past a bound of two: %v %v", rec.Outcome, bodies(t, rec.Missed))
	}
	if rec, _ := a.ps.Recover("room:1", new(positionOf(t, bs[2]))); !rec.Recovered() || fmt.Sprint(bodies(t, rec.Missed)) != "[4 5]" {
		t.Fatalf("two broadcasts within the bound: %v %v", rec.Outcome, bodies(t, rec.Missed))
	}
	if h := a.ps.History("room:1", 10); fmt.Sprint(bodies(t, h)) != "[4 5]" {
		t.Fatalf("History = %v, want what fits in the bound", bodies(t, h))
	}
}

// TestJetStreamPartitionsMustAgree: a node with another partition count
// than the streams' cannot use them and says so, rather than split a
// topic over two streams.
func TestJetStreamPartitionsMustAgree(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 10}
	a := startHistoryNodeTB(t, srv, "a", r, topics.WithHistoryPartitions(2))
	b := startHistoryNodeTB(t, srv, "b", r, topics.WithHistoryPartitions(3))
	broadcastN(t, a.ps, "room:1", 1, 1)
	if err := b.ps.Broadcast("room:1", "msg", map[string]int{"n": 1}); err == nil || errors.Is(err, protocol.ErrNotObject) {
		t.Fatalf("a broadcast from a node with other partitions: %v", err)
	}
	if rec, _ := b.ps.Recover("room:1", nil); rec.Outcome != topics.Unavailable {
		t.Fatalf("a recovery on a node with other partitions: %v", rec.Outcome)
	}
}

// TestJetStreamExactnessInSharedStream walks the rule that decides, with
// two topics interleaved in one stream, whether a recovery is exact: the
// topic still holds a message at or before the position, or the stream
// has dropped nothing past it and the topic holds fewer messages after it
// than its limit (at the limit the store cannot tell, and says TooOld).
func TestJetStreamExactnessInSharedStream(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	a := startHistoryNodeTB(t, srv, "a", topics.Retention{Count: 3}, topics.WithHistoryPartitions(1))
	var gotT received
	a.ps.Subscribe("room:t", topics.Subscriber{Deliver: gotT.add})
	fresh, _ := a.ps.Recover("room:t", nil)
	if fresh.Head.Seq != 0 {
		t.Fatalf("fresh head %v", fresh.Head)
	}
	at := func(seq uint64) *topics.Position { return &topics.Position{Epoch: fresh.Head.Epoch, Seq: seq} }
	publish := func(topic string, n int) {
		t.Helper()
		broadcastN(t, a.ps, topic, n, n)
		testutil.Eventually(t, 10*time.Second, func() bool { return a.j.Stats().Pending == 0 }, "the publish acknowledged")
	}
	check := func(name string, since *topics.Position, want topics.Outcome, missed string) {
		t.Helper()
		rec, _ := a.ps.Recover("room:t", since)
		if rec.Outcome != want || fmt.Sprint(bodies(t, rec.Missed)) != missed {
			t.Errorf("%s: Recover(%v) = %v %v, want %v %s", name, since.Seq, rec.Outcome, bodies(t, rec.Missed), want, missed)
		}
	}
	publish("room:u", 1) // seq 1
	publish("room:t", 1) // seq 2
	publish("room:u", 2) // seq 3
	publish("room:t", 2) // seq 4
	check("at the topic's message", at(2), topics.Recovered, "[2]")
	check("at another topic's message, the topic holding an older one", at(3), topics.Recovered, "[2]")
	check("before the topic's first, below its limit", at(0), topics.Recovered, "[1 2]")
	publish("room:t", 3) // seq 5
	check("before the topic's first, at its limit", at(0), topics.TooOld, "[]")
	publish("room:t", 4) // seq 6: the topic's message at 2 leaves
	check("at a message pushed out", at(2), topics.TooOld, "[]")
	check("at the oldest kept", at(4), topics.Recovered, "[3 4]")
	check("at the topic's message before its last", at(5), topics.Recovered, "[4]")
	if h := a.ps.History("room:u", 5); fmt.Sprint(bodies(t, h)) != "[1 2]" {
		t.Errorf("the other topic's history: %v", bodies(t, h))
	}
}

// TestJetStreamStreamsDeletedWhileRunning: history streams deleted under
// running nodes are made again by the next broadcast after the one that
// found them gone; every node delivers again, with the new epoch, and old
// positions are another epoch.
func TestJetStreamStreamsDeletedWhileRunning(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 100}
	a := startHistoryNode(t, srv, "a", r)
	b := startHistoryNode(t, srv, "b", r)
	var got received
	b.ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
	b.ps.Recover("room:1", nil)
	broadcastN(t, a.ps, "room:1", 1, 3)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 3 }, "three deliveries")
	old := positionOf(t, got.all()[2])

	js, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name := range js.StreamNames(ctx).Name() {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	broadcastN(t, a.ps, "room:1", 4, 4) // finds no stream: lost, and counted
	testutil.Eventually(t, 10*time.Second, func() bool { return a.j.Stats().Failed == 1 }, "the failed publish")
	broadcastN(t, a.ps, "room:1", 5, 6)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 5 }, "deliveries from the new stream")
	bs := got.all()
	if fmt.Sprint(bodies(t, bs)) != "[1 2 3 5 6]" {
		t.Fatalf("delivered %v", bodies(t, bs))
	}
	if p := positionOf(t, bs[3]); p.Epoch == old.Epoch || p.Seq != 1 {
		t.Fatalf("the first broadcast in the new stream has position %v (the old stream's last: %v)", p, old)
	}
	if rec, _ := b.ps.Recover("room:1", &old); rec.Outcome != topics.OtherEpoch {
		t.Fatalf("an old position: %v", rec.Outcome)
	}
}

// TestJetStreamGapGone: broadcasts a node missed that left the stream
// before it could read them back are counted lost, and the next one is
// delivered all the same.
func TestJetStreamGapGone(t *testing.T) {
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	r := topics.Retention{Count: 1}
	a := startHistoryNode(t, srv, "a", r)
	b := startHistoryNode(t, srv, "b", r)
	var got received
	a.ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
	a.ps.Recover("room:1", nil)
	broadcastN(t, b.ps, "room:1", 1, 1)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 1 }, "the first delivery")
	setRepublish(t, a.nc, false)
	broadcastN(t, b.ps, "room:1", 2, 3) // each pushes out the one before
	testutil.Eventually(t, 10*time.Second, func() bool {
		h := b.ps.History("room:1", 1)
		return len(h) == 1 && bodies(t, h)[0] == 3
	}, "the third stored unseen")
	setRepublish(t, a.nc, true)
	broadcastN(t, b.ps, "room:1", 4, 4) // pushes out the third before a can read it
	testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 2 }, "the fourth")
	if fmt.Sprint(bodies(t, got.all())) != "[1 4]" {
		t.Fatalf("delivered %v", bodies(t, got.all()))
	}
	if s := a.j.Stats(); s.Lost != 1 || s.Filled != 0 {
		t.Fatalf("stats %+v, want one gap lost and nothing filled", s)
	}
}

// TestJetStreamLongRecovery: a recovery from a fresh join's head (not a
// position of the topic) of more broadcasts than one read batch is exact.
func TestJetStreamLongRecovery(t *testing.T) {
	const n = 5000
	srv := testutil.StartNATS(t, testutil.NATSJetStream())
	a := startHistoryNode(t, srv, "a", topics.Retention{Count: 2 * n})
	fresh, _ := a.ps.Recover("room:1", nil)
	payload := protocol.RawJSON([]byte(`{"body":"x"}`))
	for range n {
		if err := a.ps.Publish(nil, topics.Broadcast{Topic: "room:1", Event: "msg", Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return a.j.Stats().Pending == 0 }, "every publish acknowledged")
	rec, _ := a.ps.Recover("room:1", &fresh.Head)
	if !rec.Recovered() || len(rec.Missed) != n || rec.Missed[0].Seq != fresh.Head.Seq+1 || rec.Missed[n-1].Seq != rec.Head.Seq {
		t.Fatalf("Recover = %v, %d missed, head %v", rec.Outcome, len(rec.Missed), rec.Head)
	}
}
