package socket_test

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/socket"
)

type counted struct {
	shutdowns *atomic.Int64
	others    *atomic.Int64
}

func (counted) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (c counted) Terminate(_ *actors.Context, reason error) {
	if errors.Is(reason, actors.ErrShutdown) {
		c.shutdowns.Add(1)
	} else {
		c.others.Add(1)
	}
}

// TestDrain2000 drains 2 000 sockets, each with a joined channel, over a
// short window: every socket is closed with 1012 within it, every channel
// terminates with ErrShutdown, and nothing is accepted once it began.
func TestDrain2000(t *testing.T) {
	const n = 2000
	var shutdowns, others atomic.Int64
	r := actors.NewRouter()
	r.MustHandle("d:*", func() actors.Channel { return counted{&shutdowns, &others} })
	window := 300 * time.Millisecond
	srv := channeltest.NewServer(t, r, socket.WithDrain(window, 5))
	clients := make([]*channeltest.Client, n)
	for i := range clients {
		c, err := srv.Connect(url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := c.Join("d:room", nil); err != nil || r.Status != "ok" {
			t.Fatalf("join %d: %+v %v", i, r, err)
		}
		clients[i] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- srv.Handler().Shutdown(ctx) }()

	// Once draining has begun, new sockets are refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := srv.Connect(url.Values{})
		if errors.Is(err, socket.ErrClosed) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("connect during drain: %v; want ErrClosed", err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	took := time.Since(start)
	for i, c := range clients {
		code, err := c.AwaitClose()
		if err != nil || code != socket.CloseServiceRestart {
			t.Fatalf("client %d close = %d, %v; want 1012", i, code, err)
		}
	}
	if got := shutdowns.Load(); got != n || others.Load() != 0 {
		t.Fatalf("Terminate(ErrShutdown) ran %d times (others %d); want %d", got, others.Load(), n)
	}
	// Batches were spread over the window, and the drain ended soon after.
	if took < window*4/5 || took > window+5*time.Second {
		t.Fatalf("drain took %v for a %v window", took, window)
	}
	if srv.Handler().Len() != 0 {
		t.Fatalf("%d sockets left", srv.Handler().Len())
	}
}

// TestDrainRacesConnects starts a drain while sockets are still connecting:
// a socket registered just before the drain began but spawned after its
// close was sent must still be closed, so Shutdown returns.
func TestDrainRacesConnects(t *testing.T) {
	for range 20 {
		r := actors.NewRouter()
		srv := channeltest.NewServer(t, r, socket.WithDrain(0, 1))
		started := make(chan struct{})
		var connected atomic.Int64
		done := make(chan struct{})
		for g := range 4 {
			go func() {
				defer func() {
					if g == 0 {
						close(done)
					}
				}()
				for i := 0; i < 100000; i++ {
					if _, err := srv.Connect(url.Values{}); err != nil {
						return
					}
					if connected.Add(1) == 20 {
						close(started)
					}
				}
			}()
		}
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Handler().Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with connects in flight: %v (%d sockets left)", err, srv.Handler().Len())
		}
		cancel()
		<-done
		if n := srv.Handler().Len(); n != 0 {
			t.Fatalf("%d sockets left after Shutdown", n)
		}
	}
}
