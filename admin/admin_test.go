package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/admin"
	"github.com/pyrehq/pyre/client"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/supervisor"
)

const wait = 10 * time.Second

// crash joins topic and makes its channel panic, then waits for the
// phx_error that tells the client.
func crash(t *testing.T, c *testutil.WSConn, topic string) {
	t.Helper()
	c.Join(topic, nil)
	c.Push(topic, "crash", map[string]any{})
	c.ReadUntil("phx_error on "+topic, func(f testutil.Frame) bool { return f.Event == "phx_error" && f.Topic == topic })
}

// A known topology on two nodes of one NATS: each node's JSON lists both
// nodes, its own sockets, channels and topics with their counts, the
// presences of both (replicated), and its own crash with its stack.
func TestTwoNodes(t *testing.T) {
	srv := testutil.StartNATS(t)
	alpha := startNode(t, "alpha", srv.ClientURL())
	beta := startNode(t, "beta", srv.ClientURL())

	alice, bob := alpha.connect(t, "alice"), alpha.connect(t, "bob")
	alice.Join("room:red", nil)
	alice.Join("room:blue", nil)
	bob.Join("room:red", nil)
	crash(t, bob, "room:crashy")
	carol := beta.connect(t, "carol")
	carol.Join("room:red", nil)
	crash(t, carol, "room:boom")
	dave := beta.connect(t, "dave")
	dave.Join("room:green", nil)

	for _, n := range []*node{alpha, beta} {
		testutil.Eventually(t, wait, func() bool {
			var nodes struct {
				Nodes []admin.MemberJSON `json:"nodes"`
			}
			n.get(t, "/admin/api/nodes", &nodes)
			var names []string
			for _, m := range nodes.Nodes {
				names = append(names, m.Name)
				if m.Self != (m.Name == n.name) {
					return false
				}
			}
			return slices.Equal(names, []string{n.name, other(n.name)})
		}, "%s to list itself, then %s", n.name, other(n.name))
	}

	// alpha: alice in red and blue, bob in red. His crashed channel is
	// gone once his Socket actor has seen it stop, which may come after
	// the phx_error reached him.
	var nj admin.NodeJSON
	testutil.Eventually(t, wait, func() bool {
		alpha.get(t, "/admin/api/node", &nj)
		return nj.Channels == 3
	}, "alpha to count 3 channels")
	if nj.Node != "alpha" || nj.Sockets != 2 || nj.Channels != 3 || nj.CrashesTotal != 1 {
		t.Errorf("alpha's node: got %+v, want 2 sockets, 3 channels, 1 crash", nj)
	}
	var sj admin.SocketsJSON
	alpha.get(t, "/admin/api/sockets", &sj)
	if sj.Total != 2 || len(sj.Sockets) != 2 || !sj.Complete {
		t.Fatalf("alpha's sockets: got %+v", sj)
	}
	got := map[string][]string{}
	for _, s := range sj.Sockets {
		if s.Transport != "websocket" || s.Serializer != "2.0.0" {
			t.Errorf("socket %s: transport %q vsn %q", s.ID, s.Transport, s.Serializer)
		}
		for _, c := range s.Channels {
			got[s.ID] = append(got[s.ID], c.Topic)
			if c.Pattern != "room:*" || c.JoinRef == "" || c.Joined.IsZero() || c.Crashes != 0 {
				t.Errorf("channel %s of %s: %+v", c.Topic, s.ID, c)
			}
		}
		slices.Sort(got[s.ID])
	}
	want := map[string][]string{"user:alice": {"room:blue", "room:red"}, "user:bob": {"room:red"}}
	if len(got) != 2 || !slices.Equal(got["user:alice"], want["user:alice"]) || !slices.Equal(got["user:bob"], want["user:bob"]) {
		t.Errorf("alpha's channels: got %v, want %v", got, want)
	}

	// The filter and the limit bound the answer.
	alpha.get(t, "/admin/api/sockets?q=room:blue", &sj)
	if len(sj.Sockets) != 1 || sj.Sockets[0].ID != "user:alice" {
		t.Errorf("sockets?q=room:blue: got %+v", sj.Sockets)
	}
	alpha.get(t, "/admin/api/sockets?limit=1", &sj)
	if len(sj.Sockets) != 1 || sj.Complete || sj.Total != 2 {
		t.Errorf("sockets?limit=1: got %d sockets, complete %v, total %d", len(sj.Sockets), sj.Complete, sj.Total)
	}
	if status, _ := alpha.fetch(t, "/admin/api/sockets?limit=-3", "Bearer "+adminKey); status != http.StatusBadRequest {
		t.Errorf("limit=-3: status %d, want 400", status)
	}

	var tj admin.TopicsJSON
	alpha.get(t, "/admin/api/topics?q=room:", &tj)
	counts := map[string]int{}
	for _, x := range tj.Topics {
		counts[x.Topic] = x.Subscribers
	}
	if len(counts) != 2 || counts["room:red"] != 2 || counts["room:blue"] != 1 {
		t.Errorf("alpha's room topics: got %v, want room:red 2, room:blue 1", counts)
	}

	// Presence: both nodes' users, replicated.
	for _, n := range []*node{alpha, beta} {
		testutil.Eventually(t, wait, func() bool {
			var pj admin.PresenceJSON
			n.get(t, "/admin/api/presence", &pj)
			keys := map[string][]string{}
			for _, x := range pj.Topics {
				for k := range x.Presences {
					keys[x.Topic] = append(keys[x.Topic], k)
				}
				slices.Sort(keys[x.Topic])
			}
			return pj.Enabled && len(keys) == 3 && slices.Equal(keys["room:red"], []string{"alice", "bob", "carol"}) &&
				slices.Equal(keys["room:blue"], []string{"alice"}) && slices.Equal(keys["room:green"], []string{"dave"})
		}, "%s's presence to list alice, bob, carol in red, alice in blue, dave in green", n.name)
	}

	// Each node keeps its own crash, with its stack.
	for _, c := range []struct {
		n            *node
		topic, sockt string
	}{{alpha, "room:crashy", "user:bob"}, {beta, "room:boom", "user:carol"}} {
		var cj admin.CrashesJSON
		c.n.get(t, "/admin/api/crashes", &cj)
		if cj.Total != 1 || len(cj.Crashes) != 1 {
			t.Fatalf("%s's crashes: got %+v", c.n.name, cj)
		}
		x := cj.Crashes[0]
		if x.Topic != c.topic || x.SocketID != c.sockt || x.Node != c.n.name || x.Callback != "handle_in" ||
			x.Event != "crash" || x.Panic != "crash requested" || x.Decision != "stop" {
			t.Errorf("%s's crash: got %+v", c.n.name, x)
		}
		if !strings.Contains(x.Stack, "room.HandleIn") || !strings.Contains(x.Stack, "helpers_test.go") {
			t.Errorf("%s's crash stack does not name the panicking callback:\n%s", c.n.name, x.Stack)
		}
	}

	// beta: carol in red, dave in green.
	testutil.Eventually(t, wait, func() bool {
		beta.get(t, "/admin/api/node", &nj)
		return nj.Channels == 2
	}, "beta to count 2 channels")
	if nj.Node != "beta" || nj.Sockets != 2 || nj.Channels != 2 || nj.CrashesTotal != 1 {
		t.Errorf("beta's node: got %+v, want 2 sockets, 2 channels, 1 crash", nj)
	}
	beta.get(t, "/admin/api/topics?q=room:", &tj)
	clear(counts)
	for _, x := range tj.Topics {
		counts[x.Topic] = x.Subscribers
	}
	if len(counts) != 2 || counts["room:red"] != 1 || counts["room:green"] != 1 {
		t.Errorf("beta's room topics: got %v, want room:red 1, room:green 1", counts)
	}

	// A node that stops leaves the other's list.
	_ = beta.cluster.Close()
	testutil.Eventually(t, wait, func() bool {
		var nodes struct {
			Nodes []admin.MemberJSON `json:"nodes"`
		}
		alpha.get(t, "/admin/api/nodes", &nodes)
		return len(nodes.Nodes) == 1 && nodes.Nodes[0].Name == "alpha"
	}, "alpha to forget beta once it stopped")
}

