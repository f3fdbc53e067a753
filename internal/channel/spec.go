package channel

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

// Runtime is what every channel of an endpoint shares.
type Runtime struct {
	System   *actor.ActorSystem
	PubSub   *topics.PubSub
	Presence *presence.Tracker // may be nil
	Logger   zerolog.Logger
	Node     string
	// Crashes keeps the endpoint's last channel crashes (nil: none kept);
	// the engine's Supervisor and the join path add to it.
	Crashes *CrashLog
	// MaxIntercepted bounds the intercepted broadcasts waiting in one
	// channel's mailbox; past it the connection is treated as a slow
	// consumer. Zero means 1024.
	MaxIntercepted int32
}

// Spec is what a transport's Socket actor hands the engine to start one
// channel; the channel answers with a *Joined message to Socket, and with
// an *Ended once it has stopped. The engine keeps it inside the channel
// actor; it is immutable once the channel starts, and shared by every
// instance a restart makes.
type Spec struct {
	Runtime *Runtime
	// Socket is the Socket actor that started the channel and supervises
	// it: it gets the channel's Joined, its crash reports and its Ended.
	Socket   *actor.PID
	Topic    string
	JoinRef  protocol.Ref // as the client sent it (may be null)
	Ref      protocol.Ref // the join message's ref
	Payload  protocol.Payload
	Assigns  map[string]any // the socket's assigns; the channel copies them on first write
	SocketID string
	Sink     Sink
	// Handle is the part of the channel its Socket actor shares; the
	// engine points it into the channel actor's own allocation.
	Handle *Handle
	// Stats counts for the channel's route (nil: not counted).
	Stats *RouteStats
}

// Sink is the connection a channel writes to: a topics.Sink that can also
// be told the channel cannot keep up (Overflow, from any goroutine), upon
// which the transport closes the connection as a slow consumer.
type Sink interface {
	topics.Sink
	Overflow()
}

// PushRef is the ref the channel's pushes and replies carry: the join_ref
// the client sent, else the join message's ref.
func (s *Spec) PushRef() protocol.Ref {
	if s.JoinRef.IsNull() {
		return s.Ref
	}
	return s.JoinRef
}

// Handle is shared by a channel actor and its Socket actor: the socket
// sets the stop reason before it stops the channel from outside; the
// engine keeps what must outlive a restart. It lives inside the channel
// actor's allocation (internal/engine), so it costs no object of its own.
// Each field says who writes it:
//
//   - the channel actor, on its goroutine: Sub, Floor, Incarnation,
//     Counted, closed (atomic, read by any goroutine), crashedJoin
//     (atomic);
//   - the Socket actor, on its goroutine: Restarts (through the engine's
//     Supervisor, which it calls), the stop reason (atomic, first wins);
//   - set once before the actor runs, then read-only: mailbox;
//   - any goroutine: PendingOut, Crashes (atomics).
type Handle struct {
	reason atomic.Pointer[error] // any goroutine
	// PendingOut counts intercepted broadcasts in the mailbox; any
	// goroutine.
	PendingOut atomic.Int32
	// Sub is the channel's fast-lane subscription. It outlives restarts so
	// that the client's subscription never drops; owned by the channel
	// actor.
	Sub *topics.Subscription
	// Floor is the last stream position the join's recovery sent;
	// intercepted broadcasts at or below it are dropped. Owned by the
	// channel actor.
	Floor uint64
	// Incarnation counts behaviour instances (1 for the first); owned by
	// the channel actor.
	Incarnation int
	// Restarts is the channel's restart history, kept by the engine's
	// Supervisor on the Socket actor's goroutine; made at the first crash.
	Restarts *supervisor.Restarts
	// Crashes counts the channel's crashes, all instances together; any
	// goroutine.
	Crashes atomic.Int32
	// mailbox is the channel actor's mailbox, set by the engine while it
	// spawns the actor (before the Socket actor has the Handle), for
	// MailboxDepth; read-only after.
	mailbox interface{ UserMessageCount() int }
	// Counted is set while the channel is counted in its route's joined
	// gauge; owned by the channel actor.
	Counted bool
	// crashedJoin is set before a channel whose Join panicked stops; any
	// goroutine. The Socket actor reads it when the join ends, whether it
	// sees the channel's Joined or (stopped from outside first) its end.
	crashedJoin atomic.Bool
	// closed is set by the channel actor when it starts to stop, before
	// it tells its client (phx_close, phx_error); any goroutine reads it.
	// The Socket actor may still have the channel in its table until it
	// sees the actor end, so a push the client sends on seeing phx_close
	// must not be handed to the stopping actor: the reader and the Socket
	// actor answer it as for a topic with no channel.
	closed atomic.Bool
}

// RestartCount returns the restarts in the channel's history, 0 before its
// first crash; on the Socket actor's goroutine, which keeps the history.
func (h *Handle) RestartCount() int {
	if h.Restarts == nil {
		return 0
	}
	return h.Restarts.Len()
}

// MarkClosed records that the channel is stopping; the channel actor
// calls it, once it will handle no more pushes.
func (h *Handle) MarkClosed() { h.closed.Store(true) }

// Closed reports whether the channel is stopping or stopped (MarkClosed).
func (h *Handle) Closed() bool { return h.closed.Load() }

// SetMailbox records the channel actor's mailbox; the engine calls it
// when protoactor makes the mailbox, before the actor runs and before the
// Socket actor has the Handle.
func (h *Handle) SetMailbox(m interface{ UserMessageCount() int }) { h.mailbox = m }

// MailboxDepth returns the number of messages waiting in the channel
// actor's mailbox (0 before it has one). Safe wherever the Handle was
// handed over after the spawn: it reads the mailbox's own atomic counter,
// nothing of the actor.
func (h *Handle) MailboxDepth() int {
	if h.mailbox != nil {
		return h.mailbox.UserMessageCount()
	}
	return 0
}

// SetJoinCrashed records that Join panicked. Safe from any goroutine.
func (h *Handle) SetJoinCrashed() { h.crashedJoin.Store(true) }

// JoinRefusal is the outcome of a join that did not succeed: JoinCrash if
// Join panicked, else JoinError. Safe from any goroutine.
func (h *Handle) JoinRefusal() JoinOutcome {
	if h.crashedJoin.Load() {
		return JoinCrash
	}
	return JoinError
}

// SetReason records why the socket is stopping the channel. The first
// reason set wins. Safe from any goroutine.
func (h *Handle) SetReason(err error) { h.reason.CompareAndSwap(nil, &err) }

// Reason returns the reason SetReason recorded, or nil.
func (h *Handle) Reason() error {
	if p := h.reason.Load(); p != nil {
		return *p
	}
	return nil
}

// Inbound is a client message the Socket actor (or the reader's direct
// path) forwards to a joined channel. Done, if set, is called once the
// channel has handled it.
type Inbound struct {
	Msg  protocol.Message
	Done func()
}

// Joined tells the Socket actor how a join ended.
type Joined struct {
	Topic  string
	PID    *actor.PID
	Handle *Handle
	OK     bool
}

// Ended tells the Socket actor that one of its channels has stopped (its
// Terminate has run and it has left the protoactor registry). Channel
// actors are not protoactor children of their Socket actor, so this
// message, not protoactor's Terminated, is how the socket learns of it.
type Ended struct {
	PID *actor.PID
}
