package engine

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/supervisor"
)

// Mailbox makes the mailboxes of channel and Socket actors (see mailbox):
// one small object each, which matters with an actor or two per
// connection and connections by the hundred thousand.
func Mailbox() actor.MailboxProducer { return newMailbox }

// Route is what every channel of one route shares: its behaviour factory,
// its resolved restart policy, its counters and the protoactor props its
// channel actors are spawned with. A socket handler makes one per route
// pattern, once, at set-up.
//
// protoactor keeps an actor's props for the actor's lifetime, so props
// per channel would cost every joined channel a few hundred bytes; with
// one per route, the channel actor itself (made by Spawn, holding the
// spec) is handed to the props' producer while Spawn holds the route's
// lock.
type Route struct {
	factory actors.Factory
	policy  supervisor.Policy
	stats   *channel.RouteStats
	props   *actor.Props

	mu   sync.Mutex                   // held by Spawn around protoactor's spawn
	next atomic.Pointer[channelActor] // the actor being spawned, under mu
}

// NewRoute returns the shared part of a route's channels. stats may be
// nil (not counted).
func NewRoute(factory actors.Factory, policy supervisor.Policy, stats *channel.RouteStats) *Route {
	r := &Route{factory: factory, policy: policy, stats: stats}
	r.props = actor.PropsFromProducer(r.produce, actor.WithMailbox(r.mailbox))
	return r
}

// Stats returns the route's counters (nil when not counted).
func (r *Route) Stats() *channel.RouteStats { return r.stats }

// produce hands protoactor the actor Spawn is spawning. protoactor calls
// it again only to restart an actor after a panic that escaped the actor,
// which the channel actor's Receive does not let happen; should it happen
// anyway, the actor made here has no spec and stops at once.
func (r *Route) produce() actor.Actor {
	if a := r.next.Load(); a != nil {
		return a
	}
	return &channelActor{}
}

// mailbox makes the channel's mailbox and records it in the Handle, for
// the admin view's mailbox depth.
func (r *Route) mailbox() actor.Mailbox {
	m := newMailbox()
	if a := r.next.Load(); a != nil {
		a.Handle.SetMailbox(m)
	}
	return m
}

// Spawn starts a channel actor for spec on this route and returns its PID
// and Handle. The channel is a root-level actor, not a protoactor child of
// the Socket actor calling Spawn (spec.Socket): the Socket actor supervises
// it through messages (Joined, *Crash, Ended; see Supervisor) and stops it
// when it stops. Its name starts with the Socket actor's, so that a
// handler counts its channels with its sockets. Spawn fails only if
// protoactor refuses the spawn.
//
// The channel's whole state, spec, Handle and behaviour instance, is one
// allocation: the actor value made here.
func (r *Route) Spawn(root *actor.RootContext, spec channel.Spec) (*actor.PID, *channel.Handle, error) {
	a := &channelActor{spec: spec, route: r}
	a.spec.Handle = &a.Handle
	name := spec.Socket.Id + "/" + root.ActorSystem().ProcessRegistry.NextID()
	r.mu.Lock()
	r.next.Store(a)
	pid, err := root.SpawnNamed(r.props, name)
	r.next.Store(nil)
	r.mu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("engine: spawning channel %s: %w", spec.Topic, err)
	}
	return pid, &a.Handle, nil
}
