package actors_test

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/supervisor"
)

// phoenixCh counts its incarnations and reports joins and terminations.
type phoenixCh struct {
	n          int64
	joins      chan<- int64
	terminated chan<- error
	refuseFrom *atomic.Int64 // refuse joins from this incarnation on (0: never)
	count      *atomic.Int64
	state      string
	entered    chan<- struct{} // "crash_held" says it began here...
	release    <-chan struct{} // ...and panics once this is closed
}

func (p *phoenixCh) Join(c *actors.Context, _ string, _ actors.Payload) (any, error) {
	p.n = p.count.Add(1)
	if r := p.refuseFrom.Load(); r != 0 && p.n >= r {
		return nil, errors.New("cannot come back")
	}
	p.state = "fresh"
	p.joins <- p.n
	return nil, nil
}

func (p *phoenixCh) HandleIn(c *actors.Context, event string, _ actors.Payload) actors.Result {
	switch event {
	case "dirty":
		p.state = "dirty"
		return actors.Ok(nil)
	case "state":
		return actors.Ok(map[string]any{"state": p.state, "incarnation": p.n})
	case "crash":
		panic("boom")
	case "crash_held":
		p.entered <- struct{}{}
		<-p.release
		panic("held boom")
	case "stop_error":
		return actors.Stop(errors.New("bad state"))
	}
	return actors.Error(nil)
}

func (p *phoenixCh) Terminate(_ *actors.Context, reason error) { p.terminated <- reason }

type restartFixture struct {
	srv        *channeltest.Server
	joins      chan int64
	terminated chan error
	refuseFrom atomic.Int64
	entered    chan struct{}
	release    chan struct{}
}

func newRestartFixture(t *testing.T, policy supervisor.Policy) *restartFixture {
	t.Helper()
	f := &restartFixture{joins: make(chan int64, 64), terminated: make(chan error, 64),
		entered: make(chan struct{}, 1), release: make(chan struct{})}
	var count atomic.Int64
	r := actors.NewRouter()
	r.MustHandle("bird:*", func() actors.Channel {
		return &phoenixCh{joins: f.joins, terminated: f.terminated, refuseFrom: &f.refuseFrom, count: &count,
			entered: f.entered, release: f.release}
	}, actors.WithRestart(policy))
	f.srv = channeltest.NewServer(t, r)
	return f
}

// joinFirst connects a client, joins topic and waits for the channel's
// first incarnation.
func (f *restartFixture) joinFirst(t *testing.T, topic string) *channeltest.Client {
	t.Helper()
	c, _ := f.srv.Connect(url.Values{})
	if r, err := c.Join(topic, nil); err != nil || r.Status != "ok" {
		t.Fatalf("join: %+v %v", r, err)
	}
	f.awaitJoin(t, 1)
	return c
}

func (f *restartFixture) awaitJoin(t *testing.T, want int64) {
	t.Helper()
	if n := testutil.Receive(t, f.joins, 5*time.Second, "incarnation %d never joined", want); n != want {
		t.Fatalf("join of incarnation %d, want %d", n, want)
	}
}

func (f *restartFixture) awaitTerminate(t *testing.T) error {
	t.Helper()
	return testutil.Receive(t, f.terminated, 5*time.Second, "Terminate was not called")
}

var fast = supervisor.Policy{Intensity: 3, Period: time.Minute,
	Backoff: supervisor.Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond}}

