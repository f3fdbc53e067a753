package engine

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
)

// Mailbox makes the mailboxes of channel and Socket actors: protoactor's
// lock-free queue, which costs a few dozen bytes while empty where the
// default ring costs a few hundred. That matters with an actor or two per
// connection and connections by the hundred thousand.
func Mailbox() actor.MailboxProducer { return lockfreeMailbox }

var lockfreeMailbox = actor.UnboundedLockfree()

// Spawn starts a channel actor for spec as a child of parent (a Socket
// actor, whose crash strategy decides what a crash does) and returns its
// PID. It fails only if protoactor refuses the spawn.
//
// The actor's producer carries spec and factory: protoactor calls it for
// the first instance and again for each restart, so every instance of the
// channel starts from the same spec.
func Spawn(parent actor.Context, spec *channel.Spec, factory actors.Factory) (*actor.PID, error) {
	props := actor.PropsFromProducer(func() actor.Actor {
		return &channelActor{spec: spec, factory: factory}
	}, actor.WithMailbox(func() actor.Mailbox {
		m := lockfreeMailbox()
		spec.Handle.SetMailbox(m) // for the admin view's mailbox depth
		return m
	}))
	pid, err := parent.SpawnNamed(props, parent.ActorSystem().ProcessRegistry.NextID())
	if err != nil {
		return nil, fmt.Errorf("engine: spawning channel %s: %w", spec.Topic, err)
	}
	return pid, nil
}
