// Package actors is what a channel author imports: the behaviour
// interfaces a channel implements, the Context it acts through, the Router
// that maps topics to behaviours (with route options such as a restart
// policy), the results a callback returns, the reasons a channel ends
// with, and Subscribe, which lets any actor listen to a topic. The engine
// that runs channels is not here (it is internal to pyre).
//
// Each joined channel is a protoactor actor with a mailbox of its own,
// supervised by its connection's Socket actor (which stops it when the
// connection closes). The behaviour is a plain Go value
// whose callbacks the actor calls one at a time, so channel state needs no
// locks. Only Join is required:
//
//	type Room struct{}
//
//	func (Room) Join(c *actors.Context, topic string, p actors.Payload) (any, error) {
//		return nil, nil
//	}
//
//	func (Room) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
//		if event == "shout" {
//			c.Broadcast("shout", p)
//			return actors.Ok(nil)
//		}
//		return actors.Error(map[string]string{"reason": "unmatched event"})
//	}
//
//	router := actors.NewRouter()
//	router.MustHandle("room:*", func() actors.Channel { return Room{} })
//
// Optional callbacks are found at run time: InHandler (client events),
// OutHandler (intercepted broadcasts), InfoHandler (any other message:
// c.Send, timers, subscriptions) and Terminator (why the channel ended).
//
// # Recoverable topics
//
// A route made with WithHistory keeps a bounded history of every topic it
// serves, and a client that rejoins with the last position it saw gets
// what it missed, in order, before anything live, exactly once:
//
//	router.MustHandle("room:*", newRoom, actors.WithHistory(topics.Retention{
//		Count: 1000, Age: 10 * time.Minute, Bytes: 1 << 20,
//	}))
//
// Each broadcast on such a topic carries its position as "_pos" in its
// payload (so broadcasts there must be JSON objects); the client joins
// with {"_since": lastPos} (null the first time), which phoenix.js re-reads
// on every rejoin when the params are a function; the ok reply then gains
// "_pos" (the stream's last position at the join) and "_recovered". A position that is malformed,
// from another stream or epoch, past the stream's end, or older than the
// retention replays nothing and answers "_recovered": false, and so does a
// position sent to a topic that keeps no history. Join reads the outcome
// with c.Recovery() and may refuse the client or tell it to resync.
//
// A panic in a callback is caught, reported with its stack, and ends that
// channel only: its client gets phx_error and rejoins by itself, as with
// Phoenix. Other channels on the socket and every other socket carry on.
//
// # Concurrency
//
// A Context belongs to the callback it was passed to; do not keep it or use
// it from another goroutine. Callbacks must not block for long: they hold
// up every later message of their channel. To answer from another
// goroutine, take a ReplyRef (safe from anywhere); to get back into the
// channel, send it a message (c.Send, c.SendAfter, or the actor system's
// root context to c.Self()). Router is safe for concurrent Match once its
// routes are declared.
package actors
