package engine_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/engine"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/topics"
)

// TestRecoveryWindow broadcasts without pause while clients rejoin, and
// widens the window between a join's subscription and its history read:
// what is broadcast in it reaches both the held subscription and the
// history. Without dropping those from the gate the client gets them
// twice; reading the history before subscribing loses them.
//
// The intercepted variant checks the same through HandleOut: broadcasts
// held in the mailbox during the join are dropped when recovery sent them.
func TestRecoveryWindow(t *testing.T) {
	t.Cleanup(engine.WidenRecoveryWindow(func() { time.Sleep(2 * time.Millisecond) }))
	for _, intercepted := range []bool{false, true} {
		name := "direct"
		if intercepted {
			name = "intercepted"
		}
		t.Run(name, func(t *testing.T) { recoveryWindow(t, intercepted) })
	}
}

// relay is a channel that intercepts msg and pushes it on unchanged.
type relay struct{}

func (relay) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }
func (relay) Intercept() []string                                       { return []string{"msg"} }
func (relay) HandleOut(c *actors.Context, event string, p actors.Payload) actors.Result {
	_ = c.Push(event, p)
	return actors.NoReply()
}

func recoveryWindow(t *testing.T, intercepted bool) {
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel {
		if intercepted {
			return relay{}
		}
		return actors.ChannelFunc(func(*actors.Context, string, actors.Payload) (any, error) { return nil, nil })
	}, actors.WithHistory(topics.Retention{Count: 1 << 20}))
	srv := channeltest.NewServer(t, router)

	stop := testutil.Loop(t, func(n int) error {
		if n%10 == 0 {
			time.Sleep(50 * time.Microsecond)
		}
		return srv.Broadcast("room:1", "msg", map[string]int{"n": n})
	})
	defer stop()

	var last string
	next := 0
	for range 20 {
		c, err := srv.Connect(url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		params := map[string]any{"_since": nil}
		if last != "" {
			params["_since"] = last
		}
		rep, err := c.Join("room:1", params)
		if err != nil {
			t.Fatal(err)
		}
		var j struct {
			Pos       string `json:"_pos"`
			Recovered bool   `json:"_recovered"`
		}
		if err := rep.Decode(&j); err != nil || rep.Status != "ok" || last != "" && !j.Recovered {
			t.Fatalf("join after %q: %s %s %v", last, rep.Status, rep.Response, err)
		}
		if last == "" {
			p, _ := topics.ParsePosition(j.Pos)
			last, next = j.Pos, int(p.Seq)+1
		}
		for range 10 {
			m, err := c.AwaitPush("room:1", "msg")
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				N   int    `json:"n"`
				Pos string `json:"_pos"`
			}
			if err := m.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if v.N != next {
				t.Fatalf("got n %d, want %d (after %s)", v.N, next, last)
			}
			next++
			last = v.Pos
		}
		c.Close()
	}
}
