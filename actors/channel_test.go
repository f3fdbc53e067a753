package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// probe is a channel whose behaviour tests choose per event, and which
// reports every Terminate on a channel.
type probe struct {
	terminated chan<- error
}

type later struct{ ref actors.ReplyRef }
type tick struct{ n int }

func (p *probe) Join(c *actors.Context, topic string, payload actors.Payload) (any, error) {
	var in struct {
		Refuse string `json:"refuse"`
		Fail   string `json:"fail"`
		Panic  bool   `json:"panic"`
		Reply  any    `json:"reply"`
	}
	_ = payload.Decode(&in)
	switch {
	case in.Panic:
		panic("join exploded")
	case in.Refuse != "":
		return nil, actors.Refuse(map[string]string{"reason": in.Refuse})
	case in.Fail != "":
		return nil, errors.New(in.Fail)
	}
	c.Assign("topic_seen", topic)
	return in.Reply, nil
}

func (p *probe) HandleIn(c *actors.Context, event string, payload actors.Payload) actors.Result {
	switch event {
	case "ok":
		return actors.Ok(payload)
	case "error":
		return actors.Error(map[string]string{"reason": "asked"})
	case "noreply":
		return actors.NoReply()
	case "later":
		ref, err := c.ReplyRef()
		if err != nil {
			return actors.Error(map[string]string{"reason": err.Error()})
		}
		c.SendAfter(later{ref}, time.Millisecond)
		return actors.NoReply()
	case "stop":
		return actors.Stop(nil)
	case "stop_reply":
		return actors.StopWithReply(nil, "ok", map[string]string{"bye": "now"})
	case "stop_error":
		return actors.Stop(errors.New("gave up"))
	case "panic":
		panic("handle_in exploded")
	case "push":
		if err := c.Push("pushed", payload); err != nil {
			return actors.Error(map[string]string{"reason": err.Error()})
		}
		return actors.Ok(nil)
	case "broadcast":
		_ = c.Broadcast("shout", payload)
		return actors.Ok(nil)
	case "broadcast_from":
		_ = c.BroadcastFrom("shout", payload)
		return actors.Ok(nil)
	case "assigns":
		return actors.Ok(map[string]any{"user": c.Get("user"), "topic_seen": c.Get("topic_seen")})
	case "become":
		c.BecomeStacked(&quiet{probe: p})
		return actors.Ok(nil)
	case "ticks":
		c.Send(tick{1})
		c.SendAfter(tick{2}, 5*time.Millisecond)
		cancel := c.SendAfter(tick{3}, 10*time.Millisecond)
		cancel()
		c.SendAfter(tick{4}, 20*time.Millisecond)
		return actors.Ok(nil)
	case "subscribe":
		var topic string
		_ = payload.Decode(&topic)
		c.Subscribe(topic)
		return actors.Ok(nil)
	}
	return actors.Error(map[string]string{"reason": "unmatched event"})
}

func (p *probe) HandleInfo(c *actors.Context, msg any) actors.Result {
	switch m := msg.(type) {
	case later:
		_ = m.ref.Reply("ok", map[string]string{"late": "yes"})
	case tick:
		_ = c.Push("tick", map[string]int{"n": m.n})
	default:
		_ = c.Push("info", map[string]string{"type": fmt.Sprintf("%T", msg)})
	}
	return actors.NoReply()
}

func (p *probe) Intercept() []string { return []string{"secret"} }

func (p *probe) HandleOut(c *actors.Context, event string, payload actors.Payload) actors.Result {
	var m map[string]any
	_ = payload.Decode(&m)
	m["seen_by"] = c.Get("user")
	_ = c.Push(event, m)
	return actors.NoReply()
}

func (p *probe) Terminate(_ *actors.Context, reason error) { p.terminated <- reason }

// quiet is a behaviour stacked on probe: it answers "who" and can go back.
type quiet struct{ probe *probe }

func (q *quiet) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (q *quiet) HandleIn(c *actors.Context, event string, _ actors.Payload) actors.Result {
	switch event {
	case "who":
		return actors.Ok(map[string]string{"me": "quiet"})
	case "unbecome":
		c.UnbecomeStacked()
		return actors.Ok(nil)
	}
	return actors.Error(map[string]string{"reason": "quiet"})
}

func (q *quiet) Terminate(_ *actors.Context, reason error) { q.probe.terminated <- reason }

type fixture struct {
	srv        *channeltest.Server
	terminated chan error
}

