package supervisor_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
}

// A tree with a store and a cache that depends on it: rest-for-one
// restarts the cache whenever the store restarts.
func Example() {
	system := quietSystem()
	defer system.Shutdown()

	service := func(name string) *actor.Props {
		return actor.PropsFromFunc(func(ctx actor.Context) {
			switch ctx.Message().(type) {
			case *actor.Started:
				fmt.Println("started", name)
			case *actor.Stopping:
				fmt.Println("stopping", name)
			}
		})
	}
	sup, err := supervisor.Start(system.Root, "app", supervisor.Spec{
		Strategy:  supervisor.RestForOne,
		Intensity: 3,
		Period:    5 * time.Second,
		Children: []supervisor.ChildSpec{
			{Name: "store", Props: service("store")},
			{Name: "cache", Props: service("cache")},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cache, _ := sup.Child(context.Background(), "cache")
	fmt.Println("cache is", cache.Id)

	if err := sup.Stop(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// started store
	// started cache
	// cache is app/cache
	// stopping cache
	// stopping store
}

// A ticking worker broadcasts on a topic; another worker subscribed to it
// receives the broadcasts in its Receive.
func ExampleTicker() {
	system := quietSystem()
	defer system.Shutdown()
	ps := topics.New()
	heard := make(chan string, 16)

	n := 0 // touched only by the ticker actor
	clock := supervisor.Ticker(time.Millisecond, func(actor.Context) {
		n++
		_ = ps.Broadcast("clock", "tick", map[string]int{"n": n})
	})
	var sub *topics.Subscription // touched only by the listener actor
	listener := actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			sub = actors.Subscribe(ps, ctx.ActorSystem(), ctx.Self(), "clock")
		case *actor.Stopping:
			sub.Unsubscribe()
		case topics.Broadcast:
			select {
			case heard <- m.Event + " " + string(m.Payload.Bytes()):
			default:
			}
		}
	})
	sup, err := supervisor.Start(system.Root, "clockwork", supervisor.Spec{
		Children: []supervisor.ChildSpec{
			{Name: "listener", Props: listener},
			{Name: "clock", Props: clock},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		fmt.Println(<-heard)
	}
	_ = sup.Stop(context.Background())
	fmt.Println("subscribers left:", ps.Count("clock"))
	// Output:
	// tick {"n":1}
	// tick {"n":2}
	// tick {"n":3}
	// subscribers left: 0
}
