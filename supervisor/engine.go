package supervisor

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// config is a validated Spec with defaults applied and each child's props
// cloned with the start notice. It is shared, read-only, by every
// incarnation of the supervisor actor.
type config struct {
	strategy  Strategy
	intensity int
	period    time.Duration
	backoff   Backoff
	log       zerolog.Logger
	children  []childConfig
}

type childConfig struct {
	name    string
	props   *actor.Props
	restart Restart
}

func newConfig(spec Spec) (*config, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	cfg := &config{
		strategy:  spec.Strategy,
		intensity: spec.Intensity,
		period:    spec.Period,
		backoff:   spec.Backoff,
		log:       spec.Logger,
		children:  make([]childConfig, len(spec.Children)),
	}
	for i, c := range spec.Children {
		cfg.children[i] = childConfig{
			name:    c.Name,
			props:   c.Props.Clone(actor.WithReceiverMiddleware(startNotice)),
			restart: c.Restart,
		}
	}
	return cfg, nil
}

// startedAck tells a supervisor that a child it spawned has finished
// starting. For an ordinary child that is when its Started handler returns;
// a nested supervisor sends it itself once its own children are started.
type startedAck struct {
	pid        *actor.PID
	supervisor bool // the child is a supervisor: stop it with Shutdown
}

// startNotice is the receiver middleware a supervisor adds to its
// children's props to learn when each has started.
func startNotice(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		if _, ok := env.Message.(*actor.Started); !ok {
			next(ctx, env)
			return
		}
		if sa, ok := ctx.Actor().(*supervisorActor); ok {
			sa.ackParent = true // it acknowledges once its children run
			next(ctx, env)
			return
		}
		next(ctx, env) // a panic here skips the notice: the parent gets a Failure instead
		notify(ctx, ctx.Parent(), &startedAck{pid: ctx.Self()})
	}
}

// notify sends m from ctx's actor when ctx can send, else from the root.
func notify(ctx actor.ReceiverContext, to *actor.PID, m any) {
	if to == nil {
		return
	}
	if sc, ok := ctx.(actor.SenderContext); ok {
		sc.Send(to, m)
		return
	}
	ctx.ActorSystem().Root.Send(to, m)
}

// backoffDone wakes the supervisor when a restart delay is over.
type backoffDone struct{ seq uint64 }

func (*backoffDone) IgnoreDeadLetterLogging() {}

// child is the supervisor's record of one ChildSpec.
type child struct {
	childConfig
	pid        *actor.PID // current incarnation; nil while not running
	gen        uint64     // incremented at every spawn attempt
	failed     bool       // the current incarnation failed and is suspended
	supervisor bool       // the current incarnation is a supervisor (from its startedAck)
	removed    bool       // a temporary or transient child that ended for good
}

// exit is a child's end (a failure or a stop on its own) waiting for the
// supervisor's decision.
type exit struct {
	c      *child
	gen    uint64 // the incarnation that ended
	failed bool
	reason any // the panic value, or the spawn error
}

type stepKind int

const (
	stepStart    stepKind = iota // spawn c and wait for its startedAck
	stepStop                     // stop c and wait for its Terminated
	stepDelay                    // wait for the backoff timer
	stepEscalate                 // fail with err
	stepStopSelf                 // end of an orderly shutdown
)

type step struct {
	kind  stepKind
	c     *child
	delay time.Duration
	err   error
}

type waitKind int

const (
	waitNone waitKind = iota
	waitStart
	waitStop
	waitTimer
)

// supervisorActor runs one supervisor. Its state is touched only on its own
// mailbox goroutine: in Receive and in HandleFailure, which protoactor calls
// while processing the Failure system message of a child.
//
// Work comes as a plan, a list of steps run one at a time; a step that needs
// a child's answer (started, terminated) or a timer sets wait and the plan
// resumes when that message arrives. Child exits that arrive meanwhile are
// queued in pending and decided, in order, once the plan is done; an exit
// of an incarnation that the plan has already replaced is then ignored.
type supervisorActor struct {
	cfg    *config
	handle *Tree // nil unless started by Start
	ctx    actor.Context

	children []*child
	restarts Restarts // restarts within the current period

	plan     []step
	pending  []exit
	wait     waitKind
	waitPID  *actor.PID
	timer    *time.Timer
	timerSeq uint64

	ackParent    bool // set by the parent's startNotice: send it a startedAck
	ready        bool // the first start is complete and acknowledged
	shuttingDown bool // a Shutdown is in progress
	failed       bool // escalated: nothing more to do but be stopped
	stopping     bool // protoactor is stopping or restarting this actor
}

