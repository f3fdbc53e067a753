// Package supervisor builds OTP-style supervision trees out of protoactor
// actors: a supervisor starts its children in a fixed order, restarts them
// by a strategy when they end, gives up when they restart too often, and
// stops them in the reverse order.
//
// A tree is data. Each child is a ChildSpec (a name, the props that start
// it, and a Restart type); a Spec adds the Strategy, the restart limit
// (Intensity restarts within Period) and an optional Backoff:
//
//	spec := supervisor.Spec{
//		Strategy:  supervisor.RestForOne,
//		Intensity: 3,
//		Period:    5 * time.Second,
//		Children: []supervisor.ChildSpec{
//			{Name: "store", Props: storeProps},
//			{Name: "cache", Props: cacheProps},                            // needs store
//			{Name: "janitor", Props: janitorProps, Restart: supervisor.Transient},
//		},
//		Logger: log,
//	}
//	sup, err := supervisor.Start(system.Root, "app", spec)
//	if err != nil { ... }
//	defer sup.Stop(context.Background())
//	cache, err := sup.Child(ctx, "cache") // ErrNoChild if it is not running
//
// Props(spec) gives the same supervisor as props, to nest it under another
// supervisor (as a ChildSpec) or under any actor.
//
// # What happens when a child ends
//
// A child fails when its Receive panics; protoactor suspends its mailbox
// and reports the failure to the supervisor. A child may also stop by
// itself. Either way the child's Restart type decides first: Temporary
// children, and Transient children that stopped by themselves, are removed
// for good. Otherwise the restart is counted, and if it is one more than
// Intensity within Period the supervisor stops all its children (in reverse
// order) and fails: a nested supervisor escalates to its parent, which
// applies its own strategy to it; a top-level supervisor from Start stops,
// and Tree.Err wraps ErrTooManyRestarts. Within the limit, the
// Strategy picks the children to restart — OneForOne the one that ended,
// AllForOne all of them, RestForOne it and those started after it — which
// are stopped in reverse order, and started again in order after the
// Backoff delay. A Temporary sibling stopped this way is not restarted.
//
// A restart stops the old incarnation (it receives Stopping and Stopped;
// its queued messages are dropped, as an Erlang process's are) and spawns a
// fresh actor from the props under the same name. The PID therefore keeps
// its ID: a PID value taken before the restart reaches the new incarnation,
// although messages sent while the child is down are lost. Restarts never
// use protoactor's in-place restart, so children see no Restarting message.
//
// Starting is sequential: a child is spawned only once the previous one's
// Started handler has returned, or, for a nested supervisor, once all its
// own children are running. A child that fails or stops during Started is
// handled like any other exit once the rest are started. Stopping is
// sequential too: the next child is stopped only after the previous one
// has terminated. Tree.Stop, the Shutdown message and a parent
// supervisor stop a tree this way, down through nested supervisors, after
// letting a start in progress finish; ctx.Stop on a supervisor's PID stops
// its children at once, in no order.
//
// Each exit produces one log event on the Spec's Logger: "child failed" at
// error level with the panic value, or "child stopped" at info level, with
// the fields supervisor, child, restart, decision, restart_count and, when
// delayed, backoff. The decision is restart, remove, escalate, superseded
// (the child had already been replaced by a sibling's restart), ignore (the
// supervisor was stopping it anyway) or abandon (it panicked while
// stopping: protoactor cannot finish stopping such an actor, so Stopping and
// Stopped handlers must not panic).
//
// # Workers
//
// Any actor can be a child. Ticker gives the props of an actor that runs a
// function every period; actors.Subscribe delivers a topic's broadcasts to
// any actor's Receive (supervision itself knows nothing of topics). A worker
// broadcasts with ps.Broadcast straight from its Receive.
//
// # Concurrency
//
// Spec and ChildSpec are plain values; Validate and Props may be called from
// any goroutine. A Tree (the handle Start returns) is safe for concurrent use: Child asks
// the supervisor actor through its mailbox and waits at most until its ctx
// ends, Stop sends it a Shutdown and waits, Done and Err only
// read. Start blocks until the children run, so children's Started handlers
// must return. Inside actors, ask with LookupChild and get *LookupResult.
//
// A supervisor keeps all its state in its actor and touches it only on the
// actor's goroutine, including its SupervisorStrategy, which protoactor
// runs while processing a child's failure; it never blocks that goroutine.
// The only timers are backoff delays and Ticker periods, owned by their
// actors and stopped when they stop. Subscribe's delivery function runs on
// the broadcaster's goroutine and only posts to the mailbox.
package supervisor
