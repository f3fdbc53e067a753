// Package loadgen puts load on a Phoenix Channels server and measures how it
// copes. It speaks the V2 JSON protocol (vsn=2.0.0, what phoenix.js uses)
// over WebSocket, so the same run works against pyre and against Phoenix
// itself. `pyre bench` is its command-line face.
//
// Its modes, one function each (Rooms and Reconnect are described on
// their functions):
//
//   - Storm opens many connections, each joining its own topic, and reports
//     joins per second, connect+join latency, failures and, given the
//     server's process id, how much resident memory each connection costs.
//   - Fanout joins many subscribers and one publisher to one topic; the
//     publisher pushes `bench` events carrying a sequence number and a send
//     time, which the server must broadcast unchanged. It reports deliveries
//     per second, loss, reordering and delivery latency. With WithSlow some
//     subscribers are slow consumers instead (see below).
//   - Ping runs closed-loop `ping` requests (one in flight per client) and
//     reports replies per second and the round-trip time.
//   - Presence has many users join one room as fast as they can and plays
//     phoenix.js's Presence in each client (presence_state, then every
//     presence_diff, with a scanner that reads only keys and phx_refs): it
//     reports each joiner's wait for presence_state, how long after the
//     last join reply every view is complete, any view that is wrong, and
//     a late joiner's wait.
//
// A run is a complete measurement: it logs in, connects, lets setup
// traffic (presence, join replies) die down before it measures, closes
// every connection and returns a report. Reports marshal to JSON with the field
// names of the team's load harness, so figures from both can be set side by
// side, and print as a short human-readable summary with String.
//
//	rep, err := loadgen.Fanout(ctx, "http://127.0.0.1:4000", 1000,
//		loadgen.WithCount(50_000), loadgen.WithDuration(30*time.Second),
//		loadgen.WithServerPID(pid))
//	if err != nil {
//		return err // bad options, a refused target, or no subscriber could join
//	}
//	fmt.Print(rep) // deliveries/s, loss, reordering, latency p50/p90/p99/max
//
// # Loopback only
//
// Every target must be a loopback address: an IP in 127.0.0.0/8, ::1, or the
// name localhost. Anything else is refused with ErrNotLoopback before a
// single packet is sent; there is no option to allow remote targets. To open
// more connections than one source address has ephemeral ports for,
// WithSourceIPs spreads them over 127.0.0.2, 127.0.0.3, ….
//
// # Bounds
//
// Every loop stops on a count and on time: storms on the number of
// connections, fan-out on WithCount and WithDuration, ping on WithCount per
// client and WithDuration. Over all of it WithLimit (5 minutes by default)
// is a hard wall-clock limit: when it passes, every connection is closed and
// the run returns what it measured so far, marked Stopped: "limit" (or an
// error, if no connection had joined by then). The same happens, marked
// "interrupted", when the caller's context ends. Each wait for a reply is
// bounded by WithReplyTimeout. Heartbeats go out every 30 seconds
// (WithHeartbeat), as phoenix.js sends them, so long runs are not closed as
// idle.
//
// # Slow consumers
//
// WithSlow(n) makes n of fan-out's subscribers stop reading once they have
// joined and the measured window opens. They keep their sockets open, but
// read and send nothing (no heartbeats either), so what the server sends
// them fills the kernel's socket buffers and then the server's queue for
// them, and a server that bounds that queue closes them; pyre does, with
// close code 4000 (socket.CloseSlowConsumer). The other subscribers are
// the healthy ones: flow control waits only for them, so a stalled
// subscriber cannot stall the publisher, and every figure of the report
// but the slow ones counts only them. A client that does not read cannot
// tell that it was closed, so when publishing ends the slow subscribers
// read again, through whatever was buffered for them, until the close
// frame or the end of the stream, for at most WithDrain. The report then
// says how many of them the server had closed, with which close codes
// (1006 for a connection that ended without a close frame), and, for the
// closed ones, bounds on when: after the send time of the last message
// each received, before the moment it read the close.
//
//	rep, err := loadgen.Fanout(ctx, "http://127.0.0.1:4000", 1000,
//		loadgen.WithSlow(1), loadgen.WithDuration(10*time.Second))
//	// rep.Lost: what the 999 healthy subscribers missed;
//	// rep.SlowClosed, rep.SlowCloseCodes: {"4000": 1} from pyre
//
// # Several nodes
//
// WithMoreTargets spreads fan-out's subscribers over the nodes of one
// cluster: subscriber i on node i mod n, the publisher on the first, so
// that most deliveries cross from node to node. The logins go to the
// first node only, so the nodes must take each other's tokens (pyre chat
// nodes with the same -secret). WithServerPIDs names every node's process;
// the server figures are then sums, Header.Servers has each node's, and
// FanoutReport.PerTarget each node's deliveries.
//
//	rep, err := loadgen.Fanout(ctx, "http://127.0.0.1:4001", 1000,
//		loadgen.WithMoreTargets("http://127.0.0.1:4002"),
//		loadgen.WithServerPIDs(pidA, pidB))
//	// rep.ServerCPUUsPerDelivery: both nodes' CPU per delivery
//
// # What the server must do
//
// POST /api/login with {"user": NAME} answers {"token": T}, unless
// WithToken or WithoutLogin says otherwise; /socket/websocket (WithPath)
// accepts vsn=2.0.0&token=T; its room:* channel (any topic given with
// WithTopic) lets anyone join, replies ok with the payload to `ping`, and
// broadcasts `bench` to the topic unchanged without replying. pyre's chat
// example does all of this.
//
// # Concurrency
//
// Storm, Fanout and Ping are safe to call from any goroutine, and several
// runs may proceed at once (each has its own connections and counters,
// though they will of course compete for the CPU). A run starts one reader
// goroutine per connection, a heartbeat goroutine and a goroutine that
// enforces the limit; all of them have exited when the function returns.
// Reports are plain values owned by the caller.
package loadgen
