package actors

import (
	"fmt"
	"sync"
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
	// MaxIntercepted bounds the intercepted broadcasts waiting in one
	// channel's mailbox; past it the connection is treated as a slow
	// consumer. Zero means 1024.
	MaxIntercepted int32
}

// Spec is what a transport hands the runtime to start one channel. The
// transport's Socket actor starts it with Spawn(ctx, spec, factory); the
// child answers with a *Joined message to its parent.
type Spec struct {
	Runtime  *Runtime
	Topic    string
	JoinRef  protocol.Ref // as the client sent it (may be null)
	Ref      protocol.Ref // the join message's ref
	Payload  protocol.Payload
	Assigns  Assigns // the socket's assigns; the channel copies them
	SocketID string
	Sink     topics.Sink
	Handle   *Handle
	// Policy is the restart policy resolved for the channel's route.
	Policy supervisor.Policy
	// Overflow is called (from any goroutine) when the channel cannot keep
	// up with intercepted broadcasts; the transport closes the connection.
	Overflow func()
}

// Handle is shared by a channel actor and its Socket actor: the socket sets
// the stop reason before it stops the channel from outside.
type Handle struct {
	reason atomic.Pointer[error]
	// pendingOut counts intercepted broadcasts in the mailbox; any goroutine.
	pendingOut atomic.Int32
	// sub is the channel's fast-lane subscription. It outlives restarts so
	// that the client's subscription never drops; owned by the channel actor.
	sub *topics.Subscription
	// incarnation counts behaviour instances (1 for the first); owned by
	// the channel actor.
	incarnation int
	// Inflight counts Inbound messages forwarded to the channel and not yet
	// handled; the Socket actor reclaims what is left when the channel ends.
	Inflight atomic.Int32
	// restarts is the channel's restart history, kept by the crash strategy
	// on the Socket actor's goroutine.
	restarts supervisor.Restarts
}

// SetReason records why the socket is stopping the channel. The first
// reason set wins.
func (h *Handle) SetReason(err error) { h.reason.CompareAndSwap(nil, &err) }

func (h *Handle) get() error {
	if p := h.reason.Load(); p != nil {
		return *p
	}
	return nil
}

// Inbound is a client message the Socket actor forwards to a joined channel.
// Done, if set, is called once the channel has handled it.
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

// Mailbox makes the mailboxes of channel and Socket actors: protoactor's
// lock-free queue, which costs a few dozen bytes while empty where the
// default ring costs a few hundred. That matters with an actor or two per
// connection and connections by the hundred thousand.
func Mailbox() actor.MailboxProducer { return lockfreeMailbox }

var lockfreeMailbox = actor.UnboundedLockfree()

// Spawn starts a channel actor for spec as a child of parent and returns
// its PID. It fails only if protoactor refuses the spawn.
//
// protoactor keeps the props of every actor for its lifetime, so channels
// do not get props of their own (a few hundred bytes on every joined
// channel): they share one whose producer makes an empty actor, and the
// spec waits in births under the child's PID id until the actor's first
// message picks it up. A channel about to restart leaves its spec there
// for the instance that replaces it.
func Spawn(parent actor.Context, spec Spec, factory Factory) (*actor.PID, error) {
	name := parent.ActorSystem().ProcessRegistry.NextID()
	id := parent.Self().Id + "/" + name
	births.Store(id, &birth{spec: &spec, factory: factory})
	pid, err := parent.SpawnNamed(channelProps, name)
	if err != nil {
		births.Delete(id)
		return nil, fmt.Errorf("actors: spawning channel %s: %w", id, err)
	}
	return pid, nil
}

// birth is what a channel actor instance starts from.
type birth struct {
	spec    *Spec
	factory Factory
}

// births holds the births of channel actors that have not started yet, by
// PID id.
var births sync.Map

var channelProps = actor.PropsFromProducer(func() actor.Actor { return &channelActor{} },
	actor.WithMailbox(lockfreeMailbox))
