package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyrehq/pyre/client"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func TestJoinPushReply(t *testing.T) {
	for _, vsn := range []string{client.V2, client.V1} {
		t.Run(vsn, func(t *testing.T) {
			s := newServer(t, nil, defaultRetention)
			c := dial(t, s.URL, params("ana"), client.WithProtocol(vsn))
			ch := c.Channel("room:1", func() map[string]any { return map[string]any{"a": 1} })
			r := join(t, ch)
			var welcome struct {
				Welcome   string `json:"welcome"`
				Recovered *bool  `json:"_recovered"`
			}
			if err := r.Decode(&welcome); err != nil || r.Status != "ok" || welcome.Welcome != "room:1" || welcome.Recovered == nil {
				t.Fatalf("join reply %+v %s (%v), want ok with the channel's reply and _recovered", r, r.Response, err)
			}

			r, err := ch.Push(ctxT(t), "echo", map[string]string{"hello": "world"})
			if err != nil || string(r.Response) != `{"hello":"world"}` {
				t.Errorf("echo: %s, %v", r.Response, err)
			}
			if r, err := ch.Push(ctxT(t), "echo", nil); err != nil || string(r.Response) != `{}` {
				t.Errorf("echo of no payload: %s, %v, want {}", r.Response, err)
			}
			_, err = ch.Push(ctxT(t), "nope", map[string]string{})
			var re *client.ReplyError
			if !errors.As(err, &re) || re.Status != "error" || re.Reason() != "unmatched event" || re.Event != "nope" {
				t.Errorf("unknown event: %v, want a *ReplyError with reason unmatched event", err)
			}
		})
	}
}

func TestRefusedJoin(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	c := dial(t, s.URL, params("ana"))
	ch := c.Channel("room:1", func() map[string]any { return map[string]any{"refuse": true} })
	_, err := ch.Join(ctxT(t))
	var re *client.ReplyError
	if !errors.As(err, &re) || re.Reason() != "refused" {
		t.Fatalf("join: %v, want a refusal", err)
	}
	if _, err := ch.Push(ctxT(t), "echo", nil); !errors.Is(err, client.ErrChannelClosed) {
		t.Errorf("push on a refused channel: %v, want ErrChannelClosed", err)
	}
	// The topic is free again.
	join(t, c.Channel("room:1", nil))
	if _, err := c.Channel("room:1", nil).Join(ctxT(t)); !errors.Is(err, client.ErrAlreadyJoined) {
		t.Errorf("second join of a topic: %v, want ErrAlreadyJoined", err)
	}
	_, err = c.Channel("other:1", nil).Join(ctxT(t))
	if !errors.As(err, &re) || re.Reason() != "unmatched topic" {
		t.Errorf("join of an unrouted topic: %v, want unmatched topic", err)
	}
}

func TestBadToken(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	_, err := client.Dial(ctxT(t), s.URL, client.WithAuthToken("bad"))
	var he *client.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("dial with a bad token: %v, want a 403 HandshakeError", err)
	}
	// The same token in the subprotocol is accepted when good.
	c := dial(t, s.URL, client.WithAuthToken("good"))
	join(t, c.Channel("room:1", nil))
}

func TestRetryAfterOnRefusedHandshake(t *testing.T) {
	s := newServer(t, nil, defaultRetention, socket.WithAdmission(0.001, 1))
	dial(t, s.URL, params("first")) // takes the only place
	_, err := client.Dial(ctxT(t), s.URL, params("second"))
	var he *client.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable || he.RetryAfter < time.Second {
		t.Fatalf("dial past admission: %v, want a 503 HandshakeError with a Retry-After", err)
	}
}

