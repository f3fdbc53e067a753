package socket_test

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/jsnodes"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

// metered is the channel of the metrics scenario: "ok" and "bad" reply,
// "boom" panics, "flood" pushes until the queue refuses.
type metered struct{}

func (metered) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (metered) HandleIn(c *actors.Context, event string, _ actors.Payload) actors.Result {
	switch event {
	case "ok":
		return actors.Ok(nil)
	case "bad":
		return actors.Error(map[string]string{"reason": "bad"})
	case "boom":
		panic("boom")
	case "flood":
		for range 100000 {
			if err := c.Push("flood", map[string]string{"pad": strings.Repeat("x", 512)}); err != nil {
				break
			}
		}
		return actors.NoReply()
	}
	return actors.NoReply()
}

// series gathers reg into a map from "name{k=v,...}" (labels sorted, the
// empty ones left out) to the value: a counter's or gauge's, and for a
// histogram its sample count, under name_count.
func series(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetValue() != "" {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
			}
			key := func(name string) string { return name + "{" + strings.Join(labels, ",") + "}" }
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key(mf.GetName())] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(mf.GetName())] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key(mf.GetName()+"_count")] = float64(m.GetHistogram().GetSampleCount())
				out[key(mf.GetName()+"_sum")] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// TestMetricsCountWhatHappened runs a scripted session against a real
// handler over real WebSockets and checks that every pyre_ series says
// exactly what happened; series not named in want must be 0.
func TestMetricsCountWhatHappened(t *testing.T) {
	r := actors.NewRouter()
	r.MustHandle("room:*", func() actors.Channel { return metered{} })
	r.MustHandle("crash:*", func() actors.Channel { return metered{} },
		actors.WithRestart(supervisor.Policy{Restart: supervisor.Transient}))
	h, err := socket.New(r, socket.WithMaxQueueBytes(64<<10), socket.WithRateLimit(0, 0, 0), socket.WithoutLongPoll())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	srv := testutil.ServeSocket(t, h)
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	url := testutil.WSURL(srv.URL, "/socket/websocket")

	// Three clients join room:lobby.
	clients := make([]*testutil.WSConn, 3)
	for i := range clients {
		clients[i] = testutil.Dial(t, url, "2.0.0")
		clients[i].Join("room:lobby", nil)
	}
	a, b, c := clients[0], clients[1], clients[2]

	reply := func(conn *testutil.WSConn, topic, event string) string {
		t.Helper()
		ref := conn.Push(topic, event, map[string]any{})
		f := conn.ReadUntil("the reply to "+event, func(f testutil.Frame) bool { return f.Event == "phx_reply" && f.Ref == ref })
		return fmt.Sprint(f.Payload["status"])
	}
	if got := reply(a, "room:lobby", "ok"); got != "ok" {
		t.Fatalf("ok push: status %s", got)
	}
	if got := reply(a, "room:lobby", "bad"); got != "error" {
		t.Fatalf("bad push: status %s", got)
	}

	// One broadcast reaches all three.
	if err := h.Broadcast("room:lobby", "news", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	for _, conn := range clients {
		conn.ReadUntil("the broadcast", func(f testutil.Frame) bool { return f.Event == "news" })
	}

	// b joins a restarting route and crashes it: restarted, it answers on.
	b.Join("crash:x", nil)
	b.Push("crash:x", "boom", map[string]any{})
	if got := reply(b, "crash:x", "ok"); got != "ok" {
		t.Fatalf("push after restart: status %s", got)
	}
	// c crashes its room channel, which is temporary: phx_error.
	c.Push("room:lobby", "boom", map[string]any{})
	c.ReadUntil("phx_error", func(f testutil.Frame) bool { return f.Event == "phx_error" })

	// d floods itself without reading: closed with 4000.
	d := testutil.Dial(t, url, "2.0.0")
	d.Join("room:flood", nil)
	d.Push("room:flood", "flood", map[string]any{})
	if code := d.ReadClose(); code != socket.CloseSlowConsumer {
		t.Fatalf("slow consumer closed with %d", code)
	}

	// The other three hang up.
	for _, conn := range clients {
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		_ = conn.Close()
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return series(t, reg)[`pyre_connections{transport=websocket}`] == 0 && h.Len() == 0
	}, "sockets still open: %v", testutil.Lazy(func() string { return fmt.Sprint(series(t, reg)) }))

	want := map[string]float64{
		`pyre_connects_total{transport=websocket}`:                                4,
		`pyre_disconnects_total{reason=client_closed,transport=websocket}`:        3,
		`pyre_disconnects_total{reason=slow_consumer,transport=websocket}`:        1,
		`pyre_channel_joins_total{outcome=ok,route=room:*}`:                       4,
		`pyre_channel_joins_total{outcome=ok,route=crash:*}`:                      1,
		`pyre_channel_replies_total{route=room:*,status=ok}`:                      1,
		`pyre_channel_replies_total{route=room:*,status=error}`:                   1,
		`pyre_channel_replies_total{route=crash:*,status=ok}`:                     1,
		`pyre_channel_crashes_total{decision=stop,route=room:*}`:                  1,
		`pyre_channel_crashes_total{decision=restart,route=crash:*}`:              1,
		`pyre_channel_event_handling_seconds_count{outcome=ok,route=room:*}`:      1,
		`pyre_channel_event_handling_seconds_count{outcome=error,route=room:*}`:   1,
		`pyre_channel_event_handling_seconds_count{outcome=crash,route=room:*}`:   1,
		`pyre_channel_event_handling_seconds_count{outcome=noreply,route=room:*}`: 1,
		`pyre_channel_event_handling_seconds_count{outcome=crash,route=crash:*}`:  1,
		`pyre_channel_event_handling_seconds_count{outcome=ok,route=crash:*}`:     1,
		`pyre_broadcasts_total{origin=local}`:                                     1,
		`pyre_broadcast_deliveries_total{origin=local}`:                           3,
	}
	got := series(t, reg)
	for _, k := range slices.Sorted(maps.Keys(got)) {
		v := got[k]
		if !strings.HasPrefix(k, "pyre_") || strings.Contains(k, "_sum{") || strings.HasPrefix(k, "pyre_writer_queue_bytes") {
			continue
		}
		if v != want[k] {
			t.Errorf("%s = %v, want %v", k, v, want[k])
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	// The writer observes once per flush, which the scheduler batches as
	// it likes: at least one per socket (its join reply), each one no more
	// than the queue limit.
	n := got[`pyre_writer_queue_bytes_count{transport=websocket}`]
	sum := got[`pyre_writer_queue_bytes_sum{transport=websocket}`]
	if n < 4 || sum <= 0 || sum > n*(64<<10) {
		t.Errorf("writer flushes observed: %v with %v bytes, want at least 4 of at most 64 KiB", n, sum)
	}
}

// tracked joins with a presence for its user and answers "ok".
type tracked struct{ metered }

func (tracked) Join(c *actors.Context, _ string, _ actors.Payload) (any, error) {
	user, _ := c.Get("user").(string)
	_, err := c.Track(user, presence.Meta{})
	return nil, err
}

// labelSets counts the series reg exposes (a histogram is one) and
// returns every label value seen.
func labelSets(t testing.TB, reg *prometheus.Registry) (int, map[string]bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n, values := 0, map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			n++
			for _, l := range m.GetLabel() {
				values[l.GetValue()] = true
			}
		}
	}
	return n, values
}

