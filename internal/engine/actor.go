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

// channelActor is one joined channel, all of it in one allocation made by
// Route.Spawn: what its Socket actor shares (the embedded Handle), the
// spec it was started from, and its behaviour instance (st), which a
// restart starts afresh in place. Who writes what:
//
//   - Handle: each field says (mostly the channel actor; the Socket actor
//     keeps the restart history and sets the stop reason);
//   - spec, route: set by Spawn before the actor runs, then read-only;
//   - everything else: the channel actor, in Receive and the callbacks it
//     runs.
//
// The channel is alive for its client (live) from its accepted join until
// Terminate runs.
type channelActor struct {
	channel.Handle
	spec  channel.Spec
	route *Route
	st    channel.State // this instance; set up afresh by join

	reason error              // set by the channel itself (leave, stop result)
	crash  *actors.CrashError // set when a callback panicked, until a restart
	// self is the actor's PID, set before the channel subscribes (deliver
	// reads it from any goroutine after that).
	self *actor.PID
	// gate is the channel's join gate, in use once gated is set.
	gate channel.Gate

	ended   bool // Terminate has run for this instance
	stopped bool // Stopping has run: the actor is going away
	gated   bool
	// asked is what the join payload asked of recovery; the reply has the
	// recovery members only when it asked.
	asked channel.Asked
}

// live reports whether the channel is joined and its instance not
// terminated: the one test every handler makes before it runs a callback.
func (a *channelActor) live() bool { return a.st.Joined && !a.ended }

// Receive runs on the channel's goroutine. A crashed channel's mailbox is
// suspended until its Socket actor decides: a stop arrives as protoactor's
// Stop; a restart as a Started (a system message, so it comes before the
// messages that waited) followed by the mailbox's resumption.
func (a *channelActor) Receive(ctx actor.Context) {
	if a.route == nil {
		// Made by protoactor outside Spawn (a restart after a panic that
		// escaped Receive, which contain prevents): nothing to run.
		ctx.Stop(ctx.Self())
		return
	}
	defer a.contain(ctx)
	switch m := ctx.Message().(type) {
	case *actor.Started:
		switch {
		case a.stopped:
		case a.Incarnation == 0:
			a.join(ctx)
		case a.crash != nil:
			a.restart(ctx)
		}
	case *channel.Inbound:
		a.handleIn(ctx, m)
	case topics.Broadcast:
		a.handleBroadcast(ctx, m)
	case *channel.Timer:
		if a.st.Due(m) {
			a.handleInfo(ctx, m.Msg)
		}
	case *actor.Stopping:
		a.stop(ctx)
	case *actor.Stopped:
		ctx.Send(a.spec.Socket, &channel.Ended{PID: ctx.Self()})
	case *actor.Terminated, *actor.Restarting:
	default:
		a.handleInfo(ctx, m)
	}
}

// contain turns a panic that escaped the engine itself (callbacks run
// under guard) into a crash of the channel, so that protoactor never
// restarts the actor behind its Socket actor's back.
func (a *channelActor) contain(ctx actor.Context) {
	if r := recover(); r != nil {
		a.fail(ctx, &actors.CrashError{Value: r, Stack: debug.Stack(), Callback: "engine",
			Topic: a.spec.Topic, JoinRef: a.st.PushRef().String(), SocketID: a.spec.SocketID})
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
				Topic: a.spec.Topic, JoinRef: a.st.PushRef().String(), SocketID: a.spec.SocketID,
			}
		}
	}()
	f()
	return nil
}

// fail reports a crash to the Socket actor, whose Supervisor decides what
// happens next, and suspends the channel's mailbox until it has: the
// messages that come meanwhile wait for the restarted instance (or go
// with the channel). The caller returns at once.
func (a *channelActor) fail(ctx actor.Context, ce *actors.CrashError) {
	a.crash = ce
	self := ctx.Self()
	if proc, ok := ctx.ActorSystem().ProcessRegistry.Get(self); ok {
		proc.SendSystemMessage(self, suspendMsg)
	}
	ctx.Send(a.spec.Socket, &Crash{CrashError: ce, PID: self, policy: a.route.policy, handle: &a.Handle, stats: a.route.stats})
}

// restart ends the crashed instance (Terminate with the crash), stops the
// actors it spawned (as protoactor's own restart does) and starts a fresh
// instance, which rejoins in place.
func (a *channelActor) restart(ctx actor.Context) {
	a.teardown(ctx, a.crash)
	for _, child := range ctx.Children() {
		ctx.Stop(child)
	}
	a.join(ctx)
}

