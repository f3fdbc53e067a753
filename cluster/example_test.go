package cluster_test

import (
	"fmt"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/topics"
)

// The zero Config is a single node: an in-process PubSub and no NATS.
func ExampleStart() {
	n, err := cluster.Start(cluster.Config{Node: "web-1"})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	n.PubSub().Subscribe("room:lobby", topics.Subscriber{Deliver: func(b topics.Broadcast) {
		fmt.Println("delivered", b.Event, string(b.Payload.Bytes()))
	}})
	_ = n.PubSub().Broadcast("room:lobby", "new_msg", map[string]string{"body": "hi"})

	h := n.Health()
	fmt.Println(h.Node, h.Mode, h.OK, n.Conn() == nil)
	// Output:
	// delivered new_msg {"body":"hi"}
	// web-1 single true true
}

// Two nodes in one process: the first runs an embedded NATS server on a
// free loopback port, the second connects to it, and a broadcast on one
// reaches the subscribers of the other.
func ExampleStart_embedded() {
	a, err := cluster.Start(cluster.Config{NATS: cluster.Embedded, Listen: "127.0.0.1:0", Node: "a"})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := cluster.Start(cluster.Config{NATS: a.ServerURL(), Node: "b"})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	got := make(chan topics.Broadcast, 1)
	b.PubSub().Subscribe("room:lobby", topics.Subscriber{Deliver: func(br topics.Broadcast) { got <- br }})
	// Subscribe sends the NATS subscription without waiting for it; a
	// flush is a round trip through the server, after which a's
	// broadcast is routed to b.
	if err := b.Conn().Flush(); err != nil {
		panic(err)
	}
	_ = a.PubSub().Broadcast("room:lobby", "new_msg", map[string]string{"body": "from a"})
	select {
	case br := <-got:
		fmt.Println("b got", br.Event, string(br.Payload.Bytes()))
	case <-time.After(5 * time.Second):
		fmt.Println("nothing crossed")
	}
	fmt.Println(a.Health().Mode, b.Health().Mode, b.Health().NATS.Topics)
	// Output:
	// b got new_msg {"body":"from a"}
	// embedded nats 1
}
