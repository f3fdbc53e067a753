package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/topics"
)

// Subscribe subscribes the actor pid to topic on ps: every broadcast
// arrives in the actor's Receive as a topics.Broadcast value. It is how any
// actor of an app (a supervised worker, say) listens to a topic; a channel
// uses Context.Subscribe, which undoes itself when the channel stops.
// Subscribe from the actor's Started handler and Unsubscribe in its
// Stopping handler, so that a restarted actor holds exactly one
// subscription:
//
//	case *actor.Started:
//		w.sub = actors.Subscribe(ps, ctx.ActorSystem(), ctx.Self(), "room:lobby")
//	case *actor.Stopping:
//		w.sub.Unsubscribe()
//	case topics.Broadcast:
//		// handle m.Event, m.Payload
//
// Delivery runs on the broadcaster's goroutine and only posts to the
// mailbox, so the actor's mailbox must not be bounded: a full one would
// block the broadcaster.
func Subscribe(ps *topics.PubSub, system *actor.ActorSystem, pid *actor.PID, topic string) *topics.Subscription {
	root := system.Root
	return ps.Subscribe(topic, topics.Subscriber{Deliver: func(b topics.Broadcast) { root.Send(pid, b) }})
}
