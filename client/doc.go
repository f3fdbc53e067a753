// Package client is a Phoenix Channels client for Go services: workers,
// bots and backends that join topics of a pyre or Phoenix endpoint, push
// to them and receive their broadcasts. It speaks only the wire protocol
// (V2 JSON with binary frames, or V1 JSON), as phoenix.js does, so it
// works against any Phoenix Channels server.
//
//	c, err := client.Dial(ctx, "wss://example.com/socket", client.WithAuthToken(token))
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	room := c.Channel("room:lobby", nil)
//	room.On("new_msg", func(m client.Message) { fmt.Printf("%s\n", m.Payload) })
//	if _, err := room.Join(ctx); err != nil {
//		return err
//	}
//	_, err = room.Push(ctx, "new_msg", map[string]string{"body": "hi"})
//
// # Connections
//
// Dial makes the first connection before it returns; a refused handshake
// is a *HandshakeError (403 for a bad token, 503 when the server admits no
// more connections for now, with its Retry-After). After that the client
// keeps a connection up until Close: it sends a heartbeat every 30 s and
// treats one left unanswered as a dead connection; when a connection ends
// it reconnects with backoff and jitter (never sooner than a 503's
// Retry-After), with the params of WithParams asked again, and joins every
// channel again with its params function called again.
//
// # Replies and errors
//
// Join and Push return the server's reply, or an error: a reply with a
// status other than "ok" is a *ReplyError; ctx's error when ctx ends
// first; ErrDisconnected when the connection ended before the reply (the
// push may have been handled); ErrClosed after Close. A Push made while
// its channel is being joined again waits for the join. What the server
// sends that the client cannot use (a malformed frame, a reply to a ref it
// does not wait for, a frame of a topic it has not joined) is dropped and
// logged (WithLogger), never a panic.
//
// # Recovery
//
// pyre's recoverable topics (a route with actors.WithHistory) number each
// recorded broadcast with a "_pos" member in its payload. The client keeps
// the last "_pos" each channel received and joins with it as "_since"
// (null the first time), so a rejoin after a reconnect, to the same node
// or, with the history in JetStream, to another, gets every message it
// missed exactly once and in order before the live ones. When the server
// cannot recover (the position is older than the topic's history), the
// channel's OnResync handlers run, in order with its messages, so the
// application can reload its state. Servers without recovery ignore
// "_since"; WithoutRecovery leaves it out.
//
// # Presence
//
// NewPresence follows a channel's presence_state and presence_diff with
// phoenix.js's semantics: a state replaces what was known and is reported
// as joins and leaves, diffs are applied joins first, and diffs received
// after a rejoin wait for that join's state.
//
// # Concurrency
//
// Every method of Client, Channel and Presence is safe from any goroutine.
// The client runs one goroutine that owns the connection's life
// (heartbeats, reconnects), one reader per connection, and one goroutine
// per joined channel that runs its handlers (On, OnResync, and a
// Presence's callbacks) one at a time, in the order the server sent the
// messages: handlers of one channel never run concurrently with each
// other and are never reordered; handlers of different channels may run
// at the same time. A handler may call Push, but a handler that blocks
// holds up its channel, and once the channel's buffer (WithChannelBuffer)
// is full, the reading of the whole connection: nothing is dropped. Params
// functions are called with the client's lock held and must not call the
// client. Close ends every goroutine the client started and waits for
// them, a running handler included, so it must not be called from a
// handler.
package client
