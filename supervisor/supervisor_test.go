package supervisor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/internal/testutil"
)

func TestStartAndStopOrder(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	sup := start(t, sys, "order", Spec{Children: workers(rec, "a", "b", "c", "d")})
	rec.expect(t, "start a", "start b", "start c", "start d")
	stop(t, sup)
	rec.expect(t, "stop d", "stop c", "stop b", "stop a")
	rec.none(t)
	select {
	case <-sup.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := sup.Err(); err != nil {
		t.Fatalf("Err after Stop: %v", err)
	}
	if _, ok := lookup(sup, "a"); ok {
		t.Fatal("Child found after Stop")
	}
	if err := sup.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestStrategies(t *testing.T) {
	tests := []struct {
		strategy Strategy
		want     []string // after "b" panics
	}{
		{OneForOne, []string{"stop b", "start b"}},
		{AllForOne, []string{"stop d", "stop c", "stop b", "stop a", "start a", "start b", "start c", "start d"}},
		{RestForOne, []string{"stop d", "stop c", "stop b", "start b", "start c", "start d"}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy.String(), func(t *testing.T) {
			sys := newSystem(t)
			rec := newRecorder()
			sup := start(t, sys, "strategy", Spec{Strategy: tt.strategy, Children: workers(rec, "a", "b", "c", "d")})
			rec.expect(t, "start a", "start b", "start c", "start d")

			send(t, sys, sup, "b", "boom")
			rec.expect(t, tt.want...)

			// Nothing else restarted: the next events are the shutdown.
			stop(t, sup)
			rec.expect(t, "stop d", "stop c", "stop b", "stop a")
			rec.none(t)
		})
	}
}

func TestRestartTypes(t *testing.T) {
	tests := []struct {
		name    string
		restart Restart
		msg     string // "boom" fails the child, "quit" stops it normally
		again   bool   // restarted
	}{
		{"permanent after failure", Permanent, "boom", true},
		{"permanent after stop", Permanent, "quit", true},
		{"transient after failure", Transient, "boom", true},
		{"transient after stop", Transient, "quit", false},
		{"temporary after failure", Temporary, "boom", false},
		{"temporary after stop", Temporary, "quit", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newSystem(t)
			rec := newRecorder()
			sup := start(t, sys, "types", Spec{Children: []ChildSpec{
				{Name: "x", Props: worker(rec, "x"), Restart: tt.restart},
				{Name: "y", Props: worker(rec, "y")},
			}})
			rec.expect(t, "start x", "start y")

			send(t, sys, sup, "x", tt.msg)
			rec.expect(t, "stop x")
			if tt.again {
				rec.expect(t, "start x")
				if _, ok := lookup(sup, "x"); !ok {
					t.Fatal("restarted child not found")
				}
				stop(t, sup)
				rec.expect(t, "stop y", "stop x")
			} else {
				testutil.Eventually(t, waitLimit, func() bool { _, ok := lookup(sup, "x"); return !ok }, "x removed")
				stop(t, sup)
				rec.expect(t, "stop y")
			}
			rec.none(t)
		})
	}
}

// A temporary sibling stopped by another child's restart is not restarted.
func TestTemporarySiblingNotRestarted(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	sup := start(t, sys, "temp", Spec{Strategy: AllForOne, Children: []ChildSpec{
		{Name: "a", Props: worker(rec, "a")},
		{Name: "t", Props: worker(rec, "t"), Restart: Temporary},
	}})
	rec.expect(t, "start a", "start t")
	send(t, sys, sup, "a", "boom")
	rec.expect(t, "stop t", "stop a", "start a")
	if _, ok := lookup(sup, "t"); ok {
		t.Fatal("temporary sibling still listed")
	}
	stop(t, sup)
	rec.expect(t, "stop a")
	rec.none(t)
}

func TestChildLookupAfterRestart(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	sup := start(t, sys, "lookup", Spec{Children: workers(rec, "a", "b")})
	rec.expect(t, "start a", "start b")

	before := send(t, sys, sup, "b", "boom")
	rec.expect(t, "stop b", "start b")
	after, ok := lookup(sup, "b")
	if !ok {
		t.Fatal("b not found after restart")
	}
	if after == before || !after.Equal(before) {
		t.Fatalf("after restart: PID %v (same value: %v), want a new incarnation with the same ID as %v",
			after, after == before, before)
	}
	// The PID taken before the restart reaches the new incarnation.
	sys.Root.Send(before, "ping")
	rec.expect(t, "ping b")

	if _, ok := lookup(sup, "nobody"); ok {
		t.Fatal("unknown child found")
	}
	if _, err := sup.Child(context.Background(), "nobody"); !errors.Is(err, ErrNoChild) {
		t.Fatalf("Child(nobody) error = %v, want ErrNoChild", err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sup.Child(done, "b"); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Child with a cancelled ctx: %v, want nil or context.Canceled", err)
	}

	// From inside an actor, with ctx.Request.
	answers := make(chan *LookupResult, 1)
	sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Request(sup.PID(), &LookupChild{Name: "a"})
		case *LookupResult:
			answers <- m
			ctx.Stop(ctx.Self())
		}
	}))
	select {
	case res := <-answers:
		want, _ := lookup(sup, "a")
		if res.Name != "a" || res.PID == nil || !res.PID.Equal(want) {
			t.Fatalf("LookupResult %+v, want a at %v", res, want)
		}
	case <-time.After(waitLimit):
		t.Fatal("no LookupResult")
	}

	// And with RequestFuture.
	res, err := sys.Root.RequestFuture(sup.PID(), &LookupChild{Name: "gone"}, waitLimit).Result()
	if err != nil {
		t.Fatal(err)
	}
	if r := res.(*LookupResult); r.PID != nil {
		t.Fatalf("lookup of unknown child: %+v", r)
	}
}

