package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/internal/channel"
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
	s *channel.State
}

func init() {
	channel.SetContextMaker(func(s *channel.State) any { return &Context{s: s} })
}

// Topic is the joined topic.
func (c *Context) Topic() string { return c.s.Spec.Topic }

// JoinRef is the join reference of this channel instance.
func (c *Context) JoinRef() string { return c.s.PushRef().String() }

// SocketID is the socket's id ("" for anonymous sockets).
func (c *Context) SocketID() string { return c.s.Spec.SocketID }

// Node is the name of the node running the channel.
func (c *Context) Node() string { return c.s.Spec.Runtime.Node }

// Recovery says how the join's recovery went, on a route made with
// WithHistory or when the client sent a position: in Join, a channel may
// refuse a client that lost messages or tell it to resync (the reply says
// "_recovered": false either way). Outcome is topics.Fresh when the client
// sent no position, and after a restart. Missed, the broadcasts about to be
// replayed, is only set during Join.
func (c *Context) Recovery() topics.Recovery { return c.s.Recovery() }

// Assigns returns the channel's assigns; changes stay with this channel.
func (c *Context) Assigns() Assigns { return c.s.OwnAssigns() }

// Assign sets one key in the channel's assigns.
func (c *Context) Assign(key string, value any) { c.s.OwnAssigns()[key] = value }

// Get returns one assign.
func (c *Context) Get(key string) any { return c.s.Assigns()[key] }

// Self is the channel actor's PID.
func (c *Context) Self() *actor.PID { return c.s.Actor.Self() }

// Actor is the underlying protoactor context, for spawning children or
// talking to other actors. Children stop when the channel stops.
func (c *Context) Actor() actor.Context { return c.s.Actor }

// Logger is a logger carrying the channel's topic, join_ref and socket_id.
func (c *Context) Logger() *zerolog.Logger { return c.s.Log.Get() }

// Push sends event to this channel's client only.
func (c *Context) Push(event string, payload any) error {
	if !c.s.Joined {
		return ErrNotJoined
	}
	p, err := protocol.Marshal(payload)
	if err != nil {
		return err
	}
	return c.s.Write(func(s protocol.Serializer) (protocol.Frame, error) {
		return s.Push(c.s.PushRef(), c.s.Spec.Topic, event, p)
	})
}

// Broadcast sends event to every subscriber of the channel's topic,
// including this channel's own client.
func (c *Context) Broadcast(event string, payload any) error {
	return c.s.Spec.Runtime.PubSub.Broadcast(c.s.Spec.Topic, event, payload)
}

// BroadcastFrom sends event to every subscriber of the topic except this
// channel's own client.
func (c *Context) BroadcastFrom(event string, payload any) error {
	return c.s.Spec.Runtime.PubSub.BroadcastFrom(c.s.Spec.Handle.Sub, c.s.Spec.Topic, event, payload)
}

// LocalBroadcast is Broadcast limited to subscribers on this node.
func (c *Context) LocalBroadcast(event string, payload any) error {
	return c.s.Spec.Runtime.PubSub.LocalBroadcast(c.s.Spec.Topic, event, payload)
}

// Send posts msg to the channel itself; HandleInfo receives it after the
// current callback returns.
func (c *Context) Send(msg any) { c.s.Actor.Send(c.s.Actor.Self(), msg) }

// SendAfter posts msg to the channel after d. The returned function cancels
// it if it has not fired yet. Pending timers are cancelled when the channel
// stops.
func (c *Context) SendAfter(msg any, d time.Duration) (cancel func()) {
	return c.s.SendAfter(msg, d)
}

// Subscribe makes the channel receive every broadcast on another topic in
// HandleInfo, as a topics.Broadcast. It is undone when the channel stops.
func (c *Context) Subscribe(topic string) {
	if c.s.Subscribed(topic) {
		return
	}
	c.s.AddSubscription(topic, Subscribe(c.s.Spec.Runtime.PubSub, c.s.Actor.ActorSystem(), c.s.Actor.Self(), topic))
}

// Unsubscribe undoes Subscribe.
func (c *Context) Unsubscribe(topic string) { c.s.DropSubscription(topic) }

// ReplyRef captures the push being handled so that it can be answered
// later, from any goroutine. It fails outside HandleIn.
func (c *Context) ReplyRef() (ReplyRef, error) {
	if c.s.Ref.IsNull() {
		return ReplyRef{}, ErrNoReplyRef
	}
	return ReplyRef{s: c.s, ref: c.s.Ref}, nil
}

// Become replaces the channel's behaviour; later callbacks go to b.
func (c *Context) Become(b Channel) { c.s.Behaviours[len(c.s.Behaviours)-1] = b }

// BecomeStacked pushes b on the behaviour stack.
func (c *Context) BecomeStacked(b Channel) { c.s.Behaviours = append(c.s.Behaviours, b) }

