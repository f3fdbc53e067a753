package channel

import (
	"errors"
	"maps"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/internal/lazylog"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// State is one channel instance: what its Context reads and changes
// during a callback, set up by the engine when the instance starts and
// torn down when it ends. It is held by value in the channel actor, and a
// restart starts a fresh instance in the same State (Start), so it costs
// no allocation of its own. All of it belongs to the channel actor's
// goroutine, except what Reply touches (immutable fields and the sink).
type State struct {
	Spec  *Spec  // immutable
	Owner string // immutable: presence owner id (the actor's id)
	Log   lazylog.Logger

	// Behaviours is the behaviour stack (actors.Channel values); the top
	// one runs the callbacks. It starts in one, a stack of one.
	Behaviours []any
	one        [1]any
	Joined     bool
	// Actor and Ref are those of the callback running now: the protoactor
	// context and the ref of the push being handled (null outside
	// HandleIn).
	Actor actor.Context
	Ref   protocol.Ref
	// recovery is how the join's recovery went (see topics.Recover), set
	// only for a join that asked for one or on a topic that keeps a
	// history; nil reads as the zero value (topics.Fresh).
	recovery *topics.Recovery

	assigns    map[string]any // the socket's map until OwnAssigns copies it
	ownsAssign bool
	extra      map[string]*topics.Subscription // made on first use
	timers     map[*Timer]struct{}             // made on first use
	context    any                             // the actors.Context handed to callbacks, made once
}

// contextMaker makes the actors.Context of a State. Package actors sets it
// once, at init, through SetContextMaker: actors is above this package and
// cannot be named here.
var contextMaker func(*State) any

// SetContextMaker is called once by package actors' init.
func SetContextMaker(f func(*State) any) { contextMaker = f }

// Start sets st up for a fresh instance of spec's channel, running
// behaviour, in place: the first instance and every restart use the same
// State. owner is the presence owner id, the channel actor's id. What a
// previous instance held must have been let go (Release).
func (st *State) Start(spec *Spec, owner string, behaviour any) {
	if st.Spec == nil { // the first instance
		st.Spec, st.Owner = spec, owner
		st.Log.Init(&spec.Runtime.Logger, st.logFields)
		st.context = contextMaker(st)
	}
	st.one[0] = behaviour
	st.Behaviours = st.one[:1:1]
	st.Joined, st.Actor, st.Ref = false, nil, nil
	st.recovery = nil
	st.assigns, st.ownsAssign = spec.Assigns, false
}

// PushRef is the ref the channel's pushes and replies carry (see
// Spec.PushRef).
func (st *State) PushRef() protocol.Ref { return st.Spec.PushRef() }

// Recovery returns how the join's recovery went; the zero value
// (topics.Fresh) when the join asked for none.
func (st *State) Recovery() topics.Recovery {
	if st.recovery == nil {
		return topics.Recovery{}
	}
	return *st.recovery
}

// SetRecovery records how the join's recovery went.
func (st *State) SetRecovery(r topics.Recovery) { st.recovery = &r }

// DropMissed lets go of the recovered broadcasts once they are replayed:
// the history they come from is shared.
func (st *State) DropMissed() {
	if st.recovery != nil {
		st.recovery.Missed = nil
	}
}

// logFields adds a channel's fields to its logger, built only if it logs
// something.
func (st *State) logFields(c zerolog.Context) zerolog.Context {
	return c.Str("topic", st.Spec.Topic).Str("join_ref", st.PushRef().String()).Str("socket_id", st.Spec.SocketID)
}

// Context returns the actors.Context for a callback about to run in actx,
// handling the push with ref (nil when none). Callbacks never nest and may
// not keep their Context, so one per channel serves them all, with no
// allocation per message.
func (st *State) Context(actx actor.Context, ref protocol.Ref) any {
	st.Actor, st.Ref = actx, ref
	return st.context
}

// Assigns returns the channel's assigns for reading.
func (st *State) Assigns() map[string]any { return st.assigns }

// OwnAssigns returns the channel's own assigns, copying the socket's on
// first use: most channels only read them, and a copy per join costs
// memory on every connection.
func (st *State) OwnAssigns() map[string]any {
	if !st.ownsAssign {
		st.assigns = maps.Clone(st.assigns)
		if st.assigns == nil {
			st.assigns = map[string]any{}
		}
		st.ownsAssign = true
	}
	return st.assigns
}

// Write encodes with the connection's serializer and queues the frame,
// marked Prompt: whatever a channel writes this way is for its client
// alone. Safe from any goroutine (the sink is).
func (st *State) Write(encode func(protocol.Serializer) (protocol.Frame, error)) error {
	f, err := encode(st.Spec.Sink.Serializer())
	if err != nil {
		return err
	}
	f.Prompt = true // for this client alone: see protocol.Frame
	if !st.Spec.Sink.Send(f) {
		return ErrWriteClosed
	}
	return nil
}

// ErrWriteClosed is what Write returns when the frame was not queued;
// package actors exports the same value.
var ErrWriteClosed = errors.New("actors: connection is closed or its queue is full")

// Reply answers the push with ref. Safe from any goroutine.
func (st *State) Reply(ref protocol.Ref, status string, payload any) error {
	p, err := protocol.Marshal(payload)
	if err != nil {
		return err
	}
	err = st.Write(func(s protocol.Serializer) (protocol.Frame, error) {
		return s.Reply(st.PushRef(), ref, st.Spec.Topic, status, p)
	})
	if err == nil {
		st.Spec.Stats.Reply(status)
	}
	return err
}

// Subscribed reports whether the instance already has an extra
// subscription to topic.
func (st *State) Subscribed(topic string) bool {
	_, ok := st.extra[topic]
	return ok
}

// AddSubscription records an extra subscription, undone at teardown.
func (st *State) AddSubscription(topic string, s *topics.Subscription) {
	if st.extra == nil {
		st.extra = map[string]*topics.Subscription{}
	}
	st.extra[topic] = s
}

// DropSubscription undoes one extra subscription.
func (st *State) DropSubscription(topic string) {
	if s, ok := st.extra[topic]; ok {
		s.Unsubscribe()
		delete(st.extra, topic)
	}
}

// Timer is a message the channel sent itself for later.
type Timer struct {
	t         *time.Timer
	Msg       any
	cancelled atomic.Bool
}

// Due reports whether the timer has not been cancelled; the engine calls
// it when the timer's message arrives, and forgets the timer.
func (st *State) Due(t *Timer) bool {
	delete(st.timers, t)
	return !t.cancelled.Load()
}

// SendAfter posts msg to the channel after d; the returned function
// cancels it.
func (st *State) SendAfter(msg any, d time.Duration) func() {
	t := &Timer{Msg: msg}
	self, root := st.Actor.Self(), st.Actor.ActorSystem().Root
	t.t = time.AfterFunc(d, func() { root.Send(self, t) })
	if st.timers == nil {
		st.timers = map[*Timer]struct{}{}
	}
	st.timers[t] = struct{}{}
	return func() {
		t.cancelled.Store(true)
		t.t.Stop()
	}
}

// Release ends what the instance holds besides the fast-lane
// subscription: its extra subscriptions, its timers and its presences.
func (st *State) Release() {
	for _, s := range st.extra {
		s.Unsubscribe()
	}
	clear(st.extra)
	for t := range st.timers {
		t.cancelled.Store(true)
		t.t.Stop()
	}
	clear(st.timers)
	if p := st.Spec.Runtime.Presence; p != nil && st.Owner != "" {
		p.UntrackAll(st.Owner)
	}
}
