package supervisor

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

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
