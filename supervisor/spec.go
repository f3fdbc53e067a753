package supervisor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// Strategy says which children a supervisor restarts when one of them has
// to be restarted.
type Strategy int

const (
	// OneForOne restarts only the child that exited.
	OneForOne Strategy = iota
	// AllForOne stops every other child (in reverse start order) and then
	// starts them all again (in start order). For children that only work
	// as a group.
	AllForOne
	// RestForOne restarts the child that exited and every child started
	// after it: they are stopped in reverse order and started in order.
	// For a chain where later children depend on earlier ones.
	RestForOne
)

func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one_for_one"
	case AllForOne:
		return "all_for_one"
	case RestForOne:
		return "rest_for_one"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ChildSpec describes one child of a supervisor.
type ChildSpec struct {
	// Name is unique among its supervisor's children. It names the
	// protoactor child (its PID's ID is the supervisor's ID, "/", Name), so
	// a restarted child keeps the same PID. It must not contain "/".
	Name string
	// Props start the child. They may be another supervisor's Props, which
	// nests that supervisor under this one. The supervisor clones them; the
	// caller's value is not modified.
	Props *actor.Props
	// Restart says whether the child comes back after it ends.
	Restart Restart
}

// Spec describes a supervisor: its strategy, its restart limit and its
// children.
type Spec struct {
	Strategy Strategy
	// Intensity is the number of restarts allowed within Period. One more
	// makes the supervisor stop all its children (in reverse order) and
	// fail, which escalates to its parent. Zero means DefaultIntensity; use
	// NoRestarts to allow none.
	Intensity int
	// Period is the window in which restarts are counted; zero means
	// DefaultPeriod.
	Period time.Duration
	// Children are started in this order and stopped in the reverse order.
	Children []ChildSpec
	// Backoff delays each restart; zero means no delay.
	Backoff Backoff
	// Logger receives one event per child exit; the zero Logger discards.
	Logger zerolog.Logger
}

// Errors reported by Validate, Props and Start.
var (
	ErrStrategy       = errors.New("supervisor: unknown strategy")
	ErrRestart        = errors.New("supervisor: unknown restart type")
	ErrLimits         = errors.New("supervisor: invalid intensity, period or backoff")
	ErrChildName      = errors.New("supervisor: child name empty or containing '/'")
	ErrDuplicateChild = errors.New("supervisor: duplicate child name")
	ErrNoProps        = errors.New("supervisor: child has no props")
)

// ErrTooManyRestarts is the reason a supervisor fails with when its
// children needed more than Intensity restarts within Period. A nested
// supervisor escalates it to its parent; a top-level one stops, and its
// Tree.Err wraps it.
var ErrTooManyRestarts = errors.New("supervisor: restart intensity exceeded")

// Validate reports the first problem that keeps s from running.
func (s Spec) Validate() error {
	if s.Strategy < OneForOne || s.Strategy > RestForOne {
		return fmt.Errorf("%w: %d", ErrStrategy, int(s.Strategy))
	}
	if err := s.policy(Permanent).Validate(); err != nil {
		return err
	}
	seen := make(map[string]bool, len(s.Children))
	for i, c := range s.Children {
		switch {
		case c.Name == "" || strings.Contains(c.Name, "/"):
			return fmt.Errorf("%w: child %d %q", ErrChildName, i, c.Name)
		case seen[c.Name]:
			return fmt.Errorf("%w: %q", ErrDuplicateChild, c.Name)
		case c.Props == nil:
			return fmt.Errorf("%w: %q", ErrNoProps, c.Name)
		case c.Restart < Permanent || c.Restart > Temporary:
			return fmt.Errorf("%w: %d for %q", ErrRestart, int(c.Restart), c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// policy is the restart policy the spec applies to a child of type r.
func (s Spec) policy(r Restart) Policy {
	return Policy{Restart: r, Intensity: s.Intensity, Period: s.Period, Backoff: s.Backoff}
}

// withDefaults fills the zero fields of a valid spec.
func (s Spec) withDefaults() Spec {
	p := s.policy(Permanent).WithDefaults()
	s.Intensity, s.Period, s.Backoff = p.Intensity, p.Period, p.Backoff
	return s
}
