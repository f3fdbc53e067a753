package socket

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/protocol"
)

// fastPath is all the state a connection's reader and its Socket actor
// share. Client messages normally go reader → Socket actor → channel
// actor; once a topic is joined and the Socket actor holds nothing of the
// connection, the reader hands that topic's pushes straight to the channel
// actor instead, one actor hop less per push. Everything else of the
// Socket actor is touched only in its Receive (or set before its spawn and
// never changed). These rules keep the two paths from reordering or
// losing a message; each has a test in fastpath_test.go:
//
//  1. One writer for the table. Only the Socket actor, in Receive,
//     publishes a table of joined channels (publish). The table is
//     immutable: the reader loads whichever is current, without a lock.
//
//  2. When the reader may bypass the Socket actor. Only for a message that
//     is not a join, on a topic in the table, while held is zero (bypass).
//     held counts the client messages the reader gave the Socket actor and
//     that it has not passed on yet, plus one while a join runs; while it
//     is above zero an earlier message of the connection may still be
//     waiting there, so the reader sends through the actor too and the
//     message keeps its place. Only a connection with a single reader may
//     bypass (Conn.direct): the rule assumes nobody else feeds the socket
//     at the same time.
//
//  3. Table before held. The Socket actor publishes a change of the table
//     before it lowers held (endJoin), so a reader that sees held at zero
//     sees every channel joined so far.
//
//  4. Credits. Every message handed on, by either path, first takes one of
//     maxInflight credits (take); a reader that finds none blocks, which is
//     the back-pressure on a client sending faster than its channels
//     handle. A credit comes back exactly once (give): when the channel
//     has handled the message (the entry's done, run as Inbound.Done), when
//     the Socket actor answers or drops it, or when a stopped channel's
//     unhandled messages are reclaimed (rule 5).
//
//  5. Gone. When a channel stops, the Socket actor swaps the entry's
//     in-flight count for gone and gives back that many credits
//     (reclaim). A reader's later enter then sees a negative count: the
//     channel is gone, so the reader sends the message, with its credit,
//     to the Socket actor, which answers for it. A channel that has begun
//     to stop (channel.Handle.Closed, set before it tells its client) is
//     treated the same way by the reader and by the Socket actor, though
//     its entry is still in the table: a push the client sends on reading
//     phx_close is answered, never handed to the stopping actor.
//
//  6. Closing. closed is set once, by the Socket actor, when the socket
//     starts closing (and Done, if anyone asked for it, is closed); a
//     reader waiting for a credit wakes and stops.
type fastPath struct {
	table atomic.Pointer[routes]
	// held is at most max+1 (each message held has a credit, a join adds
	// one), so it fits in an int32 as max does.
	held atomic.Int32
	// The credits in use, at most max. A reader that finds none left
	// waits on wake, made then (most connections never wait), which give
	// and close signal.
	inflight atomic.Int32
	max      int32
	closed   atomic.Bool                   // set once, by the Socket actor (rule 6)
	wake     atomic.Pointer[chan struct{}] // capacity 1
	mu       sync.Mutex
	done     chan struct{} // made on first use (Conn.Done); closed with closed; guarded by mu
}

// init sets up a fastPath, held by value in its Socket actor, before the
// actor is shared.
func (fp *fastPath) init(maxInflight int) {
	fp.max = int32(min(maxInflight, math.MaxInt32-1)) // held may reach max+1
	fp.table.Store(noRoutes)
}

// bypass returns the channel the reader may hand msg to straight, or nil
// when msg must go through the Socket actor (rule 2).
func (fp *fastPath) bypass(msg *protocol.Message) *entry {
	if msg.Event == protocol.EventJoin || fp.held.Load() != 0 {
		return nil
	}
	return fp.table.Load().get(msg.Topic)
}

