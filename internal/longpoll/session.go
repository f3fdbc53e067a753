package longpoll

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/transport"
	"github.com/pyrehq/pyre/protocol"
)

// session is a long-poll connection: the Sink of its socket. Its frames
// wait in a queue bounded by bytes until a poll takes them.
type session struct {
	lp       *Transport
	id       string
	ser      protocol.Serializer
	maxBytes int
	log      zerolog.Logger
	conn     transport.Conn // set by admit before the session can be found; never changed
	socketID string         // conn's id, set with conn
	auth     auth           // the auth token the session opened with

	mu       sync.Mutex
	queue    []protocol.Frame // guarded by mu
	queued   int              // bytes in queue; guarded by mu
	waiter   *waiter          // the poll waiting for frames; guarded by mu
	closed   bool             // guarded by mu
	lastPoll time.Time        // when the last poll ended; guarded by mu
	idle     *time.Timer      // runs expire; guarded by mu
	// warnedBinary is set once a binary frame was dropped, so that a
	// stream of them logs once; guarded by mu.
	warnedBinary bool
	overflowed   bool // closed as a slow consumer; guarded by mu
}

// waiter is a waiting poll; wake-ups merge in its one-slot channel.
type waiter struct{ wake chan struct{} }

func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (s *session) Serializer() protocol.Serializer { return s.ser }

// QueuedBytes returns the bytes waiting for the next poll.
func (s *session) QueuedBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued
}

// Transport names the transport, for the socket's inspection.
func (*session) Transport() string { return "longpoll" }

// Send queues f for the next poll without blocking. A frame that would take
// the queue past its byte limit closes the session as a slow consumer.
// Binary frames cannot travel over long-poll (a poll carries its frames as
// JSON strings, and phoenix.js decodes them as text): they are refused.
func (s *session) Send(f protocol.Frame) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if f.Binary {
		if !s.warnedBinary {
			s.warnedBinary = true
			s.log.Warn().Int("bytes", f.Len()).Msg("binary frame dropped: long-poll carries text frames only")
		}
		s.mu.Unlock()
		return false
	}
	if s.queued+f.Len() > s.maxBytes {
		s.log.Warn().Int("queued_bytes", s.queued).Msg("long-poll queue overflow; closing slow session")
		s.overflowed = true
		s.shutLocked(false)
		conn := s.conn
		s.mu.Unlock()
		s.ended(conn)
		return false
	}
	if _, body, _ := f.Parts(); body != nil {
		// A poll quotes each frame's text whole: a frame that points at
		// a shared payload (protocol.SharedJSON) is joined here, once.
		f = protocol.Frame{Data: f.Bytes()}
	}
	s.queue = append(s.queue, f)
	s.queued += f.Len()
	if s.waiter != nil {
		s.waiter.signal()
	}
	s.mu.Unlock()
	return true
}

// Overflow closes the session as a slow consumer.
func (s *session) Overflow() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.log.Warn().Msg("channel mailbox overflow; closing slow session")
	s.overflowed = true
	s.shutLocked(false)
	conn := s.conn
	s.mu.Unlock()
	s.ended(conn)
}

// Overflowed reports whether the session was closed as a slow consumer.
func (s *session) Overflowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overflowed
}

// Close ends the session. A waiting poll gets what is queued; the next
// poll gets 410, on which phoenix.js reconnects. Long-poll has no close
// codes, so code and text only go to the log. Idempotent.
func (s *session) Close(code int, text string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.shutLocked(true)
	s.mu.Unlock()
	s.log.Debug().Int("code", code).Str("reason", text).Msg("long-poll session closed")
	s.lp.remove(s)
}

// shutLocked stops taking frames and stops the expiry timer. The queue is
// kept for a waiting poll if keep is set, and dropped otherwise.
func (s *session) shutLocked(keep bool) {
	s.closed = true
	if s.idle != nil {
		s.idle.Stop()
	}
	if !keep || s.waiter == nil {
		clear(s.queue)
		s.queue, s.queued = nil, 0
	}
	if s.waiter != nil {
		s.waiter.signal()
	}
}

// ended forgets a session that closed itself and tells its socket, whose
// channels terminate with actors.ErrClosed.
func (s *session) ended(conn transport.Conn) {
	s.lp.remove(s)
	if conn != nil {
		conn.Closed(actors.ErrClosed)
	}
}

