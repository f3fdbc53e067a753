package supervisor

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Inspect asks a supervisor to describe itself and its children. The
// supervisor answers the sender with a *Description; Tree.Describe sends
// it for you, nested supervisors included.
type Inspect struct{}

// Description is a supervisor as it describes itself when asked.
type Description struct {
	PID       string
	Strategy  Strategy
	Intensity int
	Period    time.Duration
	// Restarts counts the restarts within the current Period.
	Restarts int
	Children []ChildDescription
}

// ChildDescription is one child of a supervisor.
type ChildDescription struct {
	Name    string
	Restart Restart
	// Running is false for a child between a stop and its restart, or
	// removed for good (a Temporary child that ended, say).
	Running bool
	PID     string // "" while not running
	// Starts counts the child's spawns: 1 for a child never restarted.
	Starts uint64
	// Supervisor, for a child that is itself a supervisor, describes it
	// (Tree.Describe asks it in turn; nil when it could not be asked).
	Supervisor *Description
	// IsSupervisor says whether the child is a supervisor.
	IsSupervisor bool
}

// maxDepth bounds how deep Describe follows nested supervisors.
const maxDepth = 8

// describe is the supervisor's answer to Inspect; its own goroutine only.
func (s *supervisorActor) describe() *Description {
	d := &Description{
		Strategy: s.cfg.strategy, Intensity: s.cfg.intensity, Period: s.cfg.period,
		Restarts: s.restarts.Len(), Children: make([]ChildDescription, 0, len(s.children)),
	}
	if s.ctx != nil {
		d.PID = s.ctx.Self().Id
	}
	for _, c := range s.children {
		cd := ChildDescription{Name: c.name, Restart: c.restart, Starts: c.gen, IsSupervisor: c.supervisor}
		if c.pid != nil && !c.removed {
			cd.Running, cd.PID = true, c.pid.Id
		}
		d.Children = append(d.Children, cd)
	}
	return d
}

// Describe asks the tree's supervisor, through its mailbox, to describe
// itself and its children, then asks each nested supervisor the same
// (eight levels at most), all within ctx. It fails with ErrStopped once
// the tree has stopped and with ctx's error when ctx ends before the top
// supervisor answers; a nested supervisor that cannot be asked in time is
// left undescribed.
func (s *Tree) Describe(ctx context.Context) (*Description, error) {
	d, err := s.ask(ctx, s.pid)
	if err != nil {
		return nil, err
	}
	s.nested(ctx, d, 1)
	return d, nil
}

func (s *Tree) nested(ctx context.Context, d *Description, depth int) {
	if depth >= maxDepth {
		return
	}
	for i := range d.Children {
		c := &d.Children[i]
		if !c.IsSupervisor || !c.Running || ctx.Err() != nil {
			continue
		}
		sub, err := s.ask(ctx, actor.NewPID(s.system.Address(), c.PID))
		if err != nil {
			continue
		}
		s.nested(ctx, sub, depth+1)
		c.Supervisor = sub
	}
}

var errNoDescription = errors.New("supervisor: no description")

func (s *Tree) ask(ctx context.Context, pid *actor.PID) (*Description, error) {
	select {
	case <-s.done:
		return nil, ErrStopped
	default:
	}
	r := newReplySlot(s.system)
	defer r.close()
	s.system.Root.RequestWithCustomSender(pid, &Inspect{}, r.pid)
	select {
	case m := <-r.ch:
		if d, ok := m.(*Description); ok {
			return d, nil
		}
		return nil, errNoDescription
	case <-s.done:
		return nil, ErrStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
