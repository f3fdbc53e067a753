// Package engine runs channels: the protoactor actor behind every joined
// channel, the crash strategy its Socket actor supervises it with, and
// Spawn, which starts one from a channel.Spec. It calls the behaviour a
// channel author wrote (package actors) and nothing else calls it but the
// transports' Socket actors (package socket).
//
// A channel actor's life: Started runs Join (through a gate, so the join
// reply reaches the client before any broadcast) and tells the parent with
// a channel.Joined; channel.Inbound messages run HandleIn; broadcasts of
// intercepted events run HandleOut; timers and any other message run
// HandleInfo; Stopping runs Terminate and writes phx_close or phx_error.
// A panic in a callback is recovered in one place (guard), becomes an
// *actors.CrashError, and is escalated to the Socket actor, whose crash
// strategy applies the route's supervisor.Policy: stop (phx_error; the
// client rejoins) or restart in place after a backoff (a fresh behaviour
// re-runs Join; the subscription and the mailbox stay).
//
// # Concurrency
//
// A channel actor's state (its channel.State included) is touched only in
// its Receive. The crash strategy runs on the Socket actor's goroutine; it
// keeps each channel's restart history in the channel's Handle and one
// rate limiter, shared by every socket of an endpoint, behind a mutex.
// Spawn must be called from the parent's Receive.
package engine
