package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Errors of one connection.
var (
	ErrClosed  = errors.New("loadgen: connection closed")
	ErrTimeout = errors.New("loadgen: no reply in time")
)

// ReplyError is a phx_reply whose status is not "ok", such as a refused
// join.
type ReplyError struct {
	Status   string
	Response string // the raw JSON response
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("loadgen: reply %s: %s", e.Status, e.Response)
}

// benchFunc receives the payload of a `bench` event and the time it was
// read, in nanoseconds since the run began. The payload is valid only
// during the call.
type benchFunc func(payload []byte, at int64)

// maxMessage bounds what one connection reads in one WebSocket message.
const maxMessage = 16 << 20

// conn is one client WebSocket with its reader goroutine. Replies are
// routed to the request that waits for them by ref; `bench` events go to
// onBench; everything else (presence, heartbeat replies) is read and
// dropped.
type conn struct {
	ws      *websocket.Conn
	origin  time.Time
	onBench benchFunc     // runs on the reader goroutine; nil drops the events
	onPush  pushFunc      // other pushes, on the reader goroutine; nil drops them
	onExit  func()        // runs on the reader goroutine as it stops; may be nil
	timeout time.Duration // for writes

	// rx counts the messages read, heartbeat replies aside; only the
	// reader adds to it (kept per connection so that readers do not share
	// a cache line).
	rx atomic.Int64

	wmu     sync.Mutex // guards writes on ws: one writer at a time
	nextRef atomic.Uint64

	mu       sync.Mutex // guards pending and joinRefs
	pending  map[uint64]chan reply
	joinRefs map[string]uint64

	// stalled holds the reader before its next message until resume is
	// closed (see stallReads); closing marks a socket closed on this side.
	stalled    atomic.Bool
	closing    atomic.Bool
	resume     chan struct{}
	resumeOnce sync.Once

	// Why and when the reader stopped: written by the reader before it
	// closes done, read only after done is closed.
	endErr  error
	endOurs bool  // this side had closed the socket
	endAt   int64 // ns since origin

	done chan struct{} // closed once the reader has stopped
}

func newConn(ws *websocket.Conn, origin time.Time, onBench benchFunc, timeout time.Duration) *conn {
	ws.SetReadLimit(maxMessage)
	return &conn{
		ws: ws, origin: origin, onBench: onBench, timeout: timeout,
		pending: map[uint64]chan reply{}, joinRefs: map[string]uint64{},
		resume: make(chan struct{}), done: make(chan struct{}),
	}
}

// readLoop is the connection's only reader.
func (c *conn) readLoop() {
	defer close(c.done)
	if c.onExit != nil {
		defer c.onExit()
	}
	buf := make([]byte, 0, 1024)
	for {
		if c.stalled.Load() {
			<-c.resume
		}
		kind, r, err := c.ws.NextReader()
		if err == nil {
			buf, err = readInto(buf[:0], r)
		}
		if err != nil {
			c.endErr, c.endOurs, c.endAt = err, c.closing.Load(), int64(time.Since(c.origin))
			return
		}
		at := int64(time.Since(c.origin))
		if kind == websocket.TextMessage {
			c.dispatch(buf, at)
		}
		if cap(buf) > 256<<10 {
			// A presence_state of a big room: thousands of connections
			// must not each keep a buffer of that size.
			buf = make([]byte, 0, 1024)
		}
	}
}

// readInto appends all of r to b.
func readInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func (c *conn) dispatch(msg []byte, at int64) {
	f, err := decodeFrame(msg)
	if err != nil {
		c.rx.Add(1)
		return
	}
	if string(f.topic) != "phoenix" { // heartbeat replies are not traffic
		c.rx.Add(1)
	}
	switch string(f.event) {
	case "bench":
		if c.onBench != nil {
			c.onBench(f.payload, at)
		}
	case "phx_reply":
		ref, ok := refNumber(f.ref)
		if !ok {
			return
		}
		c.mu.Lock()
		ch := c.pending[ref]
		delete(c.pending, ref)
		c.mu.Unlock()
		if ch != nil {
			ch <- parseReply(f.payload) // buffered: never blocks
		}
	default:
		if c.onPush != nil {
			c.onPush(f.topic, f.event, f.payload, at)
		}
	}
}