var _ actor.SupervisorStrategy = (*supervisorActor)(nil)

func newSupervisorActor(cfg *config, handle *Tree) *supervisorActor {
	s := &supervisorActor{cfg: cfg, handle: handle, children: make([]*child, len(cfg.children))}
	for i, c := range cfg.children {
		s.children[i] = &child{childConfig: c}
	}
	return s
}

// Receive implements actor.Actor.
func (s *supervisorActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.ctx = ctx
		for _, c := range s.children {
			s.plan = append(s.plan, step{kind: stepStart, c: c})
		}
		s.run()
	case *startedAck:
		if s.wait == waitStart && s.waitPID == m.pid {
			if c := s.find(m.pid); c != nil {
				c.supervisor = m.supervisor
			}
			s.resume()
		}
	case *actor.Terminated:
		s.onTerminated(m.Who)
	case *backoffDone:
		if s.wait == waitTimer && m.seq == s.timerSeq {
			s.timer = nil
			s.resume()
		}
	case *LookupChild:
		res := &LookupResult{Name: m.Name}
		for _, c := range s.children {
			if c.name == m.Name && !c.removed {
				res.PID = c.pid
			}
		}
		ctx.Respond(res)
	case *Inspect:
		ctx.Respond(s.describe())
	case *Shutdown:
		s.shutdown()
	case *actor.Stopping, *actor.Restarting:
		// Stopped from outside (or restarted in place by a parent that is
		// not a supervisor of ours): protoactor stops the children itself.
		s.stopping = true
		s.stopTimer()
	case *actor.Stopped:
		if s.handle != nil {
			close(s.handle.done)
		}
	}
}

// HandleFailure implements actor.SupervisorStrategy. protoactor calls it on
// the supervisor's own goroutine when a child panics; the child's mailbox
// stays suspended until the child is stopped.
func (s *supervisorActor) HandleFailure(_ *actor.ActorSystem, _ actor.Supervisor, who *actor.PID,
	_ *actor.RestartStatistics, reason, message any) {
	c := s.find(who)
	if c == nil || s.ctx == nil {
		if s.ctx != nil {
			s.ctx.Stop(who) // not ours, or an incarnation already replaced
		}
		return
	}
	c.failed = true
	switch {
	case s.wait == waitStop && s.waitPID == who:
		s.ctx.Stop(who) // it may have been asked with Shutdown, which waits behind the suspension
		if _, stuck := message.(*actor.Stop); stuck {
			// It panicked while stopping and will never report Terminated;
			// its name stays taken, so restarting it will fail.
			s.logExit(c, true, reason, "abandon", s.restarts.Len(), 0)
			c.pid = nil
			s.resume()
			return
		}
		s.logExit(c, true, reason, "ignore", s.restarts.Len(), 0) // being stopped anyway
		return
	case s.wait == waitStart && s.waitPID == who:
		s.queue(exit{c: c, gen: c.gen, failed: true, reason: reason})
		s.resume()
	default:
		s.queue(exit{c: c, gen: c.gen, failed: true, reason: reason})
		s.run()
	}
}

func (s *supervisorActor) onTerminated(who *actor.PID) {
	c := s.find(who)
	if c == nil {
		return // stopped by us and already accounted for
	}
	c.pid = nil
	switch {
	case s.wait == waitStop && s.waitPID == who:
		s.resume()
	case s.wait == waitStart && s.waitPID == who:
		s.queue(exit{c: c, gen: c.gen})
		s.resume()
	default:
		s.queue(exit{c: c, gen: c.gen})
		s.run()
	}
}

