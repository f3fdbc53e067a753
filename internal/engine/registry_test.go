package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/internal/engine"
)

// A compacted registry keeps what the system had registered, and actors
// spawned afterwards are found, reached and removed as before.
func TestCompactRegistry(t *testing.T) {
	sys := actor.NewActorSystem()
	before := registered(sys)
	if len(before) == 0 {
		t.Fatal("a new actor system registers nothing; the test would not see entries moved")
	}
	engine.CompactRegistry(sys)
	if n := len(sys.ProcessRegistry.LocalPIDs.LocalPIDs); n != engine.RegistryBuckets {
		t.Fatalf("%d buckets after compacting, want %d", n, engine.RegistryBuckets)
	}
	for id := range before {
		if _, ok := sys.ProcessRegistry.GetLocal(id); !ok {
			t.Fatalf("%s is gone from the compacted registry", id)
		}
	}

	const n = 300
	got := make(chan string, n)
	pids := make([]*actor.PID, n)
	for i := range pids {
		pids[i] = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if s, ok := c.Message().(string); ok {
				got <- s
			}
		}))
	}
	if m := len(registered(sys)); m != len(before)+n {
		t.Fatalf("%d entries with %d actors, want %d", m, n, len(before)+n)
	}
	for i, pid := range pids {
		p, ok := sys.ProcessRegistry.Get(actor.NewPID(pid.Address, pid.Id)) // no cached process
		if !ok {
			t.Fatalf("actor %d not found by id", i)
		}
		p.SendUserMessage(pid, fmt.Sprint(i))
	}
	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case s := <-got:
			seen[s] = true
		case <-timeout:
			t.Fatalf("%d of %d messages delivered", len(seen), n)
		}
	}
	for _, pid := range pids {
		if err := sys.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if m := len(registered(sys)); m != len(before) {
		t.Fatalf("%d entries once the actors stopped, want %d", m, len(before))
	}
}

func registered(sys *actor.ActorSystem) map[string]bool {
	ids := map[string]bool{}
	for _, m := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		for id := range m.Items() {
			ids[id] = true
		}
	}
	return ids
}
