package engine

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

var (
	unmatchedEvent = map[string]string{"reason": "unmatched event"}
	joinCrashed    = map[string]string{"reason": "join crashed"}
	channelCrash   = protocol.RawJSON([]byte(`{"reason":"channel_crash"}`))
	emptyObject    = protocol.RawJSON([]byte(`{}`))
)

// channelActor runs one joined channel. A restart makes a fresh value from
// the same producer (see Spawn), hence the same spec and factory.
type channelActor struct {
	spec    *channel.Spec      // immutable, shared by every instance
	factory actors.Factory     // immutable
	st      *channel.State     // this instance; made at Started
	reason  error              // set by the channel itself (leave, stop result)
	crash   *actors.CrashError // set when a callback panicked
	ended   bool               // Terminate has run
	// intercept is the events the subscription made at this instance's
	// join intercepts (nil after a restart, which keeps the subscription).
	intercept []string
	// asked is what the join payload asked of recovery; the reply has the
	// recovery members only when it asked.
	asked channel.Asked
}

// crash is the failure a channel escalates to its Socket actor's
// crash strategy: the user-facing report and what the strategy decides by.
type crash struct {
	*actors.CrashError
	policy   supervisor.Policy
	restarts *supervisor.Restarts
	handle   *channel.Handle
	stats    *channel.RouteStats
}

func (a *channelActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.join(ctx)
	case *channel.Inbound:
		a.handleIn(ctx, m)
	case topics.Broadcast:
		a.handleBroadcast(ctx, m)
	case *channel.Timer:
		if a.st.Live(m) {
			a.handleInfo(ctx, m.Msg)
		}
	case *actor.Stopping:
		a.stop(ctx)
	case *actor.Restarting:
		a.teardown(ctx, a.crash)
	case *actor.Stopped, *actor.Terminated:
	default:
		a.handleInfo(ctx, m)
	}
}

func (a *channelActor) current() actors.Channel {
	return a.st.Behaviours[len(a.st.Behaviours)-1].(actors.Channel)
}

func (a *channelActor) context(ctx actor.Context, ref protocol.Ref) *actors.Context {
	return a.st.Context(ctx, ref).(*actors.Context)
}

// guard runs f and turns a panic into a *CrashError: the one place where a
// panic in a channel callback is recovered.
func (a *channelActor) guard(callback, event string, f func()) (ce *actors.CrashError) {
	defer func() {
		if r := recover(); r != nil {
			ce = &actors.CrashError{
				Value: r, Stack: debug.Stack(), Callback: callback, Event: event,
				Topic: a.spec.Topic, JoinRef: a.st.PushRef.String(), SocketID: a.spec.SocketID,
			}
		}
	}()
	f()
	return nil
}

// fail hands a crash to the Socket actor's crash strategy, which decides
// what happens next, and suspends the channel's mailbox until it has: the
// crash was recovered in guard, so it is escalated as a failure directly,
// not raised again. The caller returns at once.
func (a *channelActor) fail(ctx actor.Context, ce *actors.CrashError) {
	a.crash = ce
	report := &crash{CrashError: ce, policy: a.spec.Policy, restarts: &a.spec.Handle.Restarts, handle: a.spec.Handle, stats: a.spec.Stats}
	sup, ok := ctx.(actor.Supervisor)
	if !ok {
		// Only a decorated context lacks it, and channel props have none;
		// protoactor's own recover would escalate the panic the same way.
		panic(report)
	}
	sup.EscalateFailure(report, ctx.Message())
}