func other(name string) string {
	if name == "alpha" {
		return "beta"
	}
	return "alpha"
}

// every admin path: the page, its files and each endpoint.
var paths = []string{
	"/admin", "/admin/", "/admin/static/admin.js", "/admin/static/admin.css",
	"/admin/api/node", "/admin/api/nodes", "/admin/api/sockets", "/admin/api/sockets?q=room&limit=5",
	"/admin/api/topics", "/admin/api/presence", "/admin/api/crashes", "/admin/api/trees",
}

func TestEveryPathWantsTheKey(t *testing.T) {
	n := startNode(t, "solo", "")
	basic := func(user, pw string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, pw)
		return req.Header.Get("Authorization")
	}
	for _, p := range append(paths, "/admin/api/nope") {
		for _, auth := range []string{"", "Bearer ", "Bearer wrong", "Bearer " + adminKey + "x", "bearer " + adminKey,
			basic("admin", "wrong"), basic(adminKey, ""), adminKey} {
			if status, body := n.fetch(t, p, auth); status != http.StatusUnauthorized {
				t.Errorf("GET %s with %q: %d %s, want 401", p, auth, status, body)
			}
		}
		want := http.StatusOK
		if p == "/admin/api/nope" {
			want = http.StatusNotFound
		}
		for _, auth := range []string{"Bearer " + adminKey, basic("admin", adminKey), basic("", adminKey)} {
			if status, body := n.fetch(t, p, auth); status != want {
				t.Errorf("GET %s with the key (%q): %d %s, want %d", p, auth, status, body, want)
			}
		}
	}
}