func TestPermanentRestartsInPlace(t *testing.T) {
	policy := fast
	policy.Restart = supervisor.Permanent
	f := newRestartFixture(t, policy)
	c := f.joinFirst(t, "bird:1")
	request(t, c, "bird:1", "dirty", nil)

	// Crash, then immediately ask for the state: the request waits in the
	// mailbox and the restarted behaviour answers it.
	if _, err := c.Push("bird:1", "crash", nil); err != nil {
		t.Fatal(err)
	}
	r := request(t, c, "bird:1", "state", nil)
	jsonEq(t, r.Response, `{"state":"fresh","incarnation":2}`)
	f.awaitJoin(t, 2)
	var crash *actors.CrashError
	if err := f.awaitTerminate(t); !errors.As(err, &crash) {
		t.Fatalf("old instance Terminate(%v); want a CrashError", err)
	}
	// The subscription survived: a broadcast still reaches the client.
	if err := f.srv.Broadcast("bird:1", "news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AwaitPush("bird:1", "news"); err != nil {
		t.Fatal(err)
	}
	// No phx_error and no second join reply reached the client.
	for _, m := range c.Received() {
		if m.Event == "phx_error" || m.Event == "phx_close" || m.Event == "phx_reply" && m.Ref == c.JoinRef("bird:1") {
			t.Fatalf("client saw %s %s after a permanent restart", m.Event, m.Payload)
		}
	}
	// A stop with an error restarts a permanent channel too.
	if _, err := c.Push("bird:1", "stop_error", nil); err != nil {
		t.Fatal(err)
	}
	f.awaitJoin(t, 3)
	if err := f.awaitTerminate(t); err == nil || err.Error() == "" || !errors.As(err, &crash) || crash.Callback != "stop" {
		t.Fatalf("Terminate(%v) after stop_error", err)
	}
}

func TestTransient(t *testing.T) {
	policy := fast
	policy.Restart = supervisor.Transient
	f := newRestartFixture(t, policy)
	c := f.joinFirst(t, "bird:t")
	if _, err := c.Push("bird:t", "crash", nil); err != nil {
		t.Fatal(err)
	}
	f.awaitJoin(t, 2)
	f.awaitTerminate(t)
	// A stop it asked for is final, with phx_error for an error reason.
	if _, err := c.Push("bird:t", "stop_error", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AwaitPush("bird:t", "phx_error"); err != nil {
		t.Fatal(err)
	}
	if err := f.awaitTerminate(t); err == nil || err.Error() != "bad state" {
		t.Fatalf("Terminate(%v), want the stop reason", err)
	}
}

func TestRestartIntensityExceeded(t *testing.T) {
	policy := fast
	policy.Restart = supervisor.Permanent
	f := newRestartFixture(t, policy)
	c := f.joinFirst(t, "bird:x")
	for n := int64(2); n <= 4; n++ {
		if _, err := c.Push("bird:x", "crash", nil); err != nil {
			t.Fatal(err)
		}
		f.awaitJoin(t, n)
		f.awaitTerminate(t)
	}
	// The fourth crash within the period is one too many.
	if _, err := c.Push("bird:x", "crash", nil); err != nil {
		t.Fatal(err)
	}
	m, err := c.AwaitPush("bird:x", "phx_error")
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, m.Payload, `{"reason":"channel_crash"}`)
	var crash *actors.CrashError
	if err := f.awaitTerminate(t); !errors.As(err, &crash) {
		t.Fatalf("Terminate(%v); want a CrashError", err)
	}
	// The topic is free: the client may join again.
	if r, err := c.Join("bird:x", nil); err != nil || r.Status != "ok" {
		t.Fatalf("rejoin: %+v %v", r, err)
	}
}