func (a *channelActor) join(ctx actor.Context) {
	a.st = channel.NewState(a.spec)
	a.reason, a.crash, a.ended = nil, nil, false
	h := a.spec.Handle
	h.Incarnation++
	restarted := h.Incarnation > 1
	a.st.Owner = ctx.Self().String()
	a.st.Behaviours = []any{a.factory()}
	c := a.context(ctx, nil)
	var g *channel.Gate // set when the topic keeps a history
	if !restarted {
		g = a.recover(ctx)
	}
	var reply any
	var err error
	ce := a.guard("join", protocol.EventJoin, func() {
		reply, err = a.current().Join(c, a.spec.Topic, a.spec.Payload)
	})
	if restarted {
		a.rejoin(ctx, ce, err)
		return
	}
	if ce != nil {
		a.st.Log.Error().Str("callback", "join").Interface("panic", ce.Value).
			Bytes("stack", ce.Stack).Msg("channel join crashed")
		h.Crashes.Add(1)
		a.spec.Runtime.Crashes.Add(CrashRecordOf(ce, a.spec.Runtime.Node, "join refused", 0))
		a.refuse(ctx, joinCrashed, true)
		return
	}
	if err != nil {
		var je *actors.JoinError
		payload := any(map[string]string{"reason": err.Error()})
		if errors.As(err, &je) {
			payload = je.Payload
		}
		a.refuse(ctx, payload, false)
		return
	}
	p, merr := protocol.Marshal(reply)
	if merr == nil && a.asked != channel.NotAsked {
		p, merr = channel.RecoveryReply(p, a.st.Recovery, g != nil)
	}
	if merr != nil {
		a.st.Log.Error().Err(merr).Msg("join reply cannot be encoded")
		a.refuse(ctx, joinCrashed, false)
		return
	}
	// Subscribe first, through a gate that holds broadcasts until the reply
	// is queued: the client gets the reply before anything of this channel
	// and misses no broadcast made once it has the reply. A recovering
	// join subscribed before reading the history (see recover); what it
	// replays goes right after the reply, and the gate drops what the
	// replay already sent.
	if g == nil {
		g = a.subscribe(ctx, false)
	}
	a.writeReply(a.spec.JoinRef, a.spec.Ref, "ok", p)
	a.st.Joined = true
	h.Counted = true
	a.spec.Stats.AddJoined(1)
	ce = a.replay(ctx)
	h.Floor = a.st.Recovery.Head.Seq
	g.Release(h.Floor)
	ctx.Send(ctx.Parent(), &channel.Joined{Topic: a.spec.Topic, PID: ctx.Self(), Handle: h, OK: true})
	a.st.Log.Debug().Str("recovery", a.st.Recovery.Outcome.String()).Msg("channel joined")
	if ce != nil {
		a.fail(ctx, ce)
	}
}

// recover prepares the recovery of a first join, before Join runs so that
// Join can read the outcome. On a topic that keeps a history it subscribes
// through a closed gate and then reads the history after the position the
// client sent (if any): every broadcast is then either in the history
// read or held by the gate, and Release drops those that are both. A
// position sent for a topic that keeps no history is answered "not
// recovered" (topics.NoHistory). The reply gains the recovery members only
// when the payload has "_since" (null for a first join).
func (a *channelActor) recover(ctx actor.Context) *channel.Gate {
	ps := a.spec.Runtime.PubSub
	var since topics.Position
	since, a.asked = channel.Since(a.spec.Payload)
	if !ps.Keeps(a.spec.Topic) {
		if a.asked != channel.NotAsked {
			a.st.Recovery = topics.Recovery{Outcome: topics.NoHistory}
		}
		return nil
	}
	g := a.subscribe(ctx, false)
	if betweenSubscribeAndRead != nil {
		betweenSubscribeAndRead()
	}
	var from *topics.Position
	if a.asked == channel.AskedSince {
		from = &since
	}
	a.st.Recovery, _ = ps.Recover(a.spec.Topic, from)
	if a.asked == channel.AskedBadly {
		a.st.Recovery.Outcome = topics.BadPosition
	}
	return g
}

// betweenSubscribeAndRead is nil except in a test that widens the window
// between a recovering join's subscription and its history read.
var betweenSubscribeAndRead func()

// replay sends the broadcasts the join recovered, in order, right after
// the join reply: intercepted events through HandleOut, the others as
// they were broadcast. It stops at a crash in HandleOut and returns it.
func (a *channelActor) replay(ctx actor.Context) *actors.CrashError {
	rec := &a.st.Recovery
	if !rec.Recovered() {
		return nil
	}
	for _, b := range rec.Missed {
		if a.reason != nil {
			break // HandleOut stopped the channel
		}
		oh, ok := a.current().(actors.OutHandler)
		if !ok || !slices.Contains(a.intercept, b.Event) {
			_ = a.st.Write(func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Broadcast(b.Topic, b.Event, b.Payload)
			})
			continue
		}
		c := a.context(ctx, nil)
		var res actors.Result
		if ce := a.guard("handle_out", b.Event, func() { res = oh.HandleOut(c, b.Event, b.Payload) }); ce != nil {
			return ce
		}
		a.apply(ctx, nil, res)
	}
	rec.Missed = nil // the history is shared; let it go
	return nil
}

// rejoin finishes the Join of a restarted instance: the client is already
// joined and subscribed, so nothing is sent unless the channel cannot come
// back, in which case it ends with phx_error.
func (a *channelActor) rejoin(ctx actor.Context, ce *actors.CrashError, err error) {
	if ce != nil {
		a.fail(ctx, ce) // counts against the restart intensity
		return
	}
	if err != nil {
		a.st.Log.Warn().Err(err).Msg("restarted channel refused its join; closing it")
		_ = a.st.Write(func(s protocol.Serializer) (protocol.Frame, error) {
			return s.Close(a.spec.JoinRef, a.spec.Topic, protocol.EventError, channelCrash)
		})
		ctx.Stop(ctx.Self())
		return
	}
	a.st.Joined = true
	if a.spec.Handle.Sub == nil {
		a.subscribe(ctx, true)
	}
	a.st.Log.Info().Int("incarnation", a.spec.Handle.Incarnation).Msg("channel restarted")
}