func TestNoSecretInAnyAnswer(t *testing.T) {
	n := startNode(t, "solo", "")
	c := n.connect(t, "erin")
	c.Join("room:secrets", nil)
	// The bearer token phoenix.js's authToken sends, too, as the Go
	// client sends it.
	tc, err := client.Dial(t.Context(), n.srv.URL+"/socket", client.WithAuthToken("tok-4f1d2c9a77e0"),
		client.WithParams(func() url.Values { return url.Values{"user": {"frank"}} }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	if _, err := tc.Channel("room:secrets", nil).Join(t.Context()); err != nil {
		t.Fatal(err)
	}
	crash(t, c, "room:secrets-crash")

	var sj admin.SocketsJSON
	body := n.get(t, "/admin/api/sockets", &sj)
	if len(sj.Sockets) != 2 {
		t.Fatalf("want 2 sockets, got %s", body)
	}
	for _, s := range sj.Sockets {
		for _, k := range []string{"auth_token", "payment_card", "bearer", "session"} {
			if s.Assigns[k] != admin.Redacted {
				t.Errorf("socket %s: assign %s is %v, want %q", s.ID, k, s.Assigns[k], admin.Redacted)
			}
		}
		profile, _ := s.Assigns["profile"].(map[string]any)
		if profile["api_token"] != admin.Redacted || profile["name"] == "" || profile["name"] == admin.Redacted {
			t.Errorf("socket %s: profile %v, want its api_token redacted and its name shown", s.ID, profile)
		}
		if s.Assigns["user"] != strings.TrimPrefix(s.ID, "user:") {
			t.Errorf("socket %s: user assign %v, want it shown", s.ID, s.Assigns["user"])
		}
	}
	for _, p := range paths {
		_, body := n.fetch(t, p, "Bearer "+adminKey)
		for _, secret := range []string{connectToken, sessionValue, cardValue, adminKey} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows the secret %q:\n%s", p, secret, body)
			}
		}
	}
}

// The trees registered with WithTree are described through their
// supervisors' mailboxes, nested supervisors included.
func TestTrees(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	worker := actor.PropsFromFunc(func(ctx actor.Context) {
		if ctx.Message() == "boom" {
			panic("worker crashed")
		}
	})
	inner := supervisor.Spec{Strategy: supervisor.AllForOne, Children: []supervisor.ChildSpec{{Name: "leaf", Props: worker}}}
	innerProps, err := supervisor.Props(inner)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := supervisor.Start(sys.Root, "app", supervisor.Spec{Strategy: supervisor.OneForOne, Children: []supervisor.ChildSpec{
		{Name: "worker", Props: worker, Restart: supervisor.Permanent},
		{Name: "inner", Props: innerProps},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tree.Stop(context.Background()) })
	h, err := socket.New(actors.NewRouter(), socket.WithActorSystem(sys))
	if err != nil {
		t.Fatal(err)
	}
	view, err := admin.New(h, adminKey, admin.WithTree("app", tree))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.New(h, adminKey, admin.WithTree("app", tree), admin.WithTree("app", tree)); err == nil {
		t.Error("a tree name registered twice was accepted")
	}
	n := &node{name: "solo", srv: testutil.ServeSocket(t, view)}
	mux := http.NewServeMux()
	mux.Handle("/admin/", view)
	n.srv.Config.Handler = mux

	pid, err := tree.Child(context.Background(), "worker")
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(pid, "boom")
	var tj admin.TreesJSON
	testutil.Eventually(t, wait, func() bool {
		n.get(t, "/admin/api/trees", &tj)
		return len(tj.Trees) == 1 && tj.Trees[0].Root != nil && tj.Trees[0].Root.Children[0].Starts == 2
	}, "the worker to be restarted once")
	root := tj.Trees[0].Root
	if tj.Trees[0].Name != "app" || root.Strategy != "one_for_one" || root.Restarts != 1 || len(root.Children) != 2 {
		t.Fatalf("tree: got %+v", tj.Trees[0])
	}
	w, in := root.Children[0], root.Children[1]
	if w.Name != "worker" || w.Restart != "permanent" || !w.Running || w.PID != "app/worker" {
		t.Errorf("worker: got %+v", w)
	}
	if in.Name != "inner" || in.Supervisor == nil || in.Supervisor.Strategy != "all_for_one" ||
		len(in.Supervisor.Children) != 1 || in.Supervisor.Children[0].Name != "leaf" || !in.Supervisor.Children[0].Running {
		t.Errorf("inner supervisor: got %+v (%+v)", in, in.Supervisor)
	}

	_ = tree.Stop(context.Background())
	tj = admin.TreesJSON{}
	n.get(t, "/admin/api/trees", &tj)
	if tj.Trees[0].Root != nil || tj.Trees[0].Error != supervisor.ErrStopped.Error() {
		t.Errorf("a stopped tree: got %+v", tj.Trees[0])
	}
}