func TestPushTimesOut(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	c := dial(t, s.URL, params("ana"))
	ch := c.Channel("room:1", nil)
	join(t, ch)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := ch.Push(ctx, "silent", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("push without reply: %v, want DeadlineExceeded", err)
	}
	// The connection is still good.
	if _, err := ch.Push(ctxT(t), "echo", 1); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryBothWays(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	c := dial(t, s.URL, params("ana"))
	ch := c.Channel("room:1", nil)
	got := collect(ch, "bytes")
	join(t, ch)
	r, err := ch.Push(ctxT(t), "size", []byte{1, 2, 3, 0})
	if err != nil || string(r.Response) != `{"binary":true,"len":4}` {
		t.Fatalf("binary push: %s, %v", r.Response, err)
	}
	r, err = ch.Push(ctxT(t), "binary", nil)
	if err != nil || !r.Binary || string(r.Response) != "raw" {
		t.Fatalf("binary reply: %+v, %v", r, err)
	}
	m := testutil.Receive(t, got, wait, "no binary push")
	if !m.Binary || string(m.Payload) != "\x00\x01\x02\xff" {
		t.Fatalf("binary push from the server: %+v", m)
	}
	v1 := dial(t, s.URL, params("bob"), client.WithProtocol(client.V1))
	ch1 := v1.Channel("room:1", nil)
	join(t, ch1)
	if _, err := ch1.Push(ctxT(t), "size", []byte{1}); !errors.Is(err, client.ErrBinaryV1) {
		t.Errorf("binary push over V1: %v, want ErrBinaryV1", err)
	}
}

// 10 000 broadcasts reach the handler in order, one handler call at a time.
func TestTenThousandInOrder(t *testing.T) {
	const n = 10000
	s := newServer(t, nil, defaultRetention)
	c := dial(t, s.URL, params("ana"))
	ch := c.Channel("room:1", nil)
	var running, overlaps atomic.Int32
	next := 0
	done := make(chan error, 1)
	ch.On("msg", func(m client.Message) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		var p struct{ N int }
		if err := m.Decode(&p); err != nil || p.N != next {
			select {
			case done <- fmt.Errorf("message %d: %s", next, m.Payload):
			default:
			}
			return
		}
		if next++; next == n {
			done <- nil
		}
	})
	join(t, ch)
	// A second channel's handlers run beside this one's.
	other := c.Channel("room:2", nil)
	join(t, other)
	for i := range n {
		if err := s.h.Broadcast("room:1", "msg", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			_ = s.h.Broadcast("room:2", "msg", map[string]int{"n": -1})
		}
	}
	if err := testutil.Receive(t, done, wait, "not all %d messages came", n); err != nil {
		t.Fatal(err)
	}
	if overlaps.Load() != 0 {
		t.Errorf("a channel's handlers overlapped %d times", overlaps.Load())
	}
}