func (s *supervisorActor) find(pid *actor.PID) *child {
	if pid == nil {
		return nil
	}
	for _, c := range s.children {
		if c.pid == pid {
			return c
		}
	}
	return nil
}

// queue holds e for a decision, unless the supervisor is on its way out and
// every child is being stopped anyway.
func (s *supervisorActor) queue(e exit) {
	if !s.shuttingDown && !s.failed && !s.stopping {
		s.pending = append(s.pending, e)
		return
	}
	if e.failed {
		s.logExit(e.c, true, e.reason, "ignore", s.restarts.Len(), 0)
	}
}

// resume ends the current wait and carries on with the plan.
func (s *supervisorActor) resume() {
	s.wait, s.waitPID = waitNone, nil
	s.run()
}

// run executes steps until one has to wait, deciding queued exits whenever
// the plan runs out. The first time nothing is left to do, every child is
// running: the supervisor is ready.
func (s *supervisorActor) run() {
	for s.wait == waitNone && !s.failed && !s.stopping {
		switch {
		case len(s.plan) > 0:
			st := s.plan[0]
			s.plan = s.plan[1:]
			s.exec(st)
		case len(s.pending) > 0:
			e := s.pending[0]
			s.pending = s.pending[1:]
			s.decide(e)
		default:
			if !s.ready && !s.shuttingDown {
				s.ready = true
				if s.ackParent {
					s.ctx.Send(s.ctx.Parent(), &startedAck{pid: s.ctx.Self(), supervisor: true})
				}
				if s.handle != nil {
					s.handle.markReady()
				}
			}
			return
		}
	}
}

func (s *supervisorActor) exec(st step) {
	c := st.c
	switch st.kind {
	case stepStart:
		if c.removed || c.pid != nil {
			return
		}
		c.gen++
		c.failed, c.supervisor = false, false
		pid, err := s.spawn(c)
		if err != nil {
			s.queue(exit{c: c, gen: c.gen, failed: true, reason: err})
			return
		}
		c.pid = pid
		s.wait, s.waitPID = waitStart, pid
	case stepStop:
		if c.pid == nil {
			return
		}
		if c.supervisor && !c.failed {
			s.ctx.Send(c.pid, &Shutdown{}) // orderly, down the tree
		} else {
			s.ctx.Stop(c.pid)
		}
		s.wait, s.waitPID = waitStop, c.pid
	case stepDelay:
		s.timerSeq++
		seq, self, root := s.timerSeq, s.ctx.Self(), s.ctx.ActorSystem().Root
		s.timer = time.AfterFunc(st.delay, func() { root.Send(self, &backoffDone{seq: seq}) })
		s.wait = waitTimer
	case stepEscalate:
		s.failed = true
		s.pending = nil
		if s.handle != nil {
			s.handle.err = st.err
			s.ctx.Stop(s.ctx.Self())
			return
		}
		if sup, ok := s.ctx.(actor.Supervisor); ok {
			sup.EscalateFailure(st.err, nil)
			return
		}
		panic(st.err) // protoactor recovers it and escalates all the same
	case stepStopSelf:
		s.ctx.Stop(s.ctx.Self())
	}
}

// spawn starts an incarnation of c; a panic from protoactor (props it
// refuses) comes back as an error.
func (s *supervisorActor) spawn(c *child) (pid *actor.PID, err error) {
	defer func() {
		if r := recover(); r != nil {
			pid, err = nil, fmt.Errorf("supervisor: spawn %q: %v", c.name, r)
		}
	}()
	pid, err = s.ctx.SpawnNamed(c.props, c.name)
	if err != nil {
		return nil, fmt.Errorf("supervisor: spawn %q: %w", c.name, err)
	}
	return pid, nil
}

