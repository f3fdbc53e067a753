package actors

import (
	"github.com/pyrehq/pyre/protocol"
)

// Payload is a message body as received from a client or a broadcast: JSON
// (decode it with Decode) or binary data.
type Payload = protocol.Payload

// Channel is a channel behaviour. Only Join is required; a channel gains the
// other callbacks by implementing InHandler, OutHandler, InfoHandler and
// Terminator.
//
// Join runs when a client joins a topic that routes to this behaviour. A nil
// error accepts the join and reply (nil for {}) is sent in the ok reply. An
// error refuses it: use Refuse to choose the error payload; any other error
// becomes {"reason": err.Error()}. Join must not push; send yourself a
// message (c.Send) and push from HandleInfo, which runs after the join reply
// has been written.
type Channel interface {
	Join(c *Context, topic string, payload Payload) (reply any, err error)
}

// InHandler handles events pushed by the client. Without it every event is
// answered with the error {"reason":"unmatched event"}.
type InHandler interface {
	HandleIn(c *Context, event string, payload Payload) Result
}

// OutHandler intercepts outgoing broadcasts. The events named by Intercept
// are not written straight to the client: HandleOut receives them and decides
// (usually by calling c.Push, maybe with a changed payload).
type OutHandler interface {
	Intercept() []string
	HandleOut(c *Context, event string, payload Payload) Result
}

// InfoHandler receives every other message sent to the channel actor: its
// own c.Send and c.SendAfter messages, broadcasts from topics it subscribed
// to with c.Subscribe (as topics.Broadcast), and anything sent to c.Self().
// Without it such messages are logged and dropped.
type InfoHandler interface {
	HandleInfo(c *Context, msg any) Result
}

// Terminator is told why a joined channel ends. It runs exactly once per
// joined channel instance. The reason is one of ErrLeft, ErrClosed,
// ErrShutdown, ErrDisconnected, ErrDuplicateJoin, ErrNormal, a *CrashError,
// or the error passed to Stop. When it runs the channel has left its
// topic already, as in Phoenix: broadcasts on the topic, the presence
// leave of the channel's own Untrack included, no longer reach its client
// (c.Push still does).
type Terminator interface {
	Terminate(c *Context, reason error)
}

// ChannelFunc adapts a plain join function to a Channel.
type ChannelFunc func(c *Context, topic string, payload Payload) (any, error)

// Join calls f.
func (f ChannelFunc) Join(c *Context, topic string, payload Payload) (any, error) {
	return f(c, topic, payload)
}

// Factory makes a fresh behaviour for each joined channel.
type Factory func() Channel
