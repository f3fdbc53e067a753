package socket_test

import (
	"context"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// TestWithActorSystem: handlers run in the app's actor system, each counts
// only its own actors, and Shutdown leaves the system and the app's actors
// running.
func TestWithActorSystem(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer sys.Shutdown()
	app := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if ctx.Message() == "ping" {
			ctx.Respond("pong")
		}
	}))
	a := channeltest.NewServer(t, toyRouter(), socket.WithActorSystem(sys))
	b := channeltest.NewServer(t, toyRouter(), socket.WithActorSystem(sys))

	ca, err := a.Connect(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Connect(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []struct {
		c     *channeltest.Client
		topic string
	}{{ca, "room:1"}, {cb, "room:1"}, {cb, "room:2"}} {
		if r, err := j.c.Join(j.topic, nil); err != nil || r.Status != "ok" {
			t.Fatalf("join %s: %+v %v", j.topic, r, err)
		}
	}
	// A socket and its channels, per handler; not the app's actor.
	if got, want := a.Handler().ActorCount(), 2; got != want {
		t.Errorf("handler a counts %d actors, want %d", got, want)
	}
	if got, want := b.Handler().ActorCount(), 3; got != want {
		t.Errorf("handler b counts %d actors, want %d", got, want)
	}
	ca.Close()
	cb.Close()
	for _, s := range []*channeltest.Server{a, b} {
		h := s.Handler()
		testutil.CountBackTo(t, "actors", 0, h.ActorCount)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := h.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if sys.IsStopped() {
		t.Fatal("a handler's Shutdown stopped the app's actor system")
	}
	res, err := sys.Root.RequestFuture(app, "ping", 5*time.Second).Result()
	if err != nil || res != "pong" {
		t.Fatalf("the app's actor after Shutdown: %v %v", res, err)
	}
}

func TestWithActorSystemNil(t *testing.T) {
	if _, err := socket.New(toyRouter(), socket.WithActorSystem(nil)); err == nil {
		t.Fatal("New accepted a nil actor system")
	}
}