func TestIntensityEscalatesToParent(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	parentLog, nestedLog := make(logLines, 1024), make(logLines, 1024)
	nested, err := Props(Spec{
		Intensity: 1,
		Period:    time.Minute,
		Children:  workers(rec, "w1", "w2"),
		Logger:    nestedLog.logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sup := start(t, sys, "parent", Spec{
		Intensity: 5,
		Period:    time.Minute,
		Children:  []ChildSpec{{Name: "n", Props: nested}, {Name: "z", Props: worker(rec, "z")}},
		Logger:    parentLog.logger(),
	})
	// The nested supervisor counts as started once its children are.
	rec.expect(t, "start w1", "start w2", "start z")

	n, ok := lookup(sup, "n")
	if !ok {
		t.Fatal("nested supervisor not found")
	}
	res, err := sys.Root.RequestFuture(n, &LookupChild{Name: "w1"}, waitLimit).Result()
	if err != nil {
		t.Fatal(err)
	}
	w1 := res.(*LookupResult).PID

	// First failure: within the nested supervisor's limit.
	sys.Root.Send(w1, "boom")
	rec.expect(t, "stop w1", "start w1")
	nestedLog.next(t, map[string]any{"child": "w1", "decision": "restart", "restart_count": 1.0, "panic": "boom w1"})

	// Second failure: one too many. The nested supervisor stops its
	// children in reverse order and fails; the parent restarts it.
	sys.Root.Send(w1, "boom")
	rec.expect(t, "stop w2", "stop w1", "start w1", "start w2")
	nestedLog.next(t, map[string]any{"child": "w1", "decision": "escalate", "restart_count": 2.0})
	ev := parentLog.next(t, map[string]any{"child": "n", "decision": "restart", "restart_count": 1.0})
	if p, _ := ev["panic"].(string); !strings.Contains(p, ErrTooManyRestarts.Error()) {
		t.Fatalf("parent logged panic %q, want the escalation", p)
	}
	if n2, ok := lookup(sup, "n"); !ok || !n2.Equal(n) || n2 == n {
		t.Fatalf("nested supervisor after restart: %v %v", n2, ok)
	}

	// The sibling was untouched, and shutdown goes down the tree in order.
	stop(t, sup)
	rec.expect(t, "stop z", "stop w2", "stop w1")
	rec.none(t)
}

func TestTopLevelStopsWhenIntensityExceeded(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	sup := start(t, sys, "top", Spec{Intensity: 1, Period: time.Minute, Children: workers(rec, "a", "b")})
	rec.expect(t, "start a", "start b")

	send(t, sys, sup, "a", "boom")
	rec.expect(t, "stop a", "start a")
	send(t, sys, sup, "a", "boom")
	rec.expect(t, "stop b", "stop a")

	select {
	case <-sup.Done():
	case <-time.After(waitLimit):
		t.Fatal("supervisor still running")
	}
	if err := sup.Err(); !errors.Is(err, ErrTooManyRestarts) {
		t.Fatalf("Err = %v, want ErrTooManyRestarts", err)
	}
	rec.none(t)
}

func TestNoRestarts(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	sup := start(t, sys, "none", Spec{Intensity: NoRestarts, Children: workers(rec, "a")})
	rec.expect(t, "start a")
	send(t, sys, sup, "a", "quit")
	rec.expect(t, "stop a")
	<-sup.Done()
	if !errors.Is(sup.Err(), ErrTooManyRestarts) {
		t.Fatalf("Err = %v", sup.Err())
	}
}

func TestStartFailsWhenChildrenKeepFailing(t *testing.T) {
	sys := newSystem(t)
	crashy := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			panic("cannot start")
		}
	})
	_, err := Start(sys.Root, "crashy", Spec{Intensity: 2, Children: []ChildSpec{{Name: "c", Props: crashy}}})
	if !errors.Is(err, ErrTooManyRestarts) {
		t.Fatalf("Start = %v, want ErrTooManyRestarts", err)
	}
}

