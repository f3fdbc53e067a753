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

// crashStrategy is the supervisor strategy of a Socket actor for its channel
// children. A crashed channel is stopped, as Phoenix does: the client gets
// phx_error and rejoins by itself. Every crash is reported once, through a
// rate limiter so that a crash loop cannot flood the log.
type crashStrategy struct {
	log     zerolog.Logger
	node    string
	crashes *channel.CrashLog // may be nil
	limiter *crashLimiter
}

// NewCrashStrategy returns the supervisor strategy of Socket actors for
// their channels. One strategy is shared by all sockets of an endpoint.
// log is the endpoint's, which names the node already: the reports add
// the crash's own fields only. Every crash is also added to crashes (if
// not nil), which is not rate limited: it is a ring of the last ones.
func NewCrashStrategy(log zerolog.Logger, node string, crashes *channel.CrashLog) actor.SupervisorStrategy {
	return &crashStrategy{log: log, node: node, crashes: crashes, limiter: &crashLimiter{perSecond: 20}}
}

func (s *crashStrategy) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason any, _ any) {
	cr, _ := reason.(*crash)
	policy := supervisor.Policy{Restart: supervisor.Temporary}
	restarts := &supervisor.Restarts{}
	if cr != nil {
		policy, restarts = cr.policy, cr.restarts
	}
	decision, counted := "stop", channel.DecisionStop
	d := policy.Decide(restarts, true, time.Now())
	delay := d.Delay
	switch {
	case d.Restart:
		decision, counted = "restart", channel.DecisionRestart
	case d.Exceeded:
		decision, counted = "stop: restart intensity exceeded", channel.DecisionExceeded
	}
	if cr != nil {
		cr.stats.Crash(counted)
	}
	s.record(cr, reason, decision, d.Count)
	if ok, suppressed := s.limiter.allow(time.Now()); ok {
		ev := s.log.Error().Str("decision", decision).Int("restart_count", d.Count).
			Str("policy", policy.Restart.String())
		if suppressed > 0 {
			ev = ev.Int("suppressed", suppressed)
		}
		if cr != nil {
			ev = ev.Str("socket_id", cr.SocketID).Str("topic", cr.Topic).Str("join_ref", cr.JoinRef).
				Str("callback", cr.Callback).Str("event", cr.Event).Interface("panic", cr.Value).
				Bytes("stack", cr.Stack)
		} else {
			ev = ev.Interface("panic", reason)
		}
		if delay > 0 {
			ev = ev.Dur("backoff", delay)
		}
		ev.Msg("channel crashed")
	}
	if decision == "restart" {
		time.AfterFunc(delay, func() { sup.RestartChildren(child) })
		return
	}
	sup.StopChildren(child)
}

// record adds the crash to the crash log.
func (s *crashStrategy) record(cr *crash, reason any, decision string, restarts int) {
	if s.crashes == nil {
		return
	}
	if cr == nil {
		s.crashes.Add(channel.CrashRecord{Time: time.Now(), Node: s.node, Panic: fmt.Sprint(reason),
			Decision: decision, Restarts: restarts})
		return
	}
	if cr.handle != nil {
		cr.handle.Crashes.Add(1)
	}
	s.crashes.Add(CrashRecordOf(cr.CrashError, s.node, decision, restarts))
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