// write sends one text message, bounded by the write timeout.
func (c *conn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// request sends a frame carrying ref and waits for its reply.
func (c *conn) request(ctx context.Context, timeout time.Duration, ref uint64, frame []byte) (reply, error) {
	ch := make(chan reply, 1)
	c.mu.Lock()
	c.pending[ref] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, ref)
		c.mu.Unlock()
	}
	if err := c.write(frame); err != nil {
		forget()
		return reply{}, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		forget()
		return reply{}, ErrClosed
	case <-t.C:
		forget()
		return reply{}, ErrTimeout
	case <-ctx.Done():
		forget()
		return reply{}, context.Cause(ctx)
	}
}

// join joins topic and waits for an ok reply.
func (c *conn) join(ctx context.Context, timeout time.Duration, topic string) error {
	_, err := c.joinWith(ctx, timeout, topic, nil)
	return err
}

// joinWith joins topic with payload (nil for {}) and returns the ok
// reply's response.
func (c *conn) joinWith(ctx context.Context, timeout time.Duration, topic string, payload []byte) ([]byte, error) {
	ref := c.nextRef.Add(1)
	c.mu.Lock()
	c.joinRefs[topic] = ref
	c.mu.Unlock()
	r, err := c.request(ctx, timeout, ref, appendFrame(nil, ref, ref, topic, "phx_join", payload))
	if err == nil && r.status != "ok" {
		err = &ReplyError{Status: r.status, Response: string(r.response)}
	}
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", topic, err)
	}
	return r.response, nil
}

func (c *conn) joinRef(topic string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.joinRefs[topic]
}

// push sends event on a joined topic and waits for the reply.
func (c *conn) push(ctx context.Context, timeout time.Duration, topic, event string, payload []byte) (reply, error) {
	ref := c.nextRef.Add(1)
	return c.request(ctx, timeout, ref, appendFrame(nil, c.joinRef(topic), ref, topic, event, payload))
}

// cast sends event on a joined topic without waiting for a reply; buf is
// reused for the frame and returned.
func (c *conn) cast(buf []byte, topic, event string, payload []byte) ([]byte, error) {
	buf = appendFrame(buf[:0], c.joinRef(topic), c.nextRef.Add(1), topic, event, payload)
	return buf, c.write(buf)
}

// heartbeat sends the phoenix heartbeat; its reply is read and dropped.
func (c *conn) heartbeat() error {
	return c.write(appendFrame(nil, 0, c.nextRef.Add(1), "phoenix", "heartbeat", nil))
}

// stallReads makes the reader stop before its next message (it may still
// be reading one) and read nothing more until resumeReads or close: the
// socket stays open while the server's writes pile up in the kernel's
// buffers and then in the server's queue. One-shot: a connection stalls
// at most once.
func (c *conn) stallReads() { c.stalled.Store(true) }

// resumeReads lets a stalled reader go on. Safe more than once.
func (c *conn) resumeReads() {
	c.stalled.Store(false)
	c.resumeOnce.Do(func() { close(c.resume) })
}

// ended reports, once the reader has stopped, whether the server ended the
// connection (rather than this side closing it), the WebSocket close code
// it ended with, and when the reader saw it, in ns since the origin. A
// connection that ended without a close frame (EOF, a reset, a frame cut
// short) has code 1006, abnormal closure. ok is false while the reader
// still runs.
func (c *conn) ended() (byServer bool, code int, at int64, ok bool) {
	if c.alive() {
		return false, 0, 0, false
	}
	if c.endOurs {
		return false, 0, c.endAt, true
	}
	code = websocket.CloseAbnormalClosure
	if ce, isClose := errors.AsType[*websocket.CloseError](c.endErr); isClose {
		code = ce.Code
	}
	return true, code, c.endAt, true
}

// alive reports whether the reader still runs.
func (c *conn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// close closes the socket, which stops the reader; gracefully, it first
// sends a normal close frame (waiting at most a moment for room to send
// it). Safe from any goroutine, more than once.
func (c *conn) close(graceful bool) {
	c.closing.Store(true)
	c.resumeReads() // a stalled reader must see the socket close
	if graceful {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
	}
	_ = c.ws.Close()
}