// A server that closes the connection (pyre's disconnect, 1001) is
// reconnected to and every channel rejoined with fresh params.
func TestReconnectAfterServerClose(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	var joins atomic.Int32
	c := dial(t, s.URL, params("ana"))
	ch := c.Channel("room:1", func() map[string]any { return map[string]any{"n": joins.Add(1)} })
	joined := collect(ch, "joined")
	join(t, ch)
	if got := joinedN(t, joined); got != 1 {
		t.Fatalf("first join params n=%v, want 1", got)
	}
	if err := s.h.Broadcast("user:ana", "disconnect", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if got := joinedN(t, joined); got != 2 {
		t.Fatalf("rejoin params n=%v, want 2 (asked again)", got)
	}
	if _, err := ch.Push(ctxT(t), "echo", 1); err != nil {
		t.Fatalf("push after the rejoin: %v", err)
	}
}

func joinedN(t testing.TB, joined <-chan client.Message) float64 {
	t.Helper()
	m := testutil.Receive(t, joined, wait, "no join")
	var p map[string]any
	if err := m.Decode(&p); err != nil {
		t.Fatal(err)
	}
	n, _ := p["n"].(float64)
	return n
}

// A TCP connection cut without a close frame is noticed and replaced;
// pushes meanwhile wait for the rejoin.
func TestReconnectAfterCutConnection(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	p := newProxy(t, hostOf(s))
	c := dial(t, p.URL(s), params("ana"))
	ch := c.Channel("room:1", nil)
	joined := collect(ch, "joined")
	join(t, ch)
	testutil.Receive(t, joined, wait, "no join")
	p.cut(hostOf(s))
	testutil.Receive(t, joined, wait, "no rejoin after the cut")
	if _, err := ch.Push(ctxT(t), "echo", 1); err != nil {
		t.Fatalf("push after the rejoin: %v", err)
	}
}

// Heartbeats answered in time keep the connection: pushes keep working
// across many of them.
func TestHeartbeatKeepsConnection(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	c := dial(t, s.URL, params("ana"), client.WithHeartbeat(5*time.Millisecond))
	ch := c.Channel("room:1", nil)
	join(t, ch)
	// Heartbeats come and go many times; the channel stays usable.
	for range 20 {
		if _, err := ch.Push(ctxT(t), "echo", 1); err != nil {
			t.Fatal(err)
		}
	}
}

// A crashed channel (phx_error) is rejoined by itself.
func TestRejoinAfterChannelError(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	c := dial(t, s.URL, params("ana"))
	ch := c.Channel("room:1", nil)
	joined := collect(ch, "joined")
	join(t, ch)
	testutil.Receive(t, joined, wait, "no join")
	if _, err := ch.Push(ctxT(t), "crash", nil); !errors.Is(err, client.ErrChannelError) {
		t.Fatalf("a push that crashes the channel: %v, want ErrChannelError", err)
	}
	testutil.Receive(t, joined, wait, "no rejoin after the crash")
	if _, err := ch.Push(ctxT(t), "echo", 1); err != nil {
		t.Fatalf("push after the rejoin: %v", err)
	}
}

func TestLeave(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	c := dial(t, s.URL, params("ana"))
	ch := c.Channel("room:1", nil)
	shouts := collect(ch, "shout")
	join(t, ch)
	if _, err := ch.Push(ctxT(t), "shout", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, shouts, wait, "no shout")
	if err := ch.Leave(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Push(ctxT(t), "echo", 1); !errors.Is(err, client.ErrChannelClosed) {
		t.Errorf("push after leave: %v, want ErrChannelClosed", err)
	}
	// The topic can be joined again, and only the new channel hears it.
	again := c.Channel("room:1", nil)
	shouts2 := collect(again, "shout")
	join(t, again)
	if _, err := again.Push(ctxT(t), "shout", map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, shouts2, wait, "no shout on the new channel")
	select {
	case m := <-shouts:
		t.Errorf("the left channel got %s", m.Payload)
	default:
	}
}

// Close ends every goroutine the client started, with channels joined,
// a reconnect in progress and a push waiting.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	p := newProxy(t, hostOf(s))
	base := testutil.Goroutines()
	c, err := client.Dial(ctxT(t), p.URL(s), params("ana"), client.WithHeartbeat(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		join(t, c.Channel(fmt.Sprintf("room:%d", i), nil))
	}
	waiting := c.Channel("room:w", nil)
	join(t, waiting)
	p.cut("") // no way back: the client keeps trying
	testutil.Eventually(t, wait, func() bool { return !c.Connected() }, "the client to notice the cut")
	pushed := make(chan error, 1)
	go func() {
		_, err := waiting.Push(context.Background(), "echo", 1)
		pushed <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Receive(t, pushed, wait, "push still waiting after Close"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("push across Close: %v, want ErrClosed", err)
	}
	base.Wait(t)
	if _, err := waiting.Push(ctxT(t), "echo", 1); !errors.Is(err, client.ErrClosed) {
		t.Errorf("push after Close: %v, want ErrClosed", err)
	}
}

func TestPresenceConverges(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	var list func() client.PresenceState
	a := dial(t, s.URL, params("ana"))
	cha := a.Channel("room:1", nil)
	pres := client.NewPresence(cha)
	var joins, leaves atomic.Int32
	pres.OnJoin(func(string, *client.Entry, *client.Entry) { joins.Add(1) })
	pres.OnLeave(func(string, *client.Entry, *client.Entry) { leaves.Add(1) })
	list = pres.List
	join(t, cha)
	b := dial(t, s.URL, params("bob"))
	chb := b.Channel("room:1", nil)
	join(t, chb)
	keys := func() string {
		l := list()
		b, _ := json.Marshal(slices.Sorted(maps.Keys(l)))
		return string(b)
	}
	testutil.Eventually(t, wait, func() bool { return keys() == `["ana","bob"]` }, "ana and bob, got %v", testutil.Lazy(keys))
	if err := chb.Leave(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() bool { return keys() == `["ana"]` }, "ana alone, got %v", testutil.Lazy(keys))
	if joins.Load() < 2 || leaves.Load() < 1 {
		t.Errorf("callbacks: %d joins, %d leaves", joins.Load(), leaves.Load())
	}
	if m := list()["ana"].Metas; len(m) != 1 || m[0]["name"] != "ana" || m[0].Ref() == "" {
		t.Errorf("ana's metas %v", m)
	}
}

// A join made while the connection is down waits for the next one.
func TestJoinWhileDisconnected(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	p := newProxy(t, hostOf(s))
	c := dial(t, p.URL(s), params("ana"))
	p.cut("")
	testutil.Eventually(t, wait, func() bool { return !c.Connected() }, "the client to notice the cut")
	joined := make(chan error, 1)
	ch := c.Channel("room:1", nil)
	go func() {
		_, err := ch.Join(ctxT(t))
		joined <- err
	}()
	p.route(hostOf(s))
	if err := testutil.Receive(t, joined, wait, "join still waiting after the reconnect"); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Push(ctxT(t), "echo", 1); err != nil {
		t.Fatal(err)
	}
}

// After a reconnect the presence list is the server's again: the
// reconnected user's old presence is replaced, not kept beside the new.
func TestPresenceAcrossReconnect(t *testing.T) {
	s := newServer(t, nil, defaultRetention)
	p := newProxy(t, hostOf(s))
	a := dial(t, p.URL(s), params("ana"))
	cha := a.Channel("room:1", nil)
	pres := client.NewPresence(cha)
	joined := collect(cha, "joined")
	join(t, cha)
	b := dial(t, s.URL, params("bob"))
	join(t, b.Channel("room:1", nil))
	ref := func(user string) string {
		m := pres.List()[user].Metas
		if len(m) != 1 {
			return fmt.Sprintf("%d metas", len(m))
		}
		return m[0].Ref()
	}
	testutil.Eventually(t, wait, func() bool { return len(pres.List()) == 2 }, "ana and bob")
	before := ref("ana")
	testutil.Receive(t, joined, wait, "no join")
	p.cut(hostOf(s))
	testutil.Receive(t, joined, wait, "no rejoin")
	testutil.Eventually(t, wait, func() bool {
		r := ref("ana")
		return r != before && !strings.Contains(r, "metas") && len(pres.List()) == 2
	}, "ana's one new presence beside bob's; ana has %v", testutil.Lazy(func() string { return ref("ana") }))
}