func newFixture(t *testing.T, opts ...socket.Option) *fixture {
	t.Helper()
	f := &fixture{terminated: make(chan error, 64)}
	r := actors.NewRouter()
	r.MustHandle("probe:*", func() actors.Channel { return &probe{terminated: f.terminated} })
	opts = append([]socket.Option{
		socket.WithConnect(func(_ context.Context, p url.Values, _ socket.ConnInfo) (actors.Assigns, error) {
			if p.Get("user") == "" {
				return nil, errors.New("no user")
			}
			return actors.Assigns{"user": p.Get("user")}, nil
		}),
		socket.WithID(func(a actors.Assigns) string { return "user:" + a["user"].(string) }),
	}, opts...)
	f.srv = channeltest.NewServer(t, r, opts...)
	return f
}

func (f *fixture) connect(t *testing.T, user string) *channeltest.Client {
	t.Helper()
	c, err := f.srv.Connect(url.Values{"user": {user}})
	if err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	return c
}

func (f *fixture) join(t *testing.T, c *channeltest.Client, topic string) {
	t.Helper()
	r, err := c.Join(topic, nil)
	if err != nil || r.Status != "ok" {
		t.Fatalf("join %s = %+v, %v; want ok", topic, r, err)
	}
}

func (f *fixture) reason(t *testing.T) error {
	t.Helper()
	return testutil.Receive(t, f.terminated, 5*time.Second, "Terminate was not called")
}

func (f *fixture) noReason(t *testing.T) {
	t.Helper()
	select {
	case err := <-f.terminated:
		t.Fatalf("unexpected Terminate(%v)", err)
	default:
	}
}

func request(t *testing.T, c *channeltest.Client, topic, event string, payload any) channeltest.Reply {
	t.Helper()
	r, err := c.Request(topic, event, payload)
	if err != nil {
		t.Fatalf("%s on %s: %v", event, topic, err)
	}
	return r
}

