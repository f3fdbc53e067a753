// Package channeltest runs channels in-process for tests, the way
// net/http/httptest runs handlers: a real socket handler, real Socket and
// channel actors and the real PubSub, with an in-memory transport in place
// of the WebSocket. It speaks the V2 protocol, as phoenix.js does.
//
//	srv := channeltest.NewServer(t, router, socket.WithConnect(connect))
//	c, err := srv.Connect(url.Values{"token": {tok}})
//	reply, err := c.Join("room:lobby", nil)            // reply.Status == "ok"
//	reply, err = c.Request("room:lobby", "new_msg", map[string]string{"body": "hi"})
//	msg, err := c.AwaitPush("room:lobby", "new_msg")   // the broadcast came back
//
// Every await gives up after the server's timeout (default 5s) with
// ErrTimeout; frames that arrive while waiting for something else are kept
// for later awaits, in order.
//
// For channels that track presence, PresenceView(c.Received(), topic)
// gives what phoenix.js's Presence would show: the presence_state applied,
// then every presence_diff (those that came before the state held until
// it came), as each key's phx_refs.
//
// # Concurrency
//
// A Client belongs to one goroutine (the test's). Server methods are safe
// from any goroutine.
package channeltest
