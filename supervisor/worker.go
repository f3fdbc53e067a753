package supervisor

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pyrehq/pyre/topics"
)

// Subscribe subscribes the actor pid to topic on ps: every broadcast arrives
// in the actor's Receive as a topics.Broadcast value. Call it from the
// actor's Started handler and Unsubscribe in its Stopping handler, so that a
// restarted worker holds exactly one subscription:
//
//	case *actor.Started:
//		w.sub = supervisor.Subscribe(ps, ctx.ActorSystem(), ctx.Self(), "room:lobby")
//	case *actor.Stopping:
//		w.sub.Unsubscribe()
//	case topics.Broadcast:
//		// handle m.Event, m.Payload
//
// A worker publishes with ps.Broadcast (or BroadcastFrom, passing its own
// subscription to skip itself) straight from Receive. The actor's mailbox
// must not be bounded: delivery must never block the broadcaster.
func Subscribe(ps *topics.PubSub, system *actor.ActorSystem, pid *actor.PID, topic string) *topics.Subscription {
	root := system.Root
	return ps.Subscribe(topic, topics.Subscriber{Deliver: func(b topics.Broadcast) { root.Send(pid, b) }})
}

// tick is a Ticker's timer firing; owner tells a live timer from one of an
// earlier incarnation.
type tick struct{ owner *ticker }

func (*tick) IgnoreDeadLetterLogging()    {}
func (*tick) NotInfluenceReceiveTimeout() {}

// ticker is the actor behind Ticker.
type ticker struct {
	every time.Duration
	fn    func(actor.Context)
	timer *time.Timer // armed while the actor runs; touched only in Receive
	next  time.Time   // when the armed timer is due
}

// Ticker returns the props of an actor that calls tick every period, on its
// own goroutine like any Receive, so tick may use ctx freely (send,
// broadcast, spawn). The first call comes one period after the actor
// starts. A tick that runs late skips the periods it missed instead of
// bunching them up. The timer belongs to the actor: it is stopped when the
// actor stops or restarts. A panic in tick fails the actor like any other
// panic in Receive, so a supervisor can restart it. A period that is not
// positive never ticks.
func Ticker(every time.Duration, tick func(ctx actor.Context)) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &ticker{every: every, fn: tick} })
}

// Receive implements actor.Actor.
func (t *ticker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		t.arm(ctx, time.Now())
	case *tick:
		if m.owner != t || t.timer == nil {
			return
		}
		t.arm(ctx, t.next)
		t.fn(ctx)
	case *actor.Stopping, *actor.Restarting:
		if t.timer != nil {
			t.timer.Stop()
			t.timer = nil
		}
	}
}

// arm sets the timer for one period after from, or after now if that is
// already past.
func (t *ticker) arm(ctx actor.Context, from time.Time) {
	if t.every <= 0 {
		return
	}
	now := time.Now()
	t.next = from.Add(t.every)
	if t.next.Before(now) {
		t.next = now.Add(t.every)
	}
	self, root, msg := ctx.Self(), ctx.ActorSystem().Root, &tick{owner: t}
	t.timer = time.AfterFunc(t.next.Sub(now), func() { root.Send(self, msg) })
}
