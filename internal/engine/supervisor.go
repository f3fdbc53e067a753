package engine

import (
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/supervisor"
)

// Supervisor decides what a channel's crash does, for the Socket actors of
// an endpoint (one Supervisor is shared by all of them). A crashed channel
// actor suspends its mailbox and sends its Socket actor a *Crash; the
// Socket actor hands it to Crashed, on its own goroutine, which applies the
// route's supervisor.Policy: stop the channel (as Phoenix does: the client
// gets phx_error and rejoins by itself), or restart it in place after a
// backoff. Every crash is reported once, through a rate limiter so that a
// crash loop cannot flood the log.
type Supervisor struct {
	log     zerolog.Logger
	node    string
	crashes *channel.CrashLog // may be nil
	limiter *crashLimiter
}

// NewSupervisor returns the Supervisor of an endpoint's channels. log is
// the endpoint's, which names the node already: the reports add the
// crash's own fields only. Every crash is also added to crashes (if not
// nil), which is not rate limited: it is a ring of the last ones.
func NewSupervisor(log zerolog.Logger, node string, crashes *channel.CrashLog) *Supervisor {
	return &Supervisor{log: log, node: node, crashes: crashes, limiter: &crashLimiter{perSecond: 20}}
}

// Crash is what a crashed channel actor tells its Socket actor: the
// user-facing report and what the decision is made by. The channel's
// mailbox is suspended until the decision is carried out.
type Crash struct {
	*actors.CrashError
	PID    *actor.PID
	policy supervisor.Policy
	handle *channel.Handle
	stats  *channel.RouteStats
}

// Crashed decides and carries out what c's channel does next; the Socket
// actor calls it in its Receive (ctx), since the restart history it keeps
// in the channel's Handle belongs to that goroutine. With stop set (the
// socket is closing and has stopped its channels already) the crash is
// reported and recorded but the channel is not restarted.
func (s *Supervisor) Crashed(ctx actor.Context, c *Crash, stop bool) {
	decision, counted := "stop", channel.DecisionStop
	if c.handle.Restarts == nil {
		c.handle.Restarts = &supervisor.Restarts{}
	}
	d := c.policy.Decide(c.handle.Restarts, true, time.Now())
	delay := d.Delay
	switch {
	case stop:
	case d.Restart:
		decision, counted = "restart", channel.DecisionRestart
	case d.Exceeded:
		decision, counted = "stop: restart intensity exceeded", channel.DecisionExceeded
	}
	c.stats.Crash(counted)
	s.record(c, decision, d.Count)
	if ok, suppressed := s.limiter.allow(time.Now()); ok {
		ev := s.log.Error().Str("decision", decision).Int("restart_count", d.Count).
			Str("policy", c.policy.Restart.String())
		if suppressed > 0 {
			ev = ev.Int("suppressed", suppressed)
		}
		ev = ev.Str("socket_id", c.SocketID).Str("topic", c.Topic).Str("join_ref", c.JoinRef).
			Str("callback", c.Callback).Str("event", c.Event).Interface("panic", c.Value).
			Bytes("stack", c.Stack)
		if delay > 0 && decision == "restart" {
			ev = ev.Dur("backoff", delay)
		}
		ev.Msg("channel crashed")
	}
	if decision != "restart" {
		ctx.Stop(c.PID)
		return
	}
	system, pid := ctx.ActorSystem(), c.PID
	time.AfterFunc(delay, func() { restart(system, pid) })
}

var (
	startedMsg = &actor.Started{}
	suspendMsg = &actor.SuspendMailbox{}
	resumeMsg  = &actor.ResumeMailbox{}
)

// restart restarts a crashed channel after its backoff, as protoactor
// restarts an actor: a Started, which the channel actor takes for a
// restart, then the mailbox resumed, all as system messages, so that the
// fresh instance runs before the messages that waited for it. A channel
// stopped meanwhile (its socket closed) is gone from the registry and gets
// nothing; one stopping ignores the Started.
func restart(system *actor.ActorSystem, pid *actor.PID) {
	proc, ok := system.ProcessRegistry.Get(pid)
	if !ok {
		return
	}
	proc.SendSystemMessage(pid, startedMsg)
	proc.SendSystemMessage(pid, resumeMsg)
}

// record counts the crash on its channel and adds it to the crash log.
func (s *Supervisor) record(c *Crash, decision string, restarts int) {
	c.handle.Crashes.Add(1)
	if s.crashes != nil {
		s.crashes.Add(CrashRecordOf(c.CrashError, s.node, decision, restarts))
	}
}

// CrashRecordOf is the crash log's record of a crash.
func CrashRecordOf(ce *actors.CrashError, node, decision string, restarts int) channel.CrashRecord {
	return channel.CrashRecord{
		Time: time.Now(), Node: node, SocketID: ce.SocketID, Topic: ce.Topic, JoinRef: ce.JoinRef,
		Callback: ce.Callback, Event: ce.Event, Panic: fmt.Sprint(ce.Value), Stack: string(ce.Stack),
		Decision: decision, Restarts: restarts,
	}
}

// crashLimiter allows perSecond reports per one-second window and counts
// the rest, reporting the count with the next allowed report.
type crashLimiter struct {
	perSecond int
	mu        sync.Mutex
	window    time.Time // guarded by mu
	used      int       // guarded by mu
	dropped   int       // guarded by mu
}

func (l *crashLimiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Second {
		l.window, l.used = now, 0
	}
	if l.used >= l.perSecond {
		l.dropped++
		return false, 0
	}
	l.used++
	d := l.dropped
	l.dropped = 0
	return true, d
}