func TestBackoffDelaysRestarts(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	logs := make(logLines, 1024)
	const initial, maxDelay = 20 * time.Millisecond, 40 * time.Millisecond
	sup := start(t, sys, "backoff", Spec{
		Intensity: 10,
		Backoff:   Backoff{Initial: initial, Max: maxDelay},
		Children:  workers(rec, "a"),
		Logger:    logs.logger(),
	})
	rec.expect(t, "start a")

	for i, want := range []time.Duration{initial, maxDelay, maxDelay} {
		send(t, sys, sup, "a", "boom")
		ev := rec.expect(t, "stop a", "start a")
		floor := want - want/5
		if gap := ev[1].at.Sub(ev[0].at); gap < floor {
			t.Errorf("restart %d came %v after the stop, want at least %v", i+1, gap, floor)
		}
		line := logs.next(t, map[string]any{"decision": "restart", "restart_count": float64(i + 1)})
		d, _ := line["backoff"].(float64) // zerolog writes durations in milliseconds
		if got := time.Duration(d * float64(time.Millisecond)); got < floor || got > want {
			t.Errorf("restart %d: logged backoff %v, want within [%v, %v]", i+1, got, floor, want)
		}
	}
}

func TestShutdownDuringBackoff(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	sup := start(t, sys, "slow", Spec{Backoff: Backoff{Initial: time.Hour}, Children: workers(rec, "a", "b")})
	rec.expect(t, "start a", "start b")
	send(t, sys, sup, "b", "boom")
	rec.expect(t, "stop b")
	// b waits an hour for its restart; Stop does not.
	stop(t, sup)
	rec.expect(t, "stop a")
	rec.none(t)
}

func TestLogEventPerFailure(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	logs := make(logLines, 1024)
	sup := start(t, sys, "logs", Spec{Children: workers(rec, "a"), Logger: logs.logger()})
	rec.expect(t, "start a")
	send(t, sys, sup, "a", "boom")
	rec.expect(t, "stop a", "start a")
	ev := logs.next(t, map[string]any{"message": "child failed"})
	want := map[string]any{
		"level": "error", "supervisor": "logs", "child": "a", "panic": "boom a",
		"decision": "restart", "restart_count": 1.0, "restart": "permanent",
	}
	if !matches(ev, want) {
		t.Fatalf("log event %v, want fields %v", ev, want)
	}
	select {
	case extra := <-logs:
		t.Fatalf("second log event for one failure: %v", extra)
	default:
	}
}

