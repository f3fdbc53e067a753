package actors

import (
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/internal/lazylog"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

var (
	unmatchedEvent = map[string]string{"reason": "unmatched event"}
	joinCrashed    = map[string]string{"reason": "join crashed"}
	channelCrash   = protocol.RawJSON([]byte(`{"reason":"channel_crash"}`))
)

// channelActor runs one joined channel. All fields are owned by the actor's
// Receive, except those named as immutable after construction.
type channelActor struct {
	spec    *Spec        // immutable, shared with the props
	factory Factory      // immutable
	joinRef protocol.Ref // immutable: the ref pushes carry (join_ref, else the join's ref)
	owner   string       // immutable after Started: presence owner id
	log     *lazylog.Logger

	behaviours []Channel
	assigns    Assigns // the socket's map until ownAssigns copies it
	ownsAssign bool
	joined     bool
	restarted  bool                            // this instance replaces one that crashed
	extra      map[string]*topics.Subscription // made on first use
	timers     map[*timer]struct{}             // made on first use
	reason     error                           // set by the channel itself (leave, stop result)
	crash      *CrashError                     // set when a callback panicked
	terminated bool
	cx         Context // handed to callbacks; see context
}

type timer struct {
	t         *time.Timer
	msg       any
	cancelled atomic.Bool
}

// context returns the Context for the callback about to run. Callbacks
// never nest and may not keep their Context (its documentation says so),
// so one per actor serves them all, with no allocation per message.
func (a *channelActor) context(ctx actor.Context, ref protocol.Ref) *Context {
	a.cx = Context{a: a, actx: ctx, ref: ref}
	return &a.cx
}

// born sets up a fresh instance from the birth Spawn (or the instance it
// replaces) left under its PID id; false if there is none.
func (a *channelActor) born(ctx actor.Context) bool {
	v, ok := births.LoadAndDelete(ctx.Self().Id)
	if !ok {
		return false
	}
	b := v.(*birth)
	spec := b.spec
	spec.Handle.incarnation++
	jr := spec.JoinRef
	if jr.IsNull() {
		jr = spec.Ref
	}
	*a = channelActor{
		spec:      spec,
		factory:   b.factory,
		joinRef:   jr,
		log:       channelLogger(&spec.Runtime.Logger, spec.Topic, jr, spec.SocketID),
		assigns:   spec.Assigns,
		restarted: spec.Handle.incarnation > 1,
	}
	return true
}

// channelLogger is a channel's logger, built only if it logs something.
// It keeps the three fields, not the spec, for the channel's lifetime.
func channelLogger(base *zerolog.Logger, topic string, jr protocol.Ref, socketID string) *lazylog.Logger {
	return lazylog.New(base, func(c zerolog.Context) zerolog.Context {
		return c.Str("topic", topic).Str("join_ref", jr.String()).Str("socket_id", socketID)
	})
}

// ownAssigns returns the channel's own assigns, copying the socket's on
// first use: most channels only read them, and a copy per join costs
// memory on every connection.
func (a *channelActor) ownAssigns() Assigns {
	if !a.ownsAssign {
		a.assigns = maps.Clone(a.assigns)
		if a.assigns == nil {
			a.assigns = Assigns{}
		}
		a.ownsAssign = true
	}
	return a.assigns
}

func (a *channelActor) Receive(ctx actor.Context) {
	if a.spec == nil && !a.born(ctx) {
		// No birth: protoactor made an instance Spawn did not ask for.
		// It cannot run; it stops.
		if _, ok := ctx.Message().(*actor.Started); ok {
			ctx.Stop(ctx.Self())
		}
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.join(ctx)
	case *Inbound:
		a.handleIn(ctx, m)
	case topics.Broadcast:
		a.handleBroadcast(ctx, m)
	case *timer:
		delete(a.timers, m)
		if !m.cancelled.Load() {
			a.handleInfo(ctx, m.msg)
		}
	case *actor.Stopping:
		a.stop(ctx)
	case *actor.Restarting:
		a.teardown(ctx, a.crash)
		births.Store(ctx.Self().Id, &birth{spec: a.spec, factory: a.factory})
	case *actor.Stopped:
		births.Delete(ctx.Self().Id) // a restart that ended in a stop
	case *actor.Terminated:
	default:
		a.handleInfo(ctx, m)
	}
}

func (a *channelActor) current() Channel { return a.behaviours[len(a.behaviours)-1] }

// guard runs f and turns a panic into a *CrashError.
func (a *channelActor) guard(callback, event string, f func()) (crash *CrashError) {
	defer func() {
		if r := recover(); r != nil {
			crash = &CrashError{
				Value: r, Stack: debug.Stack(), Callback: callback, Event: event,
				Topic: a.spec.Topic, JoinRef: a.joinRef.String(), SocketID: a.spec.SocketID,
			}
		}
	}()
	f()
	return nil
}

// fail records a crash and re-raises it so that protoactor escalates it to
// the Socket actor's supervisor strategy, which decides what happens next.
func (a *channelActor) fail(crash *CrashError) {
	crash.policy, crash.restarts = a.spec.Policy, &a.spec.Handle.restarts
	a.crash = crash
	panic(crash)
}

func (a *channelActor) join(ctx actor.Context) {
	a.owner = ctx.Self().String()
	a.behaviours = []Channel{a.factory()}
	c := a.context(ctx, nil)
	var reply any
	var err error
	crash := a.guard("join", protocol.EventJoin, func() {
		reply, err = a.current().Join(c, a.spec.Topic, a.spec.Payload)
	})
	if a.restarted {
		a.rejoin(ctx, crash, err)
		return
	}
	if crash != nil {
		a.log.Error().Str("callback", "join").Interface("panic", crash.Value).
			Bytes("stack", crash.Stack).Msg("channel join crashed")
		a.refuse(ctx, joinCrashed)
		return
	}
	if err != nil {
		var je *JoinError
		payload := any(map[string]string{"reason": err.Error()})
		if errors.As(err, &je) {
			payload = je.Payload
		}
		a.refuse(ctx, payload)
		return
	}
	p, merr := protocol.Marshal(reply)
	if merr != nil {
		a.log.Error().Err(merr).Msg("join reply cannot be encoded")
		a.refuse(ctx, joinCrashed)
		return
	}
	// Subscribe first, through a gate that holds broadcasts until the reply
	// is queued: the client gets the reply before anything of this channel
	// and misses no broadcast made once it has the reply.
	g := a.subscribe(ctx, false)
	a.writeReply(a.spec.JoinRef, a.spec.Ref, "ok", p)
	g.release()
	a.joined = true
	ctx.Send(ctx.Parent(), &Joined{Topic: a.spec.Topic, PID: ctx.Self(), Handle: a.spec.Handle, OK: true})
	a.log.Debug().Msg("channel joined")
}

// rejoin finishes the Join of a restarted instance: the client is already
// joined and subscribed, so nothing is sent unless the channel cannot come
// back, in which case it ends with phx_error.
func (a *channelActor) rejoin(ctx actor.Context, crash *CrashError, err error) {
	if crash != nil {
		a.fail(crash) // counts against the restart intensity
	}
	if err != nil {
		a.log.Warn().Err(err).Msg("restarted channel refused its join; closing it")
		_ = a.write(func(s protocol.Serializer) (protocol.Frame, error) {
			return s.Close(a.spec.JoinRef, a.spec.Topic, protocol.EventError, channelCrash)
		})
		ctx.Stop(ctx.Self())
		return
	}
	a.joined = true
	if a.spec.Handle.sub == nil {
		a.subscribe(ctx, true)
	}
	a.log.Info().Int("incarnation", a.spec.Handle.incarnation).Msg("channel restarted")
}

func (a *channelActor) refuse(ctx actor.Context, payload any) {
	p, err := protocol.Marshal(payload)
	if err != nil {
		p = protocol.RawJSON([]byte(`{"reason":"join refused"}`))
	}
	a.writeReply(a.spec.JoinRef, a.spec.Ref, "error", p)
	ctx.Send(ctx.Parent(), &Joined{Topic: a.spec.Topic, PID: ctx.Self(), Handle: a.spec.Handle})
	ctx.Stop(ctx.Self())
}

// subscribe registers the channel on its topic through a gate, open or
// held closed until release.
func (a *channelActor) subscribe(ctx actor.Context, open bool) *gate {
	var intercept []string
	if oh, ok := a.current().(OutHandler); ok {
		intercept = slices.Clone(oh.Intercept())
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	limit := a.spec.Runtime.MaxIntercepted
	if limit <= 0 {
		limit = 1024
	}
	h := a.spec.Handle
	var sink topics.Sink
	g := &gate{Sink: a.spec.Sink, overflow: a.spec.Overflow}
	g.open.Store(open)
	if a.spec.Sink != nil {
		sink = g
	}
	h.sub = a.spec.Runtime.PubSub.Subscribe(a.spec.Topic, topics.Subscriber{
		Sink:      sink,
		Intercept: intercept,
		Deliver: func(b topics.Broadcast) {
			if h.pendingOut.Add(1) > limit {
				h.pendingOut.Add(-1)
				if a.spec.Overflow != nil {
					a.spec.Overflow()
				}
				return
			}
			root.Send(self, b)
		},
	})
	return g
}

func (a *channelActor) handleIn(ctx actor.Context, in *Inbound) {
	if in.Done != nil {
		defer in.Done()
	}
	if !a.joined || a.terminated {
		return
	}
	msg := in.Msg
	if msg.Event == protocol.EventLeave {
		a.reply(msg.Ref, "ok", nil)
		a.reason = ErrLeft
		ctx.Stop(ctx.Self())
		return
	}
	c := a.context(ctx, msg.Ref)
	h, ok := a.current().(InHandler)
	if !ok {
		a.reply(msg.Ref, "error", unmatchedEvent)
		return
	}
	var res Result
	if crash := a.guard("handle_in", msg.Event, func() { res = h.HandleIn(c, msg.Event, msg.Payload) }); crash != nil {
		a.fail(crash)
	}
	a.apply(ctx, msg.Ref, res)
}

func (a *channelActor) handleBroadcast(ctx actor.Context, b topics.Broadcast) {
	if b.Topic != a.spec.Topic || a.spec.Handle.sub == nil {
		a.handleInfo(ctx, b)
		return
	}
	a.spec.Handle.pendingOut.Add(-1)
	if !a.joined || a.terminated {
		return
	}
	h, ok := a.current().(OutHandler)
	if !ok {
		// The behaviour changed and no longer intercepts: pass it through.
		_ = a.write(func(s protocol.Serializer) (protocol.Frame, error) {
			return s.Push(a.joinRef, b.Topic, b.Event, b.Payload)
		})
		return
	}
	c := a.context(ctx, nil)
	var res Result
	if crash := a.guard("handle_out", b.Event, func() { res = h.HandleOut(c, b.Event, b.Payload) }); crash != nil {
		a.fail(crash)
	}
	a.apply(ctx, nil, res)
}

func (a *channelActor) handleInfo(ctx actor.Context, msg any) {
	if !a.joined || a.terminated {
		return
	}
	h, ok := a.current().(InfoHandler)
	if !ok {
		a.log.Warn().Str("message", fmt.Sprintf("%T", msg)).Msg("channel has no HandleInfo; message dropped")
		return
	}
	c := a.context(ctx, nil)
	var res Result
	if crash := a.guard("handle_info", fmt.Sprintf("%T", msg), func() { res = h.HandleInfo(c, msg) }); crash != nil {
		a.fail(crash)
	}
	a.apply(ctx, nil, res)
}

func (a *channelActor) apply(ctx actor.Context, ref protocol.Ref, res Result) {
	switch res.kind {
	case kindReply:
		if !ref.IsNull() {
			a.reply(ref, res.status, res.payload)
		}
	case kindStop:
		if res.reply && !ref.IsNull() {
			a.reply(ref, res.status, res.payload)
		}
		if !isClean(res.reason) && a.spec.Policy.Restart == supervisor.Permanent {
			a.fail(&CrashError{Value: res.reason, Callback: "stop", Topic: a.spec.Topic,
				JoinRef: a.joinRef.String(), SocketID: a.spec.SocketID})
		}
		if res.reason == nil {
			a.reason = ErrNormal
		} else {
			a.reason = res.reason
		}
		ctx.Stop(ctx.Self())
	}
}

func (a *channelActor) sendAfter(ctx actor.Context, msg any, d time.Duration) func() {
	t := &timer{msg: msg}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	t.t = time.AfterFunc(d, func() { root.Send(self, t) })
	if a.timers == nil {
		a.timers = map[*timer]struct{}{}
	}
	a.timers[t] = struct{}{}
	return func() {
		t.cancelled.Store(true)
		t.t.Stop()
	}
}

// write encodes with the connection's serializer and queues the frame.
func (a *channelActor) write(encode func(protocol.Serializer) (protocol.Frame, error)) error {
	f, err := encode(a.spec.Sink.Serializer())
	if err != nil {
		return err
	}
	if !a.spec.Sink.Send(f) {
		return ErrWriteClosed
	}
	return nil
}

func (a *channelActor) writeReply(joinRef, ref protocol.Ref, status string, p protocol.Payload) {
	err := a.write(func(s protocol.Serializer) (protocol.Frame, error) {
		return s.Reply(joinRef, ref, a.spec.Topic, status, p)
	})
	if err != nil && !errors.Is(err, ErrWriteClosed) {
		a.log.Error().Err(err).Msg("reply cannot be encoded")
	}
}

// reply answers the push with ref; safe from any goroutine (see ReplyRef).
func (a *channelActor) reply(ref protocol.Ref, status string, payload any) error {
	p, err := protocol.Marshal(payload)
	if err != nil {
		return err
	}
	return a.write(func(s protocol.Serializer) (protocol.Frame, error) {
		return s.Reply(a.joinRef, ref, a.spec.Topic, status, p)
	})
}

// stop runs once when the actor stops: Terminate, clean-up, and the closing
// frame the client expects.
func (a *channelActor) stop(ctx actor.Context) {
	h := a.spec.Handle
	defer func() {
		h.sub.Unsubscribe()
		h.sub = nil
	}()
	if !a.joined || a.terminated {
		return
	}
	fromSocket := false
	reason := a.reason
	switch {
	case a.crash != nil:
		reason = a.crash
	case reason == nil:
		reason = h.get()
		fromSocket = true
		if reason == nil {
			reason = ErrShutdown
		}
	}
	if reason == ErrDuplicateJoin {
		fromSocket = false
	}
	a.teardown(ctx, reason)
	if !fromSocket {
		event, payload := protocol.EventClose, protocol.EmptyObject
		if !isClean(reason) {
			event, payload = protocol.EventError, channelCrash
		}
		_ = a.write(func(s protocol.Serializer) (protocol.Frame, error) {
			return s.Close(a.spec.JoinRef, a.spec.Topic, event, payload)
		})
	}
}

// teardown ends this behaviour instance: Terminate with reason, then its
// timers, extra subscriptions and presences go. The fast-lane subscription
// is left to stop, since a restart keeps it.
func (a *channelActor) teardown(ctx actor.Context, reason error) {
	if !a.joined || a.terminated {
		return
	}
	a.terminated = true
	if reason == nil {
		reason = ErrShutdown
	}
	if t, ok := a.current().(Terminator); ok {
		c := a.context(ctx, nil)
		if crash := a.guard("terminate", "", func() { t.Terminate(c, reason) }); crash != nil {
			a.log.Error().Interface("panic", crash.Value).Bytes("stack", crash.Stack).Msg("channel terminate crashed")
		}
	}
	for _, s := range a.extra {
		s.Unsubscribe()
	}
	clear(a.extra)
	for t := range a.timers {
		t.cancelled.Store(true)
		t.t.Stop()
	}
	clear(a.timers)
	if a.spec.Runtime.Presence != nil {
		a.spec.Runtime.Presence.UntrackAll(a.owner)
	}
	a.log.Debug().Str("reason", reason.Error()).Msg("channel terminated")
}
