// Package socket serves Phoenix Channels connections over WebSocket and
// long-poll: it authenticates a socket, picks its serializer from the vsn
// parameter, runs
// one Socket actor per connection that spawns a channel actor per joined
// topic, and writes everything through a per-connection bounded writer.
//
//	router := actors.NewRouter()
//	router.MustHandle("room:*", func() actors.Channel { return &Room{} })
//	h, err := socket.New(router,
//		socket.WithConnect(func(ctx context.Context, params url.Values, info socket.ConnInfo) (actors.Assigns, error) {
//			user, err := signer.Verify(info.Token) // phoenix.js: {authToken: token}
//			if err != nil {
//				return nil, err // HTTP 403, no WebSocket
//			}
//			return actors.Assigns{"user": string(user)}, nil
//		}),
//		socket.WithID(func(a actors.Assigns) string { return "users_socket:" + a["user"].(string) }),
//	)
//	mux.Handle("/socket/", h) // serves /socket/websocket and /socket/longpoll
//
// ConnInfo.Token is the token of phoenix.js's authToken option (since
// Phoenix 1.8 the recommended way, which keeps it out of the URL); a token
// sent as a parameter, {params: {token}}, is params.Get("token").
//
// Long-poll is the transport of phoenix.js's LongPoll class (and of its
// longPollFallbackMs fallback). A long-poll session is a socket like any
// other: its channels cannot tell the difference, except that it carries
// no binary frames from the server. The session lives on the node that
// opened it; in a cluster behind a plain load balancer, WithLongPollRelay
// forwards each request to that node over NATS:
//
//	socket.WithLongPollRelay(node.Conn(), node.Name(), node.Prefix())
//
// Sockets and channels are actors of a protoactor actor system: the
// handler's own, which Shutdown stops, or the app's, passed with
// WithActorSystem so that channels and the app's actors (a supervision
// tree) can message each other; the app then stops it after Shutdown.
//
// Limits have clear outcomes: a frame over the size limit closes the
// connection with 1009; a malformed frame is dropped with a warning and the
// connection carries on; a client that does not read its queue is closed
// with 4000; a silent one (no frame for the idle timeout) with 1001.
// Broadcasting "disconnect" on a socket id closes its sockets with 1001.
// Shutdown closes every socket with 1012, after which phoenix.js
// reconnects (to another node if there is one). Long-poll has no close
// codes: a closed session answers its polls with status 410, on which
// phoenix.js reconnects; a session nobody polls for its timeout (20s) is
// closed; a POST over its size limit gets 413; one session more than the
// handler's limit (10 000) gets 500, one more than a socket id's (16)
// HTTP 429 with the body status 500, on which phoenix.js retries.
//
// Two caps keep one client from pinning a node, both off by default:
// WithMaxSocketsPerID bounds the live sockets of one socket id (one user's
// tabs, WebSocket and long-poll together), WithMaxConnsPerAddr those of one
// IP address. They are checked together when a socket is reserved, after
// Connect and before the WebSocket handshake answers 101 or the long-poll
// session opens, and a socket over either is refused with HTTP 429 (a
// long-poll opening poll's body says 500): phoenix.js takes it for a
// failed attempt and retries after its backoff, and gets in once one of
// the user's other sockets has closed. Each refusal is logged at warn
// level, naming the cap and its limit, and counted by cause in
// pyre_connects_refused_total.
//
// WithAdmission bounds the rate at which new sockets are admitted, for the
// reconnect storm after a deploy (phoenix.js retries on a fixed schedule
// with no jitter, so a drained node's clients all come back at once): a
// WebSocket upgrade or a long-poll session's opening poll over the rate is
// answered 503 with Retry-After before Connect runs, and phoenix.js tries
// again after its backoff. RefusedConnects counts those refusals.
//
// Collector returns the handler's Prometheus metrics, to register on a
// registry of the app's own: sockets by transport, why they closed,
// channels and joins by route pattern, event handling times, replies,
// crashes, broadcasts, the writers' flushes, and the presence tracker and
// NATS adapter the handler uses. Connections and channels keep plain
// atomic counters; the collector reads them when it is scraped.
//
// # Concurrency
//
// Handler methods are safe from any goroutine. Per connection there is one
// reader goroutine while it has traffic and none while it is idle (on
// Linux, for connections without TLS, an idle poller, one epoll instance
// for the process, starts a reader when the socket becomes readable, its
// idle deadline passes or it is closed; elsewhere the reader waits on a
// minimal stack), and at most one writer goroutine, which exists only while the socket cannot take
// queued frames at once or the connection closes; otherwise a few
// handler-wide flush workers, which exist only while some connection has
// frames to write, write for every connection with non-blocking writes.
// Socket and channel state live in actors and are touched only from their
// Receive. The Socket actor handles joins, leaves of unknown topics and
// everything that must wait behind a join; once a topic is joined and the
// Socket actor holds nothing earlier of the connection, the WebSocket
// reader hands that topic's pushes straight to its channel actor, from a
// table of joined channels the Socket actor publishes. Either way a
// channel sees its client's messages in the order they were sent. The
// reader and the Socket actor share only that table, a count of held
// messages and the credits that bound a connection's unhandled messages;
// the rules they follow are written down, one by one, on the fastPath
// type (fastpath.go). A long-poll session holds no goroutine
// of its own: a waiting poll holds its HTTP request's, for at most the
// poll window. Transport implementations must make Send, Close and
// Overflow safe from any goroutine and non-blocking. The Connect and ID
// callbacks run on the goroutine of the request that opens the socket,
// before the socket exists; Connect may block (a database lookup) and
// should give up once its ctx ends, which it does when the client goes
// away. Sockets (what the admin view shows) asks each Socket actor to
// describe itself through its mailbox, a bounded number at a time and
// within its ctx; it reads no actor's fields.
package socket