func TestGoroutinesReturnToBaseline(t *testing.T) {
	sys := newSystem(t)
	baseline := testutil.Goroutines()

	rec := newRecorder()
	nested, err := Props(Spec{Strategy: AllForOne, Children: workers(rec, "n1", "n2")})
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan struct{}, 64)
	sup, err := Start(sys.Root, "leaks", Spec{
		Strategy: RestForOne,
		Backoff:  Backoff{Initial: time.Millisecond},
		Children: []ChildSpec{
			{Name: "a", Props: worker(rec, "a")},
			{Name: "n", Props: nested},
			{Name: "tick", Props: Ticker(time.Millisecond, func(actor.Context) {
				select {
				case ticks <- struct{}{}:
				default:
				}
			})},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "start a", "start n1", "start n2")
	<-ticks
	send(t, sys, sup, "a", "boom")
	rec.expect(t, "stop n2", "stop n1", "stop a", "start a", "start n1", "start n2")
	<-ticks
	stop(t, sup)
	rec.expect(t, "stop n2", "stop n1", "stop a")

	baseline.Wait(t)
}

func TestValidate(t *testing.T) {
	p := actor.PropsFromFunc(func(actor.Context) {})
	tests := []struct {
		name string
		spec Spec
		want error
	}{
		{"zero", Spec{}, nil},
		{"full", Spec{Strategy: RestForOne, Intensity: 2, Period: time.Second,
			Backoff:  Backoff{Initial: time.Millisecond, Max: time.Second},
			Children: []ChildSpec{{Name: "a", Props: p}, {Name: "b", Props: p, Restart: Temporary}}}, nil},
		{"no restarts", Spec{Intensity: NoRestarts}, nil},
		{"strategy", Spec{Strategy: 7}, ErrStrategy},
		{"intensity", Spec{Intensity: -2}, ErrLimits},
		{"period", Spec{Period: -time.Second}, ErrLimits},
		{"backoff negative", Spec{Backoff: Backoff{Initial: -1}}, ErrLimits},
		{"backoff max below initial", Spec{Backoff: Backoff{Initial: time.Second, Max: time.Millisecond}}, ErrLimits},
		{"backoff max alone", Spec{Backoff: Backoff{Max: time.Second}}, ErrLimits},
		{"empty name", Spec{Children: []ChildSpec{{Props: p}}}, ErrChildName},
		{"slash", Spec{Children: []ChildSpec{{Name: "a/b", Props: p}}}, ErrChildName},
		{"duplicate", Spec{Children: []ChildSpec{{Name: "a", Props: p}, {Name: "a", Props: p}}}, ErrDuplicateChild},
		{"no props", Spec{Children: []ChildSpec{{Name: "a"}}}, ErrNoProps},
		{"restart", Spec{Children: []ChildSpec{{Name: "a", Props: p, Restart: 9}}}, ErrRestart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.spec.Validate()
			if !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Fatalf("Validate() = %v, want %v", got, tt.want)
			}
			if _, err := Props(tt.spec); (err == nil) != (tt.want == nil) {
				t.Fatalf("Props() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStartNameTaken(t *testing.T) {
	sys := newSystem(t)
	start(t, sys, "taken", Spec{})
	if _, err := Start(sys.Root, "taken", Spec{}); !errors.Is(err, actor.ErrNameExists) {
		t.Fatalf("Start = %v, want ErrNameExists", err)
	}
}

// Two children of an all-for-one supervisor failing together cause one
// group restart: the second failure belongs to an incarnation the restart
// replaces.
func TestAllForOneConcurrentFailures(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	logs := make(logLines, 1024)
	armed, release := make(chan string, 2), make(chan struct{})
	gated := func(name string) *actor.Props {
		return recording(rec, name, func(_ actor.Context, m string) {
			if m == "arm" {
				armed <- name
				<-release
				panic("gated " + name)
			}
		})
	}
	sup := start(t, sys, "together", Spec{
		Strategy: AllForOne,
		Children: []ChildSpec{{Name: "a", Props: gated("a")}, {Name: "b", Props: gated("b")}, {Name: "c", Props: gated("c")}},
		Logger:   logs.logger(),
	})
	rec.expect(t, "start a", "start b", "start c")
	send(t, sys, sup, "a", "arm")
	send(t, sys, sup, "b", "arm")
	<-armed
	<-armed
	close(release) // both panic in their first incarnation
	rec.expect(t, "stop c", "stop b", "stop a", "start a", "start b", "start c")
	first := logs.next(t, map[string]any{"message": "child failed"})
	second := logs.next(t, map[string]any{"message": "child failed"})
	decisions := []any{first["decision"], second["decision"]}
	if decisions[0] != "restart" || (decisions[1] != "superseded" && decisions[1] != "ignore") {
		t.Fatalf("decisions %v, want restart then superseded or ignore", decisions)
	}
	stop(t, sup)
	rec.expect(t, "stop c", "stop b", "stop a")
	rec.none(t)
}

// Props that protoactor refuses to spawn as a child count as a failed start.
func TestUnspawnableChild(t *testing.T) {
	sys := newSystem(t)
	bad := actor.PropsFromFunc(func(actor.Context) {}, actor.WithGuardian(actor.DefaultSupervisorStrategy()))
	_, err := Start(sys.Root, "unspawnable", Spec{Intensity: 2, Children: []ChildSpec{{Name: "bad", Props: bad}}})
	if !errors.Is(err, ErrTooManyRestarts) {
		t.Fatalf("Start = %v, want ErrTooManyRestarts", err)
	}
}

// Under a parent that is not one of ours, a failing supervisor escalates to
// that parent's protoactor strategy: here the root's, which restarts it in
// place, and the fresh supervisor starts its children again.
func TestEscalationToPlainParent(t *testing.T) {
	sys := newSystem(t)
	rec := newRecorder()
	props, err := Props(Spec{Intensity: NoRestarts, Children: workers(rec, "a", "b")})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := sys.Root.SpawnNamed(props, "plain")
	if err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "start a", "start b")
	res, err := sys.Root.RequestFuture(pid, &LookupChild{Name: "a"}, waitLimit).Result()
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(res.(*LookupResult).PID, "boom")
	rec.expect(t, "stop b", "stop a", "start a", "start b")

	// An orderly stop by message.
	done := make(chan struct{})
	sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Watch(pid)
			ctx.Send(pid, &Shutdown{})
		case *actor.Terminated:
			if m.Who.Equal(pid) {
				close(done)
				ctx.Stop(ctx.Self())
			}
		}
	}))
	rec.expect(t, "stop b", "stop a")
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("supervisor did not stop after Shutdown")
	}
	rec.none(t)
}