// TestMetricsCardinalityIsBounded joins 10 000 distinct topics as 10 000
// distinct users (each with a presence and a push) and checks that the
// series are those there were after the first few: labels come from the
// router's patterns and fixed sets, never from topics or users.
func TestMetricsCardinalityIsBounded(t *testing.T) {
	const users = 10000
	ps := topics.New()
	tracker, err := presence.New(ps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tracker.Close() })
	r := actors.NewRouter()
	r.MustHandle("room:*", func() actors.Channel { return tracked{} })
	srv := channeltest.NewServer(t, r, socket.WithPubSub(ps), socket.WithPresence(tracker),
		socket.WithConnect(func(_ context.Context, p url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
			return actors.Assigns{"user": p.Get("user")}, nil
		}),
		socket.WithID(func(a actors.Assigns) string { return a["user"].(string) }))
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.Handler().Collector())

	visit := func(n int) error {
		c, err := srv.Connect(url.Values{"user": {fmt.Sprintf("u%d", n)}})
		if err != nil {
			return err
		}
		defer c.Close()
		topic := fmt.Sprintf("room:%d", n)
		if rep, err := c.Join(topic, nil); err != nil || rep.Status != "ok" {
			return fmt.Errorf("join %s: %v %v", topic, rep.Status, err)
		}
		if rep, err := c.Request(topic, "ok", nil); err != nil || rep.Status != "ok" {
			return fmt.Errorf("push on %s: %v %v", topic, rep.Status, err)
		}
		return nil
	}
	const first = 10
	for n := range first {
		if err := visit(n); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := labelSets(t, reg)

	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for n := first + w; n < users; n += workers {
				if err := visit(n); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := testutil.Receive(t, errs, time.Minute, "a worker"); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return srv.Handler().Len() == 0 }, "sockets still open")

	after, values := labelSets(t, reg)
	if after != before {
		t.Errorf("%d series after %d users, %d after the first %d", after, users, before, first)
	}
	for v := range values {
		if strings.HasPrefix(v, "u") && strings.Trim(v[1:], "0123456789") == "" || strings.Trim(strings.TrimPrefix(v, "room:"), "0123456789") == "" && v != "" {
			t.Errorf("a label has the value %q, a user or a topic", v)
		}
	}
	got := series(t, reg)
	for k, want := range map[string]float64{
		`pyre_connects_total{transport=other}`:                               users,
		`pyre_channel_joins_total{outcome=ok,route=room:*}`:                  users,
		`pyre_channel_event_handling_seconds_count{outcome=ok,route=room:*}`: users,
		`pyre_channels_joined{route=room:*}`:                                 0,
		`pyre_connections{transport=other}`:                                  0,
		`pyre_presence_entries{}`:                                            0,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}

