package actors_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/socket"
)

type assigner struct{}

func (assigner) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (assigner) HandleIn(c *actors.Context, event string, _ actors.Payload) actors.Result {
	switch event {
	case "assign":
		c.Assign("user", "changed by "+c.Topic())
	case "mutate":
		c.Assigns()["extra"] = c.Topic()
	}
	return actors.Ok(map[string]any{"user": c.Get("user"), "extra": c.Get("extra")})
}

// TestAssignsStayWithTheirChannel: a channel starts from its socket's
// assigns, and what it changes, through Assign or through the map Assigns
// returns, is seen by neither the socket nor any other channel.
func TestAssignsStayWithTheirChannel(t *testing.T) {
	r := actors.NewRouter()
	r.MustHandle("a:*", func() actors.Channel { return assigner{} })
	srv := channeltest.NewServer(t, r, socket.WithConnect(func(context.Context, url.Values, socket.ConnInfo) (actors.Assigns, error) {
		return actors.Assigns{"user": "ann"}, nil
	}))
	c, err := srv.Connect(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"a:1", "a:2", "a:3"} {
		if reply, err := c.Join(topic, nil); err != nil || reply.Status != "ok" {
			t.Fatalf("join %s: %v %+v", topic, err, reply)
		}
	}
	expect := func(topic, event, want string) {
		t.Helper()
		reply, err := c.Request(topic, event, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(reply.Response); got != want {
			t.Fatalf("%s %s: %s, want %s", topic, event, got, want)
		}
	}
	expect("a:1", "assign", `{"extra":null,"user":"changed by a:1"}`)
	expect("a:2", "mutate", `{"extra":"a:2","user":"ann"}`)
	expect("a:3", "get", `{"extra":null,"user":"ann"}`)
	expect("a:1", "get", `{"extra":null,"user":"changed by a:1"}`)
	if reply, err := c.Join("a:4", nil); err != nil || reply.Status != "ok" {
		t.Fatalf("join a:4: %v %+v", err, reply)
	}
	expect("a:4", "get", `{"extra":null,"user":"ann"}`)
}
