// Package cluster starts the PubSub a pyre node runs on: in-process only
// for a single node, or linked to other nodes through NATS, either a NATS
// server the node connects to or one embedded in the process.
//
//	n, err := cluster.Start(cluster.Config{NATS: "nats://10.0.0.5:4222", Node: "web-1"})
//	if err != nil { ... }
//	defer n.Close()
//	h, _ := socket.New(router, socket.WithPubSub(n.PubSub()), socket.WithNode(n.Name()))
//
// Config.NATS selects the mode:
//
//   - "" — single node: a plain topics.PubSub, no NATS at all.
//   - "embedded" — a NATS server runs inside the process, listening on
//     Config.Listen (default 127.0.0.1:4222) so that other nodes can connect
//     to it, and this node joins it over an in-process connection.
//   - "nats://host:4222[,nats://other:4222]" — connect to a NATS server or
//     cluster. The connection is retried until it succeeds, reconnects after
//     a server restart or failover, and nats.go re-sends every subscription
//     to the server it reconnects to. Local subscribers are served all the
//     while; see topics.NATS for what crosses nodes during an outage.
//
// Config.JetStream keeps the history of recoverable topics (routes made
// with actors.WithHistory) in NATS JetStream rather than in each node's
// memory (topics.JetStream): every node serves the same positions, a
// client may come back on any node, and the history survives the loss of
// any pyre node. With an embedded server it names the directory the
// server stores in; against other servers any non-empty value turns it on,
// and Start fails with topics.ErrNoJetStream when they do not offer it.
// The histories live in a fixed set of streams, one per retention class
// and partition (Config.JetStreamPartitions, the same on every node); the
// first node to make a class's streams sets their byte bound and
// storage. Start refuses a server that holds streams of the layout pyre
// used before, one per topic (topics.ErrOldHistoryLayout), unless
// Config.JetStreamRemoveOld deletes them.
//
// Node names appear in every log line and cluster envelope and must be
// unique in a cluster: Start asks the cluster whether the name is taken and
// refuses to start a second node with the same name. The default is the
// host name with a random suffix.
//
// Members lists the cluster's nodes: in the NATS modes each node
// publishes a heartbeat on PREFIX.members every Config.Heartbeat (one
// second), answers a newcomer's at once, and says goodbye when it closes;
// a node unheard for three heartbeats is gone.
//
// # Concurrency
//
// A Node's methods are safe from any goroutine. The membership list is
// kept under a lock, written by the NATS subscription and a heartbeat
// goroutine that Close stops and waits for. Close stops the NATS
// adapter, drains and closes the connection, then stops an embedded server.
package cluster