// clusterNode is one node of TestMetricsOfACluster: a handler over a
// PubSub linked by NATS, with a replicated presence tracker.
type clusterNode struct {
	nc      *nats.Conn
	ps      *topics.PubSub
	tracker *presence.Tracker
	reg     *prometheus.Registry
}

func startClusterNode(t *testing.T, url, name string) *clusterNode {
	t.Helper()
	nc, err := nats.Connect(url, nats.NoEcho())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ps := topics.New()
	adapter, err := topics.NewNATS(ps, nc, topics.WithNode(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adapter.Close() })
	tracker, err := presence.New(ps, presence.WithNode(name), presence.WithNATS(nc, "pyre"),
		presence.WithPeriods(20*time.Millisecond, 100*time.Millisecond, time.Second, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tracker.Close() })
	r := actors.NewRouter()
	r.MustHandle("room:*", func() actors.Channel { return metered{} })
	h, err := socket.New(r, socket.WithPubSub(ps), socket.WithPresence(tracker), socket.WithNode(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	return &clusterNode{nc: nc, ps: ps, tracker: tracker, reg: reg}
}

// TestMetricsOfACluster checks the series of the NATS adapter and of
// presence replication on two nodes over a real NATS server, and the
// publish errors once a node's connection is gone.
func TestMetricsOfACluster(t *testing.T) {
	srv := testutil.StartNATS(t)
	a := startClusterNode(t, srv.ClientURL(), "a")
	b := startClusterNode(t, srv.ClientURL(), "b")

	got := make(chan topics.Broadcast, 1)
	sub := b.ps.Subscribe("room:x", topics.Subscriber{Deliver: func(m topics.Broadcast) {
		select {
		case got <- m:
		default:
		}
	}})
	defer sub.Unsubscribe()
	if err := b.nc.Flush(); err != nil { // b's interest reaches the server
		t.Fatal(err)
	}
	if err := a.ps.Broadcast("room:x", "news", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, got, 5*time.Second, "the broadcast from a")
	// b counts the fan-out once it has handed the broadcast over.
	remote := `pyre_broadcast_deliveries_total{origin=remote}`
	testutil.Eventually(t, 5*time.Second, func() bool { return series(t, b.reg)[remote] == 1 }, "b: %s never 1", remote)

	ga, gb := series(t, a.reg), series(t, b.reg)
	for _, c := range []struct {
		node string
		got  map[string]float64
		key  string
		want float64
	}{
		{"a", ga, `pyre_nats_connected{}`, 1},
		{"a", ga, `pyre_nats_published_total{}`, 1},
		{"a", ga, `pyre_nats_publish_errors_total{}`, 0},
		{"a", ga, `pyre_broadcasts_total{origin=local}`, 1},
		{"a", ga, `pyre_broadcast_deliveries_total{origin=local}`, 0},
		{"b", gb, `pyre_nats_connected{}`, 1},
		{"b", gb, `pyre_nats_received_total{}`, 1},
		{"b", gb, `pyre_nats_reconnects_total{}`, 0},
		{"b", gb, `pyre_broadcasts_total{origin=remote}`, 1},
		{"b", gb, `pyre_broadcast_deliveries_total{origin=remote}`, 1},
		{"b", gb, `pyre_broadcasts_total{origin=local}`, 0},
	} {
		if c.got[c.key] != c.want {
			t.Errorf("%s: %s = %v, want %v", c.node, c.key, c.got[c.key], c.want)
		}
	}
	if _, err := a.tracker.Track("owner", "room:x", "alice", presence.Meta{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return series(t, b.reg)[`pyre_presence_entries{}`] == 1 },
		"b never saw a's presence")

	ga, gb = series(t, a.reg), series(t, b.reg)
	if ga[`pyre_presence_entries{}`] != 1 {
		t.Errorf("a: pyre_presence_entries = %v, want 1", ga[`pyre_presence_entries{}`])
	}
	if ga[`pyre_presence_replication_sent_bytes_total{}`] == 0 || gb[`pyre_presence_replication_received_bytes_total{}`] == 0 {
		t.Errorf("replication bytes: a sent %v, b received %v", ga[`pyre_presence_replication_sent_bytes_total{}`],
			gb[`pyre_presence_replication_received_bytes_total{}`])
	}

	// a's connection goes: its next broadcast reaches no other node.
	a.nc.Close()
	if err := a.ps.Broadcast("room:x", "news", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	ga = series(t, a.reg)
	if ga[`pyre_nats_connected{}`] != 0 || ga[`pyre_nats_publish_errors_total{}`] != 1 || ga[`pyre_nats_published_total{}`] != 1 {
		t.Errorf("after the connection closed: connected %v, publish errors %v, published %v",
			ga[`pyre_nats_connected{}`], ga[`pyre_nats_publish_errors_total{}`], ga[`pyre_nats_published_total{}`])
	}
}

// The histories kept in memory are reported as the store counts them: what
// they take against the budget, and what was evicted, by cause.
func TestMetricsOfHistories(t *testing.T) {
	ps := topics.New()
	m, err := topics.NewMemoryHistory(topics.WithHistoryBudget(128 << 10))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.UseHistory(m); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return metered{} }, actors.WithHistory(topics.Retention{Count: 2}))
	h, err := socket.New(router, socket.WithPubSub(ps))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	body := strings.Repeat("x", 400)
	// Fifty rooms past their count, then a thousand more past the budget.
	for i := range 1300 {
		topic := fmt.Sprintf("room:%d", i)
		if i < 300 {
			topic = fmt.Sprintf("room:%d", i%50)
		}
		if err := h.Broadcast(topic, "msg", map[string]string{"body": body}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	got := series(t, reg)
	st := m.Stats()
	want := map[string]float64{
		"pyre_history_topics{}":                           float64(st.Topics),
		"pyre_history_bytes{}":                            float64(st.Bytes),
		"pyre_history_budget_bytes{}":                     128 << 10,
		"pyre_history_evicted_total{cause=limit}":         float64(st.Evicted[topics.EvictLimit]),
		"pyre_history_evicted_total{cause=budget}":        float64(st.Evicted[topics.EvictBudget]),
		"pyre_history_topics_dropped_total{cause=budget}": float64(st.Dropped[topics.EvictBudget]),
		"pyre_history_topics_dropped_total{cause=idle}":   0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if st.Evicted[topics.EvictLimit] == 0 || st.Evicted[topics.EvictBudget] == 0 || st.Bytes > 128<<10 {
		t.Errorf("store %+v: want evictions for the route's limit and for the budget, within it", st)
	}
}

// The histories kept in JetStream are reported from the store's counters.
func TestMetricsOfJetStreamHistories(t *testing.T) {
	ps := jsnodes.PubSubs(t, 1)[0]
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return metered{} }, actors.WithHistory(topics.Retention{Count: 10}))
	h, err := socket.New(router, socket.WithPubSub(ps))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	for i := range 3 {
		if err := h.Broadcast("room:1", "msg", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	got := series(t, reg)
	for k, v := range map[string]float64{
		"pyre_history_jetstream_published_total{}":      3,
		"pyre_history_jetstream_publish_errors_total{}": 0,
		"pyre_history_jetstream_lost_total{}":           0,
		"pyre_history_jetstream_watched_topics{}":       0,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["pyre_history_jetstream_ignored_total{}"]; !ok {
		t.Error("no count of the messages dropped for want of a subscriber")
	}
	if _, ok := got["pyre_history_bytes{}"]; ok {
		t.Error("a node whose histories are in JetStream reports a memory store")
	}
}
