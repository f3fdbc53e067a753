// Package channel holds what one joined channel is made of, below both the
// public API that a channel author programs against (package actors) and
// the engine that runs the channel actor (package internal/engine):
//
//   - Runtime: what every channel of an endpoint shares (actor system,
//     PubSub, presence tracker, logger, node name, limits);
//   - Spec: what the Socket actor hands the engine to start one channel;
//   - Handle: the few fields a channel actor and its Socket actor share;
//   - State: one channel instance's state, which actors.Context reads and
//     changes during a callback and the engine sets up and tears down;
//   - Inbound, Joined and Ended: the messages between a Socket actor and
//     its channels;
//
// Spec, Handle and State are not allocated apiece: the engine's channel
// actor holds all three by value, one allocation per joined channel.
//   - the join gate, which holds broadcasts until the join reply is queued.
//
// Nothing here is for users: actors re-exports what a channel author needs.
//
// # Concurrency
//
// A State belongs to its channel actor: it is touched only on the actor's
// goroutine, in Receive and in the callbacks it runs, except State.Reply,
// which is safe from any goroutine (ReplyRef uses it). Runtime and Spec are
// immutable once the channel starts. Handle's fields say who may touch
// them. A gate's Send is safe from any goroutine; release belongs to the
// channel actor.
package channel