// UnbecomeStacked returns to the behaviour below the top of the stack; it
// does nothing when only one behaviour is left.
func (c *Context) UnbecomeStacked() {
	if n := len(c.s.Behaviours); n > 1 {
		c.s.Behaviours[n-1] = nil
		c.s.Behaviours = c.s.Behaviours[:n-1]
	}
}

func (c *Context) tracker() (*presence.Tracker, error) {
	if c.s.Spec.Runtime.Presence == nil {
		return nil, ErrNoPresence
	}
	return c.s.Spec.Runtime.Presence, nil
}

// Track adds a presence for key on the channel's topic, owned by this
// channel: it is removed when the channel stops, whatever the reason.
func (c *Context) Track(key string, meta presence.Meta) (string, error) {
	t, err := c.tracker()
	if err != nil {
		return "", err
	}
	return t.Track(c.s.Owner, c.s.Spec.Topic, key, meta)
}

// UpdatePresence replaces the meta of this channel's presence for key.
func (c *Context) UpdatePresence(key string, meta presence.Meta) (string, error) {
	t, err := c.tracker()
	if err != nil {
		return "", err
	}
	return t.Update(c.s.Owner, c.s.Spec.Topic, key, meta)
}

// Untrack removes this channel's presence for key.
func (c *Context) Untrack(key string) error {
	t, err := c.tracker()
	if err != nil {
		return err
	}
	return t.Untrack(c.s.Owner, c.s.Spec.Topic, key)
}

// PresenceList lists the presences on the channel's topic, in the
// presence_state format.
func (c *Context) PresenceList() (presence.State, error) {
	t, err := c.tracker()
	if err != nil {
		return nil, err
	}
	return t.List(c.s.Spec.Topic), nil
}

// PushPresenceState sends this channel's client the topic's presence list
// as presence_state. The list is encoded once per version of the topic's
// list and shared by every joiner until the next presence_diff (V1 and V2
// carry the same JSON; each joiner's frame points at it behind a head of its
// own, with its join_ref, as Phoenix pushes it: the list is not copied per
// joiner), and the
// client gets every diff after it (the channel is subscribed before it
// asks), so phoenix.js's Presence ends up with the tracker's state. Call it
// after the join, in HandleInfo (see Join's doc for sending yourself a
// message). Presences tracked inside an open coalescing window, the
// channel's own included, arrive with the window's diff.
func (c *Context) PushPresenceState() error {
	t, err := c.tracker()
	if err != nil {
		return err
	}
	l, err := t.Listing(c.s.Spec.Topic)
	if err != nil {
		return err
	}
	return c.Push(presence.EventState, protocol.SharedJSON(l.JSON))
}

// TrackAndPushPresence is Track followed by PushPresenceState, in the
// order that gets a joiner its list soonest: when the room is quiet, the
// list (with this presence in it) is queued before the diff that tells
// everyone else, so that in a big room the joiner does not wait behind
// that diff's delivery to every other subscriber. When the push fails the
// presence stays tracked and the error is returned.
func (c *Context) TrackAndPushPresence(key string, meta presence.Meta) (string, error) {
	t, err := c.tracker()
	if err != nil {
		return "", err
	}
	if !c.s.Joined {
		return "", ErrNotJoined
	}
	var pushErr error
	ref, err := t.TrackAndList(c.s.Owner, c.s.Spec.Topic, key, meta, func(l presence.Listing, err error) {
		if err != nil {
			pushErr = err
			return
		}
		pushErr = c.Push(presence.EventState, protocol.SharedJSON(l.JSON))
	})
	if err != nil {
		return "", err
	}
	return ref, pushErr
}

// PushPresencePage is PushPresenceState for rooms too large to list: the
// presence_state holds the first n keys in sort order, and the returned
// Listing counts the whole topic (Keys, Metas) for the channel to tell its
// client, in its own event. Diffs still name every key that joins or
// leaves, so the client's list grows from the page.
func (c *Context) PushPresencePage(n int) (presence.Listing, error) {
	t, err := c.tracker()
	if err != nil {
		return presence.Listing{}, err
	}
	l, err := t.Page(c.s.Spec.Topic, n)
	if err != nil {
		return presence.Listing{}, err
	}
	return l, c.Push(presence.EventState, protocol.SharedJSON(l.JSON))
}

// PresenceCount returns how many keys and metas the channel's topic has,
// on every node, without listing them.
func (c *Context) PresenceCount() (presence.TopicCount, error) {
	t, err := c.tracker()
	if err != nil {
		return presence.TopicCount{}, err
	}
	return t.Counts(c.s.Spec.Topic), nil
}

// ReplyRef answers a client push after HandleIn has returned. It is safe to
// use from any goroutine and may be used more than once.
type ReplyRef struct {
	s   *channel.State
	ref protocol.Ref
}

// Reply sends {"status": status, "response": payload} for the captured push.
func (r ReplyRef) Reply(status string, payload any) error {
	if r.s == nil {
		return ErrNoReplyRef
	}
	return r.s.Reply(r.ref, status, payload)
}
