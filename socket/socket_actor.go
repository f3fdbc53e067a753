package socket

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/internal/engine"
	"github.com/pyrehq/pyre/internal/lazylog"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

var (
	unmatchedTopic = protocol.RawJSON([]byte(`{"reason":"unmatched topic"}`))
	tooManyJoined  = protocol.RawJSON([]byte(`{"reason":"too many channels joined"}`))
	joinTimedOut   = protocol.RawJSON([]byte(`{"reason":"join timeout"}`))
	joinFailed     = protocol.RawJSON([]byte(`{"reason":"join crashed"}`))
)

// Messages of the Socket actor.
type (
	inbound     struct{ msg protocol.Message }
	joinTimeout struct{ pid *actor.PID }
	closeSocket struct {
		reason error
		code   int
		text   string
		why    closeReason
	}
)

// pendingJoin is the join that runs; its entry's stats count its outcome.
type pendingJoin struct {
	*entry
	timer *time.Timer
}

// socketActor owns one connection's channels. Joins are handled one at a
// time: while a join runs, later frames wait in pending, so a client sees
// the same order Phoenix gives it.
//
// It supervises its channels, which are root-level actors rather than
// protoactor children (see engine.Route.Spawn): a channel tells it of its
// join (channel.Joined), of a crash (*engine.Crash, decided by the
// handler's engine.Supervisor here) and of its end (channel.Ended). When
// the socket closes it stops them all and stops itself once the last has
// ended, so that a socket gone from the handler has no channel left.
//
// What the reader shares with it is in fp (see fastPath); everything else
// is either set before the actor is spawned and never changed, owned by
// Receive, or the handler's registry record, guarded by the handler's mu.
// What lives exactly as long as the socket (its fast path, its logger, its
// record) is held by value: one allocation per connection, not four.
type socketActor struct {
	fp fastPath

	// Set before the spawn, then read-only.
	h       *Handler
	w       Transport
	ser     protocol.Serializer
	assigns actors.Assigns
	id      string
	peer    string        // the client's address; its IP counts for WithMaxConnsPerAddr
	since   int64         // when the socket connected, in Unix nanoseconds
	log     lazylog.Built // the connection's logger once built (see logger)
	self    *actor.PID
	idSub   *topics.Subscription

	// The registry's record (see Handler.register); guarded by h.mu.
	// Until the actor is spawned a message sent to its PID would reach
	// no actor, so a close that comes before (a "disconnect" on the
	// socket id, a drain) waits in early and is sent once the actor
	// exists.
	spawned bool
	early   earlyClose

	kind transportKind // set before the spawn, then read-only; beside the flags to share their word

	// Owned by Receive.
	closing bool
	why     closeReason  // set with closed
	closed  *closeSocket // the close that began closing; nil for a socket stopped from outside
	joining *pendingJoin
	backlog *backlog // nil while empty, which is most of a socket's life
}

// backlog is what a socket holds only for a while: the channels stopping
// out of its table (replaced, refused, timed out) until they end, and the
// client's frames that wait while a join runs. A socket makes it when it
// first needs it and lets it go once both are empty (tidy), so an idle
// socket carries one pointer, not two slices. Owned by Receive.
type backlog struct {
	retired []*entry
	pending []protocol.Message
}

// backlogged returns the socket's backlog, made if it has none.
func (s *socketActor) backlogged() *backlog {
	if s.backlog == nil {
		s.backlog = new(backlog)
	}
	return s.backlog
}

// tidy lets an empty backlog go.
func (s *socketActor) tidy() {
	if b := s.backlog; b != nil && len(b.retired) == 0 && len(b.pending) == 0 {
		s.backlog = nil
	}
}

// retire keeps e, a channel stopping out of the table, until it ends.
func (s *socketActor) retire(e *entry) {
	b := s.backlogged()
	b.retired = append(b.retired, e)
}

// retiredCount and pendingCount are the lengths of the backlog's lists.
func (s *socketActor) retiredCount() int {
	if s.backlog == nil {
		return 0
	}
	return len(s.backlog.retired)
}

