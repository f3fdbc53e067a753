package socket

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/internal/transport"
	"github.com/pyrehq/pyre/protocol"
)

// Transport is the outbound half of a connection as its Socket actor sees
// it: a topics.Sink plus Close(code, text), which delivers what is queued
// and ends the connection, and Overflow, which ends it as a slow consumer.
// The WebSocket writer and the long-poll session are ones; a test harness
// can supply its own and drive the socket through Open and Conn.
type Transport = transport.Sink

// beforeSpawn, if set (by tests), runs in open between the socket's id
// subscription and its actor's spawn.
var beforeSpawn func(*socketActor)

// Conn is the inbound half of an open socket: the transport feeds it the
// client's messages.
type Conn struct {
	s *socketActor
	// limiter and strikes belong to whoever feeds the socket (its reader;
	// long-poll posts); both are safe for concurrent use.
	limiter eventBucket
	strikes atomic.Int64
	// direct lets Handle pass pushes for joined channels straight to the
	// channel actor (see fastPath). Only a connection with a single reader
	// may set it (the WebSocket).
	direct bool
}

// eventBucket is a socket's inbound event limit: a token bucket of the
// handler's rate and burst, full at first, kept in the Conn itself (a
// rate.Limiter of its own per socket was one more allocation, of 80 bytes,
// that every connection made). It counts the tokens missing from a full
// bucket, so that its zero value is a full bucket and it needs no flag
// for its first call. Safe for concurrent use.
type eventBucket struct {
	mu      sync.Mutex
	missing float64 // tokens short of the burst, at last
	last    int64   // monoNow of the last call; 0 before the first
}

// allow takes a token if there is one, as rate.Limiter.Allow does.
func (b *eventBucket) allow(r rate.Limit, burst int) bool {
	if r == rate.Inf {
		return true
	}
	now := monoNow()
	b.mu.Lock()
	defer b.mu.Unlock()
	if elapsed := now - b.last; elapsed > 0 {
		b.missing = max(0, b.missing-float64(elapsed)/float64(time.Second)*float64(r))
	}
	b.last = now
	if float64(burst)-b.missing < 1 {
		return false
	}
	b.missing++
	return true
}

// Open authenticates a socket with the Connect callback, which gets ctx,
// and starts its Socket actor on t. It fails with ErrRefused (wrapping
// Connect's error) when Connect refuses, ErrTooManyConns or
// ErrTooManySockets when a cap on live sockets does (t is then closed with
// ClosePolicy), or ErrClosed while the handler shuts down.
func (h *Handler) Open(ctx context.Context, t Transport, params url.Values, info ConnInfo) (*Conn, error) {
	return h.openKind(ctx, t, kindOther, params, info)
}

// openKind is Open for a transport of the given kind.
func (h *Handler) openKind(ctx context.Context, t Transport, kind transportKind, params url.Values, info ConnInfo) (*Conn, error) {
	if h.draining.Load() {
		return nil, ErrClosed
	}
	assigns, err := h.opt.connect(ctx, params, info)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if assigns == nil {
		assigns = actors.Assigns{}
	}
	id := h.opt.id(assigns)
	return h.open(t, kind, assigns, id, info.PeerAddr)
}

func (h *Handler) open(t Transport, kind transportKind, assigns actors.Assigns, id, peer string) (*Conn, error) {
	s, err := h.reserve(t.Serializer(), kind, assigns, id, peer)
	if err != nil {
		if _, capped := capOf(err); capped {
			t.Close(ClosePolicy, "too many connections")
		} else {
			t.Close(CloseServiceRestart, "server shutting down")
		}
		return nil, err
	}
	return h.start(s, t)
}

// reserve makes a socket and registers it, subscribed to its id, before
// its transport exists: the WebSocket handshake reserves before it answers
// 101, so that the limits are checked against the registry and a
// "disconnect" sent once the client sees the socket open is not missed
// (it waits in the registry until the actor is spawned). It fails with
// ErrTooManyConns or ErrTooManySockets, which it logs and counts, or
// ErrClosed. A reserved socket is then started or abandoned.
func (h *Handler) reserve(ser protocol.Serializer, kind transportKind, assigns actors.Assigns, id, peer string) (*socketActor, error) {
	s := &socketActor{h: h, ser: ser, kind: kind, assigns: assigns, id: id, peer: peer, since: time.Now().UnixNano()}
	s.fp.init(h.opt.maxInflight)
	s.self = h.system.NewLocalPID(h.prefix + h.system.ProcessRegistry.NextID())
	if err := h.register(s); err != nil {
		s.fp.close()
		if c, capped := capOf(err); capped {
			h.capRefused(c, s.logger().Warn())
		}
		return nil, err
	}
	s.subscribeID()
	return s, nil
}

// abandon undoes reserve for a socket that will not start.
func (h *Handler) abandon(s *socketActor) {
	s.idSub.Unsubscribe()
	h.unregister(s.self)
	s.fp.close()
}

// start spawns a reserved socket's actor on transport t.
func (h *Handler) start(s *socketActor, t Transport) (*Conn, error) {
	c := &Conn{s: s}
	if err := h.startConn(c, t); err != nil {
		return nil, err
	}
	return c, nil
}