// expire closes the session once nobody has polled for the idle timeout.
func (s *session) expire() {
	s.mu.Lock()
	if s.closed || s.waiter != nil {
		s.mu.Unlock() // a poll is waiting; it rearms the timer when it ends
		return
	}
	if left := s.lp.cfg.SessionTimeout - time.Since(s.lastPoll); left > 0 {
		s.idle.Reset(left)
		s.mu.Unlock()
		return
	}
	s.shutLocked(false)
	conn := s.conn
	s.mu.Unlock()
	s.log.Info().Dur("timeout", s.lp.cfg.SessionTimeout).Msg("long-poll session expired")
	s.ended(conn)
}

// poll returns the queued frames (200), waiting up to window for the first
// one (204 if none comes), or 410 once the session is closed. A newer poll
// takes over from a waiting one, which answers 204 at once. A poll whose
// client went away leaves the frames for the next one.
func (s *session) poll(ctx context.Context, window time.Duration, budget int) (int, []protocol.Frame) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return http.StatusGone, nil
	}
	if old := s.waiter; old != nil {
		old.signal() // it sees that it is no longer the waiter
	}
	if len(s.queue) > 0 {
		s.waiter = nil
		frames := s.takeLocked(budget)
		s.endPollLocked()
		s.mu.Unlock()
		return http.StatusOK, frames
	}
	w := &waiter{wake: make(chan struct{}, 1)}
	s.waiter = w
	s.mu.Unlock()

	timer := time.NewTimer(window)
	defer timer.Stop()
	for {
		over, gone := false, false
		select {
		case <-w.wake:
		case <-timer.C:
			over = true
		case <-ctx.Done():
			gone = true
		}
		s.mu.Lock()
		switch {
		case s.waiter != w:
			s.mu.Unlock()
			return http.StatusNoContent, nil
		case len(s.queue) > 0 && !gone:
			s.waiter = nil
			frames := s.takeLocked(budget)
			s.endPollLocked()
			s.mu.Unlock()
			return http.StatusOK, frames
		case s.closed:
			s.waiter = nil
			s.mu.Unlock()
			return http.StatusGone, nil
		case over || gone:
			s.waiter = nil
			s.endPollLocked()
			s.mu.Unlock()
			return http.StatusNoContent, nil
		}
		s.mu.Unlock()
	}
}

func (s *session) endPollLocked() {
	s.lastPoll = time.Now()
	if !s.closed && s.idle != nil {
		s.idle.Reset(s.lp.cfg.SessionTimeout)
	}
}

// takeLocked removes frames from the queue: all of them, or with budget > 0
// as many as fit in budget bytes once encoded. A frame that can never fit
// is dropped.
func (s *session) takeLocked(budget int) []protocol.Frame {
	if t := s.lp.taken; t != nil && s.queued > 0 {
		t.Observe(float64(s.queued))
	}
	if budget <= 0 {
		frames := s.queue
		s.queue, s.queued = nil, 0
		return frames
	}
	var out []protocol.Frame
	size := 0
	for len(s.queue) > 0 {
		f := s.queue[0]
		n := protocol.QuotedLen(f.Data) + 1 // and a comma
		if size+n > budget && len(out) > 0 {
			break
		}
		s.queue[0] = protocol.Frame{}
		s.queue = s.queue[1:]
		s.queued -= f.Len()
		if size+n > budget {
			s.log.Warn().Int("bytes", f.Len()).Int("limit", budget).Msg("frame too large to relay; dropped")
			continue
		}
		out = append(out, f)
		size += n
	}
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return out
}

// dispatch hands msgs to the socket in order. Phoenix answers 408 when a
// post is not handled within the window; here the session is then closed
// too (phoenix.js abandons it on any error anyway), which also frees a
// Handle waiting on the socket's back-pressure.
func (s *session) dispatch(msgs []protocol.Message, window time.Duration) int {
	var late atomic.Bool
	timer := time.AfterFunc(window, func() {
		late.Store(true)
		s.log.Warn().Dur("window", window).Msg("long-poll post not handled in time; closing session")
		s.conn.Closed(actors.ErrClosed)
	})
	status := http.StatusOK
	for _, m := range msgs {
		if late.Load() {
			break
		}
		if !s.conn.Handle(m) {
			status = http.StatusGone // the socket is closing
			break
		}
	}
	if !timer.Stop() || late.Load() {
		return http.StatusRequestTimeout
	}
	return status
}
