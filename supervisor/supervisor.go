package supervisor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// LookupChild asks a supervisor for the current PID of one of its children.
// The supervisor answers the sender with a *LookupResult: from inside an
// actor use ctx.Request (the answer arrives in Receive) or ctx.RequestFuture.
type LookupChild struct {
	Name string
}

// LookupResult answers LookupChild. PID is nil when no child of that name is
// running: unknown, removed, or between a stop and a restart.
type LookupResult struct {
	Name string
	PID  *actor.PID
}

// Shutdown asks a supervisor to stop its children in reverse start order
// and then itself; a child being started when it arrives finishes starting
// first. Watch the supervisor to learn when it is done. Stopping a
// supervisor with ctx.Stop instead stops its children all at once, in no
// particular order.
type Shutdown struct{}

// lookupTimeout bounds Supervisor.Child.
const lookupTimeout = 5 * time.Second

// Props returns the props of a supervisor actor for spec. When spawned, the
// actor starts the children one after the other (each one's Started handler
// has returned before the next is spawned) and supervises them. Give the
// props to another supervisor's ChildSpec to nest it, or spawn them from
// any actor. A supervisor that fails escalates to its parent; under the
// root context protoactor's default strategy restarts it, so use Start for a
// top-level supervisor that should stop instead.
func Props(spec Spec) (*actor.Props, error) {
	cfg, err := newConfig(spec)
	if err != nil {
		return nil, err
	}
	return actor.PropsFromProducer(func() actor.Actor { return newSupervisorActor(cfg, nil) }), nil
}

// Supervisor is the handle of a top-level supervisor spawned by Start.
type Supervisor struct {
	system *actor.ActorSystem
	pid    *actor.PID

	readyOnce sync.Once
	ready     chan struct{} // closed once the first start of every child is done
	done      chan struct{} // closed by the supervisor actor when it has stopped
	// err says why the supervisor stopped; written by the actor before done
	// is closed, read only after.
	err error
}

// Start spawns a top-level supervisor named name from root and returns once
// every child has been started and the exits that happened meanwhile have
// been dealt with (restarts included). If the children exceed the restart
// limit during that first start, the supervisor stops and Start returns an
// error wrapping ErrTooManyRestarts.
//
// A top-level supervisor that exceeds its restart limit stops its children
// and itself; Done is then closed and Err says why.
func Start(root *actor.RootContext, name string, spec Spec) (*Supervisor, error) {
	cfg, err := newConfig(spec)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		system: root.ActorSystem(),
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
	}
	props := actor.PropsFromProducer(func() actor.Actor { return newSupervisorActor(cfg, s) })
	pid, err := root.SpawnNamed(props, name)
	if err != nil {
		return nil, fmt.Errorf("supervisor: spawn %q: %w", name, err)
	}
	s.pid = pid
	select {
	case <-s.ready:
		return s, nil
	case <-s.done:
		return nil, s.err
	}
}

// PID returns the supervisor actor's PID.
func (s *Supervisor) PID() *actor.PID { return s.pid }

// Child returns the current PID of the named child, asking the supervisor
// through its mailbox. It reports false when no such child is running (see
// LookupResult) or when the supervisor does not answer within five seconds.
// A restarted child keeps its name and therefore its PID's ID: an older PID
// value still reaches the new incarnation.
func (s *Supervisor) Child(name string) (*actor.PID, bool) {
	select {
	case <-s.done:
		return nil, false
	default:
	}
	r := newReplySlot(s.system)
	defer r.close()
	s.system.Root.RequestWithCustomSender(s.pid, &LookupChild{Name: name}, r.pid)
	t := time.NewTimer(lookupTimeout)
	defer t.Stop()
	select {
	case m := <-r.ch:
		if res, ok := m.(*LookupResult); ok && res.PID != nil {
			return res.PID, true
		}
		return nil, false
	case <-s.done:
		return nil, false
	case <-t.C:
		return nil, false
	}
}

// Stop stops the children in reverse start order, then the supervisor. It
// returns nil once all of them have stopped, or ctx's error if ctx ends
// first (the shutdown carries on). Stopping a stopped supervisor returns nil.
func (s *Supervisor) Stop(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.system.Root.Send(s.pid, &Shutdown{})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the supervisor has stopped, with all its children.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Err returns nil while the supervisor runs and after a requested stop; after
// a stop caused by too many restarts it returns an error wrapping
// ErrTooManyRestarts.
func (s *Supervisor) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// markReady is called by the actor when the first start is complete.
func (s *Supervisor) markReady() { s.readyOnce.Do(func() { close(s.ready) }) }