func (s *socketActor) pendingCount() int {
	if s.backlog == nil {
		return 0
	}
	return len(s.backlog.pending)
}

// logFields adds the socket's fields to its logger, when it is built.
func (s *socketActor) logFields(c zerolog.Context) zerolog.Context {
	return c.Str("socket_id", s.id).Str("peer", s.peer)
}

// connLog is a connection's logger: the handler's with the socket's
// fields, built only if the connection logs something (a zerolog child
// logger costs 500 bytes). The socket keeps only the built logger; its
// base and fields are named at each use.
type connLog struct{ s *socketActor }

func (s *socketActor) logger() connLog { return connLog{s} }

func (l connLog) at(level zerolog.Level) *zerolog.Event {
	return l.s.log.At(&l.s.h.opt.log, l.s.logFields, level)
}

// Debug, Info, Warn and Error start an event at their level, or return
// nil (on which every zerolog Event method is a no-op) when it is off.
func (l connLog) Debug() *zerolog.Event { return l.at(zerolog.DebugLevel) }
func (l connLog) Info() *zerolog.Event  { return l.at(zerolog.InfoLevel) }
func (l connLog) Warn() *zerolog.Event  { return l.at(zerolog.WarnLevel) }
func (l connLog) Error() *zerolog.Event { return l.at(zerolog.ErrorLevel) }

func (s *socketActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *inbound:
		if s.joining != nil {
			b := s.backlogged()
			b.pending = append(b.pending, m.msg)
			return
		}
		s.dispatchHeld(ctx, m.msg)
	case *channel.Joined:
		s.joined(ctx, m)
	case *joinTimeout:
		if s.joining != nil && s.joining.pid.Equal(m.pid) {
			s.logger().Warn().Str("topic", s.joining.topic).Msg("join timed out")
			s.joining.stats.Join(channel.JoinTimeout)
			joinRef := protocol.Ref(s.joining.joinRef)
			s.replyTo(joinRef, joinRef, s.joining.topic, "error", joinTimedOut)
			s.joining.handle.SetReason(actors.ErrShutdown)
			ctx.Stop(s.joining.pid)
			s.retire(s.joining.entry)
			s.endJoin(ctx)
		}
	case *engine.Crash:
		s.h.supervisor.Crashed(ctx, m, s.closing)
	case *channel.Ended:
		s.channelEnded(ctx, m.PID)
		s.stopIfDone(ctx)
	case *closeSocket:
		s.close(ctx, m)
	case *inspectSocket:
		ctx.Respond(s.inspect())
	case *actor.Stopping:
		s.stopping(ctx)
	case *actor.Stopped:
		why := s.why
		if overflowed(s.w) {
			why = closedSlow
		}
		s.h.stats.disconnected(s.kind, why)
		s.h.unregister(s.self)
		s.logger().Debug().Msg("socket closed")
	}
}

// subscribeID subscribes the socket to its id topic before the actor is
// spawned, so that a "disconnect" sent right after connecting is not
// missed: one that comes before the spawn waits in the handler's registry
// (see Handler.closeSocket).
func (s *socketActor) subscribeID() {
	if s.id == "" {
		return
	}
	s.idSub = s.h.opt.pubsub.Subscribe(s.id, topics.Subscriber{Deliver: s.idBroadcast})
}

// idBroadcast closes the socket on a "disconnect" sent to its id.
func (s *socketActor) idBroadcast(b topics.Broadcast) {
	if b.Event == "disconnect" {
		s.h.closeSocket(s.self, earlyDisconnect)
	}
}

var disconnectSocket = &closeSocket{reason: actors.ErrDisconnected, code: CloseGoingAway, text: "disconnected", why: closedDisconnect}

// dispatchHeld dispatches a message counted in held. A join it starts
// keeps the count until the join ends.
func (s *socketActor) dispatchHeld(ctx actor.Context, msg protocol.Message) {
	s.dispatch(ctx, msg)
	if s.joining == nil {
		s.fp.unhold()
	}
}

