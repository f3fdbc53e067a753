package socket_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// registry registers h's collector on a fresh registry.
func registry(h *socket.Handler) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	return reg
}

// onlySeries checks that the series of name in got are those of want, all
// others being 0.
func onlySeries(t *testing.T, got map[string]float64, name string, want map[string]float64) {
	t.Helper()
	for k, v := range got {
		if strings.HasPrefix(k, name+"{") && v != want[k] {
			t.Errorf("%s = %v, want %v", k, v, want[k])
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
}

// Each way a WebSocket ends is counted under its own reason.
func TestMetricsCloseReasons(t *testing.T) {
	const user = "vsn=2.0.0&token=good&user=alice"
	for _, tc := range []struct {
		reason string
		opts   []socket.Option
		code   int
		close  func(t *testing.T, h *socket.Handler, c *testutil.WSConn)
	}{
		{"idle_timeout", []socket.Option{socket.WithIdleTimeout(100 * time.Millisecond)}, websocket.CloseGoingAway, nil},
		{"frame_too_large", []socket.Option{socket.WithMaxFrameSize(256)}, websocket.CloseMessageTooBig,
			func(t *testing.T, _ *socket.Handler, c *testutil.WSConn) {
				c.SendV2("", "1", "echo:x", "big", map[string]string{"pad": strings.Repeat("x", 1024)})
			}},
		{"rate_limited", []socket.Option{socket.WithRateLimit(1, 1, 1)}, websocket.ClosePolicyViolation,
			func(t *testing.T, _ *socket.Handler, c *testutil.WSConn) {
				for range 3 {
					c.Send(`[null,"1","phoenix","heartbeat",{}]`)
				}
			}},
		{"disconnect", nil, websocket.CloseGoingAway, func(t *testing.T, h *socket.Handler, c *testutil.WSConn) {
			c.Send(`[null,"1","phoenix","heartbeat",{}]`)
			c.Read() // the socket is registered
			if err := h.Broadcast("user:alice", "disconnect", nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"shutdown", nil, websocket.CloseServiceRestart, func(t *testing.T, h *socket.Handler, c *testutil.WSConn) {
			c.Send(`[null,"1","phoenix","heartbeat",{}]`)
			c.Read()
			go func() { _ = h.Shutdown(context.Background()) }()
		}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			s := newServer(t, tc.opts...)
			reg := registry(s.h)
			c := s.mustDial(t, user)
			if tc.close != nil {
				tc.close(t, s.h, c)
			}
			if code := c.ReadClose(); code != tc.code {
				t.Fatalf("closed with %d, want %d", code, tc.code)
			}
			key := `pyre_disconnects_total{reason=` + tc.reason + `,transport=websocket}`
			testutil.Eventually(t, 5*time.Second, func() bool { return series(t, reg)[key] == 1 }, "%s never 1", key)
			got := series(t, reg)
			onlySeries(t, got, "pyre_disconnects_total", map[string]float64{key: 1})
			onlySeries(t, got, "pyre_connections", map[string]float64{
				`pyre_connections{transport=websocket}`: 0, `pyre_connections{transport=longpoll}`: 0,
				`pyre_connections{transport=other}`: 0,
			})
		})
	}
}

// A long-poll session counts as a connection of its transport, and as a
// session, and its polls feed the queue histogram.
func TestMetricsLongPoll(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollWindow(time.Second))
	reg := registry(s.h)
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	lpPost(t, s.url, tok, `["1","1","echo:lp","phx_join",{}]`)
	collect(t, s.url, tok, 1)
	// The channel queues its reply before its Socket actor hears of the
	// join, so the count may trail the reply by a moment.
	joined := `pyre_channel_joins_total{outcome=ok,route=echo:*}`
	testutil.Eventually(t, 5*time.Second, func() bool { return series(t, reg)[joined] == 1 }, "%s never 1", joined)
	got := series(t, reg)
	for k, want := range map[string]float64{
		`pyre_connections{transport=longpoll}`:               1,
		`pyre_connects_total{transport=longpoll}`:            1,
		`pyre_longpoll_sessions{}`:                           1,
		`pyre_channels_joined{route=echo:*}`:                 1,
		`pyre_channel_joins_total{outcome=ok,route=echo:*}`:  1,
		`pyre_writer_queue_bytes_count{transport=longpoll}`:  1,
		`pyre_writer_queue_bytes_count{transport=websocket}`: 0,
		`pyre_connections{transport=websocket}`:              0,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}

// joiner's Join answers as the topic asks: refused, crashed, or not
// before release is closed.
type joiner struct{ release chan struct{} }

func (j joiner) Join(_ *actors.Context, topic string, _ actors.Payload) (any, error) {
	switch strings.TrimPrefix(topic, "join:") {
	case "refuse":
		return nil, errors.New("no")
	case "crash":
		panic("join crash")
	case "slow":
		<-j.release
	}
	return nil, nil
}

// Every way a join ends is counted under its own outcome.
func TestMetricsJoinOutcomes(t *testing.T) {
	release := make(chan struct{})
	r := actors.NewRouter()
	r.MustHandle("join:*", func() actors.Channel { return joiner{release} })
	h, err := socket.New(r, socket.WithMaxChannels(1), socket.WithJoinTimeout(100*time.Millisecond), socket.WithoutLongPoll())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry(h)
	srv := testutil.ServeSocket(t, h)
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	t.Cleanup(func() { close(release) }) // before the shutdown, which waits for it
	c := testutil.Dial(t, testutil.WSURL(srv.URL, "/socket/websocket"), "2.0.0")
	status := func(topic string) string {
		t.Helper()
		ref := c.Push(topic, "phx_join", map[string]any{})
		f := c.ReadUntil("the reply to joining "+topic, func(f testutil.Frame) bool { return f.Event == "phx_reply" && f.Ref == ref })
		return f.Payload["status"].(string)
	}
	for _, topic := range []string{"join:refuse", "join:crash", "join:slow", "nowhere", "join:ok", "join:second"} {
		want := "error"
		if topic == "join:ok" {
			want = "ok"
		}
		if got := status(topic); got != want {
			t.Fatalf("join %s: %s, want %s", topic, got, want)
		}
	}
	onlySeries(t, series(t, reg), "pyre_channel_joins_total", map[string]float64{
		`pyre_channel_joins_total{outcome=error,route=join:*}`:   1,
		`pyre_channel_joins_total{outcome=crash,route=join:*}`:   1,
		`pyre_channel_joins_total{outcome=timeout,route=join:*}`: 1,
		`pyre_channel_joins_total{outcome=unmatched}`:            1,
		`pyre_channel_joins_total{outcome=ok,route=join:*}`:      1,
		`pyre_channel_joins_total{outcome=limit,route=join:*}`:   1,
	})
}
