package actors_test

import (
	"net/url"
	"testing"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
)

type nop struct{}

func (nop) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

// BenchmarkJoinLeave measures one full join and leave of a channel over the
// in-memory transport: spawn, Join, reply, subscribe, leave, phx_close,
// Terminate and clean-up.
func BenchmarkJoinLeave(b *testing.B) {
	r := actors.NewRouter()
	r.MustHandle("bench:*", func() actors.Channel { return nop{} })
	srv := channeltest.NewServer(b, r)
	c, err := srv.Connect(url.Values{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := c.Join("bench:1", nil); err != nil || r.Status != "ok" {
			b.Fatalf("join: %+v %v", r, err)
		}
		if r, err := c.Leave("bench:1"); err != nil || r.Status != "ok" {
			b.Fatalf("leave: %+v %v", r, err)
		}
		if _, err := c.AwaitPush("bench:1", "phx_close"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestReply measures one client push answered by HandleIn.
func BenchmarkRequestReply(b *testing.B) {
	f := &fixture{terminated: make(chan error, 1<<16)}
	r := actors.NewRouter()
	r.MustHandle("probe:*", func() actors.Channel { return &probe{terminated: f.terminated} })
	srv := channeltest.NewServer(b, r)
	c, err := srv.Connect(url.Values{})
	if err != nil {
		b.Fatal(err)
	}
	if r, err := c.Join("probe:1", nil); err != nil || r.Status != "ok" {
		b.Fatalf("join: %+v %v", r, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := c.Request("probe:1", "ok", nil); err != nil || r.Status != "ok" {
			b.Fatalf("request: %+v %v", r, err)
		}
	}
}
