package supervisor

import (
	"github.com/asynkron/protoactor-go/actor"
)

// replySlot is a one-shot protoactor process that hands the first message
// it gets to a Go channel. Code outside any actor uses it as the sender of
// a request and waits on the channel next to its own deadline; unlike a
// protoactor future it needs no goroutine and no timer of its own.
type replySlot struct {
	system *actor.ActorSystem
	pid    *actor.PID
	ch     chan any // capacity 1; later messages are dropped
}

func newReplySlot(system *actor.ActorSystem) *replySlot {
	r := &replySlot{system: system, ch: make(chan any, 1)}
	r.pid, _ = system.ProcessRegistry.Add(r, "supervisor-reply"+system.ProcessRegistry.NextID())
	return r
}

// close unregisters the slot; messages sent to it afterwards go to dead
// letters.
func (r *replySlot) close() { r.system.ProcessRegistry.Remove(r.pid) }

func (r *replySlot) put(m any) {
	select {
	case r.ch <- m:
	default:
	}
}

// SendUserMessage implements actor.Process.
func (r *replySlot) SendUserMessage(_ *actor.PID, m any) { r.put(actor.UnwrapEnvelopeMessage(m)) }

// SendSystemMessage implements actor.Process.
func (r *replySlot) SendSystemMessage(_ *actor.PID, m any) { r.put(m) }

// Stop implements actor.Process.
func (r *replySlot) Stop(*actor.PID) {}