func jsonEq(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("bad JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	if gb, wb := fmt.Sprint(g), fmt.Sprint(w); gb != wb {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestConnectRefused(t *testing.T) {
	f := newFixture(t)
	if _, err := f.srv.Connect(url.Values{}); !errors.Is(err, socket.ErrRefused) {
		t.Fatalf("Connect without user = %v; want ErrRefused", err)
	}
}

func TestJoinOutcomes(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	tests := []struct {
		name, topic string
		payload     any
		status      string
		response    string
	}{
		{"ok", "probe:a", nil, "ok", `{}`},
		{"ok with reply", "probe:b", map[string]any{"reply": map[string]int{"n": 1}}, "ok", `{"n":1}`},
		{"refused", "probe:c", map[string]string{"refuse": "unauthorized"}, "error", `{"reason":"unauthorized"}`},
		{"plain error", "probe:d", map[string]string{"fail": "nope"}, "error", `{"reason":"nope"}`},
		{"join panics", "probe:e", map[string]bool{"panic": true}, "error", `{"reason":"join crashed"}`},
		{"unmatched topic", "other:x", nil, "error", `{"reason":"unmatched topic"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.Join(tt.topic, tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Fatalf("status = %q, want %q (%s)", r.Status, tt.status, r.Response)
			}
			jsonEq(t, r.Response, tt.response)
		})
	}
	// Refused joins never reached "joined": no Terminate for them.
	f.noReason(t)
	// The socket is still healthy after a crashed join.
	if r := request(t, c, "probe:a", "ok", map[string]int{"x": 1}); r.Status != "ok" {
		t.Fatalf("after failed joins: %+v", r)
	}
}

func TestUnmatchedTopicReplyHasNullJoinRef(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	if err := c.PushRaw("7", "8", "nowhere", "phx_join", nil); err != nil {
		t.Fatal(err)
	}
	m, err := c.Await(func(m channeltest.Message) bool { return m.Ref == "8" })
	if err != nil {
		t.Fatal(err)
	}
	if m.JoinRef != "" || m.Topic != "nowhere" || m.Event != "phx_reply" {
		t.Fatalf("got %+v; want a reply with null join_ref", m)
	}
	// An event on a topic never joined gets the same error.
	r := request(t, c, "probe:none", "ok", nil)
	if r.Status != "error" {
		t.Fatalf("event on unjoined topic: %+v", r)
	}
	jsonEq(t, r.Response, `{"reason":"unmatched topic"}`)
	// Leaving a topic never joined is ok.
	if r, err := c.Leave("probe:none"); err != nil || r.Status != "ok" {
		t.Fatalf("leave unjoined = %+v, %v", r, err)
	}
}

func TestHandleInResults(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	f.join(t, c, "probe:r")

	r := request(t, c, "probe:r", "ok", map[string]string{"echo": "me"})
	if r.Status != "ok" {
		t.Fatalf("ok: %+v", r)
	}
	jsonEq(t, r.Response, `{"echo":"me"}`)

	r = request(t, c, "probe:r", "error", nil)
	if r.Status != "error" {
		t.Fatalf("error: %+v", r)
	}
	jsonEq(t, r.Response, `{"reason":"asked"}`)

	r = request(t, c, "probe:r", "nosuch", nil)
	jsonEq(t, r.Response, `{"reason":"unmatched event"}`)

	// noreply: nothing comes back for that ref; a later request still works
	// and its reply is the next reply seen.
	ref, err := c.Push("probe:r", "noreply", nil)
	if err != nil {
		t.Fatal(err)
	}
	r = request(t, c, "probe:r", "ok", nil)
	if r.Status != "ok" {
		t.Fatalf("after noreply: %+v", r)
	}
	for _, m := range c.Received() {
		if m.Ref == ref {
			t.Fatalf("noreply produced a frame: %+v", m)
		}
	}

	// An async reply through a saved ReplyRef.
	r = request(t, c, "probe:r", "later", nil)
	if r.Status != "ok" {
		t.Fatalf("later: %+v", r)
	}
	jsonEq(t, r.Response, `{"late":"yes"}`)

	// Assigns come from Connect and from Join.
	r = request(t, c, "probe:r", "assigns", nil)
	jsonEq(t, r.Response, `{"user":"alice","topic_seen":"probe:r"}`)
	f.noReason(t)
}

func TestPushCarriesJoinRef(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	f.join(t, c, "probe:p")
	request(t, c, "probe:p", "push", map[string]int{"v": 1})
	m, err := c.AwaitPush("probe:p", "pushed")
	if err != nil {
		t.Fatal(err)
	}
	if m.JoinRef != c.JoinRef("probe:p") || m.Ref != "" {
		t.Fatalf("push refs = (%q, %q); want (%q, null)", m.JoinRef, m.Ref, c.JoinRef("probe:p"))
	}
	jsonEq(t, m.Payload, `{"v":1}`)
}

func TestStopAndLeave(t *testing.T) {
	tests := []struct {
		name      string
		event     string
		wantReply string // "" for none expected
		wantEvent string // phx_close or phx_error
		reason    func(error) bool
	}{
		{"stop", "stop", "", "phx_close", func(err error) bool { return errors.Is(err, actors.ErrNormal) }},
		{"stop with reply", "stop_reply", `{"bye":"now"}`, "phx_close", func(err error) bool { return errors.Is(err, actors.ErrNormal) }},
		{"stop with error", "stop_error", "", "phx_error", func(err error) bool { return err != nil && err.Error() == "gave up" }},
		{"leave", "phx_leave", `{}`, "phx_close", func(err error) bool { return errors.Is(err, actors.ErrLeft) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.connect(t, "alice")
			f.join(t, c, "probe:s")
			jr := c.JoinRef("probe:s")
			ref, err := c.Push("probe:s", tt.event, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantReply != "" {
				r, err := c.AwaitReply(ref)
				if err != nil || r.Status != "ok" {
					t.Fatalf("reply = %+v, %v", r, err)
				}
				jsonEq(t, r.Response, tt.wantReply)
			}
			m, err := c.AwaitPush("probe:s", tt.wantEvent)
			if err != nil {
				t.Fatal(err)
			}
			if m.JoinRef != jr || m.Ref != jr {
				t.Fatalf("%s refs = (%q, %q); want both %q", tt.wantEvent, m.JoinRef, m.Ref, jr)
			}
			if got := f.reason(t); !tt.reason(got) {
				t.Fatalf("Terminate reason = %v", got)
			}
			// The topic is free again: a new join works.
			f.join(t, c, "probe:s")
		})
	}
}

func TestPanicIsolation(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	other := f.connect(t, "bob")
	f.join(t, c, "probe:crash")
	f.join(t, c, "probe:calm")
	f.join(t, other, "probe:crash")

	jr := c.JoinRef("probe:crash")
	if _, err := c.Push("probe:crash", "panic", nil); err != nil {
		t.Fatal(err)
	}
	m, err := c.AwaitPush("probe:crash", "phx_error")
	if err != nil {
		t.Fatal(err)
	}
	if m.JoinRef != jr || m.Ref != jr {
		t.Fatalf("phx_error refs = (%q, %q); want %q", m.JoinRef, m.Ref, jr)
	}
	jsonEq(t, m.Payload, `{"reason":"channel_crash"}`)
	var crash *actors.CrashError
	if got := f.reason(t); !errors.As(got, &crash) || crash.Callback != "handle_in" || crash.Event != "panic" ||
		!strings.Contains(string(crash.Stack), "probe") {
		t.Fatalf("Terminate reason = %#v; want a CrashError from handle_in with a stack", got)
	}
	// The other channel on the same socket, and the other socket, carry on.
	if r := request(t, c, "probe:calm", "ok", nil); r.Status != "ok" {
		t.Fatalf("sibling channel: %+v", r)
	}
	if r := request(t, other, "probe:crash", "ok", nil); r.Status != "ok" {
		t.Fatalf("other socket: %+v", r)
	}
	// The client can rejoin the crashed topic.
	f.join(t, c, "probe:crash")
	if r := request(t, c, "probe:crash", "ok", nil); r.Status != "ok" {
		t.Fatalf("after rejoin: %+v", r)
	}
}

func TestDuplicateJoin(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	f.join(t, c, "probe:d")
	old := c.JoinRef("probe:d")
	f.join(t, c, "probe:d")
	m, err := c.AwaitPush("probe:d", "phx_close")
	if err != nil {
		t.Fatal(err)
	}
	if m.JoinRef != old {
		t.Fatalf("phx_close join_ref = %q; want the old %q", m.JoinRef, old)
	}
	if got := f.reason(t); !errors.Is(got, actors.ErrDuplicateJoin) {
		t.Fatalf("Terminate reason = %v; want ErrDuplicateJoin", got)
	}
	if r := request(t, c, "probe:d", "ok", nil); r.Status != "ok" {
		t.Fatalf("new channel: %+v", r)
	}
}

func TestStaleJoinRefDropped(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	f.join(t, c, "probe:j")
	if err := c.PushRaw("999", "50", "probe:j", "ok", nil); err != nil {
		t.Fatal(err)
	}
	// A nil join_ref is accepted.
	if err := c.PushRaw("", "51", "probe:j", "ok", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := c.AwaitReply("51"); err != nil || r.Status != "ok" {
		t.Fatalf("nil join_ref: %+v, %v", r, err)
	}
	// The stale message was handled in order before ref 51 if at all, so
	// by now any reply to it would have arrived.
	for _, m := range c.Received() {
		if m.Ref == "50" {
			t.Fatalf("stale join_ref got a reply: %+v", m)
		}
	}
	// A stale leave is dropped too: the channel stays joined.
	if err := c.PushRaw("999", "52", "probe:j", "phx_leave", nil); err != nil {
		t.Fatal(err)
	}
	if r := request(t, c, "probe:j", "ok", nil); r.Status != "ok" {
		t.Fatalf("after stale leave: %+v", r)
	}
	f.noReason(t)
}

func TestTerminateOnClose(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	f.join(t, c, "probe:a")
	f.join(t, c, "probe:b")
	c.Close()
	for range 2 {
		if got := f.reason(t); !errors.Is(got, actors.ErrClosed) {
			t.Fatalf("Terminate reason = %v; want ErrClosed", got)
		}
	}
}

func TestDisconnectBySocketID(t *testing.T) {
	f := newFixture(t)
	a1 := f.connect(t, "alice")
	a2 := f.connect(t, "alice")
	b := f.connect(t, "bob")
	f.join(t, a1, "probe:x")
	f.join(t, b, "probe:x")
	if err := f.srv.Broadcast("user:alice", "disconnect", nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*channeltest.Client{a1, a2} {
		code, err := c.AwaitClose()
		if err != nil || code != socket.CloseGoingAway {
			t.Fatalf("close = %d, %v; want 1001", code, err)
		}
	}
	if got := f.reason(t); !errors.Is(got, actors.ErrDisconnected) {
		t.Fatalf("Terminate reason = %v; want ErrDisconnected", got)
	}
	if r := request(t, b, "probe:x", "ok", nil); r.Status != "ok" {
		t.Fatalf("bob after alice's disconnect: %+v", r)
	}
}

func TestShutdownTerminates(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	f.join(t, c, "probe:z")
	go func() { _ = f.srv.Handler().Shutdown(t.Context()) }()
	code, err := c.AwaitClose()
	if err != nil || code != socket.CloseServiceRestart {
		t.Fatalf("close = %d, %v; want 1012", code, err)
	}
	if got := f.reason(t); !errors.Is(got, actors.ErrShutdown) {
		t.Fatalf("Terminate reason = %v; want ErrShutdown", got)
	}
}

func TestBroadcastInterceptAndFrom(t *testing.T) {
	f := newFixture(t)
	a := f.connect(t, "alice")
	b := f.connect(t, "bob")
	f.join(t, a, "probe:room")
	f.join(t, b, "probe:room")

	request(t, a, "probe:room", "broadcast", map[string]int{"n": 1})
	for _, c := range []*channeltest.Client{a, b} {
		m, err := c.AwaitPush("probe:room", "shout")
		if err != nil {
			t.Fatal(err)
		}
		if m.JoinRef != "" {
			t.Fatalf("fast-lane broadcast carries join_ref %q; want null", m.JoinRef)
		}
	}

	request(t, a, "probe:room", "broadcast_from", map[string]int{"n": 2})
	m, err := b.AwaitPush("probe:room", "shout")
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, m.Payload, `{"n":2}`)
	// alice does not get her own broadcast_from: her next frame is the
	// reply to a later request.
	request(t, a, "probe:room", "ok", nil)
	for _, m := range a.Received() {
		if m.Event == "shout" {
			t.Fatalf("sender got its own broadcast_from: %s", m.Payload)
		}
	}

	// Intercepted events go through HandleOut per subscriber.
	if err := f.srv.Broadcast("probe:room", "secret", map[string]string{"s": "x"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    *channeltest.Client
		user string
	}{{a, "alice"}, {b, "bob"}} {
		m, err := tc.c.AwaitPush("probe:room", "secret")
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, m.Payload, fmt.Sprintf(`{"s":"x","seen_by":%q}`, tc.user))
		if m.JoinRef != tc.c.JoinRef("probe:room") {
			t.Fatalf("intercepted push join_ref = %q", m.JoinRef)
		}
	}
}

func TestTimersAndInfo(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	f.join(t, c, "probe:t")
	request(t, c, "probe:t", "ticks", nil)
	var got []int
	for range 3 {
		m, err := c.AwaitPush("probe:t", "tick")
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ N int }
		_ = m.Decode(&v)
		got = append(got, v.N)
	}
	if fmt.Sprint(got) != "[1 2 4]" {
		t.Fatalf("ticks = %v; want [1 2 4] (3 was cancelled)", got)
	}
	// Subscriptions to other topics arrive in HandleInfo.
	request(t, c, "probe:t", "subscribe", "news")
	if err := f.srv.Broadcast("news", "headline", nil); err != nil {
		t.Fatal(err)
	}
	m, err := c.AwaitPush("probe:t", "info")
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, m.Payload, `{"type":"topics.Broadcast"}`)
}

func TestBecome(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	f.join(t, c, "probe:b")
	request(t, c, "probe:b", "become", nil)
	r := request(t, c, "probe:b", "who", nil)
	jsonEq(t, r.Response, `{"me":"quiet"}`)
	request(t, c, "probe:b", "unbecome", nil)
	r = request(t, c, "probe:b", "who", nil)
	jsonEq(t, r.Response, `{"reason":"unmatched event"}`)
}

func TestMaxChannels(t *testing.T) {
	f := newFixture(t, socket.WithMaxChannels(2))
	c := f.connect(t, "alice")
	f.join(t, c, "probe:1")
	f.join(t, c, "probe:2")
	r, err := c.Join("probe:3", nil)
	if err != nil || r.Status != "error" {
		t.Fatalf("third join = %+v, %v", r, err)
	}
	jsonEq(t, r.Response, `{"reason":"too many channels joined"}`)
}

func TestJoinReplyComesFirst(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, "alice")
	// Flood the topic from outside while joining: the join reply must be
	// the first frame of the new join.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = f.srv.Broadcast("probe:first", "noise", nil)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	ref, err := c.Push("probe:first", "phx_join", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Await(func(m channeltest.Message) bool { return m.Topic == "probe:first" })
	if err != nil {
		t.Fatal(err)
	}
	if m.Event != "phx_reply" || m.Ref != ref {
		t.Fatalf("first frame of the join = %s %s; want the join reply", m.Event, m.Payload)
	}
}
