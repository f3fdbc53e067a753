package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// Assigns is the key-value state of a socket and of each of its channels.
// A channel starts with a copy of its socket's assigns and owns that copy.
type Assigns map[string]any

// Context is a channel's view of itself during a callback. It belongs to the
// channel actor: use it only inside the callback that received it, never
// from another goroutine. To act later or from elsewhere, send the channel a
// message (c.Send, c.SendAfter, or actor.RootContext.Send to c.Self()) or
// keep a ReplyRef.
type Context struct {
	a    *channelActor
	actx actor.Context
	ref  protocol.Ref // the ref of the push being handled, if any
}

// Topic is the joined topic.
func (c *Context) Topic() string { return c.a.spec.Topic }

// JoinRef is the join reference of this channel instance.
func (c *Context) JoinRef() string { return c.a.joinRef.String() }

// SocketID is the socket's id ("" for anonymous sockets).
func (c *Context) SocketID() string { return c.a.spec.SocketID }

// Node is the name of the node running the channel.
func (c *Context) Node() string { return c.a.spec.Runtime.Node }

// Assigns returns the channel's assigns; changes stay with this channel.
func (c *Context) Assigns() Assigns { return c.a.ownAssigns() }

// Assign sets one key in the channel's assigns.
func (c *Context) Assign(key string, value any) { c.a.ownAssigns()[key] = value }

// Get returns one assign.
func (c *Context) Get(key string) any { return c.a.assigns[key] }

// Self is the channel actor's PID.
func (c *Context) Self() *actor.PID { return c.actx.Self() }

// Actor is the underlying protoactor context, for spawning children or
// talking to other actors. Children stop when the channel stops.
func (c *Context) Actor() actor.Context { return c.actx }

// Logger is a logger carrying the channel's topic, join_ref and socket_id.
func (c *Context) Logger() *zerolog.Logger { return c.a.log.Get() }

// Push sends event to this channel's client only.
func (c *Context) Push(event string, payload any) error {
	if !c.a.joined {
		return ErrNotJoined
	}
	p, err := protocol.Marshal(payload)
	if err != nil {
		return err
	}
	return c.a.write(func(s protocol.Serializer) (protocol.Frame, error) {
		return s.Push(c.a.joinRef, c.a.spec.Topic, event, p)
	})
}

// Broadcast sends event to every subscriber of the channel's topic,
// including this channel's own client.
func (c *Context) Broadcast(event string, payload any) error {
	return c.a.spec.Runtime.PubSub.Broadcast(c.a.spec.Topic, event, payload)
}

// BroadcastFrom sends event to every subscriber of the topic except this
// channel's own client.
func (c *Context) BroadcastFrom(event string, payload any) error {
	return c.a.spec.Runtime.PubSub.BroadcastFrom(c.a.spec.Handle.sub, c.a.spec.Topic, event, payload)
}

// LocalBroadcast is Broadcast limited to subscribers on this node.
func (c *Context) LocalBroadcast(event string, payload any) error {
	return c.a.spec.Runtime.PubSub.LocalBroadcast(c.a.spec.Topic, event, payload)
}

// Send posts msg to the channel itself; HandleInfo receives it after the
// current callback returns.
func (c *Context) Send(msg any) { c.actx.Send(c.actx.Self(), msg) }

// SendAfter posts msg to the channel after d. The returned function cancels
// it if it has not fired yet. Pending timers are cancelled when the channel
// stops.
func (c *Context) SendAfter(msg any, d time.Duration) (cancel func()) {
	return c.a.sendAfter(c.actx, msg, d)
}

// Subscribe makes the channel receive every broadcast on another topic in
// HandleInfo, as a topics.Broadcast. It is undone when the channel stops.
func (c *Context) Subscribe(topic string) {
	if _, ok := c.a.extra[topic]; ok {
		return
	}
	if c.a.extra == nil {
		c.a.extra = map[string]*topics.Subscription{}
	}
	c.a.extra[topic] = Subscribe(c.a.spec.Runtime.PubSub, c.actx.ActorSystem(), c.actx.Self(), topic)
}

// Unsubscribe undoes Subscribe.
func (c *Context) Unsubscribe(topic string) {
	if s, ok := c.a.extra[topic]; ok {
		s.Unsubscribe()
		delete(c.a.extra, topic)
	}
}

// ReplyRef captures the push being handled so that it can be answered
// later, from any goroutine. It fails outside HandleIn.
func (c *Context) ReplyRef() (ReplyRef, error) {
	if c.ref.IsNull() {
		return ReplyRef{}, ErrNoReplyRef
	}
	return ReplyRef{a: c.a, ref: c.ref}, nil
}

// Become replaces the channel's behaviour; later callbacks go to b.
func (c *Context) Become(b Channel) { c.a.behaviours[len(c.a.behaviours)-1] = b }

// BecomeStacked pushes b on the behaviour stack.
func (c *Context) BecomeStacked(b Channel) { c.a.behaviours = append(c.a.behaviours, b) }

// UnbecomeStacked returns to the behaviour below the top of the stack; it
// does nothing when only one behaviour is left.
func (c *Context) UnbecomeStacked() {
	if n := len(c.a.behaviours); n > 1 {
		c.a.behaviours[n-1] = nil
		c.a.behaviours = c.a.behaviours[:n-1]
	}
}

func (c *Context) tracker() (*presence.Tracker, error) {
	if c.a.spec.Runtime.Presence == nil {
		return nil, ErrNoPresence
	}
	return c.a.spec.Runtime.Presence, nil
}

// Track adds a presence for key on the channel's topic, owned by this
// channel: it is removed when the channel stops, whatever the reason.
func (c *Context) Track(key string, meta presence.Meta) (string, error) {
	t, err := c.tracker()
	if err != nil {
		return "", err
	}
	return t.Track(c.a.owner, c.a.spec.Topic, key, meta)
}

// UpdatePresence replaces the meta of this channel's presence for key.
func (c *Context) UpdatePresence(key string, meta presence.Meta) (string, error) {
	t, err := c.tracker()
	if err != nil {
		return "", err
	}
	return t.Update(c.a.owner, c.a.spec.Topic, key, meta)
}

// Untrack removes this channel's presence for key.
func (c *Context) Untrack(key string) error {
	t, err := c.tracker()
	if err != nil {
		return err
	}
	return t.Untrack(c.a.owner, c.a.spec.Topic, key)
}

// PresenceList lists the presences on the channel's topic, in the
// presence_state format.
func (c *Context) PresenceList() (presence.State, error) {
	t, err := c.tracker()
	if err != nil {
		return nil, err
	}
	return t.List(c.a.spec.Topic), nil
}

// ReplyRef answers a client push after HandleIn has returned. It is safe to
// use from any goroutine and may be used more than once.
type ReplyRef struct {
	a   *channelActor
	ref protocol.Ref
}

// Reply sends {"status": status, "response": payload} for the captured push.
func (r ReplyRef) Reply(status string, payload any) error {
	if r.a == nil {
		return ErrNoReplyRef
	}
	return r.a.reply(r.ref, status, payload)
}
