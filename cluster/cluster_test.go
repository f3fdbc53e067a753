package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/topics"
)

// room is the channel every test node serves on "room:*".
type room struct{}

func (room) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (room) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	var err error
	switch event {
	case "shout", "tagged":
		err = c.Broadcast(event, p)
	case "from":
		err = c.BroadcastFrom(event, p)
	case "local":
		err = c.LocalBroadcast(event, p)
	default:
		return actors.Error(map[string]string{"reason": "unmatched event"})
	}
	if err != nil {
		return actors.Error(map[string]string{"reason": err.Error()})
	}
	return actors.Ok(nil)
}

func (room) Intercept() []string { return []string{"tagged"} }

// HandleOut stamps intercepted broadcasts with the receiving node's name.
func (room) HandleOut(c *actors.Context, event string, p actors.Payload) actors.Result {
	var m map[string]any
	_ = p.Decode(&m)
	m["via"] = c.Node()
	_ = c.Push(event, m)
	return actors.NoReply()
}

// node is one pyre endpoint of a test cluster.
type node struct {
	n   *cluster.Node
	h   *socket.Handler
	url string
}

func startNode(t testing.TB, cfg cluster.Config) *node {
	t.Helper()
	n, err := cluster.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Clean-ups run last first: the handler shuts down, the server
	// closes, then the node.
	t.Cleanup(func() { n.Close() })
	r := actors.NewRouter()
	r.MustHandle("room:*", func() actors.Channel { return room{} })
	h, err := socket.New(r,
		socket.WithPubSub(n.PubSub()),
		socket.WithNode(n.Name()),
		socket.WithoutOriginCheck(),
		socket.WithDrain(0, 1),
		socket.WithConnect(func(_ context.Context, p url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
			return actors.Assigns{"user": p.Get("user")}, nil
		}),
		socket.WithID(func(a actors.Assigns) string {
			if u, _ := a["user"].(string); u != "" {
				return "users_socket:" + u
			}
			return ""
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.ServeSocket(t, h)
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	return &node{n: n, h: h, url: testutil.WSURL(srv.URL, "/socket/websocket")}
}

// startCluster runs an embedded NATS server in the first node and has the
// others connect to it.
func startCluster(t testing.TB, count int) []*node {
	t.Helper()
	first := startNode(t, cluster.Config{NATS: cluster.Embedded, Listen: "127.0.0.1:0", Node: "n0"})
	nodes := []*node{first}
	for i := 1; i < count; i++ {
		nodes = append(nodes, startNode(t, cluster.Config{NATS: first.n.ServerURL(), Node: fmt.Sprint("n", i)}))
	}
	return nodes
}

// dial opens a V2 WebSocket to n as user. Reads wait up to ten seconds:
// broadcasts cross nodes through NATS.
func dial(t testing.TB, n *node, user string) *testutil.WSConn {
	t.Helper()
	c := testutil.Dial(t, n.url+"?user="+url.QueryEscape(user), "2.0.0")
	c.Timeout = 10 * time.Second
	return c
}

// eventsUntil returns the frames other than replies that c receives
// before the broadcast with payload {"marker": marker}.
func eventsUntil(c *testutil.WSConn, marker string) []testutil.Frame {
	var out []testutil.Frame
	for {
		f := c.ReadFrame()
		if f.Event == "phx_reply" {
			continue
		}
		if f.Payload["marker"] == marker {
			return out
		}
		out = append(out, f)
	}
}

func TestBroadcastReachesEveryNodeOnce(t *testing.T) {
	nodes := startCluster(t, 3)
	var clients []*testutil.WSConn
	for i, n := range nodes {
		for j := range 2 {
			c := dial(t, n, fmt.Sprint("u", i, j))
			c.Join("room:1", nil)
			clients = append(clients, c)
		}
	}
	waitInterest(t, nodes, "room:1")
	sender := clients[0]
	sender.Push("room:1", "shout", map[string]any{"n": 1})
	sender.Push("room:1", "shout", map[string]any{"marker": "m1"})
	for i, c := range clients {
		got := eventsUntil(c, "m1")
		if len(got) != 1 || got[0].Event != "shout" || got[0].Payload["n"] != float64(1) {
			t.Errorf("client %d got %+v, want the shout exactly once", i, got)
		}
	}
}

func TestBroadcastFromSkipsOnlyTheSender(t *testing.T) {
	nodes := startCluster(t, 3)
	sender := dial(t, nodes[0], "a")
	sender.Join("room:1", nil)
	neighbour := dial(t, nodes[0], "b")
	neighbour.Join("room:1", nil)
	remote := []*testutil.WSConn{dial(t, nodes[1], "c"), dial(t, nodes[2], "d")}
	for _, c := range remote {
		c.Join("room:1", nil)
	}
	waitInterest(t, nodes, "room:1")
	sender.Push("room:1", "from", map[string]any{"n": 2})
	sender.Push("room:1", "shout", map[string]any{"marker": "m"})
	if got := eventsUntil(sender, "m"); len(got) != 0 {
		t.Errorf("the sender got its own broadcast_from: %+v", got)
	}
	for i, c := range append([]*testutil.WSConn{neighbour}, remote...) {
		got := eventsUntil(c, "m")
		if len(got) != 1 || got[0].Event != "from" {
			t.Errorf("client %d got %+v, want the broadcast_from once", i, got)
		}
	}
}

func TestInterceptRunsOnTheReceivingNode(t *testing.T) {
	nodes := startCluster(t, 3)
	var clients []*testutil.WSConn
	for i, n := range nodes {
		c := dial(t, n, fmt.Sprint("u", i))
		c.Join("room:1", nil)
		clients = append(clients, c)
	}
	waitInterest(t, nodes, "room:1")
	clients[0].Push("room:1", "tagged", map[string]any{"n": 3})
	for i, c := range clients {
		f := c.ReadUntil("tagged push", func(f testutil.Frame) bool { return f.Event == "tagged" })
		if want := fmt.Sprint("n", i); f.Payload["via"] != want {
			t.Errorf("client %d: HandleOut ran on %v, want %s", i, f.Payload["via"], want)
		}
	}
}

func TestLocalBroadcastStaysLocal(t *testing.T) {
	nodes := startCluster(t, 2)
	here, there := dial(t, nodes[0], "a"), dial(t, nodes[1], "b")
	here.Join("room:1", nil)
	there.Join("room:1", nil)
	waitInterest(t, nodes, "room:1")
	here.Push("room:1", "local", map[string]any{"n": 1})
	here.Push("room:1", "shout", map[string]any{"marker": "m"})
	if got := eventsUntil(here, "m"); len(got) != 1 || got[0].Event != "local" {
		t.Errorf("local node got %+v", got)
	}
	if got := eventsUntil(there, "m"); len(got) != 0 {
		t.Errorf("a local broadcast crossed nodes: %+v", got)
	}
}

func TestSocketIDDisconnectAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	alice1, alice2 := dial(t, nodes[1], "alice"), dial(t, nodes[2], "alice")
	bob := dial(t, nodes[2], "bob")
	for _, c := range []*testutil.WSConn{alice1, alice2, bob} {
		c.Join("room:1", nil) // a round trip: the socket and its id topic are up
	}
	waitInterest(t, nodes, "users_socket:alice")
	if err := nodes[0].h.Broadcast("users_socket:alice", "disconnect", nil); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*testutil.WSConn{alice1, alice2} {
		if code := c.ReadClose(); code != websocket.CloseGoingAway {
			t.Errorf("alice socket %d closed with %d, want 1001", i, code)
		}
	}
	bob.Push("room:1", "shout", map[string]any{"marker": "still here"})
	eventsUntil(bob, "still here")
}

// waitInterest makes sure every node's subscription to topic reached the
// NATS server: PubSub.Subscribe queues the NATS SUB before it returns, and a
// flush is a round trip through the server, so a broadcast made afterwards
// reaches every node with subscribers.
func waitInterest(t testing.TB, nodes []*node, topic string) {
	t.Helper()
	for _, n := range nodes {
		if n.n.PubSub().Count(topic) == 0 {
			continue
		}
		if err := n.n.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// orderSink records (sender, seq) pairs delivered to one subscriber.
type orderSink struct {
	mu   sync.Mutex
	last map[string]int
	n    int
	bad  []string
	done chan struct{}
	want int
}

func (s *orderSink) deliver(b topics.Broadcast) {
	var m struct {
		Sender string `json:"sender"`
		Seq    int    `json:"seq"`
	}
	_ = b.Payload.Decode(&m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.last[m.Sender]; ok && m.Seq != prev+1 {
		s.bad = append(s.bad, fmt.Sprintf("%s: %d after %d", m.Sender, m.Seq, prev))
	} else if !ok && m.Seq != 0 {
		s.bad = append(s.bad, fmt.Sprintf("%s starts at %d", m.Sender, m.Seq))
	}
	s.last[m.Sender] = m.Seq
	s.n++
	if s.n == s.want {
		close(s.done)
	}
}

func TestPerSenderOrderAndNoDuplicates(t *testing.T) {
	nodes := startCluster(t, 3)
	const senders, each = 4, 500
	total := 2 * senders * each // senders on n0 and on n1
	var sinks []*orderSink
	for _, n := range nodes {
		for range 2 {
			s := &orderSink{last: map[string]int{}, done: make(chan struct{}), want: total}
			n.n.PubSub().Subscribe("order", topics.Subscriber{Deliver: s.deliver})
			sinks = append(sinks, s)
		}
	}
	waitInterest(t, nodes, "order")
	var wg sync.WaitGroup
	for _, n := range nodes[:2] {
		for g := range senders {
			wg.Go(func() {
				name := fmt.Sprint(n.n.Name(), "/", g)
				for i := range each {
					if err := n.n.PubSub().Broadcast("order", "tick", map[string]any{"sender": name, "seq": i}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for i, s := range sinks {
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			s.mu.Lock()
			t.Fatalf("subscriber %d got %d of %d", i, s.n, total)
		}
	}
	for _, n := range nodes {
		if err := n.n.Conn().Flush(); err != nil { // anything extra would be in flight now
			t.Fatal(err)
		}
	}
	for i, s := range sinks {
		s.mu.Lock()
		if s.n != total || len(s.bad) > 0 {
			t.Errorf("subscriber %d: %d deliveries (want %d), order faults %v", i, s.n, total, s.bad)
		}
		s.mu.Unlock()
	}
}

func TestOddTopicsCrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	topicsToTry := []string{"a.b.c", "with space", "*", ">", "ünïcödé:✓", "", strings.Repeat("x.*> é", 200)[:1024]}
	for _, topic := range topicsToTry {
		got := make(chan topics.Broadcast, 1)
		sub := nodes[1].n.PubSub().Subscribe(topic, topics.Subscriber{Deliver: func(b topics.Broadcast) { got <- b }})
		waitInterest(t, nodes[1:], topic)
		if err := nodes[0].n.PubSub().Broadcast(topic, "e", map[string]int{"n": 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-got:
			if b.Topic != topic || b.Event != "e" || string(b.Payload.Bytes()) != `{"n":1}` {
				t.Errorf("topic %q arrived as %q %q %s", topic, b.Topic, b.Event, b.Payload.Bytes())
			}
		case <-time.After(5 * time.Second):
			t.Errorf("broadcast on topic %q never crossed", topic)
		}
		sub.Unsubscribe()
	}
}

func TestInterestFollowsSubscribers(t *testing.T) {
	nodes := startCluster(t, 1)
	ps := nodes[0].n.PubSub()
	topicsOf := func() int { return nodes[0].n.Health().NATS.Topics }
	a := ps.Subscribe("t", topics.Subscriber{Deliver: func(topics.Broadcast) {}})
	b := ps.Subscribe("t", topics.Subscriber{Deliver: func(topics.Broadcast) {}})
	if got := topicsOf(); got != 1 {
		t.Fatalf("two subscribers of one topic: %d NATS subscriptions, want 1", got)
	}
	a.Unsubscribe()
	if got := topicsOf(); got != 1 {
		t.Fatalf("one subscriber left: %d NATS subscriptions, want 1", got)
	}
	b.Unsubscribe()
	if got := topicsOf(); got != 0 {
		t.Fatalf("no subscriber left: %d NATS subscriptions, want 0", got)
	}
}

func TestNodeNamesAreUnique(t *testing.T) {
	nodes := startCluster(t, 2)
	_, err := cluster.Start(cluster.Config{NATS: nodes[0].n.ServerURL(), Node: "n1"})
	if !errors.Is(err, cluster.ErrNameTaken) {
		t.Fatalf("second node named n1: %v, want ErrNameTaken", err)
	}
}

func TestSingleNodeHasNoNATS(t *testing.T) {
	n, err := cluster.Start(cluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h := n.Health()
	if h.Mode != "single" || h.NATS != nil || !h.OK || n.Conn() != nil || h.Node == "" {
		t.Fatalf("single node health = %+v", h)
	}
}