// dispatch routes one client message, in Phoenix's order of checks.
func (s *socketActor) dispatch(ctx actor.Context, msg protocol.Message) {
	if s.closing {
		s.release()
		return
	}
	e := s.fp.routes().get(msg.Topic)
	// A stopping channel is still in the table until its end is seen here,
	// but its topic is answered as one with no channel.
	joined := e != nil && (msg.Event == protocol.EventJoin || !e.handle.Closed())
	switch {
	case msg.Event == protocol.EventJoin:
		s.release()
		s.join(ctx, msg, e)
	case joined:
		if !msg.JoinRef.IsNull() && !e.joinRefIs(msg.JoinRef) {
			s.release() // stale join_ref: dropped without a reply
			return
		}
		e.enter() // the table has only live channels
		ctx.Send(e.pid, &channel.Inbound{Msg: msg, Done: e.done})
	case msg.Event == protocol.EventLeave:
		s.release()
		s.replyTo(msg.JoinRef, msg.Ref, msg.Topic, "ok", protocol.EmptyObject())
	default:
		s.release()
		s.replyTo(nil, msg.Ref, msg.Topic, "error", unmatchedTopic)
	}
}

func (s *socketActor) join(ctx actor.Context, msg protocol.Message, old *entry) {
	if old != nil {
		old.handle.SetReason(actors.ErrDuplicateJoin)
		ctx.Stop(old.pid)
		s.fp.publish(s.fp.routes().without(func(e *entry) bool { return e == old }))
		s.h.channels.Add(-1)
		s.retire(old) // its credits come back when it stops
	}
	route, ok := s.h.router.Match(msg.Topic)
	if !ok {
		s.h.stats.unmatched.Add(1)
		s.replyTo(nil, msg.Ref, msg.Topic, "error", unmatchedTopic)
		return
	}
	er := s.h.chanRoutes[route.Pattern]
	stats := er.Stats()
	if s.fp.routes().len() >= s.h.opt.maxChannels {
		stats.Join(channel.JoinLimit)
		s.replyTo(msg.JoinRef, msg.Ref, msg.Topic, "error", tooManyJoined)
		return
	}
	pid, handle, err := er.Spawn(ctx.ActorSystem().Root, channel.Spec{
		Runtime: s.h.rt, Socket: ctx.Self(), Topic: msg.Topic, JoinRef: msg.JoinRef, Ref: msg.Ref,
		Payload: msg.Payload, Assigns: s.assigns, SocketID: s.id, Sink: s.w,
		Stats: stats,
	})
	if err != nil {
		s.logger().Error().Err(err).Str("topic", msg.Topic).Msg("channel cannot start")
		stats.Join(channel.JoinError)
		s.replyTo(msg.JoinRef, msg.Ref, msg.Topic, "error", joinFailed)
		return
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	e := s.fp.newEntry(msg.Topic, pid, handle, msg.JoinRef)
	e.stats, e.since = stats, time.Now().UnixNano() // before the entry is published
	s.joining = &pendingJoin{
		entry: e,
		timer: time.AfterFunc(s.h.opt.joinTimeout, func() { root.Send(self, &joinTimeout{pid: pid}) }),
	}
}

func (s *socketActor) joined(ctx actor.Context, m *channel.Joined) {
	if s.joining == nil || !s.joining.pid.Equal(m.PID) {
		return // a join that already ended (timed out or stopped)
	}
	if m.OK {
		s.joining.stats.Join(channel.JoinOK)
	} else {
		s.joining.stats.Join(s.joining.handle.JoinRefusal())
	}
	if m.OK && !s.closing {
		s.fp.publish(s.fp.routes().with(s.joining.entry))
		s.h.channels.Add(1)
	} else {
		s.retire(s.joining.entry) // stopping: refused, or stopped by close
	}
	s.endJoin(ctx)
}

// endJoin finishes the running join and replays the frames that waited.
// The table is up to date before held drops (fastPath rule 3).
func (s *socketActor) endJoin(ctx actor.Context) {
	s.joining.timer.Stop()
	s.joining = nil
	s.fp.unhold()
	for s.pendingCount() > 0 && s.joining == nil {
		b := s.backlog
		msg := b.pending[0]
		b.pending[0] = protocol.Message{}
		b.pending = b.pending[1:]
		s.dispatchHeld(ctx, msg)
	}
	if b := s.backlog; b != nil && len(b.pending) == 0 {
		b.pending = nil
	}
	s.tidy()
}

// channelEnded forgets a channel that has stopped and reclaims its
// credits.
func (s *socketActor) channelEnded(ctx actor.Context, who *actor.PID) {
	if s.joining != nil && s.joining.pid.Equal(who) {
		// It stopped before its Joined came: refused or crashed.
		s.joining.stats.Join(s.joining.handle.JoinRefusal())
		s.fp.reclaim(s.joining.entry)
		s.endJoin(ctx)
		return
	}
	isWho := func(e *entry) bool { return e.pid.Equal(who) }
	cur := s.fp.routes()
	if i := slices.IndexFunc(cur.list, isWho); i >= 0 {
		s.fp.publish(cur.without(isWho))
		s.h.channels.Add(-1)
		s.fp.reclaim(cur.list[i])
		return
	}
	if b := s.backlog; b != nil {
		if i := slices.IndexFunc(b.retired, isWho); i >= 0 {
			s.fp.reclaim(b.retired[i])
			b.retired = slices.Delete(b.retired, i, i+1)
			s.tidy()
		}
	}
}

// close closes the connection and stops the channels; the socket stops
// itself once they have all ended (stopIfDone).
func (s *socketActor) close(ctx actor.Context, m *closeSocket) {
	if s.closing {
		return
	}
	s.closing = true
	s.closed, s.why = m, m.why
	s.fp.close()
	s.w.Close(m.code, m.text)
	s.stopChannels(ctx)
	s.stopIfDone(ctx)
}

// stopChannels stops every channel of the socket, telling each why first
// so that its Terminate gets the socket's reason. Their ends come back as
// channel.Ended. Stopping twice is harmless.
func (s *socketActor) stopChannels(ctx actor.Context) {
	reason := actors.ErrShutdown
	if s.closed != nil && s.closed.reason != nil {
		reason = s.closed.reason
	}
	for _, e := range s.fp.routes().list {
		e.handle.SetReason(reason)
		ctx.Stop(e.pid)
	}
	if s.joining != nil {
		s.joining.handle.SetReason(reason)
		s.joining.timer.Stop()
		ctx.Stop(s.joining.pid)
	}
	if b := s.backlog; b != nil {
		for _, e := range b.retired {
			ctx.Stop(e.pid)
		}
	}
}

// stopIfDone stops a closing socket once none of its channels is left.
func (s *socketActor) stopIfDone(ctx actor.Context) {
	if s.closing && s.joining == nil && s.fp.routes().len() == 0 && s.retiredCount() == 0 {
		ctx.Stop(ctx.Self())
	}
}

// stopping runs when the actor stops. A socket stopped by close has no
// channel left; one stopped from outside (protoactor's Stop) closes its
// connection and stops its channels here, without waiting for them.
func (s *socketActor) stopping(ctx actor.Context) {
	s.idSub.Unsubscribe()
	if !s.closing {
		s.closing = true
		s.why = closedByServer
		s.fp.close()
		s.w.Close(CloseGoingAway, "socket stopped")
		s.stopChannels(ctx)
	}
	if s.joining != nil {
		s.joining.timer.Stop()
	}
	if b := s.backlog; b != nil {
		for range b.pending {
			s.release()
		}
		b.pending = nil
		s.tidy()
	}
}

func (s *socketActor) replyTo(joinRef, ref protocol.Ref, topic, status string, p protocol.Payload) {
	f, err := s.ser.Reply(joinRef, ref, topic, status, p)
	if err != nil {
		s.logger().Error().Err(err).Msg("reply cannot be encoded")
		return
	}
	s.w.Send(f)
}

// release returns the credit of a message the actor answered or dropped.
func (s *socketActor) release() { s.fp.give() }
