package actors_test

import (
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/topics"
)

// room is a recoverable chat channel. Its join reply names the recovery
// outcome; {"strict": true} refuses a join that lost messages; "say"
// broadcasts from the channel; "shout" broadcasts are intercepted and
// pushed with "out": true. joinDelay slows Join down, so that broadcasts
// land while the join is being processed.
type room struct{ joinDelay time.Duration }

func (r room) Join(c *actors.Context, _ string, p actors.Payload) (any, error) {
	var in struct {
		Strict bool `json:"strict"`
		List   bool `json:"list"`
	}
	_ = p.Decode(&in)
	rec := c.Recovery()
	if in.Strict && rec.Outcome != topics.Fresh && !rec.Recovered() {
		return nil, actors.Refuse(map[string]string{"reason": "resync", "outcome": rec.Outcome.String()})
	}
	if in.List {
		return []int{1}, nil
	}
	time.Sleep(r.joinDelay)
	return map[string]any{"outcome": rec.Outcome.String()}, nil
}

func (room) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	if err := c.Broadcast("msg", p); err != nil {
		return actors.Error(map[string]string{"reason": err.Error()})
	}
	return actors.Ok(nil)
}

func (room) Intercept() []string { return []string{"shout"} }

func (room) HandleOut(c *actors.Context, event string, p actors.Payload) actors.Result {
	var v map[string]any
	_ = p.Decode(&v)
	v["out"] = true
	_ = c.Push(event, v)
	return actors.NoReply()
}

func recoverServer(t *testing.T, r topics.Retention, joinDelay time.Duration) *channeltest.Server {
	t.Helper()
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return room{joinDelay} }, actors.WithHistory(r))
	router.MustHandle("plain:*", func() actors.Channel { return room{} })
	return channeltest.NewServer(t, router)
}

type joined struct {
	Pos       string `json:"_pos"`
	Recovered *bool  `json:"_recovered"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason"`
}

func join(t *testing.T, c *channeltest.Client, topic string, params any) (string, joined) {
	t.Helper()
	rep, err := c.Join(topic, params)
	if err != nil {
		t.Fatal(err)
	}
	var j joined
	if err := rep.Decode(&j); err != nil {
		t.Fatalf("join reply %s: %v", rep.Response, err)
	}
	return rep.Status, j
}

type numbered struct {
	N   int    `json:"n"`
	Pos string `json:"_pos"`
	Out bool   `json:"out"`
}

