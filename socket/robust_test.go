package socket_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"testing"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
)

// toy is the channel the robustness tests run: it echoes, crashes, stops
// and broadcasts on demand, and refuses "room:no".
type toy struct{}

func (toy) Join(_ *actors.Context, topic string, _ actors.Payload) (any, error) {
	if topic == "room:no" {
		return nil, actors.Refuse(map[string]string{"reason": "no"})
	}
	return nil, nil
}

func (toy) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	switch event {
	case "echo":
		return actors.Ok(p)
	case "crash":
		panic("fuzzed crash")
	case "stop":
		return actors.Stop(actors.ErrNormal)
	case "bcast":
		_ = c.Broadcast("bcast", p)
		return actors.NoReply()
	}
	return actors.Error(map[string]string{"reason": "unmatched event"})
}

func toyRouter() *actors.Router {
	r := actors.NewRouter()
	r.MustHandle("room:*", func() actors.Channel { return toy{} })
	return r
}

// FuzzSocketFrames drives one socket with an arbitrary sequence of joins,
// leaves, pushes, crashes, stops, replies to unknown refs, stale join_refs
// and interleaved topics. Nothing may panic, a well-behaved client on the
// same server keeps working throughout, and once both sockets close no
// actor is left behind.
func FuzzSocketFrames(f *testing.F) {
	f.Add([]byte{0, 0, 2, 0, 3, 0, 0, 0, 2, 0})
	f.Add([]byte{0, 1, 0, 1, 1, 1, 5, 9, 6, 1, 4, 1, 2, 1})
	f.Add([]byte{0, 2, 0, 3, 7, 4, 0, 0, 0, 0, 3, 0, 3, 0, 2, 0})
	f.Add([]byte{6, 6, 6, 6, 1, 1, 1, 1, 7, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 128 {
			ops = ops[:128]
		}
		srv := channeltest.NewServer(t, toyRouter())
		testutil.CheckActors(t, srv.Handler().ActorCount)
		good, err := srv.Connect(url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := good.Join("room:good", nil); err != nil || r.Status != "ok" {
			t.Fatalf("good join: %+v %v", r, err)
		}
		bad, err := srv.Connect(url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		topics := []string{"room:a", "room:b", "room:no", "other", "phoenix", "room:good"}
		ref := 0
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i], ops[i+1]
			topic := topics[int(arg)%len(topics)]
			ref++
			r := fmt.Sprint(ref)
			joinRef := bad.JoinRef(topic)
			var sendErr error
			switch op % 8 {
			case 0:
				_, sendErr = bad.Push(topic, "phx_join", map[string]any{"n": arg})
			case 1:
				sendErr = bad.PushRaw(joinRef, r, topic, "phx_leave", nil)
			case 2:
				sendErr = bad.PushRaw(joinRef, r, topic, "echo", map[string]any{"n": arg})
			case 3:
				sendErr = bad.PushRaw(joinRef, r, topic, "crash", nil)
			case 4:
				sendErr = bad.PushRaw(joinRef, r, topic, "stop", nil)
			case 5:
				sendErr = bad.PushRaw(joinRef, r, topic, "phx_reply", map[string]any{"status": "ok"})
			case 6:
				sendErr = bad.PushRaw(fmt.Sprint(int(arg)+1000), r, topic, "echo", nil) // stale join_ref
			case 7:
				sendErr = bad.PushRaw("", "", topic, "bcast", "not an object")
			}
			if sendErr != nil {
				break // the server closed the socket: allowed, but not for the good client
			}
		}
		if r, err := good.Request("room:good", "echo", map[string]int{"still": 1}); err != nil || r.Status != "ok" {
			t.Fatalf("the well-behaved client stopped working: %+v %v", r, err)
		}
		bad.Close()
		good.Close()
		// Then, when the iteration ends, CheckActors waits for the actors.
		testutil.CountBackTo(t, "open sockets", 0, srv.Handler().Len)
	})
}

// TestNoCrossTopicLeaks joins many clients to random sets of topics and
// broadcasts random events: every client receives exactly the broadcasts
// of the topics it joined, in order, and nothing else.
func TestNoCrossTopicLeaks(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 17))
		srv := channeltest.NewServer(t, toyRouter())
		const clients, topicCount, broadcasts = 30, 8, 400
		topicName := func(i int) string { return fmt.Sprint("room:t", i) }
		joined := make([][]int, clients)
		conns := make([]*channeltest.Client, clients)
		for i := range conns {
			c, err := srv.Connect(url.Values{})
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
			for tp := range topicCount {
				if rng.IntN(3) == 0 {
					if r, err := c.Join(topicName(tp), nil); err != nil || r.Status != "ok" {
						t.Fatalf("join: %+v %v", r, err)
					}
					joined[i] = append(joined[i], tp)
				}
			}
		}
		sent := make([][]int, topicCount) // sequence numbers per topic
		for seq := range broadcasts {
			tp := rng.IntN(topicCount)
			sent[tp] = append(sent[tp], seq)
			if err := srv.Broadcast(topicName(tp), fmt.Sprint("ev", rng.IntN(3)), map[string]any{"topic": topicName(tp), "seq": seq}); err != nil {
				t.Fatal(err)
			}
		}
		for tp := range topicCount {
			_ = srv.Broadcast(topicName(tp), "end", map[string]any{"topic": topicName(tp), "seq": -1})
		}
		for i, c := range conns {
			got := map[string][]int{}
			ended := 0
			for ended < len(joined[i]) {
				m, err := c.Await(func(channeltest.Message) bool { return true })
				if err != nil {
					t.Fatalf("seed %d client %d: %v (joined %v)", seed, i, err, joined[i])
				}
				if m.Event == "phx_reply" {
					continue
				}
				var p struct {
					Topic string `json:"topic"`
					Seq   int    `json:"seq"`
				}
				if err := json.Unmarshal(m.Payload, &p); err != nil || p.Topic != m.Topic {
					t.Fatalf("client %d: frame on %s carries %s", i, m.Topic, m.Payload)
				}
				if m.Event == "end" {
					ended++
					continue
				}
				got[m.Topic] = append(got[m.Topic], p.Seq)
			}
			for tp := range topicCount {
				want := []int(nil)
				if slices.Contains(joined[i], tp) {
					want = sent[tp]
				}
				if !slices.Equal(got[topicName(tp)], want) {
					t.Fatalf("seed %d client %d topic %d: got %v, want %v", seed, i, tp, got[topicName(tp)], want)
				}
			}
			if extra := c.Received(); len(extra) > 0 {
				t.Fatalf("client %d received %d frames after the end markers", i, len(extra))
			}
		}
	}
}
