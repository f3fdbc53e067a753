// Package transport is the seam between the socket handler and the ways a
// client reaches it (WebSocket, long-poll). A transport turns its wire into
// two halves of one socket: the socket's frames leave through a Sink the
// transport implements, and the client's messages enter through the Conn
// the handler gives back. What a transport needs from the handler (open a
// socket through the Connect callback, the drain state, the origin check,
// the shared limits) it asks an Endpoint.
//
// A transport opens a socket like this:
//
//	conn, err := ep.Open(r.Context(), sink, r.URL.Query(), ep.ConnInfo(r))
//	switch {
//	case errors.Is(err, transport.ErrRefused):
//		// answer 403
//	case errors.Is(err, transport.ErrTooManyConns), errors.Is(err, transport.ErrTooManySockets):
//		// answer 429: a cap on live sockets
//	case err != nil:
//		// answer "try later"
//	}
//	for msg := range fromClient {
//		if !conn.Handle(msg) {
//			break // the socket is closing
//		}
//	}
//	conn.Closed(actors.ErrClosed) // the client went away
//
// The package holds no state: only the interfaces and types both sides
// name, so that a transport package depends on this one and not on socket.
//
// # Concurrency
//
// Endpoint methods are safe from any goroutine. A Sink's methods are
// called from the socket's actor, its channels and PubSub deliveries at
// once, so they must be safe from any goroutine and must not block: a
// Sink queues and returns. Every Conn method is safe from any goroutine.
// Handle blocks while the socket is behind (that is its back-pressure)
// and keeps the order of the calls of one goroutine only: a transport that
// feeds a socket from several at once (two long-poll POSTs in flight)
// promises no order between them.
package transport
