package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/admin"
	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
)

// The values no admin answer may show: the token a socket connects
// with, and two assigns the app holds secret (one by its name, one named
// with WithSecretAssigns).
const (
	connectToken = "tok-4f1d2c9a77e0"
	sessionValue = "sess-8b3e61d0c5aa"
	cardValue    = "card-4242424242424242"
	adminKey     = "the-admin-key-7d1e"
)

// room tracks the joining user's presence and panics on "crash".
type room struct{}

func (room) Join(c *actors.Context, _ string, _ actors.Payload) (any, error) {
	if _, err := c.Track(c.Get("user").(string), presence.Meta{"device": "test", "session_token": sessionValue}); err != nil {
		return nil, err
	}
	return nil, nil
}

func (room) HandleIn(_ *actors.Context, event string, _ actors.Payload) actors.Result {
	if event == "crash" {
		panic("crash requested")
	}
	return actors.Ok(nil)
}

// node is one node of the test cluster: a socket handler and its admin
// view, served together.
type node struct {
	name    string
	cluster *cluster.Node
	socket  *socket.Handler
	srv     *httptest.Server
}

// startNode starts a node on the NATS server at natsURL ("" for a single
// node).
func startNode(t *testing.T, name, natsURL string) *node {
	t.Helper()
	cn, err := cluster.Start(cluster.Config{NATS: natsURL, Node: name, Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cn.Close() })
	popts := []presence.Option{presence.WithNode(name)}
	if cn.Conn() != nil {
		popts = append(popts, presence.WithNATS(cn.Conn(), cn.Prefix()))
	}
	tracker, err := presence.New(cn.PubSub(), popts...)
	if err != nil {
		t.Fatal(err)
	}
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return room{} })
	h, err := socket.New(router, socket.WithNode(name), socket.WithPubSub(cn.PubSub()), socket.WithPresence(tracker),
		socket.WithConnect(func(_ context.Context, params url.Values, info socket.ConnInfo) (actors.Assigns, error) {
			return actors.Assigns{
				"user":         params.Get("user"),
				"auth_token":   params.Get("token"),                                                          // secret by its name
				"profile":      map[string]any{"name": params.Get("user"), "api_token": params.Get("token")}, // nested, secret by its name
				"payment_card": cardValue,                                                                    // secret by WithSecretAssigns
				"bearer":       info.Token,                                                                   // the same
				"session":      map[string]any{"id": sessionValue},                                           // the same, whole
			}, nil
		}),
		socket.WithID(func(a actors.Assigns) string { return "user:" + a["user"].(string) }))
	if err != nil {
		t.Fatal(err)
	}
	view, err := admin.New(h, adminKey, admin.WithCluster(cn), admin.WithSecretAssigns("payment_card", "bearer", "session"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket/", h)
	mux.Handle("/admin", view)
	mux.Handle("/admin/", view)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		_ = tracker.Close()
	})
	return &node{name: name, cluster: cn, socket: h, srv: srv}
}

// connect opens a socket for user, with the connect token in its params.
func (n *node) connect(t *testing.T, user string) *testutil.WSConn {
	t.Helper()
	return testutil.Dial(t, n.srv.URL+"/socket/websocket?user="+user+"&token="+connectToken, "2.0.0")
}

// get fetches an admin path with the key and decodes its JSON into v; it
// returns the body as text.
func (n *node) get(t *testing.T, path string, v any) string {
	t.Helper()
	status, body := n.fetch(t, path, "Bearer "+adminKey)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return body
}

// fetch GETs path with the Authorization header auth ("" for none).
func (n *node) fetch(t *testing.T, path, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}
