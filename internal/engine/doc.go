// Package engine runs channels: the protoactor actor behind every joined
// channel, Route (what the channels of one route share, and Spawn, which
// starts one from a channel.Spec) and the Supervisor that Socket actors
// apply to their channels' crashes. It calls the behaviour a channel
// author wrote (package actors) and nothing else calls it but the
// transports' Socket actors (package socket).
//
// A channel actor is one allocation holding all of a joined channel: the
// Handle its Socket actor shares, its spec and its behaviour instance
// (channel.State). It is a root-level protoactor actor, not a child of its
// Socket actor (protoactor would keep a set of children in every Socket
// actor), spawned with the props of its route, made once. Its life:
// Started runs Join (through a gate, so the join reply reaches the client
// before any broadcast) and tells its Socket actor with a channel.Joined;
// channel.Inbound messages run HandleIn; broadcasts of intercepted events
// run HandleOut; timers and any other message run HandleInfo; Stopping
// runs Terminate and writes phx_close or phx_error; Stopped tells the
// Socket actor with a channel.Ended.
//
// Supervision is by message. A panic in a callback is recovered in one
// place (guard) and becomes an *actors.CrashError; the channel suspends
// its mailbox and sends its Socket actor a *Crash, which the Socket actor
// hands to the Supervisor: it applies the route's supervisor.Policy and
// stops the channel (phx_error; the client rejoins) or, after a backoff,
// restarts it in place (a Started, then the mailbox resumed: the actors
// the crashed instance spawned are stopped, a fresh behaviour re-runs
// Join; the subscription and the mailbox stay, and the messages that
// waited go to the new instance). A Socket actor stops its
// channels when it closes and stops itself once each has ended.
//
// # Concurrency
//
// A channel actor's state (its channel.State and most of its Handle) is
// touched only in its Receive; the Handle's fields say who else may touch
// them. Supervisor.Crashed runs on the Socket actor's goroutine; it keeps
// each channel's restart history in the channel's Handle and one rate
// limiter, shared by every socket of an endpoint, behind a mutex.
// Route.Spawn may be called from any goroutine (a Socket actor's Receive);
// it holds the route's lock while protoactor spawns.
package engine