func await(t *testing.T, c *channeltest.Client, topic, event string) numbered {
	t.Helper()
	m, err := c.AwaitPush(topic, event)
	if err != nil {
		t.Fatal(err)
	}
	var v numbered
	if err := m.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func connect(t *testing.T, srv *channeltest.Server) *channeltest.Client {
	t.Helper()
	c, err := srv.Connect(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seqOf(t *testing.T, pos string) uint64 {
	t.Helper()
	p, err := topics.ParsePosition(pos)
	if err != nil {
		t.Fatalf("position %q: %v", pos, err)
	}
	return p.Seq
}

func TestRecoveryContract(t *testing.T) {
	srv := recoverServer(t, topics.Retention{Count: 100}, 0)
	a := connect(t, srv)
	status, j := join(t, a, "room:1", map[string]any{"_since": nil})
	if status != "ok" || j.Recovered == nil || *j.Recovered || j.Outcome != "fresh" || seqOf(t, j.Pos) != 0 {
		t.Fatalf("fresh join: %s %+v", status, j)
	}
	// One broadcast from each source: a channel, the handler, a worker.
	if _, err := a.Request("room:1", "say", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	first := await(t, a, "room:1", "msg")
	if first.N != 1 || seqOf(t, first.Pos) != 1 || !strings.HasPrefix(first.Pos, strings.Split(j.Pos, ".")[0]+".") {
		t.Fatalf("first broadcast %+v after join at %s", first, j.Pos)
	}
	a.Close()
	if err := srv.Broadcast("room:1", "msg", map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Handler().PubSub().Broadcast("room:1", "shout", map[string]int{"n": 3}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Handler().PubSub().History("room:1", 2); len(got) != 2 || got[1].Seq != 3 {
		t.Fatalf("History(2) = %+v", got)
	}

	b := connect(t, srv)
	status, j = join(t, b, "room:1", map[string]any{"_since": first.Pos})
	if status != "ok" || j.Recovered == nil || !*j.Recovered || j.Outcome != "recovered" || seqOf(t, j.Pos) != 3 {
		t.Fatalf("recovering join: %s %+v", status, j)
	}
	if m := await(t, b, "room:1", "msg"); m.N != 2 {
		t.Fatalf("first replayed %+v, want n 2", m)
	}
	if m := await(t, b, "room:1", "shout"); m.N != 3 || !m.Out {
		t.Fatalf("second replayed %+v, want n 3 through HandleOut", m)
	}
	if err := srv.Broadcast("room:1", "msg", map[string]int{"n": 4}); err != nil {
		t.Fatal(err)
	}
	if m := await(t, b, "room:1", "msg"); m.N != 4 || seqOf(t, m.Pos) != 4 {
		t.Fatalf("live %+v, want n 4 at 4", m)
	}
	if rest := b.Received(); len(rest) != 0 {
		t.Fatalf("unexpected frames: %+v", rest)
	}
	if err := srv.Broadcast("room:1", "msg", []int{5}); err == nil {
		t.Fatal("a non-object broadcast on a recoverable topic was accepted")
	}
}

func TestRecoveryBadInput(t *testing.T) {
	srv := recoverServer(t, topics.Retention{Count: 2}, 0)
	c := connect(t, srv)
	_, j := join(t, c, "room:1", map[string]any{"_since": nil})
	epoch := strings.Split(j.Pos, ".")[0]
	for i := 1; i <= 5; i++ {
		if err := srv.Broadcast("room:1", "msg", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	other := connect(t, srv)
	_, o := join(t, other, "room:2", map[string]any{"_since": nil}) // another topic's stream
	for _, tc := range []struct {
		name, topic string
		since       any
		outcome     string
	}{
		{"a number", "room:1", 42, "bad position"},
		{"an object", "room:1", map[string]int{"seq": 1}, "bad position"},
		{"garbage", "room:1", "not a position", "bad position"},
		{"from the future", "room:1", epoch + ".99", "ahead of the stream"},
		{"from another epoch", "room:1", "zzz.3", "other epoch"},
		{"from another topic", "room:1", o.Pos, "other epoch"},
		{"too old for the retention", "room:1", epoch + ".1", "too old"},
		{"for a plain topic", "plain:1", epoch + ".4", "no history"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := connect(t, srv)
			defer cl.Close()
			status, j := join(t, cl, tc.topic, map[string]any{"_since": tc.since})
			if status != "ok" || j.Recovered == nil || *j.Recovered || j.Outcome != tc.outcome {
				t.Fatalf("join: %s %+v, want ok, not recovered, %q", status, j, tc.outcome)
			}
			if tc.topic == "plain:1" && j.Pos != "" {
				t.Fatalf("a plain topic's reply has a position %q", j.Pos)
			}
			if got := cl.Received(); len(got) != 0 {
				t.Fatalf("replayed %d frames on a failed recovery: %+v", len(got), got)
			}
			status, j = join(t, cl, tc.topic, map[string]any{"_since": tc.since, "strict": true})
			if status != "error" || j.Reason != "resync" {
				t.Fatalf("strict join: %s %+v, want refused", status, j)
			}
		})
	}
	status, j := join(t, c, "room:1", map[string]any{"_since": nil})
	if status != "ok" || j.Outcome != "fresh" || j.Pos == "" || j.Recovered == nil {
		t.Fatalf("null _since: %s %+v, want a fresh join with the recovery members", status, j)
	}
	status, j = join(t, c, "room:1", nil)
	if status != "ok" || j.Outcome != "fresh" || j.Pos != "" || j.Recovered != nil {
		t.Fatalf("no _since: %s %+v, want a fresh join with the reply as Join made it", status, j)
	}
	status, j = join(t, c, "room:1", map[string]any{"list": true, "_since": nil})
	if status != "error" {
		t.Fatalf("a non-object join reply on a recoverable topic: %s %+v, want an error", status, j)
	}
}

// reader follows one client's "msg" broadcasts and checks they are
// exactly 1, 2, 3, ... across every rejoin.
type reader struct {
	t    *testing.T
	last string // the last position seen
	next int    // the n expected next
}

func (r *reader) take(c *channeltest.Client, topic string) {
	r.t.Helper()
	v := await(r.t, c, topic, "msg")
	if v.N != r.next {
		r.t.Fatalf("got n %d, want %d (position %s, last %s)", v.N, r.next, v.Pos, r.last)
	}
	r.next++
	r.last = v.Pos
}

// rejoin connects a new client that recovers after r.last.
func (r *reader) rejoin(srv *channeltest.Server, topic string) *channeltest.Client {
	r.t.Helper()
	c := connect(r.t, srv)
	params := map[string]any{"_since": nil}
	if r.last != "" {
		params["_since"] = r.last
	}
	status, j := join(r.t, c, topic, params)
	if status != "ok" || r.last != "" && (j.Recovered == nil || !*j.Recovered) {
		r.t.Fatalf("rejoin after %s: %s %+v", r.last, status, j)
	}
	if r.last == "" {
		r.last = j.Pos
	}
	return c
}

// TestRecoveryDuringJoin broadcasts without pause while clients rejoin
// with a slow Join. A join that subscribed only after reading the history
// loses what is broadcast during Join; one that subscribed before without
// dropping what the history already held delivers it twice. Either fails
// the exact sequence the reader checks.
func TestRecoveryDuringJoin(t *testing.T) {
	srv := recoverServer(t, topics.Retention{Count: 100000}, 3*time.Millisecond)
	stop := testutil.Loop(t, func(n int) error {
		if n%20 == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		return srv.Broadcast("room:1", "msg", map[string]int{"n": n})
	})
	r := &reader{t: t, next: 1}
	// A fresh join: the reader starts after the reply's position.
	c := connect(t, srv)
	_, j := join(t, c, "room:1", map[string]any{"_since": nil})
	p, _ := topics.ParsePosition(j.Pos)
	r.last, r.next = j.Pos, int(p.Seq)+1
	for range 30 {
		for range 5 {
			r.take(c, "room:1")
		}
		c.Close()
		c = r.rejoin(srv, "room:1")
	}
	sent := stop()
	for r.next <= sent {
		r.take(c, "room:1")
	}
	if rest := c.Received(); len(rest) != 0 {
		t.Fatalf("%d frames after the last broadcast", len(rest))
	}
}

// TestRecoveryProperty runs random cuts, broadcasts and rejoins, with a
// broadcaster sometimes running during the rejoin: the reader must see
// every message exactly once, in order.
func TestRecoveryProperty(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 13))
			srv := recoverServer(t, topics.Retention{Count: 10000}, time.Duration(rng.IntN(2))*time.Millisecond)
			n := 0
			send := func(k int) {
				for range k {
					n++
					if err := srv.Broadcast("room:1", "msg", map[string]int{"n": n}); err != nil {
						t.Fatal(err)
					}
				}
			}
			r := &reader{t: t, next: 1}
			c := r.rejoin(srv, "room:1")
			for range 40 {
				switch rng.IntN(3) {
				case 0: // read some of what came
					for r.next <= n && rng.IntN(4) != 0 {
						r.take(c, "room:1")
					}
				case 1:
					send(rng.IntN(20))
				case 2: // cut, broadcast while away, rejoin during a burst
					c.Close()
					send(rng.IntN(20))
					var wg sync.WaitGroup
					burst := rng.IntN(20)
					from := n
					n += burst
					wg.Go(func() {
						for i := from + 1; i <= from+burst; i++ {
							if err := srv.Broadcast("room:1", "msg", map[string]int{"n": i}); err != nil {
								t.Error(err)
							}
						}
					})
					// Frames queued to the cut client and never read are
					// lost with it: the reader resumes from its last.
					c = r.rejoin(srv, "room:1")
					wg.Wait()
				}
			}
			for r.next <= n {
				r.take(c, "room:1")
			}
			if rest := c.Received(); len(rest) != 0 {
				t.Fatalf("%d frames after the last broadcast", len(rest))
			}
		})
	}
}

func TestWithHistoryValidates(t *testing.T) {
	r := actors.NewRouter()
	if err := r.Handle("room:*", func() actors.Channel { return room{} }, actors.WithHistory(topics.Retention{Age: time.Minute})); err == nil {
		t.Fatal("a history bounded by age only was accepted")
	}
	if r.Recoverable() {
		t.Fatal("a refused route made the router recoverable")
	}
	r.MustHandle("room:*", func() actors.Channel { return room{} }, actors.WithHistory(topics.Retention{Count: 5}))
	r.MustHandle("lobby", func() actors.Channel { return room{} })
	if got, ok := r.History("room:1"); !ok || got.Count != 5 {
		t.Fatalf("History(room:1) = %+v, %v", got, ok)
	}
	if _, ok := r.History("lobby"); ok {
		t.Fatal("a plain route keeps a history")
	}
}
