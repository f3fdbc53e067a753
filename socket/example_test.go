package socket_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/socket"
)

// lobby is a channel that greets whoever joins and answers "ping" with
// the payload it was sent.
type lobby struct{}

func (lobby) Join(c *actors.Context, _ string, _ actors.Payload) (any, error) {
	return map[string]any{"hello": c.Get("user")}, nil
}

func (lobby) HandleIn(_ *actors.Context, event string, p actors.Payload) actors.Result {
	if event == "ping" {
		return actors.Ok(p)
	}
	return actors.Error(map[string]string{"reason": "unmatched event"})
}

// A handler serves the channels of a router over WebSocket. Here a
// gorilla client speaks the Phoenix V2 wire format to it, as phoenix.js
// would: it joins a topic, pushes an event and gets a broadcast.
func Example() {
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return lobby{} })
	h, err := socket.New(router,
		// The connect params become the socket's assigns; returning an
		// error refuses the upgrade with 403.
		socket.WithConnect(func(_ context.Context, params url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
			return actors.Assigns{"user": params.Get("user")}, nil
		}))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/socket/websocket?vsn=2.0.0&user=ana", nil)
	if err != nil {
		panic(err)
	}
	defer ws.Close()
	roundTrip := func(frame string) {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			panic(err)
		}
		_, reply, err := ws.ReadMessage()
		if err != nil {
			panic(err)
		}
		fmt.Println(string(reply))
	}
	// [join_ref, ref, topic, event, payload]
	roundTrip(`["1","1","room:lobby","phx_join",{}]`)
	roundTrip(`["1","2","room:lobby","ping",{"n":1}]`)

	// A broadcast from the server reaches every socket joined to the topic.
	if err := h.Broadcast("room:lobby", "news", map[string]string{"body": "hi"}); err != nil {
		panic(err)
	}
	_, msg, _ := ws.ReadMessage()
	fmt.Println(string(msg))
	// Output:
	// ["1","1","room:lobby","phx_reply",{"status":"ok","response":{"hello":"ana"}}]
	// ["1","2","room:lobby","phx_reply",{"status":"ok","response":{"n":1}}]
	// [null,null,"room:lobby","news",{"body":"hi"}]
}