// take waits for a credit; false once the socket is closing (rules 4, 6).
// The reader's alone.
func (fp *fastPath) take() bool {
	for {
		if fp.closed.Load() {
			return false
		}
		n := fp.inflight.Load()
		if n < fp.max {
			if fp.inflight.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		w := fp.wake.Load()
		if w == nil {
			c := make(chan struct{}, 1)
			fp.wake.Store(&c)
			// A give or close before the store did not signal: look
			// again before waiting.
			continue
		}
		<-*w
	}
}

// give returns one credit, if one is out; it never blocks.
func (fp *fastPath) give() {
	for {
		n := fp.inflight.Load()
		if n <= 0 {
			return
		}
		if fp.inflight.CompareAndSwap(n, n-1) {
			break
		}
	}
	fp.signal()
}

// signal wakes a reader waiting in take, if one may be.
func (fp *fastPath) signal() {
	if w := fp.wake.Load(); w != nil {
		select {
		case *w <- struct{}{}:
		default:
		}
	}
}

// credits is how many credits are out.
func (fp *fastPath) credits() int { return int(fp.inflight.Load()) }

// hold counts a message the Socket actor is given (the reader, before it
// sends one) or a join that starts running (rule 2).
func (fp *fastPath) hold() { fp.held.Add(1) }

// unhold undoes hold once the Socket actor has passed the message on or
// the join has ended; after publish when the table changed (rule 3).
func (fp *fastPath) unhold() { fp.held.Add(-1) }

// routes is the current table; Socket actor only (rule 1).
func (fp *fastPath) routes() *routes { return fp.table.Load() }

// publish replaces the table; Socket actor only (rule 1).
func (fp *fastPath) publish(r *routes) { fp.table.Store(r) }

// newEntry makes the table entry of a channel being joined; its done
// returns a credit when the channel has handled a message (rule 4).
func (fp *fastPath) newEntry(topic string, pid *actor.PID, h *channel.Handle, joinRef protocol.Ref) *entry {
	e := &entry{topic: topic, pid: pid, handle: h, joinRef: string(joinRef)}
	e.done = func() {
		e.inflight.Add(-1)
		fp.give()
	}
	return e
}

// reclaim gives back the credits of the messages a stopped channel never
// handled and marks its entry gone (rule 5); Socket actor only.
func (fp *fastPath) reclaim(e *entry) {
	for n := e.inflight.Swap(gone); n > 0; n-- {
		fp.give()
	}
}

// close wakes a reader waiting for a credit (rule 6) and closes Done;
// Socket actor only, idempotent.
func (fp *fastPath) close() {
	if fp.closed.Swap(true) {
		return
	}
	fp.signal()
	fp.mu.Lock()
	if fp.done != nil {
		close(fp.done)
	}
	fp.mu.Unlock()
}

// doneChan is closed once the socket starts closing; made on first use.
func (fp *fastPath) doneChan() <-chan struct{} {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.done == nil {
		fp.done = make(chan struct{})
		if fp.closed.Load() {
			close(fp.done)
		}
	}
	return fp.done
}

// entry is one joined channel of a socket. Only inflight changes once it
// is made.
type entry struct {
	topic   string
	pid     *actor.PID
	handle  *channel.Handle
	joinRef string              // the join's join_ref (a protocol.Ref), a string to save a word
	stats   *channel.RouteStats // of the route that matched topic; its Pattern is the route's
	since   int64               // when the join started, in Unix nanoseconds (a time.Time is three words)
	done    func()              // the Done of every Inbound sent to this channel
	// inflight counts the messages handed to the channel and not yet
	// handled, or is below zero once the channel is gone (rule 5).
	inflight atomic.Int32
}

// joinRefIs reports whether r is the entry's join_ref, as protocol.Ref's
// Equal does, without making a Ref of the string on a push's path.
func (e *entry) joinRefIs(r protocol.Ref) bool {
	null := e.joinRef == "" || e.joinRef == "null"
	if r.IsNull() || null {
		return r.IsNull() == null
	}
	return string(r) == e.joinRef
}

// enter counts a message about to be handed to the channel; false when the
// channel is gone and the message must go to the Socket actor instead.
func (e *entry) enter() bool { return e.inflight.Add(1) > 0 }

// gone marks an entry's in-flight count once its Socket actor has taken
// back the credits of what the channel never handled: any later increment
// stays negative, which tells the reader the channel is gone.
const gone = math.MinInt32 / 2

// routes is an immutable table of a socket's joined channels. Most sockets
// join a handful of channels, so the table is a slice scanned in order;
// past smallRoutes it also carries a map.
type routes struct {
	list  []*entry
	index map[string]*entry // nil while len(list) <= smallRoutes
}

const smallRoutes = 16

var noRoutes = &routes{}

func (r *routes) get(topic string) *entry {
	if r.index != nil {
		return r.index[topic]
	}
	for _, e := range r.list {
		if e.topic == topic {
			return e
		}
	}
	return nil
}

func (r *routes) len() int { return len(r.list) }

// with returns a table that also has e, replacing any channel on e.topic.
func (r *routes) with(e *entry) *routes {
	next := make([]*entry, 0, len(r.list)+1)
	for _, old := range r.list {
		if old.topic != e.topic {
			next = append(next, old)
		}
	}
	return build(append(next, e))
}

// without returns a table without the channel for which drop is true.
func (r *routes) without(drop func(*entry) bool) *routes {
	next := make([]*entry, 0, len(r.list))
	for _, e := range r.list {
		if !drop(e) {
			next = append(next, e)
		}
	}
	if len(next) == len(r.list) {
		return r
	}
	return build(next)
}

func build(list []*entry) *routes {
	if len(list) == 0 {
		return noRoutes
	}
	r := &routes{list: list}
	if len(list) > smallRoutes {
		r.index = make(map[string]*entry, len(list))
		for _, e := range list {
			r.index[e.topic] = e
		}
	}
	return r
}
