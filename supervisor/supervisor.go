package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

// Tree is the handle of a top-level supervisor spawned by Start.
type Tree struct {
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
func Start(root *actor.RootContext, name string, spec Spec) (*Tree, error) {
	cfg, err := newConfig(spec)
	if err != nil {
		return nil, err
	}
	s := &Tree{
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
func (s *Tree) PID() *actor.PID { return s.pid }

// ErrNoChild is Child's answer when no child of that name is running:
// unknown, removed, or between a stop and a restart.
var ErrNoChild = errors.New("supervisor: no such child running")

// ErrStopped is Child's answer once the tree has stopped.
var ErrStopped = errors.New("supervisor: tree stopped")

// Child returns the current PID of the named child, asking the supervisor
// through its mailbox. It fails with ErrNoChild when no such child is
// running, ErrStopped once the tree has stopped, and ctx's error when ctx
// ends before the supervisor answers. A restarted child keeps its name and
// therefore its PID's ID: an older PID value still reaches the new
// incarnation.
func (s *Tree) Child(ctx context.Context, name string) (*actor.PID, error) {
	select {
	case <-s.done:
		return nil, ErrStopped
	default:
	}
	r := newReplySlot(s.system)
	defer r.close()
	s.system.Root.RequestWithCustomSender(s.pid, &LookupChild{Name: name}, r.pid)
	select {
	case m := <-r.ch:
		if res, ok := m.(*LookupResult); ok && res.PID != nil {
			return res.PID, nil
		}
		return nil, fmt.Errorf("%w: %q", ErrNoChild, name)
	case <-s.done:
		return nil, ErrStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stop stops the children in reverse start order, then the supervisor. It
// returns nil once all of them have stopped, or ctx's error if ctx ends
// first (the shutdown carries on). Stopping a stopped supervisor returns nil.
func (s *Tree) Stop(ctx context.Context) error {
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
func (s *Tree) Done() <-chan struct{} { return s.done }

// Err returns nil while the supervisor runs and after a requested stop; after
// a stop caused by too many restarts it returns an error wrapping
// ErrTooManyRestarts.
func (s *Tree) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// markReady is called by the actor when the first start is complete.
func (s *Tree) markReady() { s.readyOnce.Do(func() { close(s.ready) }) }
