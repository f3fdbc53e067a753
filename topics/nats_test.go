package topics_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/topics"
)

// natsNode is one PubSub linked to the others through the NATS adapter.
type natsNode struct {
	name string
	ps   *topics.PubSub
	nc   *nats.Conn
	n    *topics.NATS
}

// startNATSNode connects a PubSub named name to srv. The connection keeps
// echo on unless noEcho: the adapter must then drop its own publishes by
// node name.
func startNATSNode(t *testing.T, srv *server.Server, name string, noEcho bool, opts ...topics.Option) *natsNode {
	t.Helper()
	nopts := []nats.Option{nats.Name(name)}
	if noEcho {
		nopts = append(nopts, nats.NoEcho())
	}
	nc, err := nats.Connect(srv.ClientURL(), nopts...)
	if err != nil {
		t.Fatal(err)
	}
	ps := topics.New()
	n, err := topics.NewNATS(ps, nc, append([]topics.Option{topics.WithNode(name)}, opts...)...)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Close()
		nc.Close()
	})
	return &natsNode{name: name, ps: ps, nc: nc, n: n}
}

// flush is a round trip through the server: every SUB, UNSUB and PUB the
// node sent before it has been processed when it returns.
func (nd *natsNode) flush(t *testing.T) {
	t.Helper()
	if err := nd.nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// serverSubjects is what the server holds as the node's subscriptions.
func (nd *natsNode) serverSubjects(t *testing.T, srv *server.Server) []string {
	t.Helper()
	nd.flush(t)
	cz, err := srv.Connz(&server.ConnzOptions{Subscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == nd.name {
			subs := slices.Clone(c.Subs)
			slices.Sort(subs)
			return subs
		}
	}
	t.Fatalf("the server has no connection named %s", nd.name)
	return nil
}

// inbox is a Deliver function's destination.
type inbox chan topics.Broadcast

func newInbox() inbox { return make(inbox, 4096) }

func (in inbox) deliver(b topics.Broadcast) { in <- b }

func (in inbox) sub() topics.Subscriber { return topics.Subscriber{Deliver: in.deliver} }

// next waits for the next broadcast.
func (in inbox) next(t *testing.T) topics.Broadcast {
	t.Helper()
	return testutil.Receive(t, in, 5*time.Second, "no broadcast arrived within 5s")
}

// none checks that nothing is waiting in the inbox.
func (in inbox) none(t *testing.T, what string) {
	t.Helper()
	select {
	case b := <-in:
		t.Fatalf("%s: got %s %s %s", what, b.Topic, b.Event, b.Payload.Bytes())
	default:
	}
}

func text(b topics.Broadcast) string {
	return fmt.Sprintf("%s %s %s", b.Topic, b.Event, b.Payload.Bytes())
}

// TestNATSBroadcastCrossesNodes: a broadcast reaches the local subscriber
// once and the other node's subscribers once each, and the counters say
// so. The publisher's connection has echo on, so the server sends its own
// publish back to it: the adapter must drop that by node name.
func TestNATSBroadcastCrossesNodes(t *testing.T) {
	srv := testutil.StartNATS(t)
	a := startNATSNode(t, srv, "a", false)
	b := startNATSNode(t, srv, "b", true)
	atA, atB1, atB2 := newInbox(), newInbox(), newInbox()
	a.ps.Subscribe("room:1", atA.sub())
	b.ps.Subscribe("room:1", atB1.sub())
	b.ps.Subscribe("room:1", atB2.sub())
	b.flush(t)

	if err := a.ps.Broadcast("room:1", "new_msg", map[string]string{"body": "hi"}); err != nil {
		t.Fatal(err)
	}
	want := `room:1 new_msg {"body":"hi"}`
	for name, in := range map[string]inbox{"a": atA, "b1": atB1, "b2": atB2} {
		if got := text(in.next(t)); got != want {
			t.Errorf("subscriber %s got %s, want %s", name, got, want)
		}
	}
	// b answers on the same topic. When a has that, anything the server
	// sent a before it, its own publish included, has been handled on the
	// topic's lane.
	if err := b.ps.Broadcast("room:1", "marker", nil); err != nil {
		t.Fatal(err)
	}
	if got := text(atA.next(t)); got != "room:1 marker {}" {
		t.Fatalf("a got %s, want b's marker: its own broadcast came back", got)
	}
	atA.none(t, "a after the marker")
	if s := a.n.Stats(); s.Published != 1 || s.Received != 1 || s.Dropped != 0 || s.PublishFailed != 0 || s.Topics != 1 || s.Status != "CONNECTED" {
		t.Errorf("a's stats %+v: want 1 published, 1 received (the marker, not its own echo), 1 topic", s)
	}
	if s := b.n.Stats(); s.Published != 1 || s.Received != 1 {
		t.Errorf("b's stats %+v: want 1 published, 1 received", s)
	}
}

// TestNATSBroadcastFrom skips the sending subscription on its own node
// only; the other node delivers to all of its subscribers.
func TestNATSBroadcastFrom(t *testing.T) {
	srv := testutil.StartNATS(t)
	a := startNATSNode(t, srv, "a", true)
	b := startNATSNode(t, srv, "b", true)
	sender, neighbour, remote := newInbox(), newInbox(), newInbox()
	from := a.ps.Subscribe("t", sender.sub())
	a.ps.Subscribe("t", neighbour.sub())
	b.ps.Subscribe("t", remote.sub())
	b.flush(t)
	if err := a.ps.BroadcastFrom(from, "t", "e", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]inbox{"neighbour": neighbour, "remote": remote} {
		if got := text(in.next(t)); got != `t e {"n":1}` {
			t.Errorf("%s got %s", name, got)
		}
	}
	sender.none(t, "the sender of a broadcast_from")
}

// TestNATSOddTopicsRoundTrip sends topics that NATS would read as several
// tokens or as wildcards: each arrives under its own name, on the subject
// Subject names, and a subscriber of "*" or ">" gets only its own topic.
func TestNATSOddTopicsRoundTrip(t *testing.T) {
	srv := testutil.StartNATS(t)
	a := startNATSNode(t, srv, "a", true, topics.WithSubjectPrefix("app"))
	// One lane: b handles everything it receives in the order it arrives.
	b := startNATSNode(t, srv, "b", true, topics.WithSubjectPrefix("app"), topics.WithLanes(1, 1024))
	odd := []string{"a.b.c", "a", "with space", "*", ">", "a.*", "a.>", "~", "~2E", "ünïcödé:✓", "", "\x00\xff", strings.Repeat("x.*> é", 200)[:1024]}
	inboxes := map[string]inbox{}
	for _, topic := range odd {
		in := newInbox()
		inboxes[topic] = in
		b.ps.Subscribe(topic, in.sub())
	}
	for _, topic := range odd {
		if got, want := a.n.Subject(topic), "app.t."+topics.SubjectToken(topic); got != want {
			t.Errorf("Subject(%q) = %q, want %q", topic, got, want)
		}
		if got, want := a.n.Subject(topic), b.n.Subject(topic); got != want {
			t.Errorf("two nodes name the subject of %q %q and %q", topic, got, want)
		}
	}
	// The subjects the server holds for b are those of its topics.
	var want []string
	for _, topic := range odd {
		want = append(want, b.n.Subject(topic))
	}
	slices.Sort(want)
	if got := b.serverSubjects(t, srv); !slices.Equal(got, want) {
		t.Errorf("the server holds b's subscriptions %q, want %q", got, want)
	}

	// Topics b does not subscribe, that a wildcard or a prefix would
	// catch, go first; then each subscribed topic once.
	for _, topic := range []string{"x", "a.b", "a.x.y", "z.>"} {
		if err := a.ps.Broadcast(topic, "stray", nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, topic := range odd {
		if err := a.ps.Broadcast(topic, "e", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	for i, topic := range odd {
		b := inboxes[topic].next(t)
		if b.Topic != topic || b.Event != "e" || string(b.Payload.Bytes()) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Errorf("topic %q arrived as %q %q %s", topic, b.Topic, b.Event, b.Payload.Bytes())
		}
	}
	for topic, in := range inboxes {
		in.none(t, fmt.Sprintf("subscriber of %q", topic))
	}
	// The strays came first on the one lane: had any reached b, it would
	// be counted by now.
	if s := b.n.Stats(); s.Received != uint64(len(odd)) || s.Dropped != 0 {
		t.Errorf("b received %d and dropped %d, want %d and 0: a stray topic reached it", s.Received, s.Dropped, len(odd))
	}
}

// TestNATSPerTopicOrder: broadcasts from one sender arrive in the order
// sent, topic by topic, while several topics share the lanes.
func TestNATSPerTopicOrder(t *testing.T) {
	srv := testutil.StartNATS(t)
	a := startNATSNode(t, srv, "a", true)
	b := startNATSNode(t, srv, "b", true, topics.WithLanes(3, 8192))
	const topicCount, each = 8, 500
	var mu sync.Mutex
	got := map[string][]int{}
	done := make(chan struct{})
	total := 0
	for k := range topicCount {
		b.ps.Subscribe(fmt.Sprint("order:", k), topics.Subscriber{Deliver: func(br topics.Broadcast) {
			var m struct{ Seq int }
			_ = br.Payload.Decode(&m)
			mu.Lock()
			defer mu.Unlock()
			got[br.Topic] = append(got[br.Topic], m.Seq)
			if total++; total == topicCount*each {
				close(done)
			}
		}})
	}
	b.flush(t)
	for i := range each {
		for k := range topicCount {
			if err := a.ps.Broadcast(fmt.Sprint("order:", k), "tick", map[string]int{"seq": i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d broadcasts arrived", total, topicCount*each)
	}
	mu.Lock()
	defer mu.Unlock()
	for k := range topicCount {
		seqs := got[fmt.Sprint("order:", k)]
		if len(seqs) != each {
			t.Errorf("topic %d: %d broadcasts, want %d", k, len(seqs), each)
			continue
		}
		for i, s := range seqs {
			if s != i {
				t.Errorf("topic %d: broadcast %d arrived in place %d", k, s, i)
				break
			}
		}
	}
}

// TestNATSInterestFollowsSubscribers: a topic is subscribed on NATS while
// it has local subscribers and not otherwise, so a node receives nothing
// for topics nobody there listens to.
func TestNATSInterestFollowsSubscribers(t *testing.T) {
	srv := testutil.StartNATS(t)
	// Subscribed before the adapter is attached: Attach reports it.
	ps := topics.New()
	early := newInbox()
	ps.Subscribe("early", early.sub())
	nc, err := nats.Connect(srv.ClientURL(), nats.Name("b"), nats.NoEcho())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	n, err := topics.NewNATS(ps, nc, topics.WithNode("b"), topics.WithLanes(1, 1024))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	b := &natsNode{name: "b", ps: ps, nc: nc, n: n}
	a := startNATSNode(t, srv, "a", true)

	subjects := func() []string { return b.serverSubjects(t, srv) }
	if got := subjects(); !slices.Equal(got, []string{n.Subject("early")}) || n.Stats().Topics != 1 {
		t.Fatalf("after Attach: server holds %q, Topics %d; want the early topic alone", got, n.Stats().Topics)
	}
	if err := a.ps.Broadcast("early", "e", nil); err != nil {
		t.Fatal(err)
	}
	if got := text(early.next(t)); got != "early e {}" {
		t.Fatalf("the early subscriber got %s", got)
	}

	in := newInbox()
	s1 := ps.Subscribe("t", in.sub())
	s2 := ps.Subscribe("t", in.sub())
	want := []string{n.Subject("early"), n.Subject("t")}
	slices.Sort(want)
	if got := subjects(); !slices.Equal(got, want) || n.Stats().Topics != 2 {
		t.Fatalf("two subscribers of t: server holds %q, Topics %d; want %q", got, n.Stats().Topics, want)
	}
	s1.Unsubscribe()
	if got := subjects(); !slices.Equal(got, want) {
		t.Fatalf("one subscriber of t left: server holds %q, want %q", got, want)
	}
	s2.Unsubscribe()
	s2.Unsubscribe() // idempotent: t stays unsubscribed once
	if got := subjects(); !slices.Equal(got, []string{n.Subject("early")}) || n.Stats().Topics != 1 {
		t.Fatalf("no subscriber of t left: server holds %q, Topics %d", got, n.Stats().Topics)
	}

	// With no interest in t, b gets nothing for it: the broadcast on t
	// goes first, the marker on the early topic after it on b's one lane.
	before := n.Stats().Received
	if err := a.ps.Broadcast("t", "unheard", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.ps.Broadcast("early", "marker", nil); err != nil {
		t.Fatal(err)
	}
	if got := text(early.next(t)); got != "early marker {}" {
		t.Fatalf("the early subscriber got %s", got)
	}
	if got := n.Stats().Received - before; got != 1 {
		t.Fatalf("b received %d messages for one broadcast on its topic and one on a topic it left", got)
	}
	in.none(t, "the unsubscribed topic")
}

// TestNATSMalformedMessagesAreDropped: a message on a topic's subject that
// is not an envelope is counted and dropped; the lane goes on.
func TestNATSMalformedMessagesAreDropped(t *testing.T) {
	srv := testutil.StartNATS(t)
	a := startNATSNode(t, srv, "a", true)
	b := startNATSNode(t, srv, "b", true)
	in := newInbox()
	b.ps.Subscribe("t", in.sub())
	b.flush(t)
	raw, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, junk := range []string{"", "x", "\x02\x00", "\x01\x00\x05"} {
		if err := raw.Publish(b.n.Subject("t"), []byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	// Flushed, the junk is ahead of a's broadcast at the server.
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.ps.Broadcast("t", "ok", nil); err != nil {
		t.Fatal(err)
	}
	if got := text(in.next(t)); got != "t ok {}" {
		t.Fatalf("got %s, want the broadcast after the junk", got)
	}
	if s := b.n.Stats(); s.Dropped != 4 || s.Received != 1 {
		t.Fatalf("stats %+v: want 4 dropped, 1 received", s)
	}
}

// TestNATSClose: Close unsubscribes every topic and stops the
// dispatchers; broadcasts stay local afterwards, the connection stays
// open, and a second Close does nothing.
func TestNATSClose(t *testing.T) {
	srv := testutil.StartNATS(t)
	b := startNATSNode(t, srv, "b", true)
	remote := newInbox()
	b.ps.Subscribe("t", remote.sub())
	b.flush(t)

	testutil.CheckGoroutines(t) // the dispatchers of a end with Close
	a := startNATSNode(t, srv, "a", true)
	local := newInbox()
	a.ps.Subscribe("t", local.sub())
	a.ps.Subscribe("u", local.sub())
	if got := a.serverSubjects(t, srv); len(got) != 2 {
		t.Fatalf("before Close the server holds %q for a, want two topics", got)
	}
	if err := a.n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := a.serverSubjects(t, srv); len(got) != 0 {
		t.Fatalf("after Close the server holds %q for a", got)
	}
	if s := a.n.Stats(); s.Topics != 0 || s.Status != "CONNECTED" || !a.nc.IsConnected() {
		t.Fatalf("after Close: %+v, connected %v; want no topics and the connection open", s, a.nc.IsConnected())
	}

	if err := a.ps.Broadcast("t", "after", nil); err != nil {
		t.Fatal(err)
	}
	if got := text(local.next(t)); got != "t after {}" {
		t.Fatalf("a's local subscriber got %s", got)
	}
	// New interest after Close is not sent to NATS either.
	a.ps.Subscribe("v", local.sub())
	if got := a.serverSubjects(t, srv); len(got) != 0 {
		t.Fatalf("a subscribe after Close reached the server: %q", got)
	}
	// Had a published, the flush would have put it ahead of c's marker.
	a.flush(t)
	c := startNATSNode(t, srv, "c", true)
	if err := c.ps.Broadcast("t", "marker", nil); err != nil {
		t.Fatal(err)
	}
	if got := text(remote.next(t)); got != "t marker {}" {
		t.Fatalf("b got %s, want only c's marker: a broadcast after Close left the node", got)
	}
	if s := a.n.Stats(); s.Published != 0 {
		t.Fatalf("a counted %d publishes after Close", s.Published)
	}
}

func TestNewNATSRefuses(t *testing.T) {
	srv := testutil.StartNATS(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for name, opts := range map[string][]topics.Option{
		"no node name":     nil,
		"empty node name":  {topics.WithNode("")},
		"prefix with dots": {topics.WithNode("a"), topics.WithSubjectPrefix("a.b")},
		"empty prefix":     {topics.WithNode("a"), topics.WithSubjectPrefix("")},
		"no lanes":         {topics.WithNode("a"), topics.WithLanes(0, 1)},
		"no lane buffer":   {topics.WithNode("a"), topics.WithLanes(1, 0)},
	} {
		if _, err := topics.NewNATS(topics.New(), nc, opts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// A PubSub takes one remote; the refused adapter stops what it started.
	ps := topics.New()
	first, err := topics.NewNATS(ps, nc, topics.WithNode("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	testutil.CheckGoroutines(t)
	if _, err := topics.NewNATS(ps, nc, topics.WithNode("b")); !errors.Is(err, topics.ErrAttached) {
		t.Fatalf("second adapter on one PubSub: %v, want ErrAttached", err)
	}
}