func TestRestartedJoinRefused(t *testing.T) {
	policy := fast
	policy.Restart = supervisor.Permanent
	f := newRestartFixture(t, policy)
	f.refuseFrom.Store(2)
	c := f.joinFirst(t, "bird:r")
	if _, err := c.Push("bird:r", "crash", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AwaitPush("bird:r", "phx_error"); err != nil {
		t.Fatal(err)
	}
	f.awaitTerminate(t)
	if r, err := c.Join("bird:r", nil); err != nil || r.Status != "error" {
		t.Fatalf("join after refusal: %+v %v", r, err)
	}
}

// lastDecision waits for the handler's crash log to hold n crashes and
// returns what was decided for the newest.
func (f *restartFixture) lastDecision(t *testing.T, n uint64) string {
	t.Helper()
	var last []socket.Crash
	testutil.Eventually(t, 5*time.Second, func() bool {
		var total uint64
		last, total = f.srv.Handler().Crashes()
		return total == n
	}, "the crash log never held %d crashes", n)
	return last[0].Decision
}

// A socket that closes while its channel waits out a restart backoff
// takes the channel with it: Terminate runs once, with the crash, the
// restart never comes, and no actor is left.
func TestSocketClosesDuringRestartBackoff(t *testing.T) {
	policy := supervisor.Policy{Restart: supervisor.Transient, Intensity: 3, Period: time.Minute,
		Backoff: supervisor.Backoff{Initial: time.Hour, Max: time.Hour}}
	f := newRestartFixture(t, policy)
	testutil.CheckActors(t, f.srv.Handler().ActorCount)
	c := f.joinFirst(t, "bird:b")
	if _, err := c.Push("bird:b", "crash", nil); err != nil {
		t.Fatal(err)
	}
	if got := f.lastDecision(t, 1); got != "restart" {
		t.Fatalf("decision %q, want restart", got)
	}
	c.Close()
	var crash *actors.CrashError
	if err := f.awaitTerminate(t); !errors.As(err, &crash) {
		t.Fatalf("Terminate(%v); want the CrashError", err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return f.srv.Handler().Len() == 0 }, "the socket never stopped")
	if n := len(f.joins); n != 0 {
		t.Fatalf("%d joins after the socket closed; want none", n)
	}
	if n := len(f.terminated); n != 0 {
		t.Fatalf("%d more Terminates; want one in all", n)
	}
}

// A channel that crashes after its socket began to close is stopped, not
// restarted, even under a policy that would restart it at once; its crash
// is still recorded, and no actor is left.
func TestCrashWhileSocketCloses(t *testing.T) {
	policy := fast
	policy.Restart = supervisor.Permanent
	f := newRestartFixture(t, policy)
	testutil.CheckActors(t, f.srv.Handler().ActorCount)
	c := f.joinFirst(t, "bird:c")
	if _, err := c.Push("bird:c", "crash_held", nil); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, f.entered, 5*time.Second, "HandleIn never ran")
	c.Close()
	// The Socket actor answers in order: once it has described itself, it
	// has taken the close and stopped its channel (which is busy).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.srv.Handler().Sockets(ctx, socket.SocketQuery{}); err != nil {
		t.Fatal(err)
	}
	close(f.release)
	var crash *actors.CrashError
	if err := f.awaitTerminate(t); !errors.As(err, &crash) || crash.Event != "crash_held" {
		t.Fatalf("Terminate(%v); want the CrashError of crash_held", err)
	}
	if got := f.lastDecision(t, 1); got != "stop" {
		t.Fatalf("decision %q, want stop", got)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return f.srv.Handler().Len() == 0 }, "the socket never stopped")
	if n := len(f.joins); n != 0 {
		t.Fatalf("%d joins after the socket closed; want none", n)
	}
}

// spawner spawns a child actor at each Join, which reports its stop.
type spawner struct {
	joins   chan<- struct{}
	stopped chan<- struct{}
}

func (s spawner) Join(c *actors.Context, _ string, _ actors.Payload) (any, error) {
	stopped := s.stopped
	c.Actor().Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Stopped); ok {
			stopped <- struct{}{}
		}
	}))
	s.joins <- struct{}{}
	return nil, nil
}

func (spawner) HandleIn(*actors.Context, string, actors.Payload) actors.Result { panic("boom") }

// A restart stops the actors the crashed instance spawned, as protoactor's
// restart of a child did; the channel's children go with it when it stops.
func TestRestartStopsTheChannelsChildren(t *testing.T) {
	policy := fast
	policy.Restart = supervisor.Permanent
	joins, stopped := make(chan struct{}, 8), make(chan struct{}, 8)
	r := actors.NewRouter()
	r.MustHandle("kid:*", func() actors.Channel { return spawner{joins: joins, stopped: stopped} }, actors.WithRestart(policy))
	srv := channeltest.NewServer(t, r)
	testutil.CheckActors(t, srv.Handler().ActorCount)
	c, _ := srv.Connect(url.Values{})
	if rep, err := c.Join("kid:1", nil); err != nil || rep.Status != "ok" {
		t.Fatalf("join: %+v %v", rep, err)
	}
	testutil.Receive(t, joins, 5*time.Second, "first join")
	if _, err := c.Push("kid:1", "crash", nil); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, joins, 5*time.Second, "the restarted instance never joined")
	testutil.Receive(t, stopped, 5*time.Second, "the crashed instance's child was not stopped")
	c.Close()
	testutil.Receive(t, stopped, 5*time.Second, "the restarted instance's child was not stopped with the channel")
}