// join starts an instance: the first runs the whole join, a restarted one
// rejoins (see rejoin).
func (a *channelActor) join(ctx actor.Context) {
	a.reason, a.crash, a.ended = nil, nil, false
	h := &a.Handle
	h.Incarnation++
	restarted := h.Incarnation > 1
	a.st.Start(&a.spec, ctx.Self().Id, a.route.factory())
	c := a.context(ctx, nil)
	var g *channel.Gate    // set when the topic keeps a history
	var intercept []string // the events g's subscription intercepts
	if !restarted {
		g, intercept = a.recover(ctx)
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
		p, merr = channel.RecoveryReply(p, a.st.Recovery(), g != nil)
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
		g, intercept = a.subscribe(ctx, false)
	}
	a.writeReply(a.spec.JoinRef, a.spec.Ref, "ok", p)
	a.st.Joined = true
	h.Counted = true
	a.route.stats.AddJoined(1)
	rec := a.st.Recovery()
	ce = a.replay(ctx, rec, intercept)
	h.Floor = rec.Head.Seq
	g.Release(h.Floor)
	ctx.Send(a.spec.Socket, &channel.Joined{Topic: a.spec.Topic, PID: ctx.Self(), Handle: h, OK: true})
	a.st.Log.Debug().Str("recovery", rec.Outcome.String()).Msg("channel joined")
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
func (a *channelActor) recover(ctx actor.Context) (*channel.Gate, []string) {
	ps := a.spec.Runtime.PubSub
	var since topics.Position
	since, a.asked = channel.Since(a.spec.Payload)
	if !ps.Keeps(a.spec.Topic) {
		if a.asked != channel.NotAsked {
			a.st.SetRecovery(topics.Recovery{Outcome: topics.NoHistory})
		}
		return nil, nil
	}
	g, intercept := a.subscribe(ctx, false)
	if betweenSubscribeAndRead != nil {
		betweenSubscribeAndRead()
	}
	var from *topics.Position
	if a.asked == channel.AskedSince {
		from = &since
	}
	rec, _ := ps.Recover(a.spec.Topic, from)
	if a.asked == channel.AskedBadly {
		rec.Outcome = topics.BadPosition
	}
	a.st.SetRecovery(rec)
	return g, intercept
}

// betweenSubscribeAndRead is nil except in a test that widens the window
// between a recovering join's subscription and its history read.
var betweenSubscribeAndRead func()

// replay sends the broadcasts the join recovered, in order, right after
// the join reply: intercepted events through HandleOut, the others as
// they were broadcast. It stops at a crash in HandleOut and returns it.
func (a *channelActor) replay(ctx actor.Context, rec topics.Recovery, intercept []string) *actors.CrashError {
	if !rec.Recovered() {
		return nil
	}
	for _, b := range rec.Missed {
		if a.reason != nil {
			break // HandleOut stopped the channel
		}
		oh, ok := a.current().(actors.OutHandler)
		if !ok || !slices.Contains(intercept, b.Event) {
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
	a.st.DropMissed()
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
	if a.Sub == nil {
		a.subscribe(ctx, true)
	}
	a.st.Log.Info().Int("incarnation", a.Incarnation).Msg("channel restarted")
}

func (a *channelActor) refuse(ctx actor.Context, payload any, crashed bool) {
	// A recovering join subscribed before Join: undo it now, before the
	// closed gate fills up.
	a.Sub.Unsubscribe()
	a.Sub = nil
	p, err := protocol.Marshal(payload)
	if err != nil {
		p = protocol.RawJSON([]byte(`{"reason":"join refused"}`))
	}
	a.writeReply(a.spec.JoinRef, a.spec.Ref, "error", p)
	if crashed {
		a.SetJoinCrashed()
	}
	ctx.Send(a.spec.Socket, &channel.Joined{Topic: a.spec.Topic, PID: ctx.Self(), Handle: &a.Handle})
	ctx.Stop(ctx.Self())
}

// subscribe registers the channel on its topic through a gate, open or
// held closed until its release.
func (a *channelActor) subscribe(ctx actor.Context, open bool) (*channel.Gate, []string) {
	var intercept []string
	if oh, ok := a.current().(actors.OutHandler); ok {
		intercept = slices.Clone(oh.Intercept())
	}
	a.self = ctx.Self()
	// The channel's first gate is part of its allocation; a second
	// subscription (after a restart whose Join refused the first) gets
	// its own, since the first may still be in a late fan-out.
	g := &a.gate
	if a.gated {
		g = &channel.Gate{}
	}
	a.gated = true
	g.Init(a.spec.Sink, open)
	var sink topics.Sink
	if a.spec.Sink != nil {
		sink = g
	}
	a.Sub = a.spec.Runtime.PubSub.Subscribe(a.spec.Topic, topics.Subscriber{
		Sink:      sink,
		Intercept: intercept,
		Deliver:   a.deliver,
	})
	return g, intercept
}

// deliver posts an intercepted broadcast to the channel's mailbox; any
// goroutine (the topic's fan-out) calls it. Past the runtime's bound on
// waiting broadcasts the connection is a slow consumer.
func (a *channelActor) deliver(b topics.Broadcast) {
	limit := a.spec.Runtime.MaxIntercepted
	if limit <= 0 {
		limit = 1024
	}
	if a.PendingOut.Add(1) > limit {
		a.PendingOut.Add(-1)
		if a.spec.Sink != nil {
			a.spec.Sink.Overflow()
		}
		return
	}
	a.spec.Runtime.System.Root.Send(a.self, b)
}

func (a *channelActor) handleIn(ctx actor.Context, in *channel.Inbound) {
	if in.Done != nil {
		defer in.Done()
	}
	if !a.live() {
		return
	}
	msg := in.Msg
	if msg.Event == protocol.EventLeave {
		a.MarkClosed() // before the reply, as for a stop result
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
		a.route.stats.Handled(channel.EventUnhandled, time.Since(start).Seconds())
		return
	}
	var res actors.Result
	if ce := a.guard("handle_in", msg.Event, func() { res = h.HandleIn(c, msg.Event, msg.Payload) }); ce != nil {
		a.route.stats.Handled(channel.EventCrash, time.Since(start).Seconds())
		a.fail(ctx, ce)
		return
	}
	a.apply(ctx, msg.Ref, res)
	a.route.stats.Handled(eventOutcome(res), time.Since(start).Seconds())
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
	if b.Topic != a.spec.Topic || a.Sub == nil {
		a.handleInfo(ctx, b)
		return
	}
	a.PendingOut.Add(-1)
	if !a.live() || b.Seq != 0 && b.Seq <= a.Floor {
		return // the join's recovery sent it already
	}
	h, ok := a.current().(actors.OutHandler)
	if !ok {
		// The behaviour changed and no longer intercepts: pass it through.
		_ = a.st.Write(func(s protocol.Serializer) (protocol.Frame, error) {
			return s.Push(a.st.PushRef(), b.Topic, b.Event, b.Payload)
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
	if !a.live() {
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
		reason := res.Reason()
		restart := !actors.IsClean(reason) && a.route.policy.Restart == supervisor.Permanent
		if !restart {
			// Closed before the reply: a push the client sends on seeing
			// it must not be handed to a channel that will not run it.
			a.MarkClosed()
		}
		if res.Replies() && !ref.IsNull() {
			_ = a.st.Reply(ref, res.Status(), res.Payload())
		}
		if restart {
			a.fail(ctx, &actors.CrashError{Value: reason, Callback: "stop", Topic: a.spec.Topic,
				JoinRef: a.st.PushRef().String(), SocketID: a.spec.SocketID})
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
	a.stopped = true
	h := &a.Handle
	h.MarkClosed() // from now on the socket answers this topic's pushes
	defer func() {
		h.Sub.Unsubscribe()
		h.Sub = nil
		if h.Counted {
			h.Counted = false
			a.route.stats.AddJoined(-1)
		}
	}()
	if !a.live() {
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
	// The client's phx_close (or phx_error) is queued after Terminate,
	// whose pushes come first, and before the instance's presences go:
	// whoever sees its presence leave sees it after the client was told.
	h.Sub.Unsubscribe()
	a.terminate(ctx, reason)
	if !fromSocket {
		event, payload := protocol.EventClose, protocol.Payload(emptyObject)
		if !actors.IsClean(reason) {
			event, payload = protocol.EventError, channelCrash
		}
		_ = a.st.Write(func(s protocol.Serializer) (protocol.Frame, error) {
			return s.Close(a.spec.JoinRef, a.spec.Topic, event, payload)
		})
	}
	a.release(reason)
}

// teardown ends this behaviour instance: Terminate with reason, then its
// timers, extra subscriptions and presences go. The fast-lane subscription
// is left to stop, since a restart keeps it.
func (a *channelActor) teardown(ctx actor.Context, reason error) {
	if a.terminate(ctx, reason) {
		a.release(reason)
	}
}

// terminate runs Terminate once per instance, and reports whether it ran
// (the instance was live).
func (a *channelActor) terminate(ctx actor.Context, reason error) bool {
	if !a.live() {
		return false
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
	return true
}

// release lets go of what the terminated instance held (its timers,
// extra subscriptions and presences).
func (a *channelActor) release(reason error) {
	a.st.Release()
	if reason == nil {
		reason = actors.ErrShutdown
	}
	a.st.Log.Debug().Str("reason", reason.Error()).Msg("channel terminated")
}
