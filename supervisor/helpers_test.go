package supervisor

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// waitLimit bounds every wait for a signal; nothing in these tests should
// come close to it.
const waitLimit = 5 * time.Second

func newSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	t.Cleanup(sys.Shutdown)
	return sys
}

// event is one thing a test actor did, in the order it did it.
type event struct {
	what string
	at   time.Time
}

// recorder collects the events of every test actor of a tree on one
// channel, so that reading it gives the global order.
type recorder struct{ ch chan event }

func newRecorder() *recorder { return &recorder{ch: make(chan event, 1024)} }

func (r *recorder) add(what string) { r.ch <- event{what: what, at: time.Now()} }

// expect reads len(want) events and checks them against want.
func (r *recorder) expect(t testing.TB, want ...string) []event {
	t.Helper()
	got := make([]event, 0, len(want))
	timeout := time.NewTimer(waitLimit)
	defer timeout.Stop()
	for range want {
		select {
		case e := <-r.ch:
			got = append(got, e)
		case <-timeout.C:
			t.Fatalf("events: got %q, want %q", names(got), want)
		}
	}
	if !slices.Equal(names(got), want) {
		t.Fatalf("events: got %q, want %q", names(got), want)
	}
	return got
}

// none checks that no event is waiting.
func (r *recorder) none(t testing.TB) {
	t.Helper()
	select {
	case e := <-r.ch:
		t.Fatalf("unexpected event %q", e.what)
	default:
	}
}

func names(es []event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.what
	}
	return out
}

// recording returns the props of a test child that records "start NAME"
// and "stop NAME" and hands the strings it is sent to onString.
func recording(rec *recorder, name string, onString func(ctx actor.Context, m string)) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			rec.add("start " + name)
		case *actor.Stopping:
			rec.add("stop " + name)
		case string:
			onString(ctx, m)
		}
	})
}

// worker returns the props of a test child that records its start and
// stop, panics on "boom", stops itself on "quit" and records anything else.
func worker(rec *recorder, name string) *actor.Props {
	return recording(rec, name, func(ctx actor.Context, m string) {
		switch m {
		case "boom":
			panic("boom " + name)
		case "quit":
			ctx.Stop(ctx.Self())
		default:
			rec.add(m + " " + name)
		}
	})
}

func workers(rec *recorder, names ...string) []ChildSpec {
	specs := make([]ChildSpec, len(names))
	for i, n := range names {
		specs[i] = ChildSpec{Name: n, Props: worker(rec, n)}
	}
	return specs
}

// start starts a top-level supervisor and stops it when the test ends.
func start(t testing.TB, sys *actor.ActorSystem, name string, spec Spec) *Tree {
	t.Helper()
	sup, err := Start(sys.Root, name, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := sup.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return sup
}

func stop(t testing.TB, sup *Tree) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := sup.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// lookup asks sup for the named child's PID; false when none is running.
func lookup(sup *Tree, name string) (*actor.PID, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	pid, err := sup.Child(ctx, name)
	return pid, err == nil
}

// send sends m to the named child of sup.
func send(t testing.TB, sys *actor.ActorSystem, sup *Tree, name string, m any) *actor.PID {
	t.Helper()
	pid, ok := lookup(sup, name)
	if !ok {
		t.Fatalf("no child %q", name)
	}
	sys.Root.Send(pid, m)
	return pid
}

// logLines is a zerolog destination that hands each event to the test.
type logLines chan map[string]any

func (l logLines) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		m = map[string]any{"unparsed": string(p)}
	}
	l <- m
	return len(p), nil
}

func (l logLines) logger() zerolog.Logger { return zerolog.New(l) }

// next returns the next log event whose fields include want.
func (l logLines) next(t testing.TB, want map[string]any) map[string]any {
	t.Helper()
	timeout := time.NewTimer(waitLimit)
	defer timeout.Stop()
	for {
		select {
		case m := <-l:
			if matches(m, want) {
				return m
			}
		case <-timeout.C:
			t.Fatalf("no log event with %v", want)
			return nil
		}
	}
}

func matches(m, want map[string]any) bool {
	for k, v := range want {
		if m[k] != v {
			return false
		}
	}
	return true
}
