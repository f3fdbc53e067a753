package channeltest_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
)

type room struct{}

func (room) Join(_ *actors.Context, topic string, _ actors.Payload) (any, error) {
	if topic == "room:secret" {
		return nil, actors.Refuse(map[string]string{"reason": "unauthorized"})
	}
	return map[string]string{"welcome": topic}, nil
}

func (room) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	if event == "shout" {
		_ = c.Broadcast("shout", p)
		return actors.Ok(nil)
	}
	return actors.Error(map[string]string{"reason": "unmatched event"})
}

func Example() {
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return room{} })

	// In a test this is channeltest.NewServer(t, router).
	srv := channeltest.NewServer(&testing.T{}, router)
	client, _ := srv.Connect(url.Values{})

	reply, _ := client.Join("room:secret", nil)
	fmt.Println(reply.Status, string(reply.Response))

	reply, _ = client.Join("room:lobby", nil)
	fmt.Println(reply.Status, string(reply.Response))

	reply, _ = client.Request("room:lobby", "shout", map[string]string{"body": "hi"})
	fmt.Println(reply.Status)

	msg, _ := client.AwaitPush("room:lobby", "shout")
	fmt.Println(msg.Event, string(msg.Payload))
	// Output:
	// error {"reason":"unauthorized"}
	// ok {"welcome":"room:lobby"}
	// ok
	// shout {"body":"hi"}
}
