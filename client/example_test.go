package client_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/client"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/topics"
)

// lobby is the examples' channel: anyone may join a room but
// "room:secret", and "shout" goes to everyone in the room.
type lobby struct{}

func (lobby) Join(c *actors.Context, topic string, _ actors.Payload) (any, error) {
	if topic == "room:secret" {
		return nil, actors.Refuse(map[string]string{"reason": "unauthorized"})
	}
	c.Send("track")
	return nil, nil
}

// HandleInfo tracks the user once the join reply is out, and pushes the
// room's presences.
func (lobby) HandleInfo(c *actors.Context, _ any) actors.Result {
	_, _ = c.Track(c.Get("user").(string), presence.Meta{})
	if state, err := c.PresenceList(); err == nil {
		_ = c.Push("presence_state", state)
	}
	return actors.NoReply()
}

func (lobby) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	if event == "shout" {
		_ = c.Broadcast("shout", p)
		return actors.Ok(nil)
	}
	return actors.Error(map[string]string{"reason": "unmatched event"})
}

// startPyre serves a pyre endpoint at /socket/ in this process, as an
// application would, and returns its URL and a function that stops it.
func startPyre() (string, func()) {
	ps := topics.New()
	tracker, _ := presence.New(ps)
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return lobby{} })
	h, err := socket.New(router, socket.WithPubSub(ps), socket.WithPresence(tracker),
		socket.WithConnect(func(_ context.Context, p url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
			return actors.Assigns{"user": p.Get("user")}, nil
		}))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket/", h)
	srv := httptest.NewServer(mux)
	return srv.URL + "/socket", func() {
		_ = h.Shutdown(context.Background())
		srv.Close()
		_ = tracker.Close()
	}
}

// A Go service subscribes to a room and pushes to it.
func Example() {
	endpoint, stop := startPyre()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, endpoint, client.WithParams(func() url.Values {
		return url.Values{"user": {"worker"}}
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	room := c.Channel("room:lobby", nil)
	shouts := make(chan string)
	room.On("shout", func(m client.Message) { shouts <- string(m.Payload) })
	if _, err := room.Join(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := room.Push(ctx, "shout", map[string]string{"body": "hello"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-shouts)
	// Output: {"body":"hello"}
}

// A refused join is a *client.ReplyError carrying the server's reason.
func ExampleReplyError() {
	endpoint, stop := startPyre()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, endpoint, client.WithParams(func() url.Values {
		return url.Values{"user": {"worker"}}
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	_, err = c.Channel("room:secret", nil).Join(ctx)
	var refused *client.ReplyError
	if errors.As(err, &refused) {
		fmt.Println(refused.Status, refused.Reason())
	}
	// Output: error unauthorized
}

// A Presence follows who is in a room.
func ExampleNewPresence() {
	endpoint, stop := startPyre()
	defer stop()

	ctx := context.Background()
	as := func(user string) client.Option {
		return client.WithParams(func() url.Values { return url.Values{"user": {user}} })
	}
	ana, err := client.Dial(ctx, endpoint, as("ana"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ana.Close()
	room := ana.Channel("room:lobby", nil)
	who := client.NewPresence(room)
	both := make(chan []string, 1)
	who.OnSync(func() {
		// OnSync runs on the channel's goroutine, after each change.
		if names := slices.Sorted(maps.Keys(who.List())); len(names) == 2 {
			select {
			case both <- names:
			default:
			}
		}
	})
	if _, err := room.Join(ctx); err != nil {
		fmt.Println(err)
		return
	}

	bob, err := client.Dial(ctx, endpoint, as("bob"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bob.Close()
	if _, err := bob.Channel("room:lobby", nil).Join(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.Join(<-both, " and "), "are here")
	// Output: ana and bob are here
}