// startConn is start for a Conn its transport holds (the WebSocket
// reader does: one allocation for the two); c.s is the reserved socket.
func (h *Handler) startConn(c *Conn, t Transport) error {
	s := c.s
	s.w = t // before the spawn, like every field set outside Receive
	if beforeSpawn != nil {
		beforeSpawn(s)
	}
	if _, err := h.system.Root.SpawnNamed(h.props, s.self.Id); err != nil {
		h.abandon(s)
		t.Close(CloseServiceRestart, "server error")
		return err
	}
	h.stats.connected(s.kind)
	h.spawned(s.self)
	s.logger().Debug().Str("vsn", s.ser.Version()).Msg("socket connected")
	return nil
}

// Handle passes one decoded client message to the socket. Heartbeats are
// answered at once. It blocks while the socket holds its maximum of
// unhandled messages (back-pressure), and returns false once the socket is
// closing.
func (c *Conn) Handle(msg protocol.Message) bool {
	s := c.s
	if !c.limiter.allow(s.h.opt.eventRate, s.h.opt.eventBurst) {
		if c.strikes.Add(1) > int64(s.h.opt.maxStrikes) {
			s.logger().Warn().Int("strikes", s.h.opt.maxStrikes).Msg("rate limit exceeded again and again; closing socket")
			c.closeFor(closedRateLimit, ErrRateLimited, ClosePolicy, "rate limit exceeded")
			return false
		}
		s.refuse(msg, reasonRateLimited)
		return true
	}
	c.strikes.Store(0)
	if len(msg.Topic) > s.h.opt.maxTopic {
		s.refuse(msg, reasonTopicTooLong)
		return true
	}
	if msg.Topic == protocol.TopicPhoenix && msg.Event == protocol.EventHeartbeat {
		if f, err := s.ser.Reply(msg.JoinRef, msg.Ref, msg.Topic, "ok", protocol.EmptyObject()); err == nil {
			s.w.Send(f)
		}
		return true
	}
	if c.direct {
		if e := s.fp.bypass(&msg); e != nil {
			return c.handDirect(e, msg)
		}
	}
	if !s.fp.take() {
		return false
	}
	s.fp.hold()
	s.h.system.Root.Send(s.self, &inbound{msg: msg})
	return true
}

// handDirect sends a push for a joined channel to the channel actor itself,
// saving the hop through the Socket actor (fastPath rule 2 allowed it); the
// checks are the ones dispatch makes.
func (c *Conn) handDirect(e *entry, msg protocol.Message) bool {
	s := c.s
	if !msg.JoinRef.IsNull() && !e.joinRefIs(msg.JoinRef) {
		return true // stale join_ref: dropped without a reply
	}
	if !s.fp.take() {
		return false
	}
	if e.handle.Closed() || !e.enter() {
		// The channel is stopping (it may have told its client so
		// already), or has stopped and its credits were taken back (rule
		// 5): the Socket actor answers for it, with the credit just taken.
		s.fp.hold()
		s.h.system.Root.Send(s.self, &inbound{msg: msg})
		return true
	}
	s.h.system.Root.Send(e.pid, &channel.Inbound{Msg: msg, Done: e.done})
	return true
}

// Error replies Handle gives without involving the socket actor.
var (
	reasonRateLimited  = protocol.RawJSON([]byte(`{"reason":"rate limit exceeded"}`))
	reasonTopicTooLong = protocol.RawJSON([]byte(`{"reason":"topic too long"}`))
)

// ErrRateLimited is the reason a socket closed for exceeding its rate
// limit again and again.
var ErrRateLimited = errors.New("socket: rate limit exceeded")

// refuse answers msg with an error reply, unless it expects none (a reply
// needs a ref).
func (s *socketActor) refuse(msg protocol.Message, reason protocol.Payload) {
	if msg.Ref.IsNull() {
		return
	}
	topic := msg.Topic
	if len(topic) > s.h.opt.maxTopic {
		topic = topic[:s.h.opt.maxTopic] // do not echo an oversized topic back
	}
	if f, err := s.ser.Reply(msg.JoinRef, msg.Ref, topic, "error", reason); err == nil {
		s.w.Send(f)
	}
}

// Closed tells the socket that its client went away; every channel
// terminates with reason.
func (c *Conn) Closed(reason error) {
	c.s.h.system.Root.Send(c.s.self, &closeSocket{reason: reason, why: reasonOf(reason)})
}

// CloseWith closes the socket from the server side with a close code.
func (c *Conn) CloseWith(reason error, code int, text string) {
	why := reasonOf(reason)
	if why == closedByClient {
		why = closedByServer
	}
	c.closeFor(why, reason, code, text)
}

// closeFor is CloseWith that says why, for the metrics.
func (c *Conn) closeFor(why closeReason, reason error, code int, text string) {
	c.s.h.system.Root.Send(c.s.self, &closeSocket{reason: reason, code: code, text: text, why: why})
}

// Done is closed once the socket has started closing.
func (c *Conn) Done() <-chan struct{} { return c.s.fp.doneChan() }

// ID returns the socket's id (WithID); "" for an anonymous socket.
func (c *Conn) ID() string { return c.s.id }