// decide applies the restart type, the intensity and the strategy to one
// exit and appends the resulting steps to the plan.
func (s *supervisorActor) decide(e exit) {
	c := e.c
	if c.removed || c.gen != e.gen {
		s.logExit(c, e.failed, e.reason, "superseded", s.restarts.Len(), 0)
		return
	}
	p := Policy{Restart: c.restart, Intensity: s.cfg.intensity, Period: s.cfg.period, Backoff: s.cfg.backoff}
	d := p.Decide(&s.restarts, e.failed, time.Now())
	if !d.Restart && !d.Exceeded {
		c.removed = true
		s.logExit(c, e.failed, e.reason, "remove", s.restarts.Len(), 0)
		s.plan = append(s.plan, step{kind: stepStop, c: c}) // a failed child is still there
		return
	}
	if d.Exceeded {
		s.logExit(c, e.failed, e.reason, "escalate", d.Count, 0)
		err := fmt.Errorf("%w: %d restarts within %v, the last for child %q (%s)",
			ErrTooManyRestarts, d.Count, s.cfg.period, c.name, describe(e))
		for i := len(s.children) - 1; i >= 0; i-- {
			s.plan = append(s.plan, step{kind: stepStop, c: s.children[i]})
		}
		s.plan = append(s.plan, step{kind: stepEscalate, err: err})
		return
	}
	s.logExit(c, e.failed, e.reason, "restart", d.Count, d.Delay)
	group := s.group(c)
	for i := len(group) - 1; i >= 0; i-- {
		s.plan = append(s.plan, step{kind: stepStop, c: group[i]})
		if g := group[i]; g != c && g.restart == Temporary {
			g.removed = true // stopped by a sibling's restart: not restarted
		}
	}
	if d.Delay > 0 {
		s.plan = append(s.plan, step{kind: stepDelay, delay: d.Delay})
	}
	for _, g := range group {
		s.plan = append(s.plan, step{kind: stepStart, c: g})
	}
}

// group returns the children restarted with c, in start order.
func (s *supervisorActor) group(c *child) []*child {
	var g []*child
	after := false
	for _, x := range s.children {
		if x == c {
			after = true
		}
		if x.removed && x != c {
			continue
		}
		switch s.cfg.strategy {
		case AllForOne:
			g = append(g, x)
		case RestForOne:
			if after {
				g = append(g, x)
			}
		default:
			if x == c {
				g = append(g, x)
			}
		}
	}
	return g
}

// shutdown starts an orderly stop: children in reverse order, then self.
// A backoff delay is cut short, but a child being started or stopped is
// waited for first, as an OTP supervisor would (it cannot take a message in
// the middle of a start): only then is it known how to stop it.
func (s *supervisorActor) shutdown() {
	if s.shuttingDown || s.stopping || s.ctx == nil {
		return
	}
	s.shuttingDown = true
	s.stopTimer()
	s.pending = nil
	s.plan = s.plan[:0]
	if s.wait == waitTimer {
		s.wait = waitNone
	}
	for i := len(s.children) - 1; i >= 0; i-- {
		s.plan = append(s.plan, step{kind: stepStop, c: s.children[i]})
	}
	s.plan = append(s.plan, step{kind: stepStopSelf})
	s.run()
}

func (s *supervisorActor) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.timerSeq++ // a tick already on its way is ignored
}

// logExit writes the one event a child's exit produces.
func (s *supervisorActor) logExit(c *child, failed bool, reason any, decision string, restarts int, backoff time.Duration) {
	var ev *zerolog.Event
	if failed {
		ev = s.cfg.log.Error()
		if err, ok := reason.(error); ok {
			ev = ev.Str("panic", err.Error())
		} else {
			ev = ev.Interface("panic", reason)
		}
	} else {
		ev = s.cfg.log.Info()
	}
	if ev == nil {
		return
	}
	if s.ctx != nil {
		ev = ev.Str("supervisor", s.ctx.Self().Id)
	}
	ev = ev.Str("child", c.name).Str("restart", c.restart.String()).Str("decision", decision).
		Int("restart_count", restarts)
	if backoff > 0 {
		ev = ev.Dur("backoff", backoff)
	}
	if failed {
		ev.Msg("child failed")
		return
	}
	ev.Msg("child stopped")
}

func describe(e exit) string {
	if !e.failed {
		return "stopped"
	}
	if err, ok := e.reason.(error); ok {
		return "failed: " + err.Error()
	}
	return fmt.Sprintf("failed: %v", e.reason)
}