func (a *channelActor) refuse(ctx actor.Context, payload any, crashed bool) {
	// A recovering join subscribed before Join: undo it now, before the
	// closed gate fills up.
	a.spec.Handle.Sub.Unsubscribe()
	a.spec.Handle.Sub = nil
	p, err := protocol.Marshal(payload)
	if err != nil {
		p = protocol.RawJSON([]byte(`{"reason":"join refused"}`))
	}
	a.writeReply(a.spec.JoinRef, a.spec.Ref, "error", p)
	if crashed {
		a.spec.Handle.SetJoinCrashed()
	}
	ctx.Send(ctx.Parent(), &channel.Joined{Topic: a.spec.Topic, PID: ctx.Self(), Handle: a.spec.Handle})
	ctx.Stop(ctx.Self())
}

// subscribe registers the channel on its topic through a gate, open or
// held closed until its release.
func (a *channelActor) subscribe(ctx actor.Context, open bool) *channel.Gate {
	var intercept []string
	if oh, ok := a.current().(actors.OutHandler); ok {
		intercept = slices.Clone(oh.Intercept())
	}
	a.intercept = intercept
	self, root := ctx.Self(), ctx.ActorSystem().Root
	limit := a.spec.Runtime.MaxIntercepted
	if limit <= 0 {
		limit = 1024
	}
	h, overflow := a.spec.Handle, a.spec.Overflow
	var sink topics.Sink
	g := channel.NewGate(a.spec.Sink, overflow, open)
	if a.spec.Sink != nil {
		sink = g
	}
	h.Sub = a.spec.Runtime.PubSub.Subscribe(a.spec.Topic, topics.Subscriber{
		Sink:      sink,
		Intercept: intercept,
		Deliver: func(b topics.Broadcast) {
			if h.PendingOut.Add(1) > limit {
				h.PendingOut.Add(-1)
				if overflow != nil {
					overflow()
				}
				return
			}
			root.Send(self, b)
		},
	})
	return g
}

func (a *channelActor) handleIn(ctx actor.Context, in *channel.Inbound) {
	if in.Done != nil {
		defer in.Done()
	}
	if !a.st.Joined || a.ended {
		return
	}
	msg := in.Msg
	if msg.Event == protocol.EventLeave {
		_ = a.st.Reply(msg.Ref, "ok", nil)
		a.reason = actors.ErrLeft
		ctx.Stop(ctx.Self())
		return
	}
	start := time.Now()
	c := a.context(ctx, msg.Ref)
	h, ok := a.current().(actors.InHandler)
	if !ok {
		_ = a.st.Reply(msg.Ref, "error", unmatchedEvent)
		a.spec.Stats.Handled(channel.EventUnhandled, time.Since(start).Seconds())
		return
	}
	var res actors.Result
	if ce := a.guard("handle_in", msg.Event, func() { res = h.HandleIn(c, msg.Event, msg.Payload) }); ce != nil {
		a.spec.Stats.Handled(channel.EventCrash, time.Since(start).Seconds())
		a.fail(ctx, ce)
		return
	}
	a.apply(ctx, msg.Ref, res)
	a.spec.Stats.Handled(eventOutcome(res), time.Since(start).Seconds())
}

// eventOutcome is how a HandleIn that returned res ended.
func eventOutcome(res actors.Result) channel.EventOutcome {
	switch res.Kind() {
	case actors.ReplyResult:
		if res.Status() == "error" {
			return channel.EventError
		}
		return channel.EventOK
	case actors.StopResult:
		return channel.EventStop
	}
	return channel.EventNoReply
}

func (a *channelActor) handleBroadcast(ctx actor.Context, b topics.Broadcast) {
	if b.Topic != a.spec.Topic || a.spec.Handle.Sub == nil {
		a.handleInfo(ctx, b)
		return
	}
	a.spec.Handle.PendingOut.Add(-1)
	if !a.st.Joined || a.ended || b.Seq != 0 && b.Seq <= a.spec.Handle.Floor {
		return // the join's recovery sent it already
	}
	h, ok := a.current().(actors.OutHandler)
	if !ok {
		// The behaviour changed and no longer intercepts: pass it through.
		_ = a.st.Write(func(s protocol.Serializer) (protocol.Frame, error) {
			return s.Push(a.st.PushRef, b.Topic, b.Event, b.Payload)
		})
		return
	}
	c := a.context(ctx, nil)
	var res actors.Result
	if ce := a.guard("handle_out", b.Event, func() { res = h.HandleOut(c, b.Event, b.Payload) }); ce != nil {
		a.fail(ctx, ce)
		return
	}
	a.apply(ctx, nil, res)
}

