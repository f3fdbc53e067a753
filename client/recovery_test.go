package client_test

import (
	"testing"
	"time"

	"github.com/pyrehq/pyre/client"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/jsnodes"
	"github.com/pyrehq/pyre/topics"
)

// jetStreamNodes starts n pyre nodes over one NATS server, the histories
// of their recoverable topics in JetStream.
func jetStreamNodes(t *testing.T, n int) []*server {
	t.Helper()
	var out []*server
	for _, ps := range jsnodes.PubSubs(t, n) {
		out = append(out, newServer(t, ps, defaultRetention))
	}
	return out
}

// A client cut off again and again while a broadcaster never pauses gets
// every message exactly once and in order: after reconnecting to the same
// node (the history in its memory), and to another node (the history in
// JetStream).
func TestRecoveryAcrossReconnects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes func(t *testing.T) []*server
	}{
		{"same node", func(t *testing.T) []*server { return []*server{newServer(t, nil, defaultRetention)} }},
		{"other node", func(t *testing.T) []*server { return jetStreamNodes(t, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := tc.nodes(t)
			p := newProxy(t, hostOf(nodes[0]))
			c := dial(t, p.URL(nodes[0]), params("ana"))
			ch := c.Channel("room:1", nil)
			got := collect(ch, "msg")
			join(t, ch)
			stop := testutil.Loop(t, func(i int) error {
				time.Sleep(100 * time.Microsecond) // a steady sender, not a flood
				return nodes[0].h.Broadcast("room:1", "msg", map[string]int{"n": i})
			})
			next := 0
			receive := func(round int) {
				t.Helper()
				m := testutil.Receive(t, got, wait, "round %d: no message after %d", round, next-1)
				var p struct{ N int }
				if err := m.Decode(&p); err != nil {
					t.Fatal(err)
				}
				if next != 0 && p.N != next {
					t.Fatalf("round %d: message %d, want %d (%s)", round, p.N, next, m.Payload)
				}
				next = p.N + 1
			}
			for round := range 6 {
				for range 50 {
					receive(round)
				}
				p.cut(hostOf(nodes[(round+1)%len(nodes)]))
			}
			last := stop()
			for next <= last {
				receive(6)
			}
			select {
			case m := <-got:
				t.Fatalf("a message after the last one: %s", m.Payload)
			default:
			}
		})
	}
}

// A rejoin that cannot recover (the missed messages are older than the
// history) is reported to OnResync, in order, and live messages follow.
func TestResyncWhenHistoryIsShort(t *testing.T) {
	s := newServer(t, nil, topics.Retention{Count: 5})
	p := newProxy(t, hostOf(s))
	c := dial(t, p.URL(s), params("ana"))
	ch := c.Channel("room:1", nil)
	got := collect(ch, "msg")
	resyncs := make(chan client.Resync, 10)
	ch.OnResync(func(r client.Resync) { resyncs <- r })
	join(t, ch)
	broadcast := func(n int) {
		t.Helper()
		if err := s.h.Broadcast("room:1", "msg", map[string]int{"n": n}); err != nil {
			t.Fatal(err)
		}
	}
	broadcast(0)
	testutil.Receive(t, got, wait, "no first message")
	since := ch.Position()
	if since == "" {
		t.Fatal("no position after a recorded message")
	}
	p.cut("")
	testutil.Eventually(t, wait, func() bool { return !c.Connected() }, "the client to notice the cut")
	for i := 1; i <= 20; i++ {
		broadcast(i)
	}
	p.route(hostOf(s))
	r := testutil.Receive(t, resyncs, wait, "no resync")
	if r.Since != since || r.Position == "" || r.Position == since {
		t.Errorf("resync %+v, want since %q and the stream's newer position", r, since)
	}
	broadcast(21)
	m := testutil.Receive(t, got, wait, "no live message after the resync")
	if string(m.Payload) == "" || ch.Position() == since {
		t.Errorf("live message %s, position %q", m.Payload, ch.Position())
	}
	var n struct{ N int }
	_ = m.Decode(&n)
	if n.N != 21 {
		t.Errorf("after the resync got message %d, want 21 (nothing replayed)", n.N)
	}
}
