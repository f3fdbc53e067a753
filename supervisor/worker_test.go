package supervisor

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pyrehq/pyre/topics"
)

// listener subscribes to a topic while it runs and passes on what it hears.
type listener struct {
	ps    *topics.PubSub
	topic string
	out   chan<- topics.Broadcast
	sub   *topics.Subscription
}

func (l *listener) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		l.sub = l.ps.Subscribe(l.topic, topics.Subscriber{Deliver: func(b topics.Broadcast) { root.Send(self, b) }})
	case *actor.Stopping:
		l.sub.Unsubscribe()
	case topics.Broadcast:
		select {
		case l.out <- m:
		default: // the test has stopped reading
		}
	}
}

func TestTickerBroadcastsToSubscriber(t *testing.T) {
	sys := newSystem(t)
	ps := topics.New()
	heard := make(chan topics.Broadcast, 64)
	var ticks atomic.Int64
	sup := start(t, sys, "workers", Spec{Children: []ChildSpec{
		{Name: "listener", Props: actor.PropsFromProducer(func() actor.Actor {
			return &listener{ps: ps, topic: "clock", out: heard}
		})},
		{Name: "clock", Props: Ticker(time.Millisecond, func(actor.Context) {
			n := ticks.Add(1)
			if err := ps.Broadcast("clock", "tick", map[string]int64{"n": n}); err != nil {
				t.Error(err)
			}
		})},
	}})
	if got := ps.Count("clock"); got != 1 {
		t.Fatalf("subscribers after start: %d, want 1", got)
	}
	for want := 1; want <= 3; want++ {
		select {
		case b := <-heard:
			var p struct{ N int }
			if err := b.Payload.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if b.Topic != "clock" || b.Event != "tick" || p.N != want {
				t.Fatalf("heard %s %s n=%d, want clock tick n=%d", b.Topic, b.Event, p.N, want)
			}
		case <-time.After(waitLimit):
			t.Fatal("no broadcast")
		}
	}
	stop(t, sup)
	if got := ps.Count("clock"); got != 0 {
		t.Fatalf("subscribers after stop: %d, want 0", got)
	}
	if _, ok := lookup(sup, "clock"); ok {
		t.Fatal("clock still running")
	}
}

func TestTickerRestartsAfterPanic(t *testing.T) {
	sys := newSystem(t)
	type tickAt struct {
		n    int64
		self *actor.PID
	}
	ticked := make(chan tickAt, 64)
	var calls atomic.Int64
	sup := start(t, sys, "ticker", Spec{Children: []ChildSpec{
		{Name: "clock", Props: Ticker(time.Millisecond, func(ctx actor.Context) {
			n := calls.Add(1)
			if n == 2 {
				panic("tick 2")
			}
			ticked <- tickAt{n, ctx.Self()}
		})},
	}})
	var got []tickAt
	for _, want := range []int64{1, 3, 4} {
		select {
		case tk := <-ticked:
			if tk.n != want {
				t.Fatalf("tick %d, want %d", tk.n, want)
			}
			got = append(got, tk)
		case <-time.After(waitLimit):
			t.Fatal("ticker stopped ticking")
		}
	}
	if got[0].self == got[1].self || got[1].self != got[2].self {
		t.Fatal("ticks 3 and 4 should come from one new incarnation")
	}
	stop(t, sup)
}

func TestTickerZeroPeriodNeverTicks(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	sup := start(t, sys, "idle", Spec{Children: []ChildSpec{
		{Name: "never", Props: Ticker(0, func(actor.Context) { rec.add("tick") })},
		{Name: "a", Props: worker(rec, "a")},
	}})
	rec.expect(t, "start a")
	stop(t, sup)
	rec.expect(t, "stop a")
	rec.none(t)
}