func (a *channelActor) handleInfo(ctx actor.Context, msg any) {
	if a.st == nil || !a.st.Joined || a.ended {
		return
	}
	h, ok := a.current().(actors.InfoHandler)
	if !ok {
		a.st.Log.Warn().Str("message", fmt.Sprintf("%T", msg)).Msg("channel has no HandleInfo; message dropped")
		return
	}
	c := a.context(ctx, nil)
	var res actors.Result
	if ce := a.guard("handle_info", fmt.Sprintf("%T", msg), func() { res = h.HandleInfo(c, msg) }); ce != nil {
		a.fail(ctx, ce)
		return
	}
	a.apply(ctx, nil, res)
}

func (a *channelActor) apply(ctx actor.Context, ref protocol.Ref, res actors.Result) {
	switch res.Kind() {
	case actors.ReplyResult:
		if !ref.IsNull() {
			_ = a.st.Reply(ref, res.Status(), res.Payload())
		}
	case actors.StopResult:
		if res.Replies() && !ref.IsNull() {
			_ = a.st.Reply(ref, res.Status(), res.Payload())
		}
		reason := res.Reason()
		if !actors.IsClean(reason) && a.spec.Policy.Restart == supervisor.Permanent {
			a.fail(ctx, &actors.CrashError{Value: reason, Callback: "stop", Topic: a.spec.Topic,
				JoinRef: a.st.PushRef.String(), SocketID: a.spec.SocketID})
			return
		}
		if reason == nil {
			reason = actors.ErrNormal
		}
		a.reason = reason
		ctx.Stop(ctx.Self())
	}
}

func (a *channelActor) writeReply(joinRef, ref protocol.Ref, status string, p protocol.Payload) {
	err := a.st.Write(func(s protocol.Serializer) (protocol.Frame, error) {
		return s.Reply(joinRef, ref, a.spec.Topic, status, p)
	})
	if err != nil && !errors.Is(err, channel.ErrWriteClosed) {
		a.st.Log.Error().Err(err).Msg("reply cannot be encoded")
	}
}

// stop runs once when the actor stops: Terminate, clean-up, and the closing
// frame the client expects.
func (a *channelActor) stop(ctx actor.Context) {
	h := a.spec.Handle
	h.MarkClosed() // from now on the socket answers this topic's pushes
	defer func() {
		h.Sub.Unsubscribe()
		h.Sub = nil
		if h.Counted {
			h.Counted = false
			a.spec.Stats.AddJoined(-1)
		}
	}()
	if a.st == nil || !a.st.Joined || a.ended {
		return
	}
	fromSocket := false
	reason := a.reason
	switch {
	case a.crash != nil:
		reason = a.crash
	case reason == nil:
		reason = h.Reason()
		fromSocket = true
		if reason == nil {
			reason = actors.ErrShutdown
		}
	}
	if reason == actors.ErrDuplicateJoin {
		fromSocket = false
	}
	// The channel is gone for its client before its clean-up runs, as in
	// Phoenix: off the topic first, so the presence leave that teardown
	// broadcasts reaches the other subscribers only, and after a leave's
	// reply the client gets phx_close and nothing else. (h.Sub stays set
	// until the deferred clean-up, so a broadcast from Terminate still
	// names this subscription as its sender.)
	h.Sub.Unsubscribe()
	a.teardown(ctx, reason)
	if !fromSocket {
		event, payload := protocol.EventClose, protocol.Payload(emptyObject)
		if !actors.IsClean(reason) {
			event, payload = protocol.EventError, channelCrash
		}
		_ = a.st.Write(func(s protocol.Serializer) (protocol.Frame, error) {
			return s.Close(a.spec.JoinRef, a.spec.Topic, event, payload)
		})
	}
}

// teardown ends this behaviour instance: Terminate with reason, then its
// timers, extra subscriptions and presences go. The fast-lane subscription
// is left to stop, since a restart keeps it.
func (a *channelActor) teardown(ctx actor.Context, reason error) {
	if a.st == nil || !a.st.Joined || a.ended {
		return
	}
	a.ended = true
	if reason == nil {
		reason = actors.ErrShutdown
	}
	if t, ok := a.current().(actors.Terminator); ok {
		c := a.context(ctx, nil)
		if ce := a.guard("terminate", "", func() { t.Terminate(c, reason) }); ce != nil {
			a.st.Log.Error().Interface("panic", ce.Value).Bytes("stack", ce.Stack).Msg("channel terminate crashed")
		}
	}
	a.st.Release()
	a.st.Log.Debug().Str("reason", reason.Error()).Msg("channel terminated")
}
