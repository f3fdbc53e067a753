package socket

import (
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/protocol"
)

// writer is a connection's single outbound path: a bounded queue of encoded
// frames drained by a flusher goroutine that runs only while there is work,
// so an idle connection holds no writer goroutine. Each drain writes every
// queued frame and hands them to the kernel in one write.
type writer struct {
	ws       *websocket.Conn
	bc       *batchConn
	ser      protocol.Serializer
	maxBytes int
	timeout  time.Duration
	log      *zerolog.Logger
	wg       *sync.WaitGroup // the handler's goroutine group

	mu        sync.Mutex
	queue     []protocol.Frame // guarded by mu
	spare     []protocol.Frame // guarded by mu: the last drained batch, for reuse
	queued    int              // bytes in queue; guarded by mu
	running   bool             // a flusher is active; guarded by mu
	closing   bool             // no more frames are accepted; guarded by mu
	closeCode int              // close frame to send (0: none); guarded by mu
	closeText string           // guarded by mu
	flushLast bool             // write the queue before closing; guarded by mu
}

func (w *writer) Serializer() protocol.Serializer { return w.ser }

// Send queues f without blocking. A frame that would take the queue past its
// byte limit closes the connection as a slow consumer.
func (w *writer) Send(f protocol.Frame) bool {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return false
	}
	if w.queued+f.Len() > w.maxBytes {
		w.log.Warn().Int("queued_bytes", w.queued).Msg("write queue overflow; closing slow connection")
		w.closeLocked(CloseSlowConsumer, "write queue overflow", false)
		w.mu.Unlock()
		return false
	}
	w.queue = append(w.queue, f)
	w.queued += f.Len()
	w.startLocked()
	w.mu.Unlock()
	return true
}

// Overflow closes the connection as a slow consumer.
func (w *writer) Overflow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closing {
		w.log.Warn().Msg("channel mailbox overflow; closing slow connection")
		w.closeLocked(CloseSlowConsumer, "channel queue overflow", false)
	}
}

// Close stops accepting frames, writes what is queued, sends a close frame
// with code (none if code is 0) and closes the connection. Idempotent.
func (w *writer) Close(code int, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeLocked(code, text, true)
}

func (w *writer) closeLocked(code int, text string, flush bool) {
	if w.closing {
		return
	}
	w.closing = true
	w.closeCode, w.closeText, w.flushLast = code, text, flush
	if !flush {
		clear(w.queue)
		w.queue, w.queued = w.queue[:0], 0
	}
	w.startLocked()
}

func (w *writer) startLocked() {
	if !w.running {
		w.running = true
		w.wg.Add(1)
		go w.flush()
	}
}

func (w *writer) flush() {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			if w.closing {
				code, text := w.closeCode, w.closeText
				w.mu.Unlock()
				w.finish(code, text)
				return
			}
			w.running = false
			w.mu.Unlock()
			return
		}
		batch := w.queue
		w.queue, w.spare, w.queued = w.spare[:0], nil, 0
		w.mu.Unlock()

		err := w.writeBatch(batch)
		clear(batch)
		w.mu.Lock()
		w.spare = batch[:0]
		if err != nil && !w.closing {
			w.closeLocked(0, "", false)
		}
		w.mu.Unlock()
	}
}

func (w *writer) writeBatch(batch []protocol.Frame) error {
	w.bc.hold()
	_ = w.ws.SetWriteDeadline(time.Now().Add(w.timeout))
	for _, f := range batch {
		mt := websocket.TextMessage
		if f.Binary {
			mt = websocket.BinaryMessage
		}
		if err := w.ws.WriteMessage(mt, f.Data); err != nil {
			w.bc.release()
			return err
		}
	}
	return w.bc.flush()
}

func (w *writer) finish(code int, text string) {
	if code != 0 {
		msg := websocket.FormatCloseMessage(code, text)
		_ = w.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	// Closing the connection ends the reader, which tells the socket.
	_ = w.ws.Close()
}

// batchConn gathers the bytes gorilla writes between hold and flush so that
// a batch of frames costs one write system call. Outside a batch (the
// handshake, control frames) it writes through.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	holding  bool      // guarded by mu
	buf      []byte    // guarded by mu
	deadline time.Time // write deadline asked for during a batch; guarded by mu
}

// SetWriteDeadline is called by gorilla before every frame it writes.
// Within a batch nothing reaches the socket until flush, so the deadline is
// only noted and applied once there; setting it per frame costs a timer
// update each time.
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holding {
		b.deadline = t
		return nil
	}
	return b.Conn.SetWriteDeadline(t)
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holding {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	return b.Conn.Write(p)
}

func (b *batchConn) hold() {
	b.mu.Lock()
	b.holding = true
	b.mu.Unlock()
}

func (b *batchConn) release() {
	b.mu.Lock()
	b.holding = false
	b.buf = b.buf[:0]
	b.mu.Unlock()
}

const maxKeptBuffer = 64 << 10

func (b *batchConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holding = false
	if !b.deadline.IsZero() {
		_ = b.Conn.SetWriteDeadline(b.deadline)
		b.deadline = time.Time{}
	}
	_, err := b.Conn.Write(b.buf)
	if cap(b.buf) > maxKeptBuffer {
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
	return err
}
